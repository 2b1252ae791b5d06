// Package httpbody ends HTTP client response bodies so that their connections are kept.
package httpbody

import (
	"io"
	"time"
)

// Drain limits: a body with more than DrainLimit bytes left, or whose end does not
// arrive within DrainWait, is closed unread, and its connection with it.
const (
	DrainLimit = 64 << 10
	DrainWait  = time.Second
)

// DrainClose reads what is left of a response body and closes it. net/http reuses a
// connection only when its body was read to the end: a client that stops at an event
// stream's terminating event (`data: [DONE]`) and closes the body would otherwise lose
// the connection whenever the response's last chunk had not arrived yet, and open a new
// one (a TCP, perhaps TLS, handshake) for its next request. The server ends such a
// response right after the terminating event, so the wait is short; a server that does
// not is cut off after DrainWait.
func DrainClose(body io.ReadCloser) error {
	t := time.AfterFunc(DrainWait, func() { body.Close() }) // unblocks the read below
	_, _ = io.Copy(io.Discard, io.LimitReader(body, DrainLimit))
	t.Stop()
	return body.Close()
}
