package upstream

import (
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// RetryOn is a set of conditions under which a route retries.
type RetryOn uint8

const (
	// RetryConnectFailure: no connection could be made (refused, timed
	// out connecting); the target never saw the request.
	RetryConnectFailure RetryOn = 1 << iota
	// RetryReset: the connection broke before a response arrived.
	RetryReset
	// RetryTimeout: the per-try timeout passed without a response.
	RetryTimeout
	// RetryStatus: the response status is in RetryPolicy.Statuses.
	RetryStatus
)

// RetryPolicy is a route's retry settings.
type RetryPolicy struct {
	// Retries is how many times a request may be sent again after the
	// first try; 0 turns retries off.
	Retries int
	// PerTryTimeout bounds each try; the route's timeout bounds them all.
	PerTryTimeout time.Duration
	On            RetryOn
	Statuses      []int // for RetryStatus, e.g. 502, 503, 504
	// NonIdempotent allows retrying POST and PATCH, which may then be
	// applied twice; only a route that knows its backend tolerates that
	// should set it.
	NonIdempotent bool
	// Backoff before retry n (from 1) is a random duration in
	// [0, min(BackoffMax, BackoffBase*2^(n-1))] ("full jitter").
	BackoffBase time.Duration
	BackoffMax  time.Duration
}

// RetriesStatus reports whether status is one the policy retries on.
func (p *RetryPolicy) RetriesStatus(status int) bool {
	if p.On&RetryStatus == 0 {
		return false
	}
	for _, s := range p.Statuses {
		if s == status {
			return true
		}
	}
	return false
}

// Backoff is the wait before retry n (1 for the first retry).
func (p *RetryPolicy) Backoff(n int) time.Duration {
	if p.BackoffBase <= 0 {
		return 0
	}
	ceil := p.BackoffBase
	for i := 1; i < n && ceil < p.BackoffMax; i++ {
		ceil *= 2
	}
	if p.BackoffMax > 0 {
		ceil = min(ceil, p.BackoffMax)
	}
	return time.Duration(rand.Int64N(int64(ceil) + 1))
}

// RetryBudget caps retries to a share of the requests in flight to an
// upstream, so that when the upstream is failing retries cannot multiply
// its load. A floor of MinConcurrent retries is always allowed, so low
// traffic can still retry.
type RetryBudget struct {
	Ratio         float64
	MinConcurrent int

	active   atomic.Int64 // requests in flight to the upstream
	retrying atomic.Int64 // of which are retries
}

// Begin counts a request in; End counts it out.
func (b *RetryBudget) Begin() { b.active.Add(1) }
func (b *RetryBudget) End()   { b.active.Add(-1) }

// Acquire reserves a retry if the budget allows one; Release returns it.
func (b *RetryBudget) Acquire() bool {
	n := b.retrying.Add(1)
	limit := max(int64(b.Ratio*float64(b.active.Load())), int64(b.MinConcurrent))
	if n > limit {
		b.retrying.Add(-1)
		return false
	}
	return true
}

func (b *RetryBudget) Release() { b.retrying.Add(-1) }
