package ratelimit

import (
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// t0 is a Unix time in ns on a minute boundary.
const t0 = int64(1_700_000_040) * int64(time.Second)

const sec = int64(time.Second)

func mustNew(t *testing.T, alg Algorithm, limit int64, window time.Duration, burst int64) Limiter {
	t.Helper()
	l, err := New(alg, limit, window, burst)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// run takes one request at now against *state, keeping the new state.
func run(l *Limiter, state *[]byte, now int64) Result {
	next, changed, r := l.Take(*state, now, nil)
	if changed {
		*state = next
	}
	return r
}

func want(t *testing.T, step string, got, w Result) {
	t.Helper()
	if got != w {
		t.Fatalf("%s: got %+v, want %+v", step, got, w)
	}
}

func TestTokenBucketBoundaries(t *testing.T) {
	l := mustNew(t, TokenBucket, 5, time.Minute, 0) // a token every 12s
	var st []byte
	now := t0 + 7*sec // the bucket's phase does not depend on the clock's
	for i := int64(1); i <= 5; i++ {
		want(t, "burst", run(&l, &st, now), Result{Allowed: true, Limit: 5, Remaining: 5 - i, Reset: 12 * i})
	}
	want(t, "6th", run(&l, &st, now), Result{Limit: 5, Reset: 60, RetryAfter: 12})
	// One ns before the next token: still refused, a second to wait.
	want(t, "just before", run(&l, &st, now+12*sec-1), Result{Limit: 5, Reset: 49, RetryAfter: 1})
	want(t, "refilled", run(&l, &st, now+12*sec), Result{Allowed: true, Limit: 5, Remaining: 0, Reset: 60})
	want(t, "empty again", run(&l, &st, now+12*sec), Result{Limit: 5, Reset: 60, RetryAfter: 12})
	// A full window later the bucket is full: never more than burst.
	want(t, "full", run(&l, &st, now+10*time.Minute.Nanoseconds()), Result{Allowed: true, Limit: 5, Remaining: 4, Reset: 12})
}

func TestTokenBucketBurst(t *testing.T) {
	l := mustNew(t, TokenBucket, 10, time.Second, 2) // a token every 100ms, 2 at most
	var st []byte
	want(t, "1", run(&l, &st, t0), Result{Allowed: true, Limit: 2, Remaining: 1, Reset: 1})
	want(t, "2", run(&l, &st, t0), Result{Allowed: true, Limit: 2, Remaining: 0, Reset: 1})
	want(t, "3", run(&l, &st, t0), Result{Limit: 2, Reset: 1, RetryAfter: 1})
	want(t, "+100ms", run(&l, &st, t0+100*int64(time.Millisecond)), Result{Allowed: true, Limit: 2, Remaining: 0, Reset: 1})
	l = mustNew(t, TokenBucket, 1, time.Hour, 50)
	st = nil
	for i := int64(1); i <= 50; i++ {
		want(t, "big burst", run(&l, &st, t0), Result{Allowed: true, Limit: 50, Remaining: 50 - i, Reset: 3600 * i})
	}
	want(t, "after", run(&l, &st, t0), Result{Limit: 50, Reset: 50 * 3600, RetryAfter: 3600})
}

func TestSlidingWindowBoundaries(t *testing.T) {
	l := mustNew(t, SlidingWindow, 5, time.Minute, 0)
	var st []byte
	start := t0
	now := start + 10*sec
	for i := int64(1); i <= 5; i++ {
		want(t, "first window", run(&l, &st, now), Result{Allowed: true, Limit: 5, Remaining: 5 - i, Reset: 50})
	}
	// Not in this window; in the next one the 5 weigh (60-e)/60, and
	// 5*(60-e)/60 <= 4 from e = 12s: 72s after the window's start.
	want(t, "6th", run(&l, &st, now), Result{Limit: 5, Reset: 50, RetryAfter: 62})
	next := start + 60*sec
	want(t, "next window, e=11.999s", run(&l, &st, next+12*sec-1), Result{Limit: 5, Reset: 49, RetryAfter: 1})
	want(t, "e=12s", run(&l, &st, next+12*sec), Result{Allowed: true, Limit: 5, Remaining: 0, Reset: 48})
	// Now cur=1, prev=5: 1 + ceil(5*(60-e)/60) < 5 from e = 24s.
	want(t, "again", run(&l, &st, next+12*sec), Result{Limit: 5, Reset: 48, RetryAfter: 12})
	want(t, "e=24s", run(&l, &st, next+24*sec), Result{Allowed: true, Limit: 5, Remaining: 0, Reset: 36})
	want(t, "e=36s", run(&l, &st, next+36*sec), Result{Allowed: true, Limit: 5, Remaining: 0, Reset: 24})
	// Two windows later nothing weighs.
	want(t, "fresh", run(&l, &st, start+180*sec), Result{Allowed: true, Limit: 5, Remaining: 4, Reset: 60})
}

func TestSlidingWindowLimitOne(t *testing.T) {
	l := mustNew(t, SlidingWindow, 1, time.Second, 0)
	var st []byte
	want(t, "1", run(&l, &st, t0+sec/2), Result{Allowed: true, Limit: 1, Remaining: 0, Reset: 1})
	// Any weight of the previous window's request refuses: the window
	// after next.
	want(t, "2", run(&l, &st, t0+sec/2), Result{Limit: 1, Reset: 1, RetryAfter: 2})
	want(t, "next window", run(&l, &st, t0+sec+sec/2), Result{Limit: 1, Reset: 1, RetryAfter: 1})
	want(t, "window after", run(&l, &st, t0+2*sec), Result{Allowed: true, Limit: 1, Remaining: 0, Reset: 1})
}

func TestSlidingWindowClockBehind(t *testing.T) {
	l := mustNew(t, SlidingWindow, 3, time.Minute, 0)
	var st []byte
	run(&l, &st, t0+60*sec+1) // a VM already in the next window
	// A VM whose clock is still in the window before counts in the newer
	// window, with the previous one weighing fully.
	want(t, "behind", run(&l, &st, t0+59*sec), Result{Allowed: true, Limit: 3, Remaining: 1, Reset: 61})
	if s, p, c, ok := decodeWindow(st); !ok || s != t0+60*sec || p != 0 || c != 2 {
		t.Fatalf("state %d %d %d %v", s, p, c, ok)
	}
	// A state far in the future is damaged: ignored.
	st = encodeWindow(nil, t0+3600*sec, 0, 3)
	want(t, "far future", run(&l, &st, t0), Result{Allowed: true, Limit: 3, Remaining: 2, Reset: 60})
}

func TestTokenBucketShrunkBurst(t *testing.T) {
	big := mustNew(t, TokenBucket, 10, 10*time.Second, 10)
	var st []byte
	for range 10 {
		run(&big, &st, t0)
	}
	small := mustNew(t, TokenBucket, 10, 10*time.Second, 2)
	// The bucket is 10s from full under the old burst; under the new
	// one an empty bucket is 2s from full.
	want(t, "after reload", run(&small, &st, t0), Result{Limit: 2, Reset: 2, RetryAfter: 1})
}

// TestTokenBucketFasterRate: raised by a reload from 3 per 30s to 100 per
// second, a limit applies at once to a client the old one had emptied:
// the first request finds the bucket empty under the new size, and one
// token is back after 10ms, not when the old bucket would have refilled.
func TestTokenBucketFasterRate(t *testing.T) {
	slow := mustNew(t, TokenBucket, 3, 30*time.Second, 0)
	var st []byte
	for range 3 {
		run(&slow, &st, t0)
	}
	want(t, "old limit spent", run(&slow, &st, t0), Result{Limit: 3, Reset: 30, RetryAfter: 10})
	fast := mustNew(t, TokenBucket, 100, time.Second, 1)
	ms := int64(time.Millisecond)
	want(t, "after reload", run(&fast, &st, t0+ms), Result{Limit: 1, Reset: 1, RetryAfter: 1})
	want(t, "a token later", run(&fast, &st, t0+11*ms), Result{Allowed: true, Limit: 1, Reset: 1})
}

func TestDamagedStateIsFresh(t *testing.T) {
	tb := mustNew(t, TokenBucket, 2, time.Second, 0)
	sw := mustNew(t, SlidingWindow, 2, time.Second, 0)
	for _, st := range [][]byte{nil, {}, {'B'}, {'B', 0x80}, {'W', 1, 2}, {'X', 1, 2, 3}, {'W', 2, 1, 1, 9}, {'B', 2, 0}} {
		for _, l := range []*Limiter{&tb, &sw} {
			if _, _, r := l.Take(st, t0, nil); !r.Allowed || r.Remaining != 1 {
				t.Errorf("state %v, algorithm %d: %+v", st, l.alg, r)
			}
		}
	}
	// The other algorithm's state (a reload changed it) is none too.
	st, _, _ := tb.Take(nil, t0, nil)
	if _, _, r := sw.Take(st, t0, nil); r.Remaining != 1 {
		t.Errorf("bucket state read by the window: %+v", r)
	}
}

func TestStateIsCompact(t *testing.T) {
	tb := mustNew(t, TokenBucket, 100, time.Minute, 0)
	sw := mustNew(t, SlidingWindow, 100, time.Minute, 0)
	b, _, _ := tb.Take(nil, t0, nil)
	w, _, _ := sw.Take(encodeWindow(nil, t0, 40, 50), t0+sec, nil)
	if len(b) > 10 || len(w) > 13 {
		t.Fatalf("bucket state %d bytes, window state %d bytes", len(b), len(w))
	}
	if s, p, c, ok := decodeWindow(w); !ok || s != t0 || p != 40 || c != 51 {
		t.Fatalf("window state %d %d %d %v", s, p, c, ok)
	}
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		alg    Algorithm
		limit  int64
		window time.Duration
		burst  int64
		field  string
	}{
		{0, 1, time.Second, 0, "algorithm:"},
		{TokenBucket, 0, time.Second, 0, "limit:"},
		{SlidingWindow, -1, time.Second, 0, "limit:"},
		{TokenBucket, 1, 0, 0, "window:"},
		{SlidingWindow, 1, -time.Second, 0, "window:"},
		{SlidingWindow, 1, 1 << 61, 0, "window:"},
		{TokenBucket, 1, time.Second, -1, "burst:"},
		{SlidingWindow, 1, time.Second, 3, "burst:"},
		{TokenBucket, 2, 1, 0, "limit:"},
		{TokenBucket, 1, 1 << 40, 1 << 30, "burst:"},
	} {
		_, err := New(tc.alg, tc.limit, tc.window, tc.burst)
		if err == nil || !strings.HasPrefix(err.Error(), tc.field) {
			t.Errorf("%+v: %v, want an error on %s", tc, err, tc.field)
		}
	}
}

// refBucket is the token bucket as usually written: a level, in
// token-nanoseconds (one token = interval), refilled by the time elapsed.
type refBucket struct {
	level, last int64
	started     bool
}

func (b *refBucket) take(l *Limiter, now int64) bool {
	capacity := l.burst * l.interval
	if !b.started {
		b.level, b.last, b.started = capacity, now, true
	}
	if now > b.last {
		b.level = min(capacity, b.level+(now-b.last))
		b.last = now
	}
	if b.level >= l.interval {
		b.level -= l.interval
		return true
	}
	return false
}

// refWindow is the sliding window's estimate in exact rationals.
type refWindow struct{ start, prev, cur int64 }

func (w *refWindow) allows(l *Limiter, now int64) bool {
	start := now - floorMod(now, l.window)
	prev, cur := w.prev, w.cur
	switch {
	case start == w.start+l.window:
		prev, cur = w.cur, 0
	case start != w.start:
		prev, cur = 0, 0
	}
	est := new(big.Rat).SetFrac64(prev*(l.window-(now-start)), l.window)
	est.Add(est, big.NewRat(cur+1, 1))
	return est.Cmp(big.NewRat(l.limit, 1)) <= 0
}

func (w *refWindow) take(l *Limiter, now int64) bool {
	if !w.allows(l, now) {
		return false
	}
	start := now - floorMod(now, l.window)
	switch {
	case start == w.start+l.window:
		w.prev, w.cur = w.cur, 0
	case start != w.start:
		w.prev, w.cur = 0, 0
	}
	w.start = start
	w.cur++
	return true
}

// TestAgainstReference: random arrivals give the same decisions as the
// straightforward formulations, and Retry-After is exact to the second:
// refused one second earlier, allowed then.
func TestAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		limit := 1 + rng.Int64N(20)
		window := time.Duration(1+rng.Int64N(120)) * time.Second / time.Duration(1+rng.Int64N(4))
		alg := TokenBucket
		burst := int64(0)
		if round%2 == 1 {
			alg = SlidingWindow
		} else if rng.IntN(2) == 0 {
			burst = 1 + rng.Int64N(30)
		}
		l := mustNew(t, alg, limit, window, burst)
		var st []byte
		var rb refBucket
		var rw refWindow
		now := t0 + rng.Int64N(int64(window))
		for i := range 300 {
			now += rng.Int64N(int64(window) / limit * 2)
			next, changed, r := l.Take(st, now, nil)
			var ok bool
			if alg == TokenBucket {
				ok = rb.take(&l, now)
			} else {
				ok = rw.take(&l, now)
			}
			if ok != r.Allowed || changed != r.Allowed {
				t.Fatalf("round %d (%+v) request %d at %d: %+v, reference says %v", round, l, i, now, r, ok)
			}
			if r.Allowed {
				st = next
				continue
			}
			// Retry-After: allowed after that many seconds, not a
			// second earlier.
			later := now + r.RetryAfter*sec
			_, _, r2 := l.Take(st, later, nil)
			_, _, r1 := l.Take(st, later-sec, nil)
			if r.RetryAfter < 1 || !r2.Allowed || (r.RetryAfter > 1 && r1.Allowed) {
				t.Fatalf("round %d (%+v) at %d: retry after %d: then %v, a second earlier %v",
					round, l, now, r.RetryAfter, r2.Allowed, r1.Allowed)
			}
			if alg == SlidingWindow {
				ref := rw
				if !ref.allows(&l, later) {
					t.Fatalf("round %d: the reference refuses after Retry-After", round)
				}
			}
		}
	}
}

func TestTakeDoesNotAllocate(t *testing.T) {
	for _, alg := range []Algorithm{TokenBucket, SlidingWindow} {
		l := mustNew(t, alg, 1000, time.Second, 0)
		st := make([]byte, 0, 32)
		buf := make([]byte, 0, 32)
		now := t0
		allocs := testing.AllocsPerRun(1000, func() {
			now += 100
			next, changed, _ := l.Take(st, now, buf[:0])
			if changed {
				st = append(st[:0], next...)
			}
		})
		if allocs != 0 {
			t.Errorf("algorithm %d: %v allocations per Take", alg, allocs)
		}
	}
}

func BenchmarkTake(b *testing.B) {
	l, _ := New(SlidingWindow, 1<<40, time.Second, 0)
	st, buf := make([]byte, 0, 32), make([]byte, 0, 32)
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now += 100
		next, _, _ := l.Take(st, now, buf[:0])
		st = append(st[:0], next...)
	}
}
