package badinput_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nexixai/agentos/internal/badinput"
)

// TestSweep sends every bad-input case of every operation of the three service
// documents to an in-process node, on SQLite and (with TEST_DATABASE_URL) PostgreSQL:
// each must be answered with a 4xx problem, never a 5xx, and never accepted when it
// breaks the document.
func TestSweep(t *testing.T) {
	t.Parallel()
	for _, backend := range backends() {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			n := nodeFor(t, backend)
			fx := n.newFixture(t, "sweep")
			for _, service := range services {
				t.Run(service, func(t *testing.T) {
					s := spec(t, service)
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
					defer cancel()
					start := time.Now()
					res, err := badinput.Sweep(ctx, s, badinput.Target{
						BaseURL:     n.node.URL(service),
						Client:      n.client,
						Credentials: n.credentials(fx.tenant),
						Options:     fx.options(n.cfg.MaxBodyBytes),
					})
					if err != nil {
						t.Fatal(err)
					}
					t.Logf("%s on %s: %d requests over %d operations in %s; statuses %s",
						service, backend, res.Requests, len(s.Operations), time.Since(start).Round(time.Millisecond), statuses(res.Statuses))
					if len(s.Operations) != len(res.PerOperation) {
						t.Errorf("swept %d of %d operations", len(res.PerOperation), len(s.Operations))
					}
					for _, f := range res.Failures {
						t.Error(f)
					}
					for op, status := range res.Baselines {
						switch status {
						case http.StatusBadRequest, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity:
							t.Errorf("%s: the baseline request was rejected (%d), so no permitted case reaches the handler: fix the generator or the fixture's Adjust", op, status)
						}
					}
				})
			}
		})
	}
}

func statuses(m map[int]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d×%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}
