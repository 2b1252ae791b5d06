package audit_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/internal/audit"
	"github.com/nexixai/agentos/internal/db"
	"github.com/nexixai/agentos/internal/dbtest"
)

type memSink struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (s *memSink) Write(r audit.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, r)
	return nil
}
func (s *memSink) Close() error { return nil }

func TestBatcher(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		sink := &memSink{}
		l := audit.New(d, sink, nil)
		// A record appended the synchronous way first: batches continue its chain.
		_, err := l.Record(ctx, d.DB, audit.Record{TenantID: "tnt_a", Action: "x.sync", Outcome: audit.OutcomeSuccess})
		require.NoError(t, err)

		b := l.NewBatcher(audit.BatchOptions{MaxBatch: 7})
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := range 25 {
					tenant := []string{"tnt_a", "tnt_b"}[i%2]
					b.Add(ctx, audit.Record{TenantID: tenant, Action: "model.call", Outcome: audit.OutcomeSuccess,
						RequestID: fmt.Sprintf("r%d-%d", w, i), Detail: map[string]any{"n": i}})
				}
			})
		}
		wg.Wait()
		b.Close()

		findings, err := audit.Verify(ctx, d.DB, "")
		require.NoError(t, err)
		require.Empty(t, findings, "the batched chains verify")
		var n int
		require.NoError(t, d.NewRaw("SELECT count(*) FROM audit_records").Scan(ctx, &n))
		require.Equal(t, 101, n)
		sink.mu.Lock()
		require.Len(t, sink.recs, 100, "every batched record reaches the sink")
		sink.mu.Unlock()
	})
}

func TestBatcherIsolatesABadRecord(t *testing.T) {
	t.Parallel()
	d := dbtest.SQLite(t)
	l := audit.New(d, nil, nil)
	b := l.NewBatcher(audit.BatchOptions{})
	b.Add(context.Background(), audit.Record{TenantID: "tnt_a", Action: "ok", Outcome: audit.OutcomeSuccess})
	b.Add(context.Background(), audit.Record{TenantID: "tnt_a", Action: "bad", Outcome: "maybe"})
	b.Add(context.Background(), audit.Record{TenantID: "tnt_a", Action: "ok2", Outcome: audit.OutcomeSuccess})
	b.Close()
	var n int
	require.NoError(t, d.NewRaw("SELECT count(*) FROM audit_records").Scan(context.Background(), &n))
	require.Equal(t, 2, n)
	findings, err := audit.Verify(context.Background(), d.DB, "")
	require.NoError(t, err)
	require.Empty(t, findings)
}
