// Package ratelimit is the arithmetic of the rate-limit plugin, kept free
// of the Proxy-Wasm ABI so it is tested with plain `go test`: the two
// algorithms, the binary encoding of their state, and the compare-and-swap
// loop that keeps that state in a store shared by concurrent writers (the
// host's shared data, which every VM of the gateway sees).
//
// Time is an int64 of Unix nanoseconds and all arithmetic is integer, so a
// decision at a boundary is exact and the same on every VM.
//
// # Token bucket
//
// A bucket holds at most Burst tokens and gains Limit tokens per Window,
// continuously (one every Window/Limit); a request takes one token, and is
// refused when the bucket has less than one. The state is a single number,
// the instant F at which the bucket will be full again (F <= now means
// full): the bucket then holds Burst - (F-now)/T tokens, T = Window/Limit.
// Taking a token moves F to max(F, now) + T, which is allowed while
// max(F, now) + T - now <= Burst*T. (This is the token bucket written the
// way GCRA writes it: one timestamp instead of a count and a refill time,
// which needs no division by elapsed time and no rounding of fractional
// tokens.) T is Window/Limit rounded down to the nanosecond.
//
// # Sliding window
//
// Time is cut into fixed windows of length Window aligned on the Unix
// epoch; the state is the current window's start and the number of
// requests allowed in it and in the window before. A request at elapsed
// time e into the current window sees the estimate
//
//	estimate = prev * (Window - e) / Window + cur
//
// (the previous window's count weighted by how much of it a window ending
// now still overlaps) and is allowed when estimate + 1 <= Limit. Refused
// requests are not counted. Since Limit - cur is an integer the test is
// done exactly as cur + ceil(prev*(Window-e)/Window) < Limit, with 128-bit
// intermediate products.
package ratelimit

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"time"
)

// Algorithm is the limiting algorithm.
type Algorithm uint8

const (
	TokenBucket   Algorithm = 1
	SlidingWindow Algorithm = 2
)

// maxSpan bounds the spans the arithmetic adds to a Unix time in
// nanoseconds (2^60 ns, about 36 years), so no sum overflows an int64.
const maxSpan = 1 << 60

// Limiter is a validated limit; make it with New.
type Limiter struct {
	alg      Algorithm
	limit    int64
	window   int64 // ns
	burst    int64 // token bucket: capacity
	interval int64 // token bucket: ns per token, window/limit
}

// New checks a limit. burst is the token bucket's capacity (0 = limit);
// the sliding window has none. Errors name the configuration field.
func New(alg Algorithm, limit int64, window time.Duration, burst int64) (Limiter, error) {
	l := Limiter{alg: alg, limit: limit, window: int64(window), burst: burst}
	switch {
	case alg != TokenBucket && alg != SlidingWindow:
		return l, errors.New("algorithm: unknown")
	case limit <= 0:
		return l, errors.New("limit: must be > 0")
	case window <= 0:
		return l, errors.New("window: must be > 0")
	case window > maxSpan:
		return l, errors.New("window: too long")
	case burst < 0:
		return l, errors.New("burst: must be > 0")
	}
	if alg == SlidingWindow {
		if burst != 0 {
			return l, errors.New("burst: only for the token_bucket algorithm")
		}
		return l, nil
	}
	if l.burst == 0 {
		l.burst = limit
	}
	l.interval = l.window / limit
	if l.interval == 0 {
		return l, errors.New("limit: more than one request per nanosecond of the window")
	}
	if l.burst > maxSpan/l.interval {
		return l, errors.New("burst: too large for the window (burst*window/limit must stay under 36 years)")
	}
	return l, nil
}

// Algorithm, Limit, Window and Burst are the limiter's parameters.
func (l *Limiter) Algorithm() Algorithm    { return l.alg }
func (l *Limiter) Limit() int64            { return l.limit }
func (l *Limiter) Window() time.Duration   { return time.Duration(l.window) }
func (l *Limiter) Burst() int64            { return l.burst }
func (l *Limiter) Interval() time.Duration { return time.Duration(l.interval) }

// Capacity is what every Result reports as its Limit: the bucket's
// capacity, or the window's limit.
func (l *Limiter) Capacity() int64 {
	if l.alg == TokenBucket {
		return l.burst
	}
	return l.limit
}

// Result is a decision and the numbers a client is told.
type Result struct {
	Allowed bool
	// Limit is the most requests a client can make at once: the bucket's
	// capacity (Burst) for the token bucket, Limit for the sliding window.
	Limit int64
	// Remaining is how many more requests would be allowed now (0 when
	// refused).
	Remaining int64
	// Reset is the seconds, rounded up, until the bucket is full again
	// (token bucket) or the current window ends (sliding window).
	Reset int64
	// RetryAfter is, for a refused request, the seconds (rounded up, at
	// least 1) until a request would be allowed; 0 when allowed.
	RetryAfter int64
}

// Take decides one request at now (Unix ns) from the stored state (nil or
// unreadable = none: a full bucket, empty windows). When the request is
// allowed the new state is appended to dst and returned with changed
// true; a refusal changes nothing (changed false, dst returned as is),
// but for a bucket state from a larger bucket or a slower rate (a reload
// changed the limit), which is made an empty bucket of this one and kept.
func (l *Limiter) Take(state []byte, now int64, dst []byte) (next []byte, changed bool, r Result) {
	if l.alg == TokenBucket {
		return l.takeBucket(state, now, dst)
	}
	return l.takeWindow(state, now, dst)
}

// ---- token bucket

func (l *Limiter) takeBucket(state []byte, now int64, dst []byte) ([]byte, bool, Result) {
	capacity := l.burst * l.interval // the span of a full bucket
	full, ok := decodeBucket(state)
	clamped := false
	switch {
	case !ok || full < now:
		full = now // a bucket unknown or full since: full now
	case full > now+capacity:
		// Emptier than empty: written with a larger bucket or a slower
		// rate before a reload, or damaged. Empty.
		full, clamped = now+capacity, true
	}
	r := Result{Limit: l.Capacity()}
	if full+l.interval-now > capacity {
		// Less than one token: the next one is there when
		// full - now <= capacity - interval.
		r.Reset = ceilSeconds(full - now)
		r.RetryAfter = max(1, ceilSeconds(full-now-(capacity-l.interval)))
		if clamped {
			// Kept, refusal or not: left as it was, every request would
			// clamp the old state again and find the bucket empty until
			// the old instant passed, however fast the new rate refills.
			return encodeBucket(dst, full), true, r
		}
		return dst, false, r
	}
	full += l.interval
	r.Allowed = true
	r.Remaining = (capacity - (full - now)) / l.interval
	r.Reset = ceilSeconds(full - now)
	return encodeBucket(dst, full), true, r
}

const (
	tagBucket = 'B'
	tagWindow = 'W'
)

// encodeBucket: the tag, then the full-at instant as a zigzag varint.
func encodeBucket(dst []byte, full int64) []byte {
	return binary.AppendVarint(append(dst, tagBucket), full)
}

func decodeBucket(b []byte) (int64, bool) {
	if len(b) < 2 || b[0] != tagBucket {
		return 0, false
	}
	full, n := binary.Varint(b[1:])
	return full, n > 0 && n == len(b)-1
}

// ---- sliding window

func (l *Limiter) takeWindow(state []byte, now int64, dst []byte) ([]byte, bool, Result) {
	w := l.window
	start := now - floorMod(now, w)
	prev, cur := int64(0), int64(0)
	if ps, p, c, ok := decodeWindow(state); ok {
		switch {
		case ps == start:
			prev, cur = p, c
		case ps == start-w:
			prev = c
		case ps == start+w:
			// Another VM's clock is ahead of ours and already in the
			// next window: stay in it (it is the newest state), as if
			// at its start. A state further ahead is damaged: ignored.
			start, prev, cur = ps, p, c
		}
	}
	elapsed := max(0, now-start)
	weighted := mulDivCeil(prev, w-elapsed, w)
	r := Result{Limit: l.Capacity(), Reset: ceilSeconds(start + w - now)}
	if cur+weighted >= l.limit {
		var at int64 // the first instant a request would be allowed
		if cur < l.limit {
			// The previous window's weight must shrink until
			// ceil(prev*(w-e)/w) <= k; here k < weighted <= prev.
			k := l.limit - 1 - cur
			at = start + w - mulDivFloor(k, w, prev)
		} else {
			// Not in this window; in the next, this window is the
			// previous one: ceil(cur*(w-e)/w) <= limit-1.
			at = start + 2*w - mulDivFloor(l.limit-1, w, cur)
		}
		r.RetryAfter = max(1, ceilSeconds(at-now))
		return dst, false, r
	}
	cur++
	r.Allowed = true
	r.Remaining = l.limit - cur - weighted
	return encodeWindow(dst, start, prev, cur), true, r
}

// encodeWindow: the tag, the window's start (zigzag varint), the previous
// and current counts (uvarints).
func encodeWindow(dst []byte, start, prev, cur int64) []byte {
	dst = binary.AppendVarint(append(dst, tagWindow), start)
	dst = binary.AppendUvarint(dst, uint64(prev))
	return binary.AppendUvarint(dst, uint64(cur))
}

// maxCount bounds stored counts, so a damaged value cannot overflow the
// arithmetic.
const maxCount = 1 << 48

func decodeWindow(b []byte) (start, prev, cur int64, ok bool) {
	if len(b) < 4 || b[0] != tagWindow {
		return 0, 0, 0, false
	}
	b = b[1:]
	start, n := binary.Varint(b)
	if n <= 0 {
		return 0, 0, 0, false
	}
	b = b[n:]
	p, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, 0, 0, false
	}
	b = b[n:]
	c, n := binary.Uvarint(b)
	if n <= 0 || n != len(b) || p > maxCount || c > maxCount {
		return 0, 0, 0, false
	}
	return start, int64(p), int64(c), true
}

// ---- arithmetic

// ceilSeconds is d in whole seconds, rounded up (0 for d <= 0).
func ceilSeconds(d int64) int64 {
	if d <= 0 {
		return 0
	}
	return (d-1)/int64(time.Second) + 1
}

func floorMod(a, m int64) int64 {
	r := a % m
	if r < 0 {
		r += m
	}
	return r
}

// mulDivFloor is floor(a*b/c) for a, b >= 0, c > 0 and a*b < c<<64 (true
// whenever a < c or b <= c), with a 128-bit product.
func mulDivFloor(a, b, c int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	q, _ := bits.Div64(hi, lo, uint64(c))
	return int64(q)
}

// mulDivCeil is ceil(a*b/c) on the same terms.
func mulDivCeil(a, b, c int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	q, rem := bits.Div64(hi, lo, uint64(c))
	if rem != 0 {
		q++
	}
	return int64(q)
}
