package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// What a client sends must not steer what the gateway tells the backend
// about it, break the message, or count against a healthy target. Each
// request is sent raw: Go's client would normalise it.

// TestE2EForwardedHeadersOnSeveralLines: the client's X-Forwarded-For
// lines become one list with the gateway's hop last, and its own
// X-Forwarded-Proto and -Host lines, however many, are replaced.
func TestE2EForwardedHeadersOnSeveralLines(t *testing.T) {
	be := newRawHTTPBackend(t, nil)
	g := startGateway(t, proxyTo("", "", be.Addr))
	rawRoundTrip(t, g.Addr, crlf("GET / HTTP/1.1\nHost: example.test\nX-Forwarded-Proto: x\nX-Forwarded-Proto: https\n"+
		"X-Forwarded-Host: a\nX-Forwarded-Host: evil.test\nX-Forwarded-For: 1.1.1.1\nX-Forwarded-For: 6.6.6.6\n\n"))
	r := be.only(t)
	for h, want := range map[string]string{"X-Forwarded-Proto": "http", "X-Forwarded-Host": "example.test",
		"X-Forwarded-For": "1.1.1.1, 6.6.6.6, 127.0.0.1"} {
		if got := r.Values(h); len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want one line %q", h, got, want)
		}
	}
}

// TestE2EDeletesKeepLineOrder: removing a header (a hop-by-hop one, the
// client's X-Forwarded-* lines, a target's X-Request-Id) leaves the lines
// of every other name in order. fasthttp's Del fills the gap with the
// last header: a client's "Connection: keep-alive" ahead of its own
// X-Forwarded-For line would swap that line with the one a proxy in
// front appended, and the client pass for the proxy's client.
func TestE2EDeletesKeepLineOrder(t *testing.T) {
	be := newRawHTTPBackend(t, func(*rawReq) string {
		return okResp("ok", "Keep-Alive: timeout=5", "X-Request-Id: theirs", "X-A: 1", "X-A: 2")
	})
	g := startGateway(t, proxyTo("", "", be.Addr))
	resp, body := rawRoundTrip(t, g.Addr, crlf("GET / HTTP/1.1\nHost: x\nKeep-Alive: timeout=5\nX-Request-Id: r1\nX-B: 1\n"+
		"X-Forwarded-For: 203.0.113.66\nX-B: 2\nX-Forwarded-For: 198.51.100.7\n\n"))
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	r := be.only(t)
	if got := r.Get("X-Forwarded-For"); got != "203.0.113.66, 198.51.100.7, 127.0.0.1" {
		t.Errorf("X-Forwarded-For %q: the lines were reordered", got)
	}
	if got := strings.Join(r.Values("X-B"), ","); got != "1,2" {
		t.Errorf("X-B lines %q, want 1,2", got)
	}
	if got := strings.Join(resp.Header.Values("X-A"), ","); got != "1,2" {
		t.Errorf("response X-A lines %q, want 1,2", got)
	}
	if got := resp.Header.Values("X-Request-Id"); len(got) != 1 || got[0] == "theirs" {
		t.Errorf("X-Request-Id %q, want the gateway's only", got)
	}
}

// TestE2EClientBodyErrorsSparTheTarget: bodies over the limit (413) or
// broken off mid-chunk (400) are the client's fault; they neither count
// as the target's failures, which would eject a healthy target after two,
// nor come back as 502.
func TestE2EClientBodyErrorsSparTheTarget(t *testing.T) {
	be := newRawHTTPBackend(t, nil)
	g := startGateway(t, publicListener+`max_body_bytes = "1KiB"`+"\n"+
		upstreamTOML("backend", "[upstreams.health.passive]\nconsecutive_failures = 2\n", be.Addr)+
		"[[routes]]\npath_prefix = \"/\"\nupstream = \"backend\"\n")
	big := fmt.Sprintf("800\r\n%s\r\n0\r\n\r\n", strings.Repeat("b", 2048))
	for i := 0; i < 2; i++ {
		if resp, body := rawRoundTrip(t, g.Addr, crlf("POST / HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n")+big); resp.StatusCode != 413 {
			t.Fatalf("oversized body: %d %s", resp.StatusCode, body)
		}
	}
	for i := 0; i < 2; i++ {
		resp, body := rawRoundTrip(t, g.Addr, crlf("POST / HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n")+"5\r\nab\r\nzz\r\n0\r\n\r\n")
		if resp.StatusCode != 400 || !strings.Contains(string(body), `"error":"bad_request"`) {
			t.Fatalf("malformed chunked body: %d %s", resp.StatusCode, body)
		}
	}
	if resp, body := rawRoundTrip(t, g.Addr, crlf("GET / HTTP/1.1\nHost: x\n\n")); resp.StatusCode != 200 {
		t.Errorf("healthy target ejected by the clients' bodies: %d %s", resp.StatusCode, body)
	}
}

// TestE2EConnectionCannotNameFraming: a client naming Content-Length in
// Connection does not get the header removed (the upstream request would
// then fail and its target be blamed).
func TestE2EConnectionCannotNameFraming(t *testing.T) {
	be := newRawHTTPBackend(t, nil)
	g := startGateway(t, proxyTo("", "", be.Addr))
	resp, body := rawRoundTrip(t, g.Addr, crlf("POST / HTTP/1.1\nHost: x\nConnection: Content-Length\nContent-Length: 5\n\n")+"hello")
	if resp.StatusCode != 200 || string(be.only(t).Body) != "hello" {
		t.Errorf("got %d %s", resp.StatusCode, body)
	}
}

// TestE2EContentLengthWithTransferEncodingIdentity: Content-Length with
// any Transfer-Encoding is ambiguous framing, refused, never forwarded.
func TestE2EContentLengthWithTransferEncodingIdentity(t *testing.T) {
	be := newRawHTTPBackend(t, nil)
	g := startGateway(t, proxyTo("", "", be.Addr))
	resp, _ := rawRoundTrip(t, g.Addr, crlf("POST / HTTP/1.1\nHost: x\nContent-Length: 5\nTransfer-Encoding: identity\n\n")+"hello")
	if resp.StatusCode != 400 || len(be.Requests()) != 0 {
		t.Errorf("status %d, backend got %d requests; want 400 and none", resp.StatusCode, len(be.Requests()))
	}
}

// TestE2ERequestIDIsOneValue: the request id survives a client naming it
// in Connection, and the client gets the gateway's alone, whatever lines
// of it the backend sent.
func TestE2ERequestIDIsOneValue(t *testing.T) {
	be := newRawHTTPBackend(t, func(*rawReq) string { return okResp("x", "X-Request-Id: a", "X-Request-Id: b") })
	g := startGateway(t, proxyTo("", "", be.Addr))
	resp, _ := rawRoundTrip(t, g.Addr, crlf("GET / HTTP/1.1\nHost: x\nConnection: X-Request-Id\n\n"))
	if got := be.only(t).Values("X-Request-Id"); len(got) != 1 || got[0] != resp.Header.Get("X-Request-Id") {
		t.Errorf("backend got X-Request-Id %q, client %q", got, resp.Header.Get("X-Request-Id"))
	}
	if v := resp.Header.Values("X-Request-Id"); len(v) != 1 {
		t.Errorf("client got X-Request-Id %q", v)
	}
}

// TestE2EPathRewriteSeesThroughEncoding: the router matches the
// normalized path, so the rewrite must too: /%70ublic/secret and
// //public/secret, routed to /public/, are forwarded into /sandbox/ as
// the plain path would be, not as sent, where the backend would decode
// them back to /public/.
func TestE2EPathRewriteSeesThroughEncoding(t *testing.T) {
	be := newRawHTTPBackend(t, nil)
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.Addr)+
		"[[routes]]\npath_prefix = \"/public/\"\nupstream = \"backend\"\npath_rewrite = { regex = '^/public/(.*)$', replacement = '/sandbox/$1' }\n")
	for _, p := range []string{"/public/secret", "/%70ublic/secret", "//public/secret"} {
		n := len(be.Requests())
		rawRoundTrip(t, g.Addr, crlf("GET "+p+"?a=1 HTTP/1.1\nHost: x\n\n"))
		if got := be.Requests()[n].Target(); got != "/sandbox/secret?a=1" {
			t.Errorf("%s forwarded as %q, want /sandbox/secret?a=1", p, got)
		}
	}
}

// TestE2EUpgradeOnlyForBodilessGET: a request that asks for an upgrade
// but is not a bodiless GET (a WebSocket handshake is one) is proxied as
// an ordinary request, so the listener's body limit holds.
func TestE2EUpgradeOnlyForBodilessGET(t *testing.T) {
	be := newRawHTTPBackend(t, func(r *rawReq) string { return okResp(fmt.Sprint(len(r.Body))) })
	g := startGateway(t, proxyTo(`max_body_bytes = "1KiB"`, "", be.Addr))
	resp, body := rawRoundTrip(t, g.Addr, crlf("POST / HTTP/1.1\nHost: x\nConnection: Upgrade\nUpgrade: x\nTransfer-Encoding: chunked\n\n")+
		fmt.Sprintf("10000\r\n%s\r\n0\r\n\r\n", strings.Repeat("b", 0x10000)))
	if resp.StatusCode != 413 {
		t.Errorf("got %d %s, want 413", resp.StatusCode, body)
	}
}

// TestE2EUpgradeRefusalIsBounded: a backend's answer to an upgrade that
// is not a switch is read whole, so only up to a bound: past it the
// client gets 502, not a gateway holding the download in memory.
func TestE2EUpgradeRefusalIsBounded(t *testing.T) {
	be := newRawBackend(t, func(c net.Conn, _ int64) {
		readRawReq(bufio.NewReader(c))
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", 4<<20)
		_, _ = c.Write(make([]byte, 4<<20))
	})
	g := startGateway(t, proxyTo("", "", be.Addr))
	c, br := dialRaw(t, g.Addr)
	_, _ = io.WriteString(c, upgradeReq("/big", ""))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 502 {
		t.Errorf("4 MiB answer to an upgrade: %d, want 502", resp.StatusCode)
	}
}

// TestE2ESwitchDropsHopByHop: a 101 keeps its Connection: Upgrade and
// Upgrade, and loses the backend's other hop-by-hop headers.
func TestE2ESwitchDropsHopByHop(t *testing.T) {
	be := newRawBackend(t, func(c net.Conn, _ int64) {
		br := bufio.NewReader(c)
		readRawReq(br)
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade, X-Internal\r\n"+
			"X-Internal: secret\r\nProxy-Foo: x\r\nKeep-Alive: timeout=1\r\n\r\n")
		_, _ = io.Copy(io.Discard, br)
	})
	g := startGateway(t, proxyTo("", "", be.Addr))
	c, br := dialRaw(t, g.Addr)
	_, _ = io.WriteString(c, upgradeReq("/ws", ""))
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Upgrade") != "websocket" || !strings.EqualFold(resp.Header.Get("Connection"), "Upgrade") {
		t.Fatalf("switch: %d %v", resp.StatusCode, resp.Header)
	}
	for _, h := range []string{"X-Internal", "Proxy-Foo", "Keep-Alive"} {
		if resp.Header.Get(h) != "" {
			t.Errorf("%s reached the client", h)
		}
	}
}

// TestE2EAbortedUploadDoesNotBlameTheTarget: a client that declares a
// large body, sends part of it and hangs up (or stalls) fails its own
// request only: the target is neither ejected nor its circuit opened.
func TestE2EAbortedUploadDoesNotBlameTheTarget(t *testing.T) {
	be := newKillable(t, "be", nil)
	for _, tc := range []struct{ name, extra string }{
		{"passive ejection", "[upstreams.health.passive]\nconsecutive_failures = 1\n"},
		{"circuit breaker", "[upstreams.circuit_breaker]\nconsecutive_failures = 1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startGateway(t, proxyToWith(tc.extra, be.addr))
			for _, size := range []int{200 << 10, 10 << 10} { // streamed, and read whole first
				c, _ := dialRaw(t, g.Addr)
				fmt.Fprintf(c, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size*5)
				c.Write([]byte(strings.Repeat("u", size)))
				time.Sleep(200 * time.Millisecond)
				c.Close()
			}
			time.Sleep(300 * time.Millisecond)
			resp, body := doReq(t, newClient(t), "GET", g.URL+"/x", nil, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("after clients aborted their uploads, a GET got %d %s: the target was blamed", resp.StatusCode, body)
			}
		})
	}
}

// TestE2EDotSegmentsAreRefused: a path with a dot segment, in any
// spelling, is refused with 400 and reaches no target: routes match the
// normalized path, and a target routing on the raw one by prefix would
// take /admin/%2e%2e/public/x for an admin path the gateway matched as
// public. Ordinary dots in names pass.
func TestE2EDotSegmentsAreRefused(t *testing.T) {
	be := newRawHTTPBackend(t, nil)
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.Addr)+`
[[routes]]
name = "public"
path_prefix = "/public/"
upstream = "backend"

[[routes]]
name = "admin"
path_prefix = "/admin/"
direct_response = { status = 403, body = "admin needs auth" }
`)
	for _, target := range []string{
		"/admin/%2e%2e/public/x",
		"/admin%2F..%2Fpublic/x",
		"/admin/../public/x",
		"/public/./x",
	} {
		resp, body := rawRoundTrip(t, g.Addr, crlf("GET "+target+" HTTP/1.1\nHost: x\n\n"))
		checkError(t, resp, body, 400, "bad_request")
	}
	if n := len(be.Requests()); n != 0 {
		t.Fatalf("the target got %d requests with dot segments", n)
	}
	resp, _ := rawRoundTrip(t, g.Addr, crlf("GET /public/app.v1.2.js HTTP/1.1\nHost: x\n\n"))
	if resp.StatusCode != 200 || be.only(t).Target() != "/public/app.v1.2.js" {
		t.Fatalf("a path with dots in names: %d", resp.StatusCode)
	}
}

// TestE2ERequestWithoutHost: an HTTP/1.0 request may come without Host.
// The target gets its own address as Host (there is none to preserve)
// and no empty X-Forwarded-Host. Before, the upstream client refused to
// send it, the client got 502 and the target was charged with the
// failure, so such requests from anyone ejected a healthy target.
func TestE2ERequestWithoutHost(t *testing.T) {
	be := newRawHTTPBackend(t, nil)
	g := startGateway(t, proxyToWith("[upstreams.health.passive]\nconsecutive_failures = 1\n", be.Addr))
	for i := 0; i < 3; i++ {
		if resp, body := rawRoundTrip(t, g.Addr, crlf("GET /old HTTP/1.0\n\n")); resp.StatusCode != 200 {
			t.Fatalf("HTTP/1.0 request without Host: %d %s", resp.StatusCode, body)
		}
	}
	rs := be.Requests()
	if len(rs) != 3 || rs[0].Get("Host") != be.Addr || rs[0].Has("X-Forwarded-Host") {
		t.Fatalf("the target got %d requests; the first with Host %q, X-Forwarded-Host %q",
			len(rs), rs[0].Get("Host"), rs[0].Values("X-Forwarded-Host"))
	}
	// Sent as HTTP/1.1, so the target keeps the pooled connection open.
	if rs[0].Line != "GET /old HTTP/1.1" || be.Accepted() != 1 {
		t.Fatalf("upstream request line %q over %d connections; want HTTP/1.1 over one", rs[0].Line, be.Accepted())
	}
	if resp, body := rawRoundTrip(t, g.Addr, crlf("GET / HTTP/1.1\nHost: x\n\n")); resp.StatusCode != 200 {
		t.Fatalf("after requests without Host: %d %s", resp.StatusCode, body)
	}
}

// TestE2EHeaderNameWithSpaceIsRefused: fasthttp lets "X A: b" through;
// a field name is a token (RFC 9112), so the gateway answers 400, closes
// the connection and forwards nothing.
func TestE2EHeaderNameWithSpaceIsRefused(t *testing.T) {
	be := newRawHTTPBackend(t, nil)
	g := startGateway(t, proxyTo("", "", be.Addr))
	for _, name := range []string{"X A", "Transfer Encoding"} {
		c, br := dialRaw(t, g.Addr)
		io.WriteString(c, crlf("GET / HTTP/1.1\nHost: x\n"+name+": chunked\n\n"))
		resp, body := readResp(t, br, "GET")
		checkError(t, resp, body, 400, "bad_request")
		if !resp.Close || !connClosed(c, br, 2*time.Second) {
			t.Errorf("%q: the connection was kept", name)
		}
	}
	if n := len(be.Requests()); n != 0 {
		t.Fatalf("the target got %d requests", n)
	}
	// A client closing its connection with well-formed headers is served.
	if resp, body := rawRoundTrip(t, g.Addr, crlf("GET / HTTP/1.1\nHost: x\nConnection: close\nX-A: b\n\n")); resp.StatusCode != 200 {
		t.Fatalf("Connection: close: %d %s", resp.StatusCode, body)
	}
}

// TestE2EInvalidHostIsRefused: a Host that is no host[:port] gets 400
// and reaches no target (RFC 9112 3.2); the gateway routes on it and a
// target might build URLs from it, and "a@b" or "a/b" would mean another
// host to one of them (fasthttp refuses some: "/", "?", "#", "%").
// Every form the grammar allows is served.
func TestE2EInvalidHostIsRefused(t *testing.T) {
	be := newRawHTTPBackend(t, nil)
	g := startGateway(t, proxyTo("", "", be.Addr))
	for _, host := range []string{"a@b", "a/b", `a\b`, "a?b", "a#b", `a"b`, "a<b", "a{b}", "\xc3\xbc.test"} {
		resp, body := rawRoundTrip(t, g.Addr, crlf("GET / HTTP/1.1\nHost: "+host+"\n\n"))
		checkError(t, resp, body, 400, "bad_request")
	}
	// The absolute form's host replaces Host and is checked the same way.
	resp, body := rawRoundTrip(t, g.Addr, crlf("GET http://a%2fb/x HTTP/1.1\nHost: x\n\n"))
	checkError(t, resp, body, 400, "bad_request")
	if n := len(be.Requests()); n != 0 {
		t.Fatalf("the target got %d requests", n)
	}
	valid := []string{"api.example.com", "API.Example.com.:8080", "127.0.0.1:80", "[::1]:8080", "a,b", "x_y-z~"}
	for _, host := range valid {
		if resp, body := rawRoundTrip(t, g.Addr, crlf("GET / HTTP/1.1\nHost: "+host+"\n\n")); resp.StatusCode != 200 {
			t.Errorf("Host %q: %d %s", host, resp.StatusCode, body)
		}
	}
	if n := len(be.Requests()); n != len(valid) {
		t.Fatalf("the target got %d requests, want %d", n, len(valid))
	}
}

// TestE2EUnderscoredHeaderNames: a header name with an underscore is
// dropped by default (a CGI-style target reads X_Consumer as the
// X-Consumer an auth policy sets), without reordering the lines of other
// names; "reject" answers 400, "allow" forwards it.
func TestE2EUnderscoredHeaderNames(t *testing.T) {
	be := newRawHTTPBackend(t, nil)
	g := startGateway(t, proxyTo("", "", be.Addr))
	req := crlf("GET / HTTP/1.1\nHost: x\nX_Consumer: admin\nX-Forwarded-For: 192.0.2.1\nX-Forwarded-For: 192.0.2.2\nX-B: 1\nX-B: 2\nx_b: 3\n\n")
	if resp, body := rawRoundTrip(t, g.Addr, req); resp.StatusCode != 200 {
		t.Fatalf("drop: %d %s", resp.StatusCode, body)
	}
	r := be.Requests()[0]
	if v := r.Values("X_Consumer"); len(v) != 0 {
		t.Errorf("X_Consumer forwarded: %q", v)
	}
	if v := r.Values("x_b"); len(v) != 0 {
		t.Errorf("x_b forwarded: %q", v)
	}
	if got := strings.Join(r.Values("X-B"), ","); got != "1,2" {
		t.Errorf("X-B lines %q, want 1,2 in order", got)
	}
	if got := r.Get("X-Forwarded-For"); got != "192.0.2.1, 192.0.2.2, 127.0.0.1" {
		t.Errorf("X-Forwarded-For %q: the client's lines reordered", got)
	}

	for _, tc := range []struct {
		setting string
		status  int
	}{{"reject", 400}, {"allow", 200}} {
		be := newRawHTTPBackend(t, nil)
		g := startGateway(t, proxyTo(`headers_with_underscores = "`+tc.setting+`"`, "", be.Addr))
		resp, body := rawRoundTrip(t, g.Addr, req)
		if tc.status == 400 {
			checkError(t, resp, body, 400, "bad_request")
			if n := len(be.Requests()); n != 0 {
				t.Errorf("reject: the target got %d requests", n)
			}
			continue
		}
		if resp.StatusCode != 200 || be.Requests()[0].Get("X_Consumer") != "admin" {
			t.Errorf("allow: %d, target got X_Consumer %q", resp.StatusCode, be.Requests()[0].Get("X_Consumer"))
		}
	}
}

// TestE2EConnectIsRefused: CONNECT and TRACE get 405 and reach no
// target; a target that is a forward proxy would otherwise turn a pooled
// connection into a tunnel.
func TestE2EConnectIsRefused(t *testing.T) {
	be := newRawHTTPBackend(t, nil)
	g := startGateway(t, proxyTo("", "", be.Addr))
	resp, body := rawRoundTrip(t, g.Addr, crlf("CONNECT example.com:443 HTTP/1.1\nHost: example.com:443\n\n"))
	checkError(t, resp, body, 405, "method_not_allowed")
	// TRACE too: the target's echo would show the client the headers the
	// gateway and its policies added.
	resp, body = rawRoundTrip(t, g.Addr, crlf("TRACE / HTTP/1.1\nHost: x\n\n"))
	checkError(t, resp, body, 405, "method_not_allowed")
	if n := len(be.Requests()); n != 0 {
		t.Fatalf("the target got %d requests", n)
	}
}

// TestE2ETargetAnswersHTTP10: an HTTP/1.0 answer (no length, ended by the
// close) reaches an HTTP/1.1 client with the gateway's HTTP/1.1 status
// line, so the chunked framing the gateway gives it is one the client
// reads; before, the target's "HTTP/1.0" went out with a chunked body.
func TestE2ETargetAnswersHTTP10(t *testing.T) {
	be := newRawBackend(t, func(c net.Conn, _ int64) {
		defer c.Close()
		if _, err := readRawReq(bufio.NewReader(c)); err == nil {
			io.WriteString(c, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the close")
		}
	})
	g := startGateway(t, proxyTo("", "", be.Addr))
	c, br := dialRaw(t, g.Addr)
	io.WriteString(c, crlf("GET / HTTP/1.1\nHost: x\n\n"))
	resp, body := readResp(t, br, "GET")
	if resp.Proto != "HTTP/1.1" || resp.StatusCode != 200 || string(body) != "until the close" {
		t.Fatalf("got %s %d %q", resp.Proto, resp.StatusCode, body)
	}
}

// TestE2EUnrelayableAnswersAre502: answers a client must not get become
// 502: a 101 to a request that asked for no upgrade (a switch would leave
// the client waiting for another protocol), and a header line whose name
// has a space (no header to an RFC 9112 client; Go's refuses the whole
// response; nginx answers 502 too).
func TestE2EUnrelayableAnswersAre502(t *testing.T) {
	for name, answer := range map[string]string{
		"unasked switch":     "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
		"spaced header name": "HTTP/1.1 200 OK\r\nX Broken: 1\r\nContent-Length: 2\r\n\r\nok",
	} {
		t.Run(name, func(t *testing.T) {
			be := newRawHTTPBackend(t, func(*rawReq) string { return answer })
			g := startGateway(t, proxyTo("", "", be.Addr))
			resp, body := rawRoundTrip(t, g.Addr, crlf("GET / HTTP/1.1\nHost: x\n\n"))
			checkError(t, resp, body, 502, "upstream_error")
		})
	}
}

// TestE2EAbsoluteFormNamesTheHost: in GET http://b.test/x the target's
// authority wins over the Host header (RFC 9112 3.2.2), for routing and
// for the target alike; a proxy in front that reads it so must not see
// the request go to another route than it expects.
func TestE2EAbsoluteFormNamesTheHost(t *testing.T) {
	be := newRawHTTPBackend(t, nil)
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.Addr)+`
[[routes]]
hosts = ["a.test"]
path_prefix = "/"
direct_response = { status = 403, body = "a.test" }
[[routes]]
hosts = ["b.test"]
path_prefix = "/"
upstream = "backend"
`)
	resp, body := rawRoundTrip(t, g.Addr, crlf("GET http://b.test/x?q=1 HTTP/1.1\nHost: a.test\n\n"))
	if resp.StatusCode != 200 {
		t.Fatalf("absolute form for b.test with Host a.test: %d %s", resp.StatusCode, body)
	}
	if r := be.only(t); r.Get("Host") != "b.test" || r.Target() != "/x?q=1" {
		t.Fatalf("the target got Host %q, target %q", r.Get("Host"), r.Target())
	}
}

// TestE2EHTTP10ClientGetsNoChunks: a body the target sends without a
// length (chunked, or ended by its close) reaches an HTTP/1.0 client with
// a Content-Length; fasthttp would frame it as chunked, which such a
// client reads as part of the body.
func TestE2EHTTP10ClientGetsNoChunks(t *testing.T) {
	be := newRawHTTPBackend(t, func(*rawReq) string {
		return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
	})
	g := startGateway(t, proxyTo("", "", be.Addr))
	c, br := dialRaw(t, g.Addr)
	io.WriteString(c, crlf("GET / HTTP/1.0\nHost: x\n\n"))
	resp, body := readResp(t, br, "GET")
	if resp.StatusCode != 200 || len(resp.TransferEncoding) != 0 || resp.ContentLength != 11 || string(body) != "hello world" {
		t.Fatalf("HTTP/1.0 client: %d, Transfer-Encoding %v, Content-Length %d, body %q",
			resp.StatusCode, resp.TransferEncoding, resp.ContentLength, body)
	}
	// An HTTP/1.1 client still gets the body as it streams.
	resp, body = rawRoundTrip(t, g.Addr, crlf("GET / HTTP/1.1\nHost: x\n\n"))
	if len(resp.TransferEncoding) != 1 || string(body) != "hello world" {
		t.Fatalf("HTTP/1.1 client: Transfer-Encoding %v, body %q", resp.TransferEncoding, body)
	}
}

// TestE2ERequestTrailersAreNotForwarded: fields a client sends after a
// chunked body never reach the target, whether the body streams through
// (small or large) or a plugin read it whole; before, they went on as
// trailers (which a fasthttp target merges into the headers) or, after a
// body-reading plugin, as header lines: an X-Consumer next to the one
// key-auth set. The header section's own line of that name stays, and no
// Content-Type the client did not send is added.
func TestE2ERequestTrailersAreNotForwarded(t *testing.T) {
	be := newRawHTTPBackend(t, nil)
	g := startGateway(t, proxyTo("", "", be.Addr)+fmt.Sprintf(`
[[plugins]]
name = "rv"
module = %q
config = '{"max_body_bytes": 1000}'
[[routes]]
path_prefix = "/read/"
upstream = "backend"
plugins = ["rv"]
`, builtPlugin(t, "request_validation.wasm")))
	for _, tc := range []struct{ path, body string }{
		{"/small", "hello"},
		{"/large", strings.Repeat("a", 100000)},
		{"/read/x", "hello"},
	} {
		before := len(be.Requests())
		c, br := dialRaw(t, g.Addr)
		io.WriteString(c, crlf("POST "+tc.path+" HTTP/1.1\nHost: x\nX-Consumer: bob\nTrailer: X-Consumer\nTransfer-Encoding: chunked\n\n")+
			fmt.Sprintf("%x\r\n%s\r\n0\r\nX-Consumer: admin\r\n\r\n", len(tc.body), tc.body))
		if resp, body := readResp(t, br, "POST"); resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", tc.path, resp.StatusCode, body)
		}
		r := be.Requests()[before]
		raw := r.Head + r.Trailer
		if strings.Contains(raw, "admin") || strings.Count(raw, "X-Consumer: bob") != 1 || strings.Contains(raw, "Content-Type") {
			t.Errorf("%s: the target got:\n%s", tc.path, raw[:min(len(raw), 600)])
		}
	}
}
