package audit_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"github.com/nexixai/agentos/internal/audit"
	"github.com/nexixai/agentos/internal/db"
	"github.com/nexixai/agentos/internal/dbtest"
)

// Records enqueued with the changes they describe are chained per tenant in the order
// they were enqueued, in batches larger than one outbox read, and reach the sink once;
// a record whose transaction rolled back is never chained.
func TestOutboxChainsInOrder(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		sink := &memSink{}
		l := audit.New(d, sink, nil)
		const n = 1200 // more than one outbox batch (500)
		for i := 0; i < n; i += 3 {
			require.NoError(t, d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
				recs := make([]audit.Record, 0, 3)
				for k := i; k < i+3; k++ {
					recs = append(recs, audit.Record{TenantID: []string{"tnt_x", "tnt_y"}[k%2], Action: "run.create", Outcome: audit.OutcomeSuccess,
						Resource: fmt.Sprintf("runs/%d", k)})
				}
				return l.EnqueueAll(ctx, tx, recs)
			}))
		}
		err := d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			if err := l.Enqueue(ctx, tx, audit.Record{TenantID: "tnt_x", Action: "run.create", Outcome: audit.OutcomeSuccess, Resource: "runs/rolled-back"}); err != nil {
				return err
			}
			return fmt.Errorf("roll back")
		})
		require.Error(t, err)
		require.NoError(t, l.Flush(ctx))

		findings, err := audit.Verify(ctx, d.DB, "")
		require.NoError(t, err)
		require.Empty(t, findings)
		for tenant, first := range map[string]int{"tnt_x": 0, "tnt_y": 1} {
			var resources []string
			require.NoError(t, d.NewRaw("SELECT resource FROM audit_records WHERE tenant_id = ? ORDER BY seq", tenant).Scan(ctx, &resources))
			require.Len(t, resources, n/2)
			for i, r := range resources {
				require.Equal(t, fmt.Sprintf("runs/%d", first+2*i), r, "%s seq %d", tenant, i+1)
			}
		}
		var left int
		require.NoError(t, d.NewRaw("SELECT count(*) FROM audit_outbox").Scan(ctx, &left))
		require.Zero(t, left, "the outbox is emptied")
		sink.mu.Lock()
		defer sink.mu.Unlock()
		require.Len(t, sink.recs, n)
	})
}
