package router

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// maxHostLen bounds the stack buffer the request host is lower-cased into.
// It is above the 253 bytes a DNS name can have, so every host Compile
// accepts fits; longer request hosts are treated as matching no host entry.
const maxHostLen = 256

// Match returns the index into the specs given to Compile of the route that
// wins for req, or -1 when none matches. It does not allocate, except that
// fasthttp grows a request's reusable scratch buffers on first use, and a
// Cookie header condition allocates once something has parsed the request's
// cookies (fasthttp then rebuilds the header value on every lookup).
// Like any fasthttp header lookup it uses req's scratch buffers, so req must
// not be used by another goroutine meanwhile.
func (t *Table) Match(req *fasthttp.Request) int {
	if t == nil || len(t.routes) == 0 {
		return -1
	}
	var buf [maxHostLen]byte
	groups := t.anyHost
	if host := lowerHost(&buf, req.Header.Host()); len(host) > 0 {
		if gs, ok := t.exactHosts[string(host)]; ok {
			groups = gs
		} else {
			// Left to right visits the longest suffix first; its list
			// already holds every shorter wildcard that matches too.
			for i := max(1, len(host)-t.maxWild); i < len(host); i++ {
				if host[i] != '.' {
					continue
				}
				if gs, ok := t.wildHosts[string(host[i:])]; ok {
					groups = gs
					break
				}
			}
		}
	}
	if len(groups) == 0 {
		return -1
	}
	path := req.URI().Path()
	method := req.Header.Method()
	for _, g := range groups {
		if id := t.matchGroup(g, req, path, method); id >= 0 {
			return int(id)
		}
	}
	return -1
}

// lowerHost returns the request host without port and trailing dot,
// lower-cased into buf, or nil when there is none or it does not fit.
func lowerHost(buf *[maxHostLen]byte, h []byte) []byte {
	if len(h) > 0 && h[0] == '[' {
		// An IPv6 literal's colons are not a port separator.
		if j := bytes.IndexByte(h, ']'); j >= 0 {
			h = h[:j+1]
		}
	} else if j := bytes.LastIndexByte(h, ':'); j >= 0 {
		h = h[:j]
	}
	if len(h) > 0 && h[len(h)-1] == '.' {
		h = h[:len(h)-1]
	}
	if len(h) == 0 || len(h) > len(buf) {
		return nil
	}
	for i, c := range h {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return buf[:len(h)]
}

// matchGroup tries the group's routes in precedence order and returns the
// first that matches, or -1.
func (t *Table) matchGroup(g *group, req *fasthttp.Request, path, method []byte) int32 {
	if len(g.exact) > 0 {
		for _, id := range g.exact[string(path)] {
			if t.routes[id].matchConds(req, method) {
				return id
			}
		}
	}
	if n, common := g.prefix.deepest(path); n >= 0 {
		for ; n >= 0; n = g.prefix.nodes[n].parent {
			if len(g.prefix.keys[n]) > common {
				continue
			}
			for _, id := range g.prefix.nodes[n].items {
				if t.routes[id].matchConds(req, method) {
					return id
				}
			}
		}
	}
	if len(g.regex) > 0 {
		// The winner is the earliest matching position across the lists of
		// every applicable literal prefix and the free list; each list is in
		// ascending position order, so each can stop at the best so far.
		best := t.firstRegex(g, g.regexFree, -1, req, path, method)
		if n, common := g.regexByPrefix.deepest(path); n >= 0 {
			for ; n >= 0; n = g.regexByPrefix.nodes[n].parent {
				if len(g.regexByPrefix.keys[n]) <= common {
					best = t.firstRegex(g, g.regexByPrefix.nodes[n].items, best, req, path, method)
				}
			}
		}
		if best >= 0 {
			return g.regex[best]
		}
	}
	for _, id := range g.any {
		if t.routes[id].matchConds(req, method) {
			return id
		}
	}
	return -1
}

// firstRegex returns the first position in list, before best (if best >= 0),
// whose route matches, or best.
func (t *Table) firstRegex(g *group, list []int32, best int32, req *fasthttp.Request, path, method []byte) int32 {
	for _, pos := range list {
		if best >= 0 && pos >= best {
			break
		}
		r := &t.routes[g.regex[pos]]
		if r.methodOK(method) && r.pathRegex.Match(path) && r.matchConds(req, method) {
			return pos
		}
	}
	return best
}

// deepest returns the greatest key <= path (as a node index, -1 if none)
// and how many leading bytes that key shares with path; see prefixIndex.
func (x *prefixIndex) deepest(path []byte) (node int32, common int) {
	lo, hi := 0, len(x.keys)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if x.keys[mid] <= string(path) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return -1, 0
	}
	return int32(lo - 1), commonPrefixLen(x.keys[lo-1], path)
}

func commonPrefixLen(a string, b []byte) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

func (r *route) methodOK(method []byte) bool {
	if r.methods == nil {
		return true
	}
	for _, m := range r.methods {
		if string(method) == m {
			return true
		}
	}
	return false
}

// matchConds checks everything but host and path, which the table layout
// has already settled.
func (r *route) matchConds(req *fasthttp.Request, method []byte) bool {
	if !r.methodOK(method) {
		return false
	}
	for i := range r.headers {
		c := &r.headers[i]
		v := req.Header.Peek(c.name)
		// Peek returns nil or empty for both an absent header and an empty
		// one, depending on how the request was built; PeekAll lists an
		// empty value, so it settles presence without allocating.
		if len(v) == 0 && len(req.Header.PeekAll(c.name)) == 0 {
			return false
		}
		if !c.test(v) {
			return false
		}
	}
	if len(r.query) > 0 {
		args := req.URI().QueryArgs()
		for i := range r.query {
			c := &r.query[i]
			v := args.Peek(c.name)
			if len(v) == 0 && !args.Has(c.name) {
				return false
			}
			if !c.test(v) {
				return false
			}
		}
	}
	return true
}

func (c *cond) test(v []byte) bool {
	switch c.kind {
	case CondExact:
		return string(v) == c.value
	case CondRegex:
		return c.re.Match(v)
	}
	return true
}
