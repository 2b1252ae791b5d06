package cli

import (
	"bufio"
	"bytes"
	"io"
	"strings"
)

// maxSSELine bounds one line of an event stream (a data line carries a whole event).
const maxSSELine = 8 << 20

// sseEvent is one dispatched Server-Sent Event.
type sseEvent struct {
	// ID is the value of the event's own id field; HasID says whether it had one. The
	// WHATWG "last event ID" that carries over to later events is not modelled: the
	// watcher tracks the seq itself and wants to notice an event without an id.
	ID    string
	HasID bool
	// Event is the event type; "message" when the event named none.
	Event string
	// Data is the data lines joined with "\n".
	Data string
}

// sseReader parses a text/event-stream as the WHATWG HTML standard describes: lines end
// with CRLF, LF or a lone CR; a line starting with ':' is a comment; "field: value" with
// one optional space after the colon; data lines accumulate; a blank line dispatches the
// event, unless it has no data. Unknown fields and retry are ignored.
type sseReader struct {
	sc     *bufio.Scanner
	skipLF bool // the last line ended with a CR that may be the first half of a CRLF
	first  bool
}

func newSSEReader(r io.Reader) *sseReader {
	s := &sseReader{first: true}
	s.sc = bufio.NewScanner(r)
	s.sc.Buffer(make([]byte, 0, 64<<10), maxSSELine)
	s.sc.Split(s.splitLines)
	return s
}

// Next returns the next event. At the end of the stream it returns io.EOF, or
// io.ErrUnexpectedEOF when the stream ended inside an event: as the standard says, such
// an incomplete event is never dispatched (a dropped connection can cut it anywhere).
func (s *sseReader) Next() (sseEvent, error) {
	var (
		ev      sseEvent
		data    strings.Builder
		hasData bool
		pending bool
	)
	for s.sc.Scan() {
		line := s.sc.Text()
		if s.first {
			s.first = false
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		if line == "" {
			if !hasData {
				ev, data, pending = sseEvent{}, strings.Builder{}, false
				continue
			}
			ev.Data = data.String()
			if ev.Event == "" {
				ev.Event = "message"
			}
			return ev, nil
		}
		if line[0] == ':' {
			continue
		}
		pending = true
		field, value, found := strings.Cut(line, ":")
		if found {
			value = strings.TrimPrefix(value, " ")
		}
		switch field {
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.WriteString(value)
			hasData = true
		case "event":
			ev.Event = value
		case "id":
			if !strings.ContainsRune(value, 0) {
				ev.ID, ev.HasID = value, true
			}
		}
	}
	if err := s.sc.Err(); err != nil {
		return sseEvent{}, err
	}
	if pending {
		return sseEvent{}, io.ErrUnexpectedEOF
	}
	return sseEvent{}, io.EOF
}

// splitLines is a bufio.SplitFunc for SSE line endings. A CR at the end of the buffered
// data ends its line at once (waiting for the next byte could stall a live stream); an LF
// that follows it is then skipped.
func (s *sseReader) splitLines(data []byte, atEOF bool) (int, []byte, error) {
	start := 0
	if s.skipLF && len(data) > 0 {
		s.skipLF = false
		if data[0] == '\n' {
			start = 1
		}
	}
	if i := bytes.IndexAny(data[start:], "\r\n"); i >= 0 {
		end := start + i
		switch {
		case data[end] == '\n':
			return end + 1, data[start:end], nil
		case end+1 < len(data) && data[end+1] == '\n':
			return end + 2, data[start:end], nil
		case end+1 == len(data) && !atEOF:
			s.skipLF = true
		}
		return end + 1, data[start:end], nil
	}
	if atEOF && len(data) > start {
		return len(data), data[start:], nil
	}
	if start > 0 {
		return start, nil, nil
	}
	return 0, nil, nil
}
