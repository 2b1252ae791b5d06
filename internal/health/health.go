// Package health holds the readiness check every service shares.
package health

import (
	"context"
	"time"

	"github.com/nexixai/agentos/internal/apierr"
)

// Pinger is a dependency that answers a ping (the database).
type Pinger interface {
	Ping(ctx context.Context) error
}

// Check pings every dependency with a short timeout and returns each one's state, or a
// 503 error naming the first that does not answer.
func Check(ctx context.Context, deps map[string]Pinger) (map[string]string, error) {
	states := make(map[string]string, len(deps))
	var failed error
	for name, dep := range deps {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := dep.Ping(cctx)
		cancel()
		if err != nil {
			states[name] = "unavailable"
			if failed == nil {
				failed = apierr.Wrap(err, apierr.CodeUnavailable, "%s is not answering", name)
			}
			continue
		}
		states[name] = "ok"
	}
	return states, failed
}
