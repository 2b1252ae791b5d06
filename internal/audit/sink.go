package audit

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Sink receives committed audit records, one at a time.
type Sink interface {
	// Write writes one record.
	Write(Record) error
	// Close flushes and releases the sink.
	Close() error
}

// ParseSink returns the sink named by spec, the value of AGENTOS_AUDIT_SINK:
//
//	"stdout", "stderr"  JSON lines on that stream
//	"file:PATH"         JSON lines appended to PATH (its directory is created)
//	"", "none"          discard
//
// Any other value is an error.
func ParseSink(spec string) (Sink, error) {
	switch {
	case spec == "" || spec == "none":
		return discardSink{}, nil
	case spec == "stdout":
		return &jsonLineSink{w: os.Stdout}, nil
	case spec == "stderr":
		return &jsonLineSink{w: os.Stderr}, nil
	case strings.HasPrefix(spec, "file:"):
		path := strings.TrimPrefix(spec, "file:")
		if path == "" {
			return nil, errors.New(`parse audit sink "file:": empty path`)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("open audit sink %s: %w", path, err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open audit sink %s: %w", path, err)
		}
		return &jsonLineSink{w: f, c: f}, nil
	default:
		return nil, fmt.Errorf(`parse audit sink %q: want "stdout", "stderr", "file:PATH", "none" or ""`, spec)
	}
}

// jsonLineSink writes each record as one line of JSON. Each record is one
// Write call on w, so lines from concurrent writers never interleave.
type jsonLineSink struct {
	mu  sync.Mutex
	w   io.Writer
	c   io.Closer // nil for the standard streams, which are not ours to close
	buf []byte    // the lines being written, reused (guarded by mu)
}

// maxSinkBuffer bounds the buffer a jsonLineSink keeps between writes.
const maxSinkBuffer = 1 << 20

func (s *jsonLineSink) Write(rec Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := appendRecordJSON(s.buf[:0], &rec)
	if err != nil {
		return fmt.Errorf("encode audit record: %w", err)
	}
	b = append(b, '\n')
	s.keep(b)
	if _, err := s.w.Write(b); err != nil {
		return fmt.Errorf("write audit record: %w", err)
	}
	return nil
}

// keep keeps b's array for the next write, unless it grew too large to hold on to.
func (s *jsonLineSink) keep(b []byte) {
	if cap(b) <= maxSinkBuffer {
		s.buf = b[:0]
	} else {
		s.buf = nil
	}
}

func (s *jsonLineSink) Close() error {
	if s.c == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.c.Close(); err != nil {
		return fmt.Errorf("close audit sink: %w", err)
	}
	return nil
}

type discardSink struct{}

func (discardSink) Write(Record) error { return nil }
func (discardSink) Close() error       { return nil }
