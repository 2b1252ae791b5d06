package usage_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/impl/modelpolicy/quota"
	"github.com/nexixai/agentos/impl/modelpolicy/usage"
	"github.com/nexixai/agentos/internal/db"
	"github.com/nexixai/agentos/internal/dbtest"
)

func TestRecorderAndQuery(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		qs := quota.NewDBStore(d.DB)
		r := usage.NewRecorder(d.DB, qs, usage.Options{MaxBatch: 3, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
		base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		ok, err := qs.Grant(ctx, "tnt_a", quota.KindTokensPerMinute, 60, 50, 100)
		require.NoError(t, err)
		require.True(t, ok)
		for i := range 10 {
			r.Add(usage.Record{Tenant: "tnt_a", Model: "m", Principal: "alice", Time: base.Add(time.Duration(i) * 20 * time.Second),
				Prompt: 3, Completion: 2, Total: 5, Estimated: i == 0})
		}
		r.Add(usage.Record{Tenant: "tnt_a", Model: "e", Principal: "bob", Time: base, Prompt: 4, Total: 4})
		r.Add(usage.Record{Tenant: "tnt_b", Model: "m", Principal: "alice", Time: base, Prompt: 9, Total: 9})
		r.Adjust(quota.Adjustment{Tenant: "tnt_a", Kind: quota.KindTokensPerMinute, Window: 60, Delta: -40})
		r.Close()

		f := usage.Filter{Tenant: "tnt_a", Since: base, Until: base.Add(time.Hour)}
		minutes, err := usage.Query(ctx, d.DB, usage.WindowMinute, f)
		require.NoError(t, err)
		require.Len(t, minutes, 5, "4 minutes of m, 1 of e")
		require.Equal(t, "e", minutes[0].Model)
		require.EqualValues(t, 3, minutes[1].Requests)
		require.EqualValues(t, 1, minutes[1].EstimatedRequests)

		hours, err := usage.Query(ctx, d.DB, usage.WindowHour, f)
		require.NoError(t, err)
		require.Len(t, hours, 2)
		m := hours[1]
		require.Equal(t, base, m.Start)
		require.EqualValues(t, 10, m.Requests)
		require.EqualValues(t, 30, m.PromptTokens)
		require.EqualValues(t, 20, m.CompletionTokens)
		require.EqualValues(t, 50, m.TotalTokens)

		f.Principal = "bob"
		only, err := usage.Query(ctx, d.DB, usage.WindowDay, f)
		require.NoError(t, err)
		require.Len(t, only, 1)
		require.EqualValues(t, 4, only[0].TotalTokens)

		ok, err = qs.Grant(ctx, "tnt_a", quota.KindTokensPerMinute, 60, 90, 100)
		require.NoError(t, err)
		require.True(t, ok, "the adjustment gave 40 back")
	})
}
