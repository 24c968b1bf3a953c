package upstream

import (
	"sync"

	"github.com/valyala/fasthttp"
)

func init() {
	RegisterBalancer("weighted_round_robin", func(targets []*Target, _ BalancerOptions) (Balancer, error) {
		w := &weightedRoundRobin{
			targets: targets,
			weight:  make([]int64, len(targets)),
			current: make([]int64, len(targets)),
		}
		for i, t := range targets {
			w.weight[i] = weightOf(t)
		}
		return w, nil
	})
}

// weightedRoundRobin is nginx's smooth weighted round robin: every pick
// raises each eligible target's current weight by its weight, takes the
// target whose current weight is highest and lowers that one by the total.
// Over a cycle each target is picked weight times, and the picks of a heavy
// target are spread through the cycle instead of coming in a burst: with
// weights {5, 1, 1} the order is a a b a c a a, not a a a a a b c.
//
// A target that is not eligible for a pick takes no part in it: its
// current weight stays as it was, and the total subtracted is that of the
// eligible targets only. So every pick leaves the sum of all current
// weights at zero, and no target's current weight drifts without bound
// while others are down; when they come back the sequence is smooth again
// within a cycle.
type weightedRoundRobin struct {
	// The current weights are read and written together on every pick; a
	// lock is simpler and, for the few targets an upstream has, cheaper
	// than any lock-free scheme that keeps the sequence smooth.
	mu      sync.Mutex
	targets []*Target
	weight  []int64 // copied from the targets so a pick reads no more than it must
	current []int64
}

func (w *weightedRoundRobin) Pick(_ *fasthttp.RequestCtx, e *Eligible) *Target {
	w.mu.Lock()
	defer w.mu.Unlock()
	best := -1
	var total int64
	for i, t := range w.targets {
		if !e.OK(t) {
			continue
		}
		w.current[i] += w.weight[i]
		total += w.weight[i]
		// Strictly greater: among equals the first in list order wins,
		// which is what makes the sequence match nginx's.
		if best < 0 || w.current[i] > w.current[best] {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	w.current[best] -= total
	return w.targets[best]
}

// weightOf is t's weight as balancers use it. Config rejects weights
// below 1, but a Target built elsewhere (tests, discovery) may carry the
// zero value, and a weight of 0 would starve the target or divide by zero.
func weightOf(t *Target) int64 {
	if t.Weight < 1 {
		return 1
	}
	return int64(t.Weight)
}
