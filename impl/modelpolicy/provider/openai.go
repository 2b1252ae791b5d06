package provider

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-faster/jx"

	"github.com/nexixai/agentos/internal/httpbody"
)

// maxUpstreamBody bounds a non-streaming upstream answer and an error body.
const maxUpstreamBody = 64 << 20

// maxEventBytes bounds one server-sent event.
const maxEventBytes = 8 << 20

// OpenAI is a provider for any OpenAI-compatible HTTP server.
type OpenAI struct {
	name string
	// chatURL and embeddingsURL are the operations' endpoints, joined once.
	chatURL, embeddingsURL string
	client                 *http.Client
	// header and streamHeader are the headers of every request and of every stream
	// request, built once and shared by the requests: neither the client (it has no
	// cookie jar) nor the transport modifies a request's Header.
	header, streamHeader http.Header
}

// OpenAIConfig configures an OpenAI provider.
type OpenAIConfig struct {
	Name string
	// BaseURL is the API root, e.g. http://vllm:8000/v1; requests go to
	// BaseURL+"/chat/completions" and BaseURL+"/embeddings".
	BaseURL string
	// APIKey, when set, is sent as "Authorization: Bearer <key>".
	APIKey string
	// Headers are added to every request.
	Headers map[string]string
	// Transport overrides the HTTP transport (tests); nil means a pooled transport.
	Transport http.RoundTripper
}

// NewTransport returns the pooled HTTP transport OpenAI providers share by default.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
}

// NewOpenAI returns an OpenAI provider.
func NewOpenAI(cfg OpenAIConfig) *OpenAI {
	rt := cfg.Transport
	if rt == nil {
		rt = NewTransport()
	}
	base := strings.TrimSuffix(cfg.BaseURL, "/")
	return &OpenAI{
		name:          cfg.Name,
		chatURL:       base + "/chat/completions",
		embeddingsURL: base + "/embeddings",
		client:        &http.Client{Transport: rt},
		header:        requestHeader(cfg, "application/json"),
		streamHeader:  requestHeader(cfg, "text/event-stream"),
	}
}

// requestHeader is the header of a request that accepts accept: the configured headers,
// then Content-Type, Accept and the API key, which override them.
func requestHeader(cfg OpenAIConfig, accept string) http.Header {
	h := http.Header{}
	for k, v := range cfg.Headers {
		h.Set(k, v)
	}
	h.Set("Content-Type", "application/json")
	h.Set("Accept", accept)
	if cfg.APIKey != "" {
		h.Set("Authorization", "Bearer "+cfg.APIKey)
	}
	return h
}

// Name implements Provider.
func (o *OpenAI) Name() string { return o.name }

// Type implements Provider.
func (o *OpenAI) Type() string { return "openai" }

func (o *OpenAI) newRequest(ctx context.Context, req Request, stream bool) (*http.Request, error) {
	u := o.chatURL
	if req.Op == OpEmbeddings {
		u = o.embeddingsURL
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(req.Body))
	if err != nil {
		return nil, &Error{Kind: KindConnection, Message: "build upstream request", Err: err}
	}
	hr.Header = o.header
	if stream {
		hr.Header = o.streamHeader
	}
	return hr, nil
}

// transportError classifies an error of the HTTP round trip or of reading the body.
func transportError(ctx context.Context, err error) *Error {
	if cause := context.Cause(ctx); cause != nil {
		var e *Error
		if errors.As(cause, &e) {
			return &Error{Kind: e.Kind, Message: e.Message, Err: err}
		}
		if errors.Is(cause, context.DeadlineExceeded) {
			return &Error{Kind: KindTimeout, Message: "upstream timed out", Err: err}
		}
		return &Error{Kind: KindCanceled, Err: err}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &Error{Kind: KindTimeout, Message: "upstream timed out", Err: err}
	}
	return &Error{Kind: KindConnection, Message: "upstream connection failed", Err: err}
}

// statusError turns a non-2xx answer into an Error carrying the upstream's message.
func statusError(resp *http.Response) *Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	e := &Error{Kind: KindStatus, Status: resp.StatusCode, Message: upstreamMessage(body)}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if s, err := strconv.Atoi(strings.TrimSpace(ra)); err == nil && s >= 0 {
			e.RetryAfter = time.Duration(s) * time.Second
		} else if t, err := http.ParseTime(ra); err == nil {
			e.RetryAfter = max(time.Until(t), 0)
		}
	}
	return e
}

// upstreamMessage extracts error.message (or a top-level message/detail) from a body.
func upstreamMessage(body []byte) string {
	var msg string
	d := jx.DecodeBytes(body)
	_ = d.ObjBytes(func(d *jx.Decoder, key []byte) error {
		switch string(key) {
		case "error":
			switch d.Next() {
			case jx.String:
				s, err := d.Str()
				msg = s
				return err
			case jx.Object:
				return d.ObjBytes(func(d *jx.Decoder, key []byte) error {
					if string(key) == "message" && d.Next() == jx.String {
						s, err := d.Str()
						msg = s
						return err
					}
					return d.Skip()
				})
			}
		case "message", "detail":
			if d.Next() == jx.String && msg == "" {
				s, err := d.Str()
				msg = s
				return err
			}
		}
		return d.Skip()
	})
	if len(msg) > 500 {
		msg = msg[:500] + "…"
	}
	return msg
}

// Do implements Provider.
func (o *OpenAI) Do(ctx context.Context, req Request) (*Response, error) {
	hr, err := o.newRequest(ctx, req, false)
	if err != nil {
		return nil, err
	}
	resp, err := o.client.Do(hr)
	if err != nil {
		return nil, transportError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, statusError(resp)
	}
	buf := getAnswerBuf(resp.ContentLength)
	body, err := readAnswer(resp.Body, (*buf)[:0], resp.ContentLength, maxUpstreamBody)
	*buf = body
	if err != nil {
		putAnswerBuf(buf)
		return nil, transportError(ctx, err)
	}
	if len(body) > maxUpstreamBody {
		putAnswerBuf(buf)
		return nil, &Error{Kind: KindProtocol, Message: fmt.Sprintf("upstream answer exceeds %d bytes", maxUpstreamBody)}
	}
	if !jx.Valid(body) {
		putAnswerBuf(buf)
		return nil, &Error{Kind: KindProtocol, Message: "upstream answer is not JSON"}
	}
	return &Response{Body: body, Usage: ParseUsage(body), buf: buf}, nil
}

// answerSize is the buffer an answer of the declared length (-1 when unknown) is read
// into, given the limit: one byte more, for the read that finds the end.
func answerSize(declared, limit int64) int {
	if declared < 0 {
		return int(min(4<<10, limit+1))
	}
	return int(min(declared, limit)) + 1
}

// answerClasses are the capacities of the pooled answer buffers; a larger answer gets a
// buffer of its own, not kept after Release.
var answerClasses = [...]int{1 << 10, 4 << 10, 16 << 10, 64 << 10}

var answerPools [len(answerClasses)]sync.Pool

// getAnswerBuf returns a buffer for an answer of the declared length: pooled (the smallest
// class that holds it) or, past the largest class, allocated at its size.
func getAnswerBuf(declared int64) *[]byte {
	size := answerSize(declared, maxUpstreamBody)
	for i, c := range answerClasses {
		if size <= c {
			if b, ok := answerPools[i].Get().(*[]byte); ok {
				return b
			}
			b := make([]byte, 0, c)
			return &b
		}
	}
	b := make([]byte, 0, size)
	return &b
}

// putAnswerBuf keeps a buffer for reuse in the largest class it holds, unless it grew
// far past the largest class.
func putAnswerBuf(b *[]byte) {
	c := cap(*b)
	if c > 2*answerClasses[len(answerClasses)-1] {
		return
	}
	for i := len(answerClasses) - 1; i >= 0; i-- {
		if c >= answerClasses[i] {
			*b = (*b)[:0]
			answerPools[i].Put(b)
			return
		}
	}
}

// readAnswer reads an upstream answer to its end or to one byte past limit, into buf
// (emptied), grown to the size the Content-Length declares (-1 when unknown): one buffer
// for the usual answer instead of io.ReadAll's growing chunks and final copy.
func readAnswer(r io.Reader, buf []byte, declared, limit int64) ([]byte, error) {
	buf = slices.Grow(buf[:0], answerSize(declared, limit))
	for int64(len(buf)) <= limit {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, int(min(int64(cap(buf)), limit+1-int64(len(buf)))))
		}
		n, err := r.Read(buf[len(buf):int(min(int64(cap(buf)), limit+1))])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// Stream implements Provider.
func (o *OpenAI) Stream(ctx context.Context, req Request) (Stream, error) {
	hr, err := o.newRequest(ctx, req, true)
	if err != nil {
		return nil, err
	}
	resp, err := o.client.Do(hr)
	if err != nil {
		return nil, transportError(ctx, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, statusError(resp)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		resp.Body.Close()
		return nil, &Error{Kind: KindProtocol, Message: fmt.Sprintf("upstream answered a stream request with %q, not text/event-stream", resp.Header.Get("Content-Type"))}
	}
	return &sseStream{ctx: ctx, body: resp.Body, r: bufio.NewReaderSize(resp.Body, 16<<10)}, nil
}

// sseStream reads the data of server-sent events.
type sseStream struct {
	ctx    context.Context
	body   io.ReadCloser
	r      *bufio.Reader
	done   bool
	closed bool
}

func (s *sseStream) Next() ([]byte, error) {
	if s.done {
		return nil, io.EOF
	}
	var data []byte
	have := false
	for {
		line, err := s.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if have {
					return data, nil // last event without its blank line
				}
				s.done = true
				return nil, io.EOF
			}
			if e, ok := AsError(err); ok {
				return nil, e
			}
			return nil, transportError(s.ctx, err)
		}
		if len(line) == 0 {
			if !have {
				continue
			}
			if bytes.Equal(data, []byte("[DONE]")) {
				s.done = true
				return nil, io.EOF
			}
			return data, nil
		}
		field, value, found := bytes.Cut(line, []byte(":"))
		if !found || len(field) == 0 {
			continue // a comment (":…") or a field without value
		}
		if string(field) != "data" {
			continue
		}
		value = bytes.TrimPrefix(value, []byte(" "))
		if have {
			data = append(data, '\n')
		}
		data = append(data, value...)
		have = true
		if len(data) > maxEventBytes {
			return nil, &Error{Kind: KindProtocol, Message: fmt.Sprintf("upstream event exceeds %d bytes", maxEventBytes)}
		}
	}
}

// readLine returns one line without its terminator, copied.
func (s *sseStream) readLine() ([]byte, error) {
	var line []byte
	for {
		chunk, err := s.r.ReadSlice('\n')
		line = append(line, chunk...)
		if err == bufio.ErrBufferFull {
			if len(line) > maxEventBytes {
				return nil, &Error{Kind: KindProtocol, Message: "upstream event line too long"}
			}
			continue
		}
		if err != nil {
			if err == io.EOF && len(line) > 0 {
				return bytes.TrimRight(line, "\r\n"), nil
			}
			return nil, err
		}
		return bytes.TrimRight(line, "\r\n"), nil
	}
}

// Ready implements Relay.Ready: the stream has ended, or the event Next returns next
// (its lines up to the blank line that ends it, one of them data) has been read into
// the buffer already. Comments and events without data, which Next skips, do not count.
func (s *sseStream) Ready() bool {
	if s.done {
		return true
	}
	held, _ := s.r.Peek(s.r.Buffered())
	data := false
	for {
		line, rest, complete := bytes.Cut(held, []byte("\n"))
		if !complete {
			return false
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		switch {
		case len(line) == 0 && data:
			return true
		case bytes.HasPrefix(line, []byte("data:")):
			data = true
		}
		held = rest
	}
}

// Close closes the body. A stream that ended with [DONE] is drained first, in the
// background, so that its connection is kept for the next call (httpbody.DrainClose).
func (s *sseStream) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if s.done {
		go httpbody.DrainClose(s.body)
		return nil
	}
	return s.body.Close()
}
