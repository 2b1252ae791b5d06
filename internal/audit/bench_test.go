package audit_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/uptrace/bun"

	"github.com/nexixai/agentos/internal/audit"
	"github.com/nexixai/agentos/internal/db"
	"github.com/nexixai/agentos/internal/dbtest"
)

// BenchmarkAppendBatch appends batches of 64 records of one tenant (as Model Policy's
// batcher does under load) in a transaction each; ns/op is per batch.
func BenchmarkAppendBatch(b *testing.B) {
	for _, backend := range []struct {
		name string
		open func(testing.TB) *db.DB
	}{{"sqlite", dbtest.SQLite}, {"postgres", dbtest.Postgres}} {
		b.Run(backend.name, func(b *testing.B) {
			d := backend.open(b)
			ctx := context.Background()
			recs := make([]audit.Record, 64)
			for i := range recs {
				recs[i] = audit.Record{TenantID: "tnt_bench", Principal: "worker:w-1", Action: "model.call", Resource: "models/builtin-chat",
					Outcome: audit.OutcomeSuccess, RequestID: fmt.Sprintf("req_%026d", i),
					Detail: map[string]any{"model": "builtin-chat", "deployment": "builtin", "prompt_tokens": 120, "completion_tokens": 12,
						"latency_ms": 3, "stream": true, "policy_revision": "sha256:0123456789abcdef", "estimated": false}}
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := d.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
					_, err := audit.AppendBatch(ctx, tx, recs)
					return err
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
