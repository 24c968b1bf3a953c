package proxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/wasmgate/wasmgate/proxy/config"
)

func TestAppendJSONStringIsValidJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `quote " backslash \`, "ctl \x00\x1f\n\t", "utf8 é ✓", "bad \xff utf8"} {
		b := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%q -> %s: %v", s, b, err)
		}
		if want := strings.ToValidUTF8(s, "\ufffd"); back != want {
			t.Errorf("%q round-tripped to %q", s, back)
		}
	}
}

func TestAppendEscapedPathEncodesWhatAPathCannotCarry(t *testing.T) {
	got := string(appendEscapedPath(nil, []byte("/a b/%/?/#/é")))
	if want := "/a%20b/%25/%3F/%23/%C3%A9"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func parseRequest(t *testing.T, raw string) *fasthttp.Request {
	t.Helper()
	var req fasthttp.Request
	if err := req.Header.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	return &req
}

func TestAmbiguousFramingFindsContentLengthBesideChunked(t *testing.T) {
	for _, c := range []struct {
		raw  string
		want bool
	}{
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", true},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\ncontent-length: 5\r\n\r\n", true},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", false},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", false},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nX-Content-Length: 5\r\n\r\n", false},
	} {
		if got := ambiguousFraming(parseRequest(t, c.raw)); got != c.want {
			t.Errorf("%q: got %v, want %v", c.raw, got, c.want)
		}
	}
}

func TestRequestIDsAreUniqueHex(t *testing.T) {
	g := newIDGen()
	// From many goroutines at once, as requests on every core make them.
	ids := make(chan string, 40000)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10000; i++ {
				ids <- string(g.append(nil))
			}
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
			t.Fatalf("bad id %q", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
	}
	if a, b := string(newIDGen().append(nil)), string(newIDGen().append(nil)); a[:16] == b[:16] {
		t.Fatalf("two processes would share the prefix %q", a[:16])
	}
}

func TestLimitReaderStopsAtTheLimit(t *testing.T) {
	for _, c := range []struct {
		body  string
		limit int64
		err   error
	}{
		{"12345", 5, nil},
		{"123456", 5, errBodyTooLarge},
		{"", 0, nil},
		{"1", 0, errBodyTooLarge},
	} {
		l := &limitReader{r: strings.NewReader(c.body), left: c.limit}
		got, err := io.ReadAll(l)
		if !errors.Is(err, c.err) {
			t.Errorf("%q limit %d: err %v, want %v", c.body, c.limit, err, c.err)
		}
		if c.err == nil && (string(got) != c.body || l.read != int64(len(c.body))) {
			t.Errorf("%q limit %d: read %q (%d)", c.body, c.limit, got, l.read)
		}
	}
}

func TestAppendIP(t *testing.T) {
	for addr, want := range map[net.Addr]string{
		&net.TCPAddr{IP: net.IPv4(10, 0, 0, 255), Port: 1}: "10.0.0.255",
		&net.TCPAddr{IP: net.ParseIP("::1"), Port: 1}:      "::1",
	} {
		if got := string(appendIP(nil, addr)); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

// TestHandlerAllocatesNothing holds the gateway's own share of the hot path
// to zero allocations: routing, request id, error and direct responses,
// metrics. (The upstream exchange is measured by BenchmarkProxyRoundTrip.)
func TestHandlerAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items, so allocation counts are meaningless under -race")
	}
	serve := benchGateway(t, `
[[routes]]
name = "status"
path = "/status"
direct_response = { status = 200, body = "ok", headers = { "Cache-Control" = "no-store" } }
`)
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	ctx.Init(&req, remote, nil)
	for _, path := range []string{"/status", "/nope"} {
		run := func() {
			ctx.Request.Reset()
			ctx.Response.Reset()
			ctx.Request.Header.SetMethod("GET")
			ctx.Request.SetRequestURI(path)
			ctx.Request.Header.SetHost("api.example.com")
			serve(&ctx)
		}
		run()
		if path == "/nope" && !bytes.Contains(ctx.Response.Body(), []byte(`"no_route"`)) {
			t.Fatalf("unexpected body %s", ctx.Response.Body())
		}
		if n := testing.AllocsPerRun(200, run); n != 0 {
			t.Errorf("%s: %.1f allocs per request, want 0", path, n)
		}
	}
}

func TestHasDotSegment(t *testing.T) {
	for uri, want := range map[string]bool{
		"/":                      false,
		"/static/app.js":         false,
		"/a/b...c/...":           false,
		"/v1.2/users":            false,
		"/a/%41b":                false,
		"/a/b?next=/../x":        false,
		"/a/../b":                true,
		"/a/./b":                 true,
		"/a/..":                  true,
		"/a/.":                   true,
		"/admin/%2e%2e/public/x": true,
		"/admin/%2E./public":     true,
		"/admin%2f..%2fpublic/x": true,
		"/admin%2F.%2Fx":         true,
		"http://h.test/a/../b":   true,
		"http://h.test/a/b.c":    false,
		"http://h.test":          false,
		"/%":                     false,
		"/a%2":                   false,
	} {
		if got := hasDotSegment([]byte(uri)); got != want {
			t.Errorf("hasDotSegment(%q) = %v, want %v", uri, got, want)
		}
	}
}

// BenchmarkDeleteMarked is the header deletes of a typical request: a
// hop-by-hop header and the three X-Forwarded-* names, with no name on
// two lines (plain deletes) and with one (the list rebuilt in order).
// "copy" is the header copy every iteration starts with, to subtract.
func BenchmarkDeleteMarked(b *testing.B) {
	for _, tc := range []struct{ name, extra string }{
		{"copy", ""},
		{"distinct", ""},
		{"repeated", "X-B: 1\r\nX-B: 2\r\n"},
	} {
		var tmpl fasthttp.RequestHeader
		raw := "GET /x HTTP/1.1\r\nHost: api\r\nUser-Agent: b\r\nAccept: */*\r\nKeep-Alive: 5\r\n" +
			"X-Api-Key: k\r\nX-Request-Id: r\r\nX-Forwarded-For: 192.0.2.1\r\n" + tc.extra + "\r\n"
		if err := tmpl.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			var h fasthttp.RequestHeader
			x := getExchange()
			b.ReportAllocs()
			for b.Loop() {
				tmpl.CopyTo(&h)
				if tc.name == "copy" {
					continue
				}
				markHopByHop(x, &h)
				x.del = append(x.del, strForwardedFor, strForwardedProto, strForwardedHost)
				deleteMarked(x, &h, requestApart)
			}
		})
	}
}

// TestEffectiveConfigRedactsURLCredentials: GET /config shows discovery
// endpoints without the password in their URL (etcd's and Consul's
// endpoints may carry one), and the rest of the URL as it is.
func TestEffectiveConfigRedactsURLCredentials(t *testing.T) {
	c := &config.Config{Upstreams: []config.Upstream{
		{Name: "e", Discovery: &config.Discovery{Provider: "etcd", Endpoints: []string{"http://root:etcd-s3cret@10.0.0.1:2379", "http://10.0.0.2:2379"}}},
		{Name: "c", Discovery: &config.Discovery{Provider: "consul", Address: "https://u:consul-s3cret@consul:8501"}},
	}}
	out, err := effectiveConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	body := string(out)
	for _, secret := range []string{"etcd-s3cret", "consul-s3cret"} {
		if strings.Contains(body, secret) {
			t.Errorf("shows %q:\n%s", secret, body)
		}
	}
	for _, want := range []string{"http://root:xxxxx@10.0.0.1:2379", "http://10.0.0.2:2379", "https://u:xxxxx@consul:8501"} {
		if !strings.Contains(body, want) {
			t.Errorf("does not show %q:\n%s", want, body)
		}
	}
	if c.Upstreams[0].Discovery.Endpoints[0] != "http://root:etcd-s3cret@10.0.0.1:2379" {
		t.Error("the running config was changed")
	}
}
