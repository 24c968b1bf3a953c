package upstream

import (
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

func init() {
	RegisterBalancer("round_robin", func(targets []*Target, _ BalancerOptions) (Balancer, error) {
		return &roundRobin{targets: targets}, nil
	})
}

// roundRobin hands out targets in turn, skipping those not eligible.
// Weights are ignored here; weighted_round_robin honours them.
type roundRobin struct {
	next    atomic.Uint64
	targets []*Target
}

func (r *roundRobin) Pick(_ *fasthttp.RequestCtx, e *Eligible) *Target {
	n := uint64(len(r.targets))
	if n == 0 {
		return nil
	}
	start := r.next.Add(1) - 1
	for i := uint64(0); i < n; i++ {
		if t := r.targets[(start+i)%n]; e.OK(t) {
			return t
		}
	}
	return nil
}
