package provider

import (
	"sync"
	"time"
)

// BreakerState is a circuit breaker's state; its value is the breaker-state metric.
type BreakerState int

// Breaker states.
const (
	BreakerClosed   BreakerState = 0
	BreakerHalfOpen BreakerState = 1
	BreakerOpen     BreakerState = 2
)

func (s BreakerState) String() string {
	switch s {
	case BreakerHalfOpen:
		return "half_open"
	case BreakerOpen:
		return "open"
	}
	return "closed"
}

// Breaker is a consecutive-failure circuit breaker: after threshold failures in a row it
// opens for cooldown, then lets one probe through (half-open); the probe's success closes
// it, its failure opens it again.
type Breaker struct {
	threshold int
	cooldown  time.Duration
	now       func() time.Time
	onChange  func(BreakerState)

	mu       sync.Mutex
	state    BreakerState
	failures int
	openedAt time.Time
	probing  bool
}

// NewBreaker returns a closed breaker; threshold <= 0 disables it (always closed).
func NewBreaker(threshold int, cooldown time.Duration, onChange func(BreakerState)) *Breaker {
	if onChange == nil {
		onChange = func(BreakerState) {}
	}
	return &Breaker{threshold: threshold, cooldown: cooldown, now: time.Now, onChange: onChange}
}

// Allow reports whether a call may go through now. A true answer in the half-open state
// makes the caller the probe: it must report Success or Failure.
func (b *Breaker) Allow() bool {
	if b.threshold <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case BreakerOpen:
		if b.now().Sub(b.openedAt) < b.cooldown {
			return false
		}
		b.set(BreakerHalfOpen)
		b.probing = true
		return true
	case BreakerHalfOpen:
		if b.probing {
			return false
		}
		b.probing = true
		return true
	}
	return true
}

// RetryIn is how long until an open breaker lets a probe through (0 when not open).
func (b *Breaker) RetryIn() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != BreakerOpen {
		return 0
	}
	return max(b.cooldown-b.now().Sub(b.openedAt), 0)
}

// Success records a successful call.
func (b *Breaker) Success() {
	if b.threshold <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures = 0
	b.probing = false
	if b.state != BreakerClosed {
		b.set(BreakerClosed)
	}
}

// Failure records a failed call.
func (b *Breaker) Failure() {
	if b.threshold <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
	b.failures++
	if b.state == BreakerHalfOpen || b.failures >= b.threshold {
		b.openedAt = b.now()
		if b.state != BreakerOpen {
			b.set(BreakerOpen)
		}
	}
}

// Release ends a call that neither succeeded nor failed (the client went away), freeing
// a half-open probe slot.
func (b *Breaker) Release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
}

// State returns the current state.
func (b *Breaker) State() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

func (b *Breaker) set(s BreakerState) {
	b.state = s
	b.onChange(s)
}

// Available reports, without side effects, whether Allow would let a call through now.
func (b *Breaker) Available() bool {
	if b.threshold <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case BreakerOpen:
		return b.now().Sub(b.openedAt) >= b.cooldown
	case BreakerHalfOpen:
		return !b.probing
	}
	return true
}
