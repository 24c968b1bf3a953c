package upstream

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

func init() {
	RegisterBalancer("weighted_round_robin", func(targets []*Target, _ BalancerOptions) (Balancer, error) {
		return &smoothWeighted{targets: targets, current: make([]int64, len(targets))}, nil
	})
	RegisterBalancer("least_connections", func(targets []*Target, _ BalancerOptions) (Balancer, error) {
		return &leastConnections{targets: targets}, nil
	})
	RegisterBalancer("p2c_ewma", func(targets []*Target, _ BalancerOptions) (Balancer, error) {
		return &p2cEWMA{targets: targets}, nil
	})
	RegisterBalancer("consistent_hash", newMaglev)
}

// smoothWeighted is nginx's smooth weighted round robin: every pick adds
// each eligible target's weight to its running score, takes the highest
// and charges it the sum of the weights. Over any run a target is picked
// in proportion to its weight, and picks of a heavy target are spread out
// rather than bunched (5,1,1 gives a a b a c a a).
type smoothWeighted struct {
	mu      sync.Mutex
	targets []*Target
	current []int64
}

func (s *smoothWeighted) Pick(_ *fasthttp.RequestCtx, e *Eligible) *Target {
	s.mu.Lock()
	defer s.mu.Unlock()
	best, total := -1, int64(0)
	for i, t := range s.targets {
		if !e.OK(t) {
			continue
		}
		w := int64(t.Weight)
		s.current[i] += w
		total += w
		if best < 0 || s.current[i] > s.current[best] {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	s.current[best] -= total
	return s.targets[best]
}

// leastConnections picks the eligible target with the fewest requests in
// flight per unit of weight. The scan starts at a rotating index so that
// equally loaded targets share the traffic instead of the first taking
// all of it.
type leastConnections struct {
	next    atomic.Uint64
	targets []*Target
}

func (l *leastConnections) Pick(_ *fasthttp.RequestCtx, e *Eligible) *Target {
	n := uint64(len(l.targets))
	if n == 0 {
		return nil
	}
	start := l.next.Add(1)
	var best *Target
	var bestLoad int64
	for i := uint64(0); i < n; i++ {
		t := l.targets[(start+i)%n]
		if !e.OK(t) {
			continue
		}
		load := t.Inflight()
		// load/weight < bestLoad/bestWeight, without division.
		if best == nil || load*int64(best.Weight) < bestLoad*int64(t.Weight) {
			best, bestLoad = t, load
		}
	}
	return best
}

// p2cEWMA is the power of two choices over a latency moving average: two
// eligible targets drawn at random, the cheaper one taken. The cost is the
// latency average times the requests in flight, so a target that slows
// down or queues up loses traffic at once, without a global view or lock.
type p2cEWMA struct {
	targets []*Target
}

func (p *p2cEWMA) Pick(_ *fasthttp.RequestCtx, e *Eligible) *Target {
	n := len(p.targets)
	if n == 0 {
		return nil
	}
	var a, b *Target
	take := func(t *Target) {
		switch {
		case !e.OK(t) || t == a:
		case a == nil:
			a = t
		default:
			b = t
		}
	}
	// A few random draws find two eligible targets in the common case; a
	// scan covers the rest (most targets down).
	for tries := 0; tries < 4 && b == nil; tries++ {
		take(p.targets[rand.IntN(n)])
	}
	if b == nil {
		start := rand.IntN(n)
		for i := 0; i < n && b == nil; i++ {
			take(p.targets[(start+i)%n])
		}
	}
	if b == nil {
		return a
	}
	if cost(b) < cost(a) {
		return b
	}
	return a
}

// cost ranks a target for p2c: an unmeasured target (no latency yet)
// counts as fast so that it gets the traffic that measures it.
func cost(t *Target) int64 {
	return (t.EWMA() + 1) * (t.Inflight() + 1)
}

// maglev is consistent hashing with Maglev's lookup table: each target
// fills table slots in the order of its own permutation of the table,
// taking turns in proportion to its weight, so the table is balanced and a
// target joining or leaving moves about its share of the slots and little
// else.
type maglev struct {
	targets []*Target
	table   []int32
	key     hashKey
	rr      roundRobin // for requests that carry no key
}

// hashKey names what consistent_hash hashes.
type hashKey struct {
	kind string // header, cookie, client_ip, path
	name string
}

func parseHashOn(s string) (hashKey, error) {
	kind, name, _ := strings.Cut(s, ":")
	switch {
	case (kind == "header" || kind == "cookie") && name != "":
		return hashKey{kind: kind, name: name}, nil
	case (s == "client_ip" || s == "path"):
		return hashKey{kind: s}, nil
	}
	return hashKey{}, fmt.Errorf(`hash_on: want "header:NAME", "cookie:NAME", "client_ip" or "path", got %q`, s)
}

func newMaglev(targets []*Target, opts BalancerOptions) (Balancer, error) {
	key, err := parseHashOn(opts.HashOn)
	if err != nil {
		return nil, err
	}
	m := &maglev{targets: targets, key: key, rr: roundRobin{targets: targets}}
	if len(targets) > 0 {
		m.table = maglevTable(targets)
	}
	return m, nil
}

// maglevTable fills a table whose size is a prime well above the number
// of weighted turns, so every target's share is close to exact.
func maglevTable(targets []*Target) []int32 {
	weights := 0
	for _, t := range targets {
		weights += t.Weight
	}
	size := nextPrime(max(65537, 100*weights))
	table := make([]int32, size)
	for i := range table {
		table[i] = -1
	}
	offset := make([]uint64, len(targets))
	skip := make([]uint64, len(targets))
	next := make([]uint64, len(targets))
	for i, t := range targets {
		h := hashString(t.Addr)
		offset[i] = h % uint64(size)
		skip[i] = (mix(h)%uint64(size-1) + 1)
	}
	filled := 0
	for filled < size {
		for i, t := range targets {
			for w := 0; w < t.Weight && filled < size; w++ {
				// The next slot of this target's permutation that is free.
				for {
					slot := (offset[i] + next[i]*skip[i]) % uint64(size)
					next[i]++
					if table[slot] < 0 {
						table[slot] = int32(i)
						filled++
						break
					}
				}
			}
		}
	}
	return table
}

func nextPrime(n int) int {
	for ; ; n++ {
		prime := n > 1
		for d := 2; d*d <= n; d++ {
			if n%d == 0 {
				prime = false
				break
			}
		}
		if prime {
			return n
		}
	}
}

func (m *maglev) Pick(ctx *fasthttp.RequestCtx, e *Eligible) *Target {
	if len(m.table) == 0 {
		return nil
	}
	h, ok := m.hash(ctx)
	if !ok {
		// Without a key there is nothing to keep sticky: spread them.
		return m.rr.Pick(ctx, e)
	}
	size := uint64(len(m.table))
	slot := h % size
	// An ineligible target's keys go to the next eligible target along the
	// table, which is itself a balanced order; the walk is short unless
	// most targets are out.
	for i := uint64(0); i < size; i++ {
		if t := m.targets[m.table[(slot+i)%size]]; e.OK(t) {
			return t
		}
	}
	return nil
}

func (m *maglev) hash(ctx *fasthttp.RequestCtx) (uint64, bool) {
	var b []byte
	switch m.key.kind {
	case "header":
		b = ctx.Request.Header.Peek(m.key.name)
	case "cookie":
		b = ctx.Request.Header.Cookie(m.key.name)
	case "path":
		b = ctx.Path()
	case "client_ip":
		if a, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
			b = a.IP
		}
	}
	if len(b) == 0 {
		return 0, false
	}
	return hashBytes(b), true
}

// FNV-1a with a final mix: cheap, allocation-free, and well spread after
// the mix even for short keys that differ in one byte.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func hashBytes(b []byte) uint64 {
	h := uint64(fnvOffset)
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return mix(h)
}

func hashString(s string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return mix(h)
}

// mix is the splitmix64 finalizer.
func mix(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	return h ^ h>>31
}
