package upstream

import (
	"cmp"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

func init() {
	RegisterBalancer("consistent_hash", newConsistentHash)
}

// consistentHash sends requests with the same key to the same target, and
// when the targets change it moves as few keys as it can: adding a fifth
// target to four moves about a fifth of the keys, all of them to the new
// target. It uses Maglev hashing (Eisenbud et al., NSDI 2016): a lookup
// table whose slots are shared out among the targets, each target filling
// slots in its own pseudo-random order, so a key is one hash and one index
// away from its target, and the table gives each target a share of the
// slots in proportion to its weight, within one slot.
//
// Requests that do not carry the key (no such header or cookie, or an
// empty one; a client address that is not TCP) are not hashed as an empty
// key, which would send all of them to one target: they go round the table
// instead, as nginx's hash balancer falls back to round robin. Walking the
// table rather than the target list keeps that fallback weighted.
//
// When the key's target is not eligible (down, ejected, or already tried
// by this request) the pick walks on through the table to the next slot
// whose target is. Consecutive slots belong to unrelated targets, so the
// keys of a target that is down spread over the others by weight, each key
// to the same stand-in every time, and come back when it recovers.
type consistentHash[I uint16 | uint32] struct {
	key     hashKey
	targets []*Target
	table   []I // slot → index into targets
	next    atomic.Uint64
}

// maxWalk bounds how many slots a pick walks past before it gives up on
// the table and scans the target list: with a tenth of the weight eligible
// the walk still finds an eligible target first 99.9% of the time.
const maxWalk = 64

func newConsistentHash(targets []*Target, opts BalancerOptions) (Balancer, error) {
	key, err := parseHashOn(opts.HashOn)
	if err != nil {
		return nil, err
	}
	// A table of 16-bit indices halves the memory of the usual table
	// (65537 slots) for any upstream of fewer than 65535 targets, which
	// is all of them in practice; ^0 is reserved to mark empty slots.
	if len(targets) < 1<<16-1 {
		return &consistentHash[uint16]{key: key, targets: targets, table: maglevTable[uint16](targets)}, nil
	}
	return &consistentHash[uint32]{key: key, targets: targets, table: maglevTable[uint32](targets)}, nil
}

func (c *consistentHash[I]) Pick(ctx *fasthttp.RequestCtx, e *Eligible) *Target {
	if len(c.targets) == 0 {
		return nil
	}
	m := uint64(len(c.table))
	var slot uint64
	if key := c.key.from(ctx); len(key) > 0 {
		slot = hash64(key) % m
	} else {
		slot = (c.next.Add(1) - 1) % m
	}
	rejected := -1
	for range maxWalk {
		i := int(c.table[slot])
		// Runs of slots owned by the same rejected target are passed
		// over without asking e again.
		if i != rejected {
			if t := c.targets[i]; e.OK(t) {
				return t
			}
			rejected = i
		}
		if slot++; slot == m {
			slot = 0
		}
	}
	// Few targets eligible, or one too light to own a slot at all: any
	// eligible target is better than none. Start from a point that
	// depends on the slot reached, so the stand-in is still the same for
	// the same key.
	n := len(c.targets)
	start := int(slot % uint64(n))
	for k := range n {
		if t := c.targets[(start+k)%n]; e.OK(t) {
			return t
		}
	}
	return nil
}

// hashKey is what a consistent_hash upstream hashes a request on.
type hashKey struct {
	kind hashKind
	name string // the header's or cookie's name
}

type hashKind uint8

const (
	hashHeader hashKind = iota + 1
	hashCookie
	hashClientIP
	hashPath
)

func parseHashOn(s string) (hashKey, error) {
	switch {
	case s == "client_ip":
		return hashKey{kind: hashClientIP}, nil
	case s == "path":
		return hashKey{kind: hashPath}, nil
	case strings.HasPrefix(s, "header:") && validKeyName(s[len("header:"):]):
		return hashKey{kind: hashHeader, name: s[len("header:"):]}, nil
	case strings.HasPrefix(s, "cookie:") && validKeyName(s[len("cookie:"):]):
		return hashKey{kind: hashCookie, name: s[len("cookie:"):]}, nil
	}
	return hashKey{}, fmt.Errorf(`hash_on: want "header:NAME", "cookie:NAME", "client_ip" or "path", got %q`, s)
}

// validKeyName rejects names no request could carry, so a typo such as
// "header: X-User" fails at load time instead of sending every request
// down the missing-key path.
func validKeyName(name string) bool {
	return name != "" && !strings.ContainsAny(name, " \t\r\n:;=")
}

// from returns the bytes of ctx to hash, or nothing when the request does
// not carry the key. The bytes belong to ctx: they are hashed at once and
// not kept.
func (k hashKey) from(ctx *fasthttp.RequestCtx) []byte {
	if ctx == nil {
		return nil
	}
	switch k.kind {
	case hashHeader:
		return ctx.Request.Header.Peek(k.name)
	case hashCookie:
		return ctx.Request.Header.Cookie(k.name)
	case hashClientIP:
		// RemoteAddr hands back the address the connection already holds;
		// formatting it (String) would allocate, so the raw IP bytes are
		// hashed, IPv4 in its 4-byte form so that an IPv4 client hashes
		// alike whether the listener is IPv4 or dual-stack.
		if a, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
			if ip4 := a.IP.To4(); ip4 != nil {
				return ip4
			}
			return a.IP
		}
		return nil
	case hashPath:
		return ctx.Path()
	}
	return nil
}

// Maglev table sizes: the table is at least 100 slots per target, so
// that an equal target's share of slots is within 1% of its due, and a
// prime, so that every target's probe sequence (offset + k·skip mod size)
// visits every slot. The size depends on the number of targets only, never
// on their weights, and comes from a short ladder rather than the nearest
// prime: when the size changes nearly every key moves, so a target joining
// or leaving, however light or heavy, must not change it except across the
// rare rung (65537 slots cover 655 targets). A target much lighter than the
// others still gets its share within a slot, which is a coarser share of
// its weight: weight 1 beside eight of weight 100 owns 81 or 82 slots.
var maglevSizes = [...]int{65537, 262147, 1048583}

func maglevSize(targets []*Target) int {
	for _, size := range maglevSizes {
		if size >= 100*len(targets) {
			return size
		}
	}
	// Past a million slots memory counts more than the last percent of
	// balance.
	return maglevSizes[len(maglevSizes)-1]
}

// maglevTable shares the slots of a Maglev table out among targets.
//
// Each target has a permutation of the slots derived from its address
// alone, so it claims the same slots whatever else is in the table; that
// is what keeps keys in place when others join or leave. Targets take turns
// claiming their next preferred slot that is still free; in each turn a
// target claims weight/heaviest of a slot, carrying the fraction over, so
// heavier targets claim more often and the table ends up shared by weight.
func maglevTable[I uint16 | uint32](targets []*Target) []I {
	n := len(targets)
	if n == 0 {
		return nil
	}
	size := uint64(maglevSize(targets))
	empty := ^I(0)
	table := make([]I, size)
	for i := range table {
		table[i] = empty
	}

	// Targets take their turns in address order, not list order:
	// discovery may list the same targets in a different order on each
	// refresh (DNS rotates its answers), and the table, like every other
	// gateway's table over the same targets, must not change with it.
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Or(strings.Compare(targets[a].Addr, targets[b].Addr),
			cmp.Compare(weightOf(targets[a]), weightOf(targets[b])))
	})

	var heaviest int64
	pos := make([]uint64, n)
	skip := make([]uint64, n)
	for i, t := range targets {
		heaviest = max(heaviest, weightOf(t))
		h := hash64(t.Addr)
		// Two independent values from one hash: salting it before a
		// second mix gives an offset and a skip that are unrelated.
		pos[i] = mix64(h^0x9e3779b97f4a7c15) % size
		skip[i] = mix64(h^0xd1b54a32d192ed03)%(size-1) + 1
	}
	credit := make([]int64, n)
	for filled := uint64(0); ; {
		for _, i := range order {
			credit[i] += weightOf(targets[i])
			if credit[i] < heaviest {
				continue
			}
			credit[i] -= heaviest
			for table[pos[i]] != empty {
				pos[i] = (pos[i] + skip[i]) % size
			}
			table[pos[i]] = I(i)
			pos[i] = (pos[i] + skip[i]) % size
			if filled++; filled == size {
				return table
			}
		}
	}
}
