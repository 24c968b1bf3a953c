package upstream

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"time"

	"github.com/valyala/fasthttp"
)

func init() {
	RegisterBalancer("p2c_ewma", func(targets []*Target, _ BalancerOptions) (Balancer, error) {
		return &p2cEWMA{targets: targets}, nil
	})
}

// p2cEWMA is the power of two choices over a latency cost: it draws two
// distinct eligible targets at random and sends the request to the cheaper,
// where cost is the target's moving-average latency times its requests in
// flight plus one (the one being placed).
//
// Comparing two random targets rather than scanning for the cheapest of
// all keeps a target that just became cheapest from being stampeded by
// every gateway goroutine at once, while a slow or overloaded target still
// loses almost every comparison it is drawn into. Weights are not used:
// latency under load already says how much a target can take.
type p2cEWMA struct {
	targets []*Target
}

func (p *p2cEWMA) Pick(ctx *fasthttp.RequestCtx, e *Eligible) *Target {
	n := len(p.targets)
	if n < 2 {
		if n == 1 && e.OK(p.targets[0]) {
			return p.targets[0]
		}
		return nil
	}
	// math/rand/v2's top-level generator is per-thread in the runtime:
	// safe for concurrent use, lock-free and allocation-free. One draw
	// gives both indices, each mapped onto its range by multiplication
	// (Lemire) rather than modulo; the bias left is at most n/2^32.
	r := rand.Uint64()
	i := int((r & math.MaxUint32) * uint64(n) >> 32)
	j := int((r >> 32) * uint64(n-1) >> 32)
	if j >= i {
		j++ // j is uniform over the indices other than i
	}
	// When a drawn target is not eligible, the next eligible one after it
	// stands in. That favours targets right after ineligible ones a little,
	// which only changes who gets compared, not who wins a comparison; and
	// it is what makes the pick fall back to a scan when fewer than two
	// targets are eligible.
	a := p.probe(i, -1, e)
	if a < 0 {
		return nil
	}
	b := p.probe(j, a, e)
	if b < 0 {
		return p.targets[a]
	}
	var now int64
	if ctx != nil {
		now = ctx.Time().UnixNano() // the request's start: no clock read
	} else {
		now = time.Now().UnixNano()
	}
	return cheaper(p.targets[a], p.targets[b], now)
}

// probe returns the index of the first eligible target from start on,
// wrapping around and passing over skip, or -1 when there is none.
func (p *p2cEWMA) probe(start, skip int, e *Eligible) int {
	n := len(p.targets)
	for i := start; ; {
		if i != skip && e.OK(p.targets[i]) {
			return i
		}
		if i++; i == n {
			i = 0
		}
		if i == start {
			return -1
		}
	}
}

// cheaper returns whichever of a and b costs less.
//
// A target with no latency measured yet (EWMA 0, just added or never
// answered) must get requests to be measured at all, so it borrows the
// other's latency: it then wins whenever it has no more in flight than the
// other, which includes the common case of nothing in flight. Treating
// unmeasured as free instead would pile every request onto a target that
// is slow to give its first answer; and while a request hangs on a target
// that never answers, its count in flight grows and it stops winning.
func cheaper(a, b *Target, now int64) *Target {
	ma, mb := a.latencyAt(now), b.latencyAt(now)
	ia, ib := max(a.Inflight(), 0), max(b.Inflight(), 0)
	la, lb := ma, mb
	switch {
	case ma <= 0 && mb <= 0:
		la, lb = 1, 1 // neither measured: the one with less in flight
	case ma <= 0:
		la = mb
	case mb <= 0:
		lb = ma
	}
	ca, cb := cost(la, ia), cost(lb, ib)
	if cb < ca || (cb == ca && mb <= 0 && ma > 0) {
		return b
	}
	// Other ties go to a, which was drawn as much at random as b, so
	// equal targets still share the load evenly.
	return a
}

// cost is latency × (inflight+1), saturating rather than wrapping so a
// pathological target can only look as expensive as possible.
func cost(latency, inflight int64) uint64 {
	hi, lo := bits.Mul64(uint64(latency), uint64(inflight)+1)
	if hi != 0 {
		return math.MaxUint64
	}
	return lo
}
