package upstream

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/valyala/fasthttp"
)

// Balancer picks the target for one request. Pick is on the hot path: it
// must be safe for concurrent use and allocate nothing. It returns a target
// for which e.OK holds, or nil when no target qualifies.
//
// A balancer is built over a fixed list of targets; when the list changes
// (discovery, reload) a new balancer is built beside the old one, so a
// balancer never sees its list mutate.
type Balancer interface {
	Pick(ctx *fasthttp.RequestCtx, e *Eligible) *Target
}

// BalancerOptions are the per-upstream settings a balancer may use.
type BalancerOptions struct {
	// HashOn is the consistent_hash key: "header:NAME", "cookie:NAME",
	// "client_ip" or "path".
	HashOn string
}

// BalancerFactory builds a balancer over a fixed list of targets. It may
// allocate freely and should reject options it cannot use.
type BalancerFactory func(targets []*Target, opts BalancerOptions) (Balancer, error)

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

// Balancers lists the registered balancer names, sorted.
func Balancers() []string {
	balancersMu.RLock()
	names := make([]string, 0, len(balancers))
	for n := range balancers {
		names = append(names, n)
	}
	balancersMu.RUnlock()
	sort.Strings(names)
	return names
}

// NewBalancer builds the balancer registered as name.
func NewBalancer(name string, targets []*Target, opts BalancerOptions) (Balancer, error) {
	balancersMu.RLock()
	f, ok := balancers[name]
	balancersMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown balancer %q (want one of %s)", name, strings.Join(Balancers(), ", "))
	}
	return f(targets, opts)
}

// maxTried bounds how many targets one request remembers having tried; a
// request makes at most that many attempts.
const maxTried = 8

// Eligible says which targets one pick may return: those that are
// available (healthy and not ejected, unless the upstream is in panic
// mode) and that this request has not tried yet. It lives in per-request
// scratch space that is reused, so passing it to Pick allocates nothing.
type Eligible struct {
	now          int64 // unix nanoseconds, read once per request
	ignoreHealth bool
	tried        [maxTried]*Target
	n            int
}

// Reset prepares e for a new request at time now (unix nanoseconds).
func (e *Eligible) Reset(now int64) {
	*e = Eligible{now: now}
}

// Tried records that the request went to t, so later picks avoid it.
func (e *Eligible) Tried(t *Target) {
	if e.n < maxTried {
		e.tried[e.n] = t
		e.n++
	}
}

// Attempts is how many targets the request has been sent to.
func (e *Eligible) Attempts() int { return e.n }

// OK reports whether t may be picked.
func (e *Eligible) OK(t *Target) bool {
	if !e.ignoreHealth && !t.Available(e.now) {
		return false
	}
	for i := 0; i < e.n; i++ {
		if e.tried[i] == t {
			return false
		}
	}
	return true
}

// ForgetTried lets picks return targets already tried, for a retry when
// every eligible target has been tried once.
func (e *Eligible) ForgetTried() { e.n = 0 }

// IgnoreHealth lets picks return unavailable targets (panic mode).
func (e *Eligible) IgnoreHealth() { e.ignoreHealth = true }
