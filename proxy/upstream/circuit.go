package upstream

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// BreakerOptions configure an upstream's circuit breaker. Zero values
// turn the matching limit or trip off.
type BreakerOptions struct {
	// MaxRequests caps the requests in flight to the upstream; MaxPending
	// more may wait for one of them to finish, the rest get 503 at once.
	MaxRequests int
	MaxPending  int
	// The circuit opens after ConsecutiveFailures failures in a row, or
	// when at least ErrorRate of the requests in the last Window failed,
	// once Window holds at least MinRequests.
	ConsecutiveFailures int
	ErrorRate           float64
	MinRequests         int
	Window              time.Duration
	// OpenFor is how long an open circuit refuses requests; then up to
	// HalfOpenRequests trial requests go through, and the circuit closes
	// when they all succeed or opens again at the first failure.
	OpenFor          time.Duration
	HalfOpenRequests int
}

// CircuitState is the state of a breaker.
type CircuitState int32

const (
	CircuitClosed CircuitState = iota
	CircuitOpen
	CircuitHalfOpen
)

func (s CircuitState) String() string {
	switch s {
	case CircuitOpen:
		return "open"
	case CircuitHalfOpen:
		return "half_open"
	}
	return "closed"
}

// Breaker is an upstream's circuit breaker and concurrency limit. The
// closed state, by far the common one, is handled with atomics only.
type Breaker struct {
	opts BreakerOptions

	inflight atomic.Int64
	pending  atomic.Int64
	slots    chan struct{} // MaxRequests tokens; nil when unlimited

	state       atomic.Int32
	consecutive atomic.Int64
	// gauge mirrors state for /metrics (0 closed, 1 open, 2 half-open);
	// nil in tests that make a bare breaker.
	gauge *metrics.Gauge

	mu        sync.Mutex // state transitions and the window
	openedAt  time.Time
	trials    int // half-open requests admitted
	trialOK   int
	window    []bucket
	bucketDur time.Duration
}

type bucket struct {
	epoch      int64
	total, bad int64
}

const windowBuckets = 10

// NewBreaker returns a breaker with opts, or nil when opts set nothing,
// so that upstreams without one pay nothing.
func NewBreaker(opts BreakerOptions) *Breaker {
	if opts == (BreakerOptions{}) {
		return nil
	}
	b := &Breaker{opts: opts}
	if opts.MaxRequests > 0 {
		b.slots = make(chan struct{}, opts.MaxRequests)
	}
	if opts.ErrorRate > 0 && opts.Window > 0 {
		b.window = make([]bucket, windowBuckets)
		b.bucketDur = opts.Window / windowBuckets
	}
	return b
}

// Refusal says why Allow refused a request.
type Refusal uint8

const (
	Admitted Refusal = iota
	RefusedOpen
	RefusedFull
)

// Allow admits a request, waiting up to wait for a free slot when the
// upstream is at MaxRequests. An admitted request must call Done.
func (b *Breaker) Allow(now time.Time, wait time.Duration) Refusal {
	if b == nil {
		return Admitted
	}
	trial := false
	switch CircuitState(b.state.Load()) {
	case CircuitOpen:
		if !b.tryHalfOpen(now) {
			return RefusedOpen
		}
		trial = true
	case CircuitHalfOpen:
		if !b.admitTrial(now) {
			return RefusedOpen
		}
		trial = true
	}
	if b.slots != nil {
		select {
		case b.slots <- struct{}{}:
		default:
			if b.pending.Add(1) > int64(b.opts.MaxPending) {
				b.pending.Add(-1)
				if trial {
					b.returnTrial()
				}
				return RefusedFull
			}
			t := time.NewTimer(wait)
			select {
			case b.slots <- struct{}{}:
				t.Stop()
				b.pending.Add(-1)
			case <-t.C:
				b.pending.Add(-1)
				if trial {
					b.returnTrial()
				}
				return RefusedFull
			}
		}
	}
	b.inflight.Add(1)
	return Admitted
}

// Done releases an admitted request's slot and records whether it
// failed (a 5xx answer or no answer).
func (b *Breaker) Done(now time.Time, failed bool) {
	if b == nil {
		return
	}
	b.release()
	b.record(now, failed)
}

// Abandon ends an allowed request whose outcome says nothing about the
// upstream (the client's body failed): it is neither a failure nor, in a
// half-open breaker, a successful trial, and its trial goes back so that
// another request can make it (else the breaker would wait half-open for
// a result that never comes).
func (b *Breaker) Abandon() {
	if b == nil {
		return
	}
	b.release()
	if CircuitState(b.state.Load()) == CircuitHalfOpen {
		b.returnTrial()
	}
}

func (b *Breaker) release() {
	b.inflight.Add(-1)
	if b.slots != nil {
		<-b.slots
	}
}

// returnTrial gives back a half-open trial that made no result. A request
// admitted while closed and abandoned after the breaker went half-open
// gives one back too: at most one trial more, never one too few.
func (b *Breaker) returnTrial() {
	b.mu.Lock()
	if CircuitState(b.state.Load()) == CircuitHalfOpen && b.trials > b.trialOK {
		b.trials--
	}
	b.mu.Unlock()
}

func (b *Breaker) record(now time.Time, failed bool) {
	switch CircuitState(b.state.Load()) {
	case CircuitHalfOpen:
		b.mu.Lock()
		if CircuitState(b.state.Load()) == CircuitHalfOpen {
			if failed {
				b.open(now)
			} else if b.trialOK++; b.trialOK >= max(b.opts.HalfOpenRequests, 1) {
				b.close()
			}
		}
		b.mu.Unlock()
		return
	case CircuitOpen:
		return
	}
	trip := false
	if failed {
		n := b.consecutive.Add(1)
		trip = b.opts.ConsecutiveFailures > 0 && n >= int64(b.opts.ConsecutiveFailures)
	} else if b.consecutive.Load() != 0 {
		b.consecutive.Store(0)
	}
	if b.window != nil {
		b.mu.Lock()
		trip = b.observe(now, failed) || trip
		if trip {
			b.open(now)
		}
		b.mu.Unlock()
		return
	}
	if trip {
		b.mu.Lock()
		b.open(now)
		b.mu.Unlock()
	}
}

// observe adds one result to the sliding window and reports whether the
// error rate over it calls for opening. Caller holds mu.
func (b *Breaker) observe(now time.Time, failed bool) bool {
	epoch := now.UnixNano() / int64(b.bucketDur)
	cur := &b.window[epoch%windowBuckets]
	if cur.epoch != epoch {
		*cur = bucket{epoch: epoch}
	}
	cur.total++
	if failed {
		cur.bad++
	}
	var total, bad int64
	for _, bk := range b.window {
		if epoch-bk.epoch < windowBuckets {
			total += bk.total
			bad += bk.bad
		}
	}
	return total >= int64(max(b.opts.MinRequests, 1)) && float64(bad) >= b.opts.ErrorRate*float64(total)
}

func (b *Breaker) setState(s CircuitState) {
	b.state.Store(int32(s))
	if b.gauge != nil {
		b.gauge.Set(float64(s))
	}
}

// open moves to open. Caller holds mu.
func (b *Breaker) open(now time.Time) {
	b.setState(CircuitOpen)
	b.openedAt = now
	b.consecutive.Store(0)
	for i := range b.window {
		b.window[i] = bucket{}
	}
}

// close moves to closed. Caller holds mu.
func (b *Breaker) close() {
	b.setState(CircuitClosed)
	b.consecutive.Store(0)
}

func (b *Breaker) tryHalfOpen(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch CircuitState(b.state.Load()) {
	case CircuitClosed:
		return true
	case CircuitOpen:
		if now.Sub(b.openedAt) < b.opts.OpenFor {
			return false
		}
		b.halfOpen(now)
	}
	return b.admitTrialLocked(now)
}

// halfOpen starts a half-open period. Caller holds mu.
func (b *Breaker) halfOpen(now time.Time) {
	b.setState(CircuitHalfOpen)
	b.trials, b.trialOK = 0, 0
	b.openedAt = now
}

func (b *Breaker) admitTrial(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if CircuitState(b.state.Load()) != CircuitHalfOpen {
		return CircuitState(b.state.Load()) == CircuitClosed
	}
	return b.admitTrialLocked(now)
}

func (b *Breaker) admitTrialLocked(now time.Time) bool {
	if b.trials >= max(b.opts.HalfOpenRequests, 1) {
		// Trials all out: wait for their results, but not for ever. A
		// trial that never reports (its request stuck upstream beyond
		// open_for) must not hold the circuit half-open; the period
		// starts again.
		if now.Sub(b.openedAt) < max(b.opts.OpenFor, time.Second) {
			return false
		}
		b.halfOpen(now)
	}
	b.trials++
	return true
}

// State is the breaker's state (closed for a nil breaker).
func (b *Breaker) State() CircuitState {
	if b == nil {
		return CircuitClosed
	}
	return CircuitState(b.state.Load())
}

// Inflight is the number of admitted requests not yet done.
func (b *Breaker) Inflight() int64 {
	if b == nil {
		return 0
	}
	return b.inflight.Load()
}
