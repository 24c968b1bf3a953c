package upstream

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/valyala/fasthttp"
)

// Balancer picks the target for one request. Pick is on the hot path: it
// must be safe for concurrent use and allocate nothing. It returns nil only
// when it has no target to offer.
type Balancer interface {
	Pick(ctx *fasthttp.RequestCtx) *Target
}

// BalancerFactory builds a balancer over a fixed list of targets.
type BalancerFactory func(targets []*Target) (Balancer, error)

var (
	balancersMu sync.RWMutex
	balancers   = map[string]BalancerFactory{}
)

// RegisterBalancer makes a balancer available by name in config. Each
// balancer registers itself from its own file's init.
func RegisterBalancer(name string, f BalancerFactory) {
	balancersMu.Lock()
	defer balancersMu.Unlock()
	balancers[name] = f
}

func newBalancer(name string, targets []*Target) (Balancer, error) {
	balancersMu.RLock()
	f, ok := balancers[name]
	names := make([]string, 0, len(balancers))
	for n := range balancers {
		names = append(names, n)
	}
	balancersMu.RUnlock()
	if !ok {
		sort.Strings(names)
		return nil, fmt.Errorf("unknown balancer %q (want one of %s)", name, strings.Join(names, ", "))
	}
	return f(targets)
}
