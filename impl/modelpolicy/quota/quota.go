// Package quota enforces Model Policy's per-tenant quotas: invocations per second and
// tokens per minute, in fixed windows. A call reserves its estimated tokens before it
// runs and settles to its actual usage after, so concurrent calls (also from several
// gateway processes sharing PostgreSQL) stay within the limit.
//
// Counters live in a Store: the database (PostgreSQL) or memory (the single-process
// SQLite deployment). To keep the database off the hot path at high rates, a Limiter
// takes capacity from the store in blocks of up to 2% of the limit and hands it out
// locally; at low limits a block is exactly what one call needs.
package quota

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// Kinds of quota, also the `kind` column of the counters and the code suffix of the
// 429 problem.
const (
	KindInvokeQPS       = "invoke_qps"
	KindTokensPerMinute = "tokens_per_minute"
)

// Store keeps quota counters per tenant, kind and window.
type Store interface {
	// Grant adds want to the counter of (tenant, kind, window) if the result does not
	// exceed limit, and reports whether it did.
	Grant(ctx context.Context, tenant, kind string, window, want, limit int64) (bool, error)
	// Adjust adds each delta (negative to give back) to its counter.
	Adjust(ctx context.Context, adj []Adjustment) error
	// Cleanup drops counters of windows that started before before (unix seconds).
	Cleanup(ctx context.Context, before int64) error
}

// Adjustment changes one counter.
type Adjustment struct {
	Tenant string
	Kind   string
	Window int64
	Delta  int64
}

// Limits are one tenant's quotas; 0 means unlimited.
type Limits struct {
	InvokeQPS       int64
	TokensPerMinute int64
}

// ExceededError is a call over a quota.
type ExceededError struct {
	Kind  string
	Limit int64
	// Want is what the call asked for (1 invocation, or its estimated tokens).
	Want int64
	// RetryAfter is when the window ends.
	RetryAfter time.Duration
}

func (e *ExceededError) Error() string {
	if e.Kind == KindInvokeQPS {
		return fmt.Sprintf("invocation rate limit of %d per second exceeded", e.Limit)
	}
	return fmt.Sprintf("token quota of %d per minute exceeded (this call reserves %d tokens)", e.Limit, e.Want)
}

// Reservation is what a call holds until it settles.
type Reservation struct {
	Tenant string
	// Window is the token window the reservation counts in (unix seconds; 0: no token
	// limit applied).
	Window int64
	// Tokens is the number of tokens reserved.
	Tokens int64
}

// blockFraction is the share of a limit a Limiter takes from the store at once.
const blockFraction = 0.02

// Limiter hands out quota.
type Limiter struct {
	store Store
	now   func() time.Time

	mu    sync.Mutex
	local map[localKey]*allowance
}

type localKey struct{ tenant, kind string }

// allowance is capacity taken from the store and not yet handed out.
type allowance struct {
	mu        sync.Mutex
	window    int64
	remaining int64
}

// NewLimiter returns a Limiter over store.
func NewLimiter(store Store) *Limiter {
	return &Limiter{store: store, now: time.Now, local: map[localKey]*allowance{}}
}

// Reserve takes one invocation and tokens for tenant under lim, or returns an
// *ExceededError. A reservation larger than the whole token limit is cut to the limit,
// so such a call can still run in an otherwise empty window.
func (l *Limiter) Reserve(ctx context.Context, tenant string, lim Limits, tokens int64) (*Reservation, error) {
	now := l.now()
	res := &Reservation{Tenant: tenant}
	if lim.InvokeQPS > 0 {
		sec := now.Unix()
		ok, err := l.take(ctx, tenant, KindInvokeQPS, sec, 1, lim.InvokeQPS)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, &ExceededError{Kind: KindInvokeQPS, Limit: lim.InvokeQPS, Want: 1, RetryAfter: time.Unix(sec+1, 0).Sub(now)}
		}
	}
	if lim.TokensPerMinute > 0 {
		tokens = min(max(tokens, 1), lim.TokensPerMinute)
		window := now.Unix() / 60 * 60
		ok, err := l.take(ctx, tenant, KindTokensPerMinute, window, tokens, lim.TokensPerMinute)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, &ExceededError{Kind: KindTokensPerMinute, Limit: lim.TokensPerMinute, Want: tokens, RetryAfter: time.Unix(window+60, 0).Sub(now)}
		}
		res.Window, res.Tokens = window, tokens
	}
	return res, nil
}

// Settle returns the adjustment that turns the reservation into actual tokens, to be
// applied to the store (ok false when there is nothing to adjust: no token limit, the
// estimate was exact, or the window has passed and the counter no longer matters).
func (l *Limiter) Settle(r *Reservation, actual int64) (Adjustment, bool) {
	if r == nil || r.Window == 0 || actual == r.Tokens {
		return Adjustment{}, false
	}
	if l.now().Unix()/60*60 != r.Window && actual < r.Tokens {
		return Adjustment{}, false
	}
	return Adjustment{Tenant: r.Tenant, Kind: KindTokensPerMinute, Window: r.Window, Delta: actual - r.Tokens}, true
}

func (l *Limiter) allowance(tenant, kind string) *allowance {
	k := localKey{tenant, kind}
	l.mu.Lock()
	defer l.mu.Unlock()
	a, ok := l.local[k]
	if !ok {
		a = &allowance{}
		l.local[k] = a
	}
	return a
}

// take hands out need units of the (tenant, kind, window) counter.
func (l *Limiter) take(ctx context.Context, tenant, kind string, window, need, limit int64) (bool, error) {
	a := l.allowance(tenant, kind)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.window != window {
		a.window, a.remaining = window, 0
	}
	if a.remaining >= need {
		a.remaining -= need
		return true, nil
	}
	short := need - a.remaining
	block := max(short, int64(math.Ceil(float64(limit)*blockFraction)))
	ok, err := l.store.Grant(ctx, tenant, kind, window, block, limit)
	if err != nil {
		return false, fmt.Errorf("reserve %s quota: %w", kind, err)
	}
	if !ok && block > short {
		block = short
		ok, err = l.store.Grant(ctx, tenant, kind, window, block, limit)
		if err != nil {
			return false, fmt.Errorf("reserve %s quota: %w", kind, err)
		}
	}
	if !ok {
		return false, nil
	}
	a.remaining += block - need
	return true, nil
}

// Sweep forgets local allowances of past windows and drops old counters from the store.
func (l *Limiter) Sweep(ctx context.Context) error {
	now := l.now().Unix()
	l.mu.Lock()
	for k, a := range l.local {
		a.mu.Lock()
		stale := a.window < now-120
		a.mu.Unlock()
		if stale {
			delete(l.local, k)
		}
	}
	l.mu.Unlock()
	return l.store.Cleanup(ctx, now-3600)
}
