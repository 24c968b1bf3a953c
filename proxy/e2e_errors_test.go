package proxy_test

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// TestE2EUpstreamConnectFailed: a target that refuses connections gives
// 502 upstream_connect_failed.
func TestE2EUpstreamConnectFailed(t *testing.T) {
	g := startGateway(t, proxyTo("", "", closedAddr(t)))
	c := newClient(t)
	for _, method := range []string{"GET", "POST"} {
		resp, body := doReq(t, c, method, g.URL+"/x", nil, nil)
		checkError(t, resp, body, 502, "upstream_connect_failed")
	}
}

// TestE2EUpstreamTimeout: a target that accepts and never answers gives
// 504 upstream_timeout once the route's timeout has passed.
func TestE2EUpstreamTimeout(t *testing.T) {
	be := newRawBackend(t, func(c net.Conn, _ int64) {
		br := bufio.NewReader(c)
		readRawReq(br)
		// Never answer; wait for the gateway (or the cleanup) to close.
		_, _ = br.ReadByte()
	})
	g := startGateway(t, proxyTo("", `timeout = "300ms"`, be.Addr))
	start := time.Now()
	resp, body := doReq(t, newClient(t), "GET", g.URL+"/slow", map[string]string{"X-Request-Id": "timeout-1"}, nil)
	took := time.Since(start)
	e := checkError(t, resp, body, 504, "upstream_timeout")
	if e.RequestID != "timeout-1" {
		t.Errorf("request_id = %q, want the client's timeout-1", e.RequestID)
	}
	if took < 250*time.Millisecond || took > 3*time.Second {
		t.Errorf("answered after %v, want about the route timeout of 300ms", took)
	}
}

// TestE2EUpstreamClosesWithoutAnswer: a target that reads the request and
// hangs up gives a 502 JSON error.
func TestE2EUpstreamClosesWithoutAnswer(t *testing.T) {
	be := newRawHTTPBackend(t, func(*rawReq) string { return "" })
	g := startGateway(t, proxyTo("", "", be.Addr))
	resp, body := doReq(t, newClient(t), "POST", g.URL+"/x", nil, nil)
	checkError(t, resp, body, 502, "upstream_error")
}

// TestE2ENoRoute: a request no route matches gets a 404 no_route JSON
// error that names its request id.
func TestE2ENoRoute(t *testing.T) {
	be := newRawHTTPBackend(t, nil)
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.Addr)+
		"[[routes]]\npath_prefix = \"/only/\"\nupstream = \"backend\"\n")
	c := newClient(t)
	resp, body := doReq(t, c, "GET", g.URL+"/elsewhere", nil, nil)
	e := checkError(t, resp, body, 404, "no_route")
	if !requestIDRe.MatchString(e.RequestID) {
		t.Errorf("generated request_id %q is not 32 hex digits", e.RequestID)
	}
	resp, body = doReq(t, c, "GET", g.URL+"/elsewhere", map[string]string{"X-Request-Id": "mine-404"}, nil)
	if e := checkError(t, resp, body, 404, "no_route"); e.RequestID != "mine-404" {
		t.Errorf("request_id = %q, want mine-404", e.RequestID)
	}
	if n := len(be.Requests()); n != 0 {
		t.Errorf("backend got %d requests", n)
	}
}

// TestE2EErrorBodyEscapesRequestID: the request id is the client's text,
// so the error body must stay valid JSON whatever it contains.
func TestE2EErrorBodyEscapesRequestID(t *testing.T) {
	g := startGateway(t, publicListener)
	id := `a"b\c</script>` + "\u00e9"
	resp, body := doReq(t, newClient(t), "GET", g.URL+"/nothing", map[string]string{"X-Request-Id": id}, nil)
	if e := checkError(t, resp, body, 404, "no_route"); e.RequestID != id {
		t.Errorf("request_id = %q, want %q", e.RequestID, id)
	}
}

// TestE2EAccessLogLine: with the access log on, every request gets one
// JSON line naming its request id, route, target and status.
func TestE2EAccessLogLine(t *testing.T) {
	be := newRawHTTPBackend(t, nil)
	g := startGateway(t, accessLogOn+proxyTo("", "", be.Addr))
	c := newClient(t)
	doReq(t, c, "GET", g.URL+"/logged?x=1", map[string]string{"X-Request-Id": "log-me"}, nil)
	line := g.waitLog(t, `"request_id":"log-me"`)
	want := map[string]any{"log": "access", "route": "all", "target": be.Addr, "method": "GET", "path": "/logged", "status": float64(200)}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("access log %s = %v, want %v (line %v)", k, line[k], v, line)
		}
	}
}
