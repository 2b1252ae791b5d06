package stream

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/impl/orchestrator/store"
	"github.com/nexixai/agentos/internal/dbtest"
)

func events(runID string, seqs ...int64) []store.Event {
	evs := make([]store.Event, len(seqs))
	for i, s := range seqs {
		evs[i] = store.Event{RunID: runID, Seq: s, Type: "model.delta"}
	}
	return evs
}

func seqsOf(evs []store.Event) []int64 {
	out := make([]int64, len(evs))
	for i, e := range evs {
		out[i] = e.Seq
	}
	return out
}

// A subscription from Watch receives what is published before its caller has read the
// run; Anchor keeps only what follows the seq the caller read, with nothing read from
// storage (the run has no stored events here, so a read would find none).
func TestWatchKeepsWhatIsPublishedBeforeAnchor(t *testing.T) {
	h := NewHub(dbtest.SQLite(t).DB, nil)
	sub := h.Watch("run_w")
	defer sub.Close()
	h.Publish("run_w", events("run_w", 3, 4))
	h.Publish("run_w", events("run_w", 5))
	sub.Anchor(3) // the caller's read saw up to seq 3
	evs, _, covered := sub.Since(3)
	require.True(t, covered)
	require.Equal(t, []int64{4, 5}, seqsOf(evs))

	// a second subscriber of the same run shares the anchored feed
	other := h.Watch("run_w")
	other.Anchor(5)
	evs, changed, covered := other.Since(5)
	require.True(t, covered)
	require.Empty(t, evs)
	h.Publish("run_w", events("run_w", 6))
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("a publish after Anchor did not wake the subscriber")
	}
	evs, _, _ = other.Since(5)
	require.Equal(t, []int64{6}, seqsOf(evs))
	other.Close()
	require.Equal(t, 1, h.Subscribers())
}

// The run as the commit that ended it left it is handed to the subscribers, for the
// terminal event's seq only; a run that did not end is not.
func TestPublishRunKeepsTheEndedRun(t *testing.T) {
	h := NewHub(dbtest.SQLite(t).DB, nil)
	sub := h.Watch("run_f")
	defer sub.Close()
	running := &store.Run{ID: "run_f", Status: store.StatusRunning, LastSeq: 2, Written: events("run_f", 2)}
	h.PublishRun(running)
	sub.Anchor(1)
	require.Nil(t, sub.Final(2), "a running run is no final state")

	output := "done"
	ended := &store.Run{ID: "run_f", Status: store.StatusCompleted, Output: &output, LastSeq: 3, Written: events("run_f", 3)}
	h.PublishRun(ended)
	final := sub.Final(3)
	require.NotNil(t, final)
	require.Equal(t, "done", *final.Output)
	require.Empty(t, final.Written, "the events are the feed's, not the snapshot's")
	require.Nil(t, sub.Final(4), "a snapshot is for its terminal event's seq")
	evs, _, covered := sub.Since(1)
	require.True(t, covered)
	require.Equal(t, []int64{2, 3}, seqsOf(evs))
}

// A subscription closed before Anchor leaves nothing behind.
func TestWatchClosedBeforeAnchor(t *testing.T) {
	h := NewHub(dbtest.SQLite(t).DB, nil)
	sub := h.Watch("run_c")
	h.Publish("run_c", events("run_c", 1))
	sub.Close()
	sub.Close()
	require.Zero(t, h.Subscribers())
	h.mu.Lock()
	defer h.mu.Unlock()
	require.Empty(t, h.feeds)
}
