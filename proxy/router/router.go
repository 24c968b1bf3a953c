package router

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/wasmgate/wasmgate/internal/httpsyntax"
)

// CondKind says how a header or query condition tests its value.
type CondKind uint8

const (
	CondExact   CondKind = iota // value equals Value exactly (header values compared case-sensitively)
	CondRegex                   // value matches the regexp Value (Go RE2 syntax, unanchored unless the pattern anchors)
	CondPresent                 // the header / query parameter is present (any value, including empty)
)

func (k CondKind) String() string {
	switch k {
	case CondExact:
		return "exact"
	case CondRegex:
		return "regex"
	case CondPresent:
		return "present"
	}
	return fmt.Sprintf("CondKind(%d)", uint8(k))
}

// Cond is one header or query parameter condition.
type Cond struct {
	Name  string // header name (case-insensitive) or query parameter name (case-sensitive)
	Kind  CondKind
	Value string // for CondExact / CondRegex
}

// Spec is one configured route, in the form Compile needs.
type Spec struct {
	Name     string
	Priority int // explicit override: higher wins before any other rule
	// Hosts are exact ("api.example.com") or wildcard ("*.example.com" = any
	// name with at least one more label in front of .example.com, not
	// example.com itself). Case-insensitive. Empty = any host.
	Hosts []string
	// At most one of Path, PathPrefix and PathRegex is set; none = any path.
	Path       string   // exact path match
	PathPrefix string   // prefix match
	PathRegex  string   // regexp match on the path
	Methods    []string // empty = any method; upper-case method names, compared exactly
	Headers    []Cond
	Query      []Cond
}

// Table is a compiled, immutable set of routes, safe for concurrent use.
type Table struct {
	routes []route
	// Per exact host and per wildcard suffix (".example.com"), every group of
	// routes that can match such a host, already in precedence order, so a
	// request pays for one or a few map lookups and never looks at routes
	// bound to other hosts.
	exactHosts map[string][]*group
	wildHosts  map[string][]*group
	anyHost    []*group
	// Length of the longest key in wildHosts: the wildcard lookup skips
	// host suffixes longer than any configured wildcard.
	maxWild int
	order   []int
}

// Path tiers for precedence rule 3; a higher tier wins.
const (
	tierNone = iota
	tierRegex
	tierPrefix
	tierExact
)

// hostExactRank outranks every wildcard rank, which is the suffix length and
// so at most 254 (a 253-byte name and its dot).
const hostExactRank = 1 << 16

type route struct {
	priority  int
	conds     int // precedence rule 4
	tier      int
	path      string // Path or PathPrefix
	pathRegex *regexp.Regexp
	// An anchored regex's literal prefix: paths not starting with it cannot
	// match, which is far cheaper to check than running the regex.
	regexPrefix string
	bestHost    int // most specific host entry's rank, only for Order
	methods     []string
	headers     []cond
	query       []cond
}

type cond struct {
	name  string
	kind  CondKind
	value string
	re    *regexp.Regexp
}

// group holds the routes that share a priority and a host entry, so within it
// only rules 3-5 decide, and those can be served by indexes.
type group struct {
	priority int
	hostRank int
	exact    map[string][]int32 // path -> routes, best first
	prefix   prefixIndex        // path_prefix routes
	// regex lists the path_regex routes best first. Most real patterns are
	// anchored with a literal start ("^/users/[0-9]+$"), so rather than
	// running each, regexByPrefix indexes positions in regex by that literal
	// and regexFree holds the positions of the rest.
	regex         []int32
	regexByPrefix prefixIndex
	regexFree     []int32
	any           []int32
}

// prefixIndex finds, for a path, every key that is a prefix of it, longest
// first, without allocating. keys is sorted; every key that is a prefix of
// the path is an ancestor-or-self of the greatest key <= path (a key r with
// r <= k <= path, r a prefix of path, must also be a prefix of k), and is
// no longer than the common prefix of that key and the path. So one binary
// search and a walk up the parent links, skipping keys that are too long,
// visit exactly the matching keys.
type prefixIndex struct {
	keys  []string
	nodes []prefixNode
}

type prefixNode struct {
	items  []int32 // best first
	parent int32   // the longest other key that is a prefix of this one, or -1
}

func newPrefixIndex(items map[string][]int32) prefixIndex {
	var x prefixIndex
	for k := range items {
		x.keys = append(x.keys, k)
	}
	slices.Sort(x.keys)
	pos := make(map[string]int32, len(x.keys))
	for i, k := range x.keys {
		pos[k] = int32(i)
	}
	x.nodes = make([]prefixNode, len(x.keys))
	for i, k := range x.keys {
		n := &x.nodes[i]
		n.items = items[k]
		n.parent = -1
		for l := len(k) - 1; l >= 0; l-- {
			if j, ok := pos[k[:l]]; ok {
				n.parent = j
				break
			}
		}
	}
	return x
}

// Compile validates the specs and builds a table. Every problem is reported,
// each as its own error naming the route by index and the config field,
// joined with errors.Join.
func Compile(specs []Spec) (*Table, error) {
	var errs []error
	t := &Table{routes: make([]route, len(specs))}
	type hostEntry struct {
		key  string // exact host, or ".suffix" for a wildcard
		wild bool
	}
	entries := make([][]hostEntry, len(specs))
	for i := range specs {
		s := &specs[i]
		r := &t.routes[i]
		r.priority = s.Priority
		fail := func(field, format string, args ...any) {
			errs = append(errs, fmt.Errorf("routes[%d]%s: %s", i, field, fmt.Sprintf(format, args...)))
		}

		seen := map[hostEntry]bool{}
		for j, h := range s.Hosts {
			key, wild, err := parseHost(h)
			if err != nil {
				fail(fmt.Sprintf(".hosts[%d]", j), "%v", err)
				continue
			}
			e := hostEntry{key, wild}
			if seen[e] {
				continue
			}
			seen[e] = true
			entries[i] = append(entries[i], e)
			rank := hostExactRank
			if wild {
				rank = len(key)
			}
			r.bestHost = max(r.bestHost, rank)
		}

		var pathField string
		for _, p := range []struct{ field, value string }{
			{"path", s.Path}, {"path_prefix", s.PathPrefix}, {"path_regex", s.PathRegex},
		} {
			if p.value == "" {
				continue
			}
			if pathField != "" {
				fail("."+p.field, "conflicts with %s; set at most one of path, path_prefix, path_regex", pathField)
				continue
			}
			pathField = p.field
			switch p.field {
			case "path":
				if err := checkPath(p.value, false); err != nil {
					fail(".path", "%v", err)
				}
				r.tier, r.path = tierExact, p.value
			case "path_prefix":
				if err := checkPath(p.value, true); err != nil {
					fail(".path_prefix", "%v", err)
				}
				r.tier, r.path = tierPrefix, p.value
			case "path_regex":
				re, err := regexp.Compile(p.value)
				if err != nil {
					fail(".path_regex", "%v", err)
					continue
				}
				r.tier, r.pathRegex, r.regexPrefix = tierRegex, re, anchoredPrefix(p.value)
			}
		}

		for j, m := range s.Methods {
			if err := checkMethod(m); err != nil {
				fail(fmt.Sprintf(".methods[%d]", j), "%v", err)
			}
		}
		if len(s.Methods) > 0 {
			r.methods = slices.Clone(s.Methods)
			r.conds++
		}

		r.headers = compileConds(s.Headers, "headers", true, fail)
		r.query = compileConds(s.Query, "query", false, fail)
		r.conds += len(s.Headers) + len(s.Query)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	// Bucket routes by (host entry, priority); each bucket becomes one group
	// shared by every host list it applies to.
	type groupKey struct {
		host     hostEntry
		anyHost  bool
		priority int
	}
	members := map[groupKey][]int32{}
	for i := range t.routes {
		p := t.routes[i].priority
		if len(entries[i]) == 0 {
			k := groupKey{anyHost: true, priority: p}
			members[k] = append(members[k], int32(i))
		}
		for _, e := range entries[i] {
			k := groupKey{host: e, priority: p}
			members[k] = append(members[k], int32(i))
		}
	}
	byExact := map[string][]*group{}
	byWild := map[string][]*group{}
	for k, ids := range members {
		g := t.buildGroup(k.priority, ids)
		switch {
		case k.anyHost:
			t.anyHost = append(t.anyHost, g)
		case k.host.wild:
			g.hostRank = len(k.host.key)
			byWild[k.host.key] = append(byWild[k.host.key], g)
		default:
			g.hostRank = hostExactRank
			byExact[k.host.key] = append(byExact[k.host.key], g)
		}
	}

	// Every wildcard that matches host h, as keys of byWild. Wildcard keys
	// start with '.', so each '.' in h (not at its start) begins a candidate.
	wildFor := func(h string) []*group {
		var gs []*group
		for i := 1; i < len(h); i++ {
			if h[i] == '.' {
				gs = append(gs, byWild[h[i:]]...)
			}
		}
		return gs
	}
	t.exactHosts = make(map[string][]*group, len(byExact))
	for h, gs := range byExact {
		gs = append(slices.Clone(gs), wildFor(h)...)
		t.exactHosts[h] = sortGroups(append(gs, t.anyHost...))
	}
	t.wildHosts = make(map[string][]*group, len(byWild))
	for s, gs := range byWild {
		t.maxWild = max(t.maxWild, len(s))
		// A host whose longest configured wildcard is s also matches every
		// shorter wildcard that is a suffix of s; they are found the same way
		// as for a host, treating s's leading '.' as the label in front.
		gs = append(slices.Clone(gs), wildFor(s)...)
		t.wildHosts[s] = sortGroups(append(gs, t.anyHost...))
	}
	t.anyHost = sortGroups(t.anyHost)

	t.order = make([]int, len(t.routes))
	for i := range t.order {
		t.order[i] = i
	}
	slices.SortStableFunc(t.order, func(a, b int) int {
		ra, rb := &t.routes[a], &t.routes[b]
		if c := cmp.Compare(rb.priority, ra.priority); c != 0 {
			return c
		}
		if c := cmp.Compare(rb.bestHost, ra.bestHost); c != 0 {
			return c
		}
		return t.compareWithinGroup(int32(a), int32(b))
	})
	return t, nil
}

func sortGroups(gs []*group) []*group {
	slices.SortFunc(gs, func(a, b *group) int {
		if c := cmp.Compare(b.priority, a.priority); c != 0 {
			return c
		}
		return cmp.Compare(b.hostRank, a.hostRank)
	})
	return gs
}

// compareWithinGroup orders routes by precedence rules 3-5.
func (t *Table) compareWithinGroup(a, b int32) int {
	ra, rb := &t.routes[a], &t.routes[b]
	if c := cmp.Compare(rb.tier, ra.tier); c != 0 {
		return c
	}
	if ra.tier == tierPrefix {
		if c := cmp.Compare(len(rb.path), len(ra.path)); c != 0 {
			return c
		}
	}
	if c := cmp.Compare(rb.conds, ra.conds); c != 0 {
		return c
	}
	return cmp.Compare(a, b)
}

func (t *Table) buildGroup(priority int, ids []int32) *group {
	slices.SortFunc(ids, t.compareWithinGroup)
	g := &group{priority: priority}
	byPrefix := map[string][]int32{}
	byRegexPrefix := map[string][]int32{}
	for _, id := range ids {
		r := &t.routes[id]
		switch r.tier {
		case tierExact:
			if g.exact == nil {
				g.exact = map[string][]int32{}
			}
			g.exact[r.path] = append(g.exact[r.path], id)
		case tierPrefix:
			byPrefix[r.path] = append(byPrefix[r.path], id)
		case tierRegex:
			pos := int32(len(g.regex))
			g.regex = append(g.regex, id)
			if r.regexPrefix == "" {
				g.regexFree = append(g.regexFree, pos)
			} else {
				byRegexPrefix[r.regexPrefix] = append(byRegexPrefix[r.regexPrefix], pos)
			}
		default:
			g.any = append(g.any, id)
		}
	}
	g.prefix = newPrefixIndex(byPrefix)
	g.regexByPrefix = newPrefixIndex(byRegexPrefix)
	return g
}

// Len returns the number of routes in the table.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	return len(t.routes)
}

// Order returns the spec indexes in global precedence order, for display.
// Which route wins depends on the request's host, so a route with several
// hosts is placed by its most specific entry; for any one request, the
// routes that match it are tried in an order consistent with this one.
func (t *Table) Order() []int {
	if t == nil {
		return nil
	}
	return slices.Clone(t.order)
}

func compileConds(cs []Cond, field string, header bool, fail func(field, format string, args ...any)) []cond {
	if len(cs) == 0 {
		return nil
	}
	out := make([]cond, 0, len(cs))
	for _, c := range cs {
		where := "." + field + "." + c.Name
		if !httpsyntax.IsToken(c.Name) {
			where = fmt.Sprintf(".%s.%q", field, c.Name)
		}
		switch {
		case c.Name == "":
			fail(where, "empty name")
			continue
		case header && !httpsyntax.IsToken(c.Name):
			fail(where, "invalid header name")
			continue
		}
		cc := cond{name: c.Name, kind: c.Kind, value: c.Value}
		switch c.Kind {
		case CondExact:
		case CondRegex:
			re, err := regexp.Compile(c.Value)
			if err != nil {
				fail(where, "%v", err)
				continue
			}
			cc.re = re
		case CondPresent:
			if c.Value != "" {
				fail(where, "a present condition takes no value (got %q)", c.Value)
				continue
			}
		default:
			fail(where, "unknown condition kind %d", uint8(c.Kind))
			continue
		}
		out = append(out, cc)
	}
	return out
}

// parseHost validates a configured host and returns its lookup key: the
// lower-cased host, or for "*.example.com" the suffix ".example.com".
func parseHost(h string) (key string, wild bool, err error) {
	// ASCII only: Unicode case folding would let "\u212a.com" (Kelvin
	// sign) through as "k.com".
	s := lowerASCII(strings.TrimSuffix(h, "."))
	if strings.Contains(s, "*") {
		rest, ok := strings.CutPrefix(s, "*.")
		if !ok || strings.Contains(rest, "*") || checkHostname(rest) != nil {
			return "", false, fmt.Errorf("invalid wildcard %q", h)
		}
		return "." + rest, true, nil
	}
	if strings.HasPrefix(s, "[") {
		inner, ok := strings.CutSuffix(s[1:], "]")
		if a, err := netip.ParseAddr(inner); !ok || err != nil || !a.Is6() {
			return "", false, fmt.Errorf("invalid host %q: want a name or a bracketed IPv6 address, without a port", h)
		}
		return s, false, nil
	}
	if strings.Contains(s, ":") {
		return "", false, fmt.Errorf("invalid host %q: ports are ignored when matching, leave it out", h)
	}
	if err := checkHostname(s); err != nil {
		return "", false, fmt.Errorf("invalid host %q: %v", h, err)
	}
	return s, false, nil
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// checkHostname accepts lower-case DNS-style names; '_' is allowed because
// internal names use it even though DNS hostnames may not.
func checkHostname(s string) error {
	if s == "" {
		return errors.New("empty name")
	}
	if len(s) > 253 {
		return errors.New("longer than 253 bytes")
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" {
			return errors.New("empty label")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("invalid character %q", c)
			}
		}
	}
	return nil
}

// checkPath rejects paths that fasthttp's normalization guarantees no request
// path can equal (or, for a prefix, start with), so such a typo fails loudly
// instead of silently never matching. A prefix's last segment may be partial,
// so "/a/." is a fine prefix ("/a/.well-known").
func checkPath(p string, prefix bool) error {
	if !strings.HasPrefix(p, "/") {
		return errors.New(`must start with "/"`)
	}
	if strings.Contains(p, "//") {
		return errors.New(`contains "//", which request paths never do after normalization`)
	}
	segs := strings.Split(p[1:], "/")
	if prefix {
		segs = segs[:len(segs)-1]
	}
	for _, s := range segs {
		if s == "." || s == ".." {
			return fmt.Errorf("contains a %q segment, which request paths never do after normalization", s)
		}
	}
	return nil
}

func checkMethod(m string) error {
	if m == "" {
		return errors.New("empty method")
	}
	if !httpsyntax.IsToken(m) {
		return fmt.Errorf("invalid method %q", m)
	}
	if strings.ToUpper(m) != m {
		return fmt.Errorf("method %q must be upper-case (methods are compared exactly)", m)
	}
	return nil
}

// anchoredPrefix returns literal text that every path matching pattern must
// start with, or "" when it has none or this cannot be proven. It reads the
// parse tree rather than using Regexp.LiteralPrefix, which for an unanchored
// pattern constrains where the match starts, not the path, and for an
// anchored one only reports a prefix when the program happens to be one-pass.
func anchoredPrefix(pattern string) string {
	tree, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return ""
	}
	var (
		prefix   []rune
		anchored bool
	)
	// walk consumes the leading run of the pattern that is ^ then plain
	// literals, and reports whether everything in re was consumed.
	var walk func(re *syntax.Regexp) bool
	walk = func(re *syntax.Regexp) bool {
		switch re.Op {
		case syntax.OpBeginText:
			if anchored || len(prefix) > 0 {
				return false
			}
			anchored = true
			return true
		case syntax.OpEmptyMatch:
			return true
		case syntax.OpCapture:
			return walk(re.Sub[0])
		case syntax.OpConcat:
			for _, sub := range re.Sub {
				if !walk(sub) {
					return false
				}
			}
			return true
		case syntax.OpLiteral:
			if !anchored || re.Flags&syntax.FoldCase != 0 {
				return false
			}
			for _, r := range re.Rune {
				// Invalid UTF-8 in the path decodes as U+FFFD, so that
				// rune does not pin down the bytes.
				if r == utf8.RuneError {
					return false
				}
				prefix = append(prefix, r)
			}
			return true
		}
		return false
	}
	walk(tree)
	return string(prefix)
}
