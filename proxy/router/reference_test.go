package router

import (
	"bufio"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// refMatch is the documented behaviour written as plainly as possible: test
// every route on its own, then keep the best by the precedence rules. It
// shares no code with the package so the two can check each other.
func refMatch(specs []Spec, req *fasthttp.Request) int {
	host := refRequestHost(string(req.Header.Host()))
	path := string(req.URI().Path())
	method := string(req.Header.Method())

	best := -1
	var bestKey [5]int // priority, host rank, path tier, prefix length, conditions
	for i, s := range specs {
		hostRank, ok := refHostRank(s.Hosts, host)
		if !ok {
			continue
		}
		var tier, plen int
		switch {
		case s.Path != "":
			ok, tier = path == s.Path, 3
		case s.PathPrefix != "":
			ok, tier, plen = strings.HasPrefix(path, s.PathPrefix), 2, len(s.PathPrefix)
		case s.PathRegex != "":
			ok, tier = regexp.MustCompile(s.PathRegex).MatchString(path), 1
		}
		if !ok {
			continue
		}
		if len(s.Methods) > 0 && !slices.Contains(s.Methods, method) {
			continue
		}
		for _, c := range s.Headers {
			v, present := refHeader(req, c.Name)
			ok = ok && present && refTest(c, v)
		}
		for _, c := range s.Query {
			v, present := refQuery(req, c.Name)
			ok = ok && present && refTest(c, v)
		}
		if !ok {
			continue
		}
		conds := len(s.Headers) + len(s.Query)
		if len(s.Methods) > 0 {
			conds++
		}
		key := [5]int{s.Priority, hostRank, tier, plen, conds}
		// Strictly greater, so ties keep the earlier route.
		if best < 0 || slices.Compare(key[:], bestKey[:]) > 0 {
			best, bestKey = i, key
		}
	}
	return best
}

func refLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// refRequestHost returns "" for a host that can match no host entry.
func refRequestHost(h string) string {
	if strings.HasPrefix(h, "[") {
		if j := strings.Index(h, "]"); j >= 0 {
			h = h[:j+1]
		}
	} else if j := strings.LastIndex(h, ":"); j >= 0 {
		h = h[:j]
	}
	h = strings.TrimSuffix(h, ".")
	if len(h) > 256 {
		return ""
	}
	return refLower(h)
}

func refHostRank(hosts []string, host string) (rank int, ok bool) {
	if len(hosts) == 0 {
		return 0, true
	}
	rank = -1
	for _, h := range hosts {
		h = refLower(strings.TrimSuffix(h, "."))
		if suffix, wild := strings.CutPrefix(h, "*"); wild {
			if strings.HasSuffix(host, suffix) && len(host) > len(suffix) {
				rank = max(rank, len(suffix))
			}
		} else if host == h && host != "" {
			rank = max(rank, 1<<30)
		}
	}
	return rank, rank >= 0
}

func refHeader(req *fasthttp.Request, name string) (string, bool) {
	for k, v := range req.Header.All() {
		if strings.EqualFold(string(k), name) {
			return string(v), true
		}
	}
	return "", false
}

func refQuery(req *fasthttp.Request, name string) (string, bool) {
	for k, v := range req.URI().QueryArgs().All() {
		if string(k) == name {
			return string(v), true
		}
	}
	return "", false
}

func refTest(c Cond, v string) bool {
	switch c.Kind {
	case CondExact:
		return v == c.Value
	case CondRegex:
		return regexp.MustCompile(c.Value).MatchString(v)
	}
	return true
}

// Vocabularies the fuzzer picks routes and requests from. They are chosen to
// overlap (hosts that hit several wildcards, nested prefixes, regexes that
// agree and disagree with prefixes) so precedence decides often.
var (
	fzHosts   = []string{"api.example.com", "*.example.com", "*.com", "API.Example.COM.", "*.a.example.com", "b.example.com", "[::1]", "x.a.example.com", "*.A.Example.com"}
	fzPaths   = []string{"/", "/api", "/api/", "/api/v1", "/api/v1/users", "/apix", "/b", "/a", "/api/v"}
	fzRegexes = []string{"^/api/v[0-9]+", "users$", "^/api", "(?i)^/API/", "v1|b", "^$", "^/$", "(^/a)", "^/api/v1/users$", "", "^/a|^/b", "^/api/(v1|v2)"}
	fzMethods = []string{"GET", "POST", "PUT"}
	fzHeaders = []Cond{
		{Name: "X-A", Kind: CondExact, Value: "1"}, {Name: "x-a", Kind: CondPresent}, {Name: "X-A", Kind: CondRegex, Value: "^[0-9]+$"},
		{Name: "X-B", Kind: CondExact}, {Name: "x-b", Kind: CondPresent}, {Name: "X-B", Kind: CondRegex, Value: "^$"},
		{Name: "X-A", Kind: CondExact}, {Name: "User-Agent", Kind: CondPresent},
	}
	fzQuery = []Cond{
		{Name: "q", Kind: CondExact, Value: "1"}, {Name: "q", Kind: CondPresent}, {Name: "Q", Kind: CondExact},
		{Name: "r", Kind: CondRegex, Value: "^[a-z]*$"}, {Name: "r", Kind: CondPresent}, {Name: "q", Kind: CondExact},
	}

	frHosts   = []string{"api.example.com", "API.EXAMPLE.COM:8080", "x.example.com", "example.com", "q.a.example.com", "x.a.example.com.", "a.example.com", "b.example.com:1", "[::1]:80", "other.org", "", "foo.com", "api.example.com.:443"}
	frPaths   = []string{"/", "/api", "/api/", "/api/v1", "/api/v1/users", "/apix/y", "/b", "/a/../api/v1", "/API/v2", "/a", "/api/v1/users/7", "/api/v", "/%61pi/v2"}
	frQueries = []string{"", "q=1", "q=", "q", "Q=&r=abc", "r=AB", "q=2&q=1", "r&q=1"}
	frHeaders = [][]string{nil, {"X-A", "1"}, {"X-A", ""}, {"x-a", "12", "X-B", ""}, {"X-B", "x"}, {"X-A", "a", "X-A", "1"}, {"User-Agent", "ua"}, {"User-Agent", ""}}
	frMethods = []string{"GET", "POST", "PUT", "DELETE", "get"}
)

// fuzzBytes hands out input bytes, then zeros once they run out.
type fuzzBytes []byte

func (b *fuzzBytes) next() int {
	if len(*b) == 0 {
		return 0
	}
	c := (*b)[0]
	*b = (*b)[1:]
	return int(c)
}

// fuzzSpecs builds up to 12 routes; raw reports whether any used the raw
// strings, which may legitimately fail to compile.
func fuzzSpecs(data []byte, rawHost, rawPath string) (specs []Spec, raw bool) {
	in := fuzzBytes(data)
	for len(in) > 0 && len(specs) < 12 {
		var s Spec
		s.Priority = []int{0, 0, 0, 1, -1, 2}[in.next()%6]
		b := in.next()
		for range b % 3 {
			s.Hosts = append(s.Hosts, fzHosts[in.next()%len(fzHosts)])
		}
		if b&0x80 != 0 {
			s.Hosts, raw = append(s.Hosts, rawHost), true
		}
		b = in.next()
		useRaw := b&0x80 != 0
		i := (b >> 2) & 0x1f
		switch b % 4 {
		case 1:
			s.Path = fzPaths[i%len(fzPaths)]
			if useRaw {
				s.Path, raw = rawPath, true
			}
		case 2:
			s.PathPrefix = fzPaths[i%len(fzPaths)]
			if useRaw {
				s.PathPrefix, raw = rawPath, true
			}
		case 3:
			s.PathRegex = fzRegexes[i%len(fzRegexes)]
			if useRaw {
				s.PathRegex, raw = rawPath, true
			}
		}
		b = in.next()
		for j, m := range fzMethods {
			if b&(1<<j) != 0 {
				s.Methods = append(s.Methods, m)
			}
		}
		for range in.next() % 3 {
			s.Headers = append(s.Headers, fzHeaders[in.next()%len(fzHeaders)])
		}
		for range in.next() % 3 {
			s.Query = append(s.Query, fzQuery[in.next()%len(fzQuery)])
		}
		specs = append(specs, s)
	}
	return specs, raw
}

func fuzzRequest(data []byte, rawHost, rawPath string) *fasthttp.Request {
	in := fuzzBytes(data)
	host := rawHost
	if i := in.next(); i < 200 {
		host = frHosts[i%len(frHosts)]
	}
	uri := rawPath
	if i := in.next(); i < 200 {
		uri = frPaths[i%len(frPaths)]
		if q := frQueries[in.next()%len(frQueries)]; q != "" {
			uri += "?" + q
		}
	}
	method := frMethods[in.next()%len(frMethods)]
	headers := frHeaders[in.next()%len(frHeaders)]

	if in.next()%2 == 1 {
		// Off the wire, as the gateway sees requests; fall back to the
		// setters when the raw strings do not make a parseable request.
		var sb strings.Builder
		sb.WriteString(method + " " + uri + " HTTP/1.1\r\nHost: " + host + "\r\n")
		for i := 0; i+1 < len(headers); i += 2 {
			sb.WriteString(headers[i] + ": " + headers[i+1] + "\r\n")
		}
		sb.WriteString("\r\n")
		req := new(fasthttp.Request)
		if req.Read(bufio.NewReader(strings.NewReader(sb.String()))) == nil {
			return req
		}
	}
	return rq{method: method, host: host, uri: uri, headers: headers}.build()
}

func FuzzMatch(f *testing.F) {
	f.Add([]byte{}, []byte{}, "", "")
	f.Add([]byte{0, 1, 0, 5, 0, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0}, []byte{0, 1, 0, 0, 0, 0}, "", "")
	f.Add([]byte{3, 2, 1, 7, 6, 1, 2, 1, 5, 0, 2, 0, 0, 3, 1, 0, 0, 0}, []byte{2, 4, 1, 0, 1, 1}, "a.example.com", "/api/v1")
	f.Add([]byte{0, 0x81, 4, 0, 0, 1, 0, 1, 0x82, 0, 0, 0}, []byte{255, 255, 0, 0, 0}, "*.Example.com.", "/api/v1/")
	f.Add([]byte{0, 0, 10, 0, 2, 0, 3, 1, 0, 0, 0x83, 0, 0, 0}, []byte{255, 255, 1, 1, 0}, "X.Example.Com:9", "/api/v1/users?q=1")
	f.Add([]byte{4, 2, 7, 4, 9, 2, 1, 2, 0, 1, 2, 1, 3, 0, 1, 2, 6, 2, 5, 0, 5, 6, 1, 0, 0, 0, 0}, []byte{6, 10, 3, 0, 6, 0}, "", "")
	f.Add([]byte{0, 1, 6, 14, 0, 0, 0, 0, 1, 3, 22, 1, 1, 3, 0, 0, 2, 2, 1, 2, 11, 3, 0, 2, 5, 1, 1, 1}, []byte{8, 4, 4, 1, 3, 1}, "", "")
	f.Add([]byte{1, 0, 0x87, 0, 0, 0}, []byte{0, 255}, "", "(")
	f.Fuzz(func(t *testing.T, routeData, reqData []byte, rawHost, rawPath string) {
		specs, raw := fuzzSpecs(routeData, rawHost, rawPath)
		tab, err := Compile(specs)
		if err != nil {
			if !raw {
				t.Fatalf("Compile rejected vocabulary routes: %v", err)
			}
			return
		}
		order := tab.Order()
		slices.Sort(order)
		for i, v := range order {
			if i != v {
				t.Fatalf("Order is not a permutation: %v", tab.Order())
			}
		}
		req := fuzzRequest(reqData, rawHost, rawPath)
		got := tab.Match(req)
		// refMatch walks all headers, which makes fasthttp parse cookies;
		// run it second so Match sees the request as the gateway would.
		want := refMatch(specs, req)
		if got != want {
			t.Fatalf("Match = %d, reference = %d\nhost %q path %q method %q\nrequest:\n%s\nroutes: %+v",
				got, want, req.Header.Host(), req.URI().Path(), req.Header.Method(), req.Header.String(), specs)
		}
	})
}
