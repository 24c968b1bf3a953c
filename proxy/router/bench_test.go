package router

import (
	"fmt"
	"testing"

	"github.com/valyala/fasthttp"
)

// benchSpecs returns n routes shaped like a large gateway config: a few
// exact and wildcard hosts plus many host-less routes, mostly exact paths and
// prefixes, some regexes, some method, header and query conditions.
func benchSpecs(n int) []Spec {
	hosts := [][]string{
		nil, nil, nil,
		{"api.example.com"},
		{"*.example.com"},
		{"www.example.com", "example.com"},
		{"*.svc.internal"},
	}
	specs := make([]Spec, n)
	for i := range specs {
		s := &specs[i]
		s.Name = fmt.Sprintf("r%d", i)
		s.Hosts = hosts[i%len(hosts)]
		switch i % 10 {
		case 0, 1, 2, 3, 4:
			s.Path = fmt.Sprintf("/svc%d/items", i)
		case 5, 6, 7:
			s.PathPrefix = fmt.Sprintf("/svc%d/", i)
		case 8:
			s.PathRegex = fmt.Sprintf(`^/re%d/[0-9]+$`, i)
		case 9:
			s.PathPrefix = fmt.Sprintf("/svc%d", i/100)
		}
		if i%4 == 0 {
			s.Methods = []string{"GET", "POST"}
		}
		if i%9 == 0 {
			s.Headers = []Cond{{Name: "X-Tenant", Kind: CondRegex, Value: `^t[0-9]+$`}}
		}
		if i%11 == 0 {
			s.Query = []Cond{{Name: "v", Kind: CondExact, Value: "2"}}
		}
	}
	return specs
}

type benchReq struct {
	name string
	req  rq
	want int
}

func benchRequests() []benchReq {
	return []benchReq{
		{"early_exact", rq{method: "GET", host: "other.org", uri: "/svc1/items"}, 1},
		{"late_exact", rq{method: "GET", host: "other.org", uri: "/svc995/items"}, 995},
		{"late_prefix", rq{method: "GET", host: "api.example.com", uri: "/svc976/a/b/c"}, 976},
		{"wildcard_host_prefix", rq{method: "GET", host: "Shop.Example.com:443", uri: "/svc977/x"}, 977},
		{"regex", rq{method: "GET", host: "other.org", uri: "/re898/12345"}, 898},
		{"regex_wildcard_host", rq{method: "POST", host: "db.svc.internal", uri: "/re398/7"}, 398},
		{"header_query", rq{method: "GET", host: "db.svc.internal", uri: "/svc594/items?v=2", headers: []string{"X-Tenant", "t42"}}, 594},
		{"header_query_miss_falls_back", rq{method: "GET", host: "db.svc.internal", uri: "/svc594/items?v=3", headers: []string{"X-Tenant", "t42"}}, 559},
		{"no_match", rq{method: "GET", host: "api.example.com", uri: "/nothing/here"}, -1},
		{"no_match_wildcard_host", rq{method: "GET", host: "a.b.example.com", uri: "/re918/x"}, -1},
	}
}

func TestBenchShapes(t *testing.T) {
	specs := benchSpecs(1000)
	tab := mustCompile(t, specs)
	for _, br := range benchRequests() {
		if got := tab.Match(br.req.build()); got != br.want {
			t.Errorf("%s: Match = %d, want %d", br.name, got, br.want)
		}
		if got := refMatch(specs, br.req.build()); got != br.want {
			t.Errorf("%s: refMatch = %d, want %d", br.name, got, br.want)
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are unreliable under the race detector")
	}
	type allocCase struct {
		name string
		tab  *Table
		req  *fasthttp.Request
	}
	big := mustCompile(t, benchSpecs(1000))
	var cases []allocCase
	for _, br := range benchRequests() {
		cases = append(cases, allocCase{br.name, big, br.req.build()})
	}
	small := mustCompile(t, []Spec{
		{Hosts: []string{"*.example.com"}, PathPrefix: "/api/", Headers: []Cond{{Name: "X-Empty", Kind: CondPresent}}},
		{Hosts: []string{"*.example.com"}, PathRegex: `^/api/v[0-9]+/`, Query: []Cond{{Name: "q", Kind: CondRegex, Value: "^a"}, {Name: "e", Kind: CondPresent}}},
		{Hosts: []string{"API.example.com"}, Path: "/x", Methods: []string{"PUT"}, Headers: []Cond{{Name: "X-A", Kind: CondExact, Value: "1"}}},
		{Headers: []Cond{{Name: "x-absent", Kind: CondPresent}}},
	})
	cases = append(cases,
		allocCase{"parsed_present_empty_header", small, parseReq(t, "GET /api/v1/z?q=abc&e HTTP/1.1\r\nHost: x.Example.com:80\r\nX-Empty:\r\n\r\n")},
		allocCase{"regex_and_query", small, rq{host: "a.b.example.com.", uri: "/api/v2/z?q=abc&e"}.build()},
		allocCase{"exact_host_method_header", small, rq{method: "PUT", host: "api.example.com", uri: "/x", headers: []string{"x-a", "1"}}.build()},
		allocCase{"absent_header_no_match", small, rq{host: "nope.org", uri: "/"}.build()},
		allocCase{"long_host", small, rq{host: string(make([]byte, 300)), uri: "/"}.build()},
	)
	for _, c := range cases {
		c.tab.Match(c.req) // let fasthttp parse the URI and grow its scratch buffers
		if n := testing.AllocsPerRun(200, func() { c.tab.Match(c.req) }); n != 0 {
			t.Errorf("%s: %v allocs per Match, want 0", c.name, n)
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	tab := mustCompile(b, benchSpecs(1000))
	for _, br := range benchRequests() {
		b.Run(br.name, func(b *testing.B) {
			req := br.req.build()
			if got := tab.Match(req); got != br.want {
				b.Fatalf("Match = %d, want %d", got, br.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				tab.Match(req)
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	specs := benchSpecs(1000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(specs); err != nil {
			b.Fatal(err)
		}
	}
}
