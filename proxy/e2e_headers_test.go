package proxy_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestE2EHopByHopRequestHeadersStripped sends each hop-by-hop header to the
// gateway on a raw connection and looks at the exact header bytes a raw
// backend receives: the hop-by-hop ones are gone, end-to-end ones pass.
func TestE2EHopByHopRequestHeadersStripped(t *testing.T) {
	be := newRawHTTPBackend(t, nil)
	g := startGateway(t, proxyTo("", "", be.Addr))

	cases := []struct {
		name    string
		headers string   // extra request header lines
		gone    []string // must not reach the backend
		kept    []string // must reach the backend ("Name: value")
	}{
		{"connection names a header", "Connection: keep-alive, X-Secret\nX-Secret: s3cret\nX-Custom: c\n",
			[]string{"Connection", "X-Secret"}, []string{"X-Custom: c"}},
		{"connection close names a header", "Connection: close, X-Secret\nX-Secret: s3cret\nX-Custom: c\n",
			[]string{"Connection", "X-Secret"}, []string{"X-Custom: c"}},
		{"connection tokens with odd spacing and case", "Connection: x-one ,X-TWO,  \nX-One: 1\nX-Two: 2\nX-Three: 3\n",
			[]string{"Connection", "X-One", "X-Two"}, []string{"X-Three: 3"}},
		{"keep-alive", "Keep-Alive: timeout=5, max=100\n", []string{"Keep-Alive"}, nil},
		{"te", "TE: trailers\n", []string{"TE"}, nil},
		{"trailer", "Trailer: X-Checksum\n", []string{"Trailer"}, nil},
		{"upgrade on a non-upgrade request", "Upgrade: h2c\n", []string{"Upgrade"}, nil},
		{"proxy-connection", "Proxy-Connection: keep-alive\n", []string{"Proxy-Connection"}, nil},
		{"proxy-authorization", "Proxy-Authorization: Basic dXNlcjpwYXNz\n", []string{"Proxy-Authorization"}, nil},
		{"any proxy- header", "Proxy-Foo: bar\nPROXY-BAR: baz\nX-Custom: kept\n",
			[]string{"Proxy-Foo", "Proxy-Bar"}, []string{"X-Custom: kept"}},
		{"end-to-end headers pass", "X-Custom: a b c\nAuthorization: Bearer t\nAccept: text/plain\nUser-Agent: e2e\nCookie: a=b\n",
			nil, []string{"X-Custom: a b c", "Authorization: Bearer t", "Accept: text/plain", "User-Agent: e2e", "Cookie: a=b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(be.Requests())
			resp, body := rawRoundTrip(t, g.Addr, crlf("GET /h HTTP/1.1\nHost: example.test\n"+tc.headers+"\n"))
			if resp.StatusCode != 200 {
				t.Fatalf("status %d, body %q", resp.StatusCode, body)
			}
			reqs := be.Requests()
			if len(reqs) != before+1 {
				t.Fatalf("backend got %d new requests, want 1", len(reqs)-before)
			}
			r := reqs[len(reqs)-1]
			for _, h := range tc.gone {
				if r.Has(h) {
					t.Errorf("%s reached the backend: %q\nhead:\n%s", h, r.Values(h), r.Head)
				}
			}
			for _, kv := range tc.kept {
				name, val, _ := strings.Cut(kv, ": ")
				if got := r.Values(name); len(got) != 1 || got[0] != val {
					t.Errorf("backend got %s = %q, want [%q]\nhead:\n%s", name, got, val, r.Head)
				}
			}
		})
	}
}

// TestE2EHopByHopRepeatedConnectionHeader: a request may carry the
// Connection field more than once; every field it lists, from every line,
// is hop-by-hop (RFC 9110 section 5.3 and 7.6.1).
func TestE2EHopByHopRepeatedConnectionHeader(t *testing.T) {
	be := newRawHTTPBackend(t, nil)
	g := startGateway(t, proxyTo("", "", be.Addr))
	resp, body := rawRoundTrip(t, g.Addr, crlf("GET /h HTTP/1.1\nHost: example.test\n"+
		"Connection: X-First\nConnection: X-Second\nX-First: 1\nX-Second: 2\n\n"))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d, body %q", resp.StatusCode, body)
	}
	r := be.only(t)
	if r.Has("X-First") || r.Has("X-Second") || r.Has("Connection") {
		t.Errorf("every header a Connection line names must be stripped; backend got:\n%s", r.Head)
	}
}

// TestE2EHopByHopResponseHeadersStripped: the same list, coming back from
// the backend, never reaches the client; end-to-end headers do.
func TestE2EHopByHopResponseHeadersStripped(t *testing.T) {
	cases := []struct {
		name    string
		headers []string // extra response header lines from the backend
		gone    []string
		kept    []string
	}{
		{"connection names a header", []string{"Connection: keep-alive, X-Secret", "X-Secret: s", "X-Custom: c"},
			[]string{"X-Secret"}, []string{"X-Custom: c"}},
		{"keep-alive", []string{"Keep-Alive: timeout=5"}, []string{"Keep-Alive"}, nil},
		{"te", []string{"TE: trailers"}, []string{"TE"}, nil},
		{"trailer", []string{"Trailer: X-Checksum"}, []string{"Trailer"}, nil},
		{"upgrade on a 200", []string{"Upgrade: h2c"}, []string{"Upgrade"}, nil},
		{"proxy-connection", []string{"Proxy-Connection: keep-alive"}, []string{"Proxy-Connection"}, nil},
		{"proxy-authenticate and any proxy- header", []string{"Proxy-Authenticate: Basic realm=x", "Proxy-Foo: bar", "X-Custom: c"},
			[]string{"Proxy-Authenticate", "Proxy-Foo"}, []string{"X-Custom: c"}},
		{"end-to-end headers pass", []string{"X-Custom: a b c", "Cache-Control: no-store", "Set-Cookie: a=b; Path=/", "Content-Type: text/plain"},
			nil, []string{"X-Custom: a b c", "Cache-Control: no-store", "Set-Cookie: a=b; Path=/", "Content-Type: text/plain"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			be := newRawHTTPBackend(t, func(*rawReq) string { return okResp("hello", tc.headers...) })
			g := startGateway(t, proxyTo("", "", be.Addr))
			resp, body := rawRoundTrip(t, g.Addr, crlf("GET / HTTP/1.1\nHost: example.test\n\n"))
			if resp.StatusCode != 200 || string(body) != "hello" {
				t.Fatalf("got %d %q, want 200 hello", resp.StatusCode, body)
			}
			for _, h := range tc.gone {
				if v, ok := resp.Header[http.CanonicalHeaderKey(h)]; ok {
					t.Errorf("%s reached the client: %q", h, v)
				}
			}
			for _, kv := range tc.kept {
				name, val, _ := strings.Cut(kv, ": ")
				if got := resp.Header.Values(name); len(got) != 1 || got[0] != val {
					t.Errorf("client got %s = %q, want [%q]", name, got, val)
				}
			}
			if c := resp.Header.Get("Connection"); c != "" && !strings.EqualFold(c, "close") && !strings.EqualFold(c, "keep-alive") {
				t.Errorf("the backend's Connection header reached the client: %q", c)
			}
		})
	}
}

// TestE2EXForwardedHeaders: X-Forwarded-For is appended to or set,
// X-Forwarded-Proto is the listener's scheme and X-Forwarded-Host the
// client's Host, whatever the client claimed in them.
func TestE2EXForwardedHeaders(t *testing.T) {
	be := newRawHTTPBackend(t, nil)
	g := startGateway(t, proxyTo("", "", be.Addr))
	cases := []struct {
		name              string
		headers           string
		xff, proto, xhost string
	}{
		{"set when absent", "", "127.0.0.1", "http", "example.test"},
		{"appended to a prior value", "X-Forwarded-For: 1.2.3.4\n", "1.2.3.4, 127.0.0.1", "http", "example.test"},
		{"appended to a prior list", "X-Forwarded-For: 1.2.3.4, 5.6.7.8\n", "1.2.3.4, 5.6.7.8, 127.0.0.1", "http", "example.test"},
		{"client's proto and host claims are replaced", "X-Forwarded-Proto: https\nX-Forwarded-Host: evil.test\n",
			"127.0.0.1", "http", "example.test"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(be.Requests())
			resp, _ := rawRoundTrip(t, g.Addr, crlf("GET /x HTTP/1.1\nHost: example.test\n"+tc.headers+"\n"))
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			r := be.Requests()[before]
			for _, c := range []struct{ h, want string }{
				{"X-Forwarded-For", tc.xff}, {"X-Forwarded-Proto", tc.proto}, {"X-Forwarded-Host", tc.xhost},
			} {
				if got := r.Values(c.h); len(got) != 1 || got[0] != c.want {
					t.Errorf("%s = %q, want [%q]", c.h, got, c.want)
				}
			}
		})
	}
	t.Run("host with port", func(t *testing.T) {
		before := len(be.Requests())
		rawRoundTrip(t, g.Addr, crlf("GET /x HTTP/1.1\nHost: example.test:8080\n\n"))
		if got := be.Requests()[before].Get("X-Forwarded-Host"); got != "example.test:8080" {
			t.Errorf("X-Forwarded-Host = %q, want example.test:8080", got)
		}
	})
}

// TestE2ERequestID: an X-Request-Id is generated when the client sends
// none (32 hex digits, new per request), sent to the backend and echoed to
// the client; a client's own id is kept and echoed.
func TestE2ERequestID(t *testing.T) {
	be := newRawHTTPBackend(t, nil)
	g := startGateway(t, proxyTo("", "", be.Addr))
	c := newClient(t)

	seen := map[string]bool{}
	for i := 0; i < 5; i++ {
		resp, _ := doReq(t, c, "GET", g.URL+"/id", nil, nil)
		id := resp.Header.Get("X-Request-Id")
		if !requestIDRe.MatchString(id) {
			t.Fatalf("generated X-Request-Id %q is not 32 hex digits", id)
		}
		if seen[id] {
			t.Fatalf("X-Request-Id %q repeated", id)
		}
		seen[id] = true
		r := be.Requests()[i]
		if got := r.Values("X-Request-Id"); len(got) != 1 || got[0] != id {
			t.Errorf("backend got X-Request-Id %q, client got %q", got, id)
		}
	}

	resp, _ := doReq(t, c, "GET", g.URL+"/id", map[string]string{"X-Request-Id": "client-id-42"}, nil)
	if got := resp.Header.Get("X-Request-Id"); got != "client-id-42" {
		t.Errorf("echoed X-Request-Id = %q, want the client's client-id-42", got)
	}
	rs := be.Requests()
	if got := rs[len(rs)-1].Values("X-Request-Id"); len(got) != 1 || got[0] != "client-id-42" {
		t.Errorf("backend got X-Request-Id %q, want [client-id-42]", got)
	}

	// The backend's own X-Request-Id does not replace the gateway's.
	be2 := newRawHTTPBackend(t, func(*rawReq) string { return okResp("x", "X-Request-Id: from-backend") })
	g2 := startGateway(t, proxyTo("", "", be2.Addr))
	resp, _ = doReq(t, c, "GET", g2.URL+"/id", map[string]string{"X-Request-Id": "mine"}, nil)
	if got := resp.Header.Values("X-Request-Id"); len(got) != 1 || got[0] != "mine" {
		t.Errorf("X-Request-Id = %q, want [mine]", got)
	}
}
