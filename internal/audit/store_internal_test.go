package audit

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nexixai/agentos/internal/db"
	"github.com/nexixai/agentos/internal/dbtest"
)

// Verify reads chains in batches; findings across batch boundaries must
// come out the same.
func TestVerifyAcrossBatches(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		for i := range 7 {
			_, err := Append(ctx, d.DB, Record{TenantID: "tnt_a", Action: "a.b", Outcome: OutcomeSuccess, RequestID: fmt.Sprint(i)})
			require.NoError(t, err)
		}
		for _, batch := range []int{1, 2, 3, 7, 8} {
			f, err := verify(ctx, d.DB, "", batch)
			require.NoError(t, err)
			require.Nil(t, f, "batch %d", batch)
		}

		_, err := d.NewRaw("DELETE FROM audit_records WHERE seq = 5").Exec(ctx)
		require.NoError(t, err)
		for _, batch := range []int{1, 2, 3, 4, 7} {
			f, err := verify(ctx, d.DB, "tnt_a", batch)
			require.NoError(t, err)
			require.Equal(t, []Finding{{TenantID: "tnt_a", Seq: 5, Kind: FindingDeleted, Detail: "record 5 is missing"}}, f, "batch %d", batch)
		}
	})
}
