package upstream

import (
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

func init() {
	RegisterBalancer("least_connections", func(targets []*Target, _ BalancerOptions) (Balancer, error) {
		return &leastConnections{targets: targets}, nil
	})
}

// leastConnections picks the eligible target with the fewest requests in
// flight for its weight: a target of weight 3 is as loaded with 3 requests
// as one of weight 1 with 1.
//
// When targets tie (at rest they all have 0 in flight) the first one met
// wins, and the scan starts one target further on each pick, so that equal
// targets share the load instead of the first in the list taking it all.
type leastConnections struct {
	next    atomic.Uint64
	targets []*Target
}

func (l *leastConnections) Pick(_ *fasthttp.RequestCtx, e *Eligible) *Target {
	n := len(l.targets)
	if n == 0 {
		return nil
	}
	i := int((l.next.Add(1) - 1) % uint64(n))
	var (
		best         *Target
		bestInflight int64
		bestWeight   int64
	)
	for range n {
		t := l.targets[i]
		if i++; i == n {
			i = 0
		}
		if !e.OK(t) {
			continue
		}
		// The counter is read once: it moves under our feet, and comparing
		// against a value read twice could favour a target by accident.
		in := max(t.Inflight(), 0)
		w := weightOf(t)
		// in/w < bestInflight/bestWeight, without division so that the
		// ratios of small integers compare exactly.
		if best == nil || in*bestWeight < bestInflight*w {
			best, bestInflight, bestWeight = t, in, w
		}
	}
	return best
}
