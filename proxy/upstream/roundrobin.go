package upstream

import (
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

func init() {
	RegisterBalancer("round_robin", func(targets []*Target) (Balancer, error) {
		return &roundRobin{targets: targets}, nil
	})
}

// roundRobin hands out targets in turn. Weights are ignored here; the
// weighted balancer honours them.
type roundRobin struct {
	next    atomic.Uint64
	targets []*Target
}

func (r *roundRobin) Pick(*fasthttp.RequestCtx) *Target {
	if len(r.targets) == 0 {
		return nil
	}
	n := r.next.Add(1) - 1
	return r.targets[n%uint64(len(r.targets))]
}
