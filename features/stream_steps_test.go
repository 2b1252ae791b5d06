package features

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cucumber/godog"

	"github.com/nexixai/agentos/gen/orchestratorapi"
	"github.com/nexixai/agentos/internal/platform"
)

func (w *world) registerStreamSteps(sc *godog.ScenarioContext) {
	open := func(base, lastEventID string, after int64) error {
		s, err := w.openStream(base, string(w.run.RunID), lastEventID, after)
		if err != nil {
			return err
		}
		w.stream = s
		w.streams = append(w.streams, s)
		return nil
	}
	sc.Step(`^I am streaming the run's events$`, func() error { return open(w.env.urls["orchestrator"], "", 0) })
	sc.Step(`^I stream the run's events after seq (\d+)$`, func(after int64) error { return open(w.env.urls["orchestrator"], "", after) })
	sc.Step(`^I reconnect with Last-Event-ID (\d+)$`, func(id string) error { return open(w.env.urls["orchestrator"], id, 0) })
	sc.Step(`^I am streaming the run's events from the second orchestrator$`, func() error { return open(w.secondOrch, "", 0) })
	sc.Step(`^I drop the stream after seq (\d+)$`, func(seq int64) error {
		s := w.stream
		if !s.waitFor(10*time.Second, func(evs []sseEvent) bool { return len(evs) > 0 && evs[len(evs)-1].id >= seq }) {
			return fmt.Errorf("seq %d never arrived", seq)
		}
		s.close()
		// Keep only what a client had processed up to the drop.
		s.mu.Lock()
		kept := s.events[:0]
		for _, e := range s.events {
			if e.id <= seq {
				kept = append(kept, e)
			}
		}
		s.events = kept
		s.mu.Unlock()
		return nil
	})
	sc.Step(`^the stream ends after "([^"]*)"$`, func(typ string) error {
		if !w.stream.ended(15 * time.Second) {
			return errors.New("the stream did not end")
		}
		evs := w.stream.snapshot()
		if len(evs) == 0 || evs[len(evs)-1].event != typ {
			return fmt.Errorf("stream ended with %+v", evs)
		}
		return nil
	})
	sc.Step(`^the stream delivered seqs (\d+) to (\d+) in order, each once, as SSE ids$`, func(from, to int64) error {
		w.stream.ended(10 * time.Second) // the run is over, so the server ends the stream
		return seqsAre(w.stream.snapshot(), from, to)
	})
	sc.Step(`^across both connections seqs (\d+) to (\d+) arrived in order, each once$`, func(from, to int64) error {
		var all []sseEvent
		for _, s := range w.streams {
			all = append(all, s.snapshot()...)
		}
		return seqsAre(all, from, to)
	})
	sc.Step(`^nothing happens for (\d+) seconds?$`, func(n int) error {
		time.Sleep(time.Duration(n) * time.Second)
		return nil
	})
	sc.Step(`^the stream carried a keepalive comment$`, func() error {
		w.stream.mu.Lock()
		defer w.stream.mu.Unlock()
		// One comment is the initial "retry:" line's neighbour; keepalives are counted as comments.
		if w.stream.keepalives < 1 {
			return errors.New("no keepalive comment")
		}
		return nil
	})
	sc.Step(`^I page through the run's events as JSON (\d+) at a time$`, func(n int32) error {
		c, err := w.tclient()
		if err != nil {
			return err
		}
		w.pageSeqs, w.lastTerminal = nil, false
		after := int64(0)
		for range 100 {
			res, err := c.GetRunEvents(context.Background(), orchestratorapi.GetRunEventsParams{RunID: w.run.RunID,
				Format: orchestratorapi.NewOptGetRunEventsFormat(orchestratorapi.GetRunEventsFormatJSON), After: orchestratorapi.NewOptInt64(after), Limit: orchestratorapi.NewOptInt32(n)})
			if err != nil {
				return err
			}
			page := res.(*orchestratorapi.RunEventPage)
			if len(page.Events) > int(n) {
				return fmt.Errorf("page of %d", len(page.Events))
			}
			if len(page.Events) == 0 {
				return nil
			}
			for _, e := range page.Events {
				w.pageSeqs = append(w.pageSeqs, e.Seq)
			}
			w.lastTerminal = page.Terminal
			after = page.NextAfter.Or(after)
		}
		return nil
	})
	sc.Step(`^the pages held seqs (\d+) to (\d+) in order and the last page is terminal$`, func(from, to int64) error {
		var evs []sseEvent
		for _, s := range w.pageSeqs {
			evs = append(evs, sseEvent{id: s})
		}
		if err := seqsAre(evs, from, to); err != nil {
			return err
		}
		if !w.lastTerminal {
			return errors.New("the last page is not marked terminal")
		}
		return nil
	})
	sc.Step(`^a second orchestrator sharing the PostgreSQL database$`, func() error {
		if w.env.cfg.DatabaseURL == "" {
			return errors.New("needs PostgreSQL")
		}
		cfg := w.env.cfg
		cfg.DataDir = w.env.tmpDir() + "/second-orchestrator"
		cfg.AuditSink = "none"
		node, err := platform.New(context.Background(), cfg, testLogger(), platform.Options{Services: []string{platform.Orchestrator}})
		if err != nil {
			return err
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = node.Serve(ctx); close(done) }()
		w.env.atExit(func() { cancel(); <-done })
		w.secondOrch = node.URL(platform.Orchestrator)
		return nil
	})
}

func seqsAre(evs []sseEvent, from, to int64) error {
	var got []string
	for _, e := range evs {
		got = append(got, strconv.FormatInt(e.id, 10))
	}
	if int64(len(evs)) != to-from+1 {
		return fmt.Errorf("got seqs %s, want %d to %d", strings.Join(got, ","), from, to)
	}
	for i, e := range evs {
		if e.id != from+int64(i) {
			return fmt.Errorf("got seqs %s, want %d to %d", strings.Join(got, ","), from, to)
		}
	}
	return nil
}
