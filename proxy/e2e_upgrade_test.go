package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// upgradeReq is a WebSocket handshake request; extra is more header lines.
func upgradeReq(path, extra string) string {
	return crlf("GET " + path + " HTTP/1.1\nHost: ws.test\nUpgrade: websocket\nConnection: Upgrade\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 13\n" + extra + "\n")
}

// newEchoUpgradeBackend answers every upgrade request with 101, sends a
// greeting, then echoes bytes until the gateway half-closes, and records
// the handshake it got.
func newEchoUpgradeBackend(t *testing.T) *rawBackend {
	var b *rawBackend
	b = newRawBackend(t, func(c net.Conn, n int64) {
		br := bufio.NewReader(c)
		r, err := readRawReq(br)
		if err != nil {
			return
		}
		r.Conn = n
		b.record(r)
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\nhello-from-backend\n")
		io.Copy(c, br)
		c.(*net.TCPConn).CloseWrite()
	})
	return b
}

// TestE2EWebSocketPassThrough: after the backend's 101 the gateway splices
// the two connections: bytes flow both ways, including what the backend
// sent right behind its 101, and a half-close travels through.
func TestE2EWebSocketPassThrough(t *testing.T) {
	be := newEchoUpgradeBackend(t)
	g := startGateway(t, proxyTo("", "", be.Addr))
	c, br := dialRaw(t, g.Addr)
	io.WriteString(c, upgradeReq("/chat?room=1", "X-Custom: ws\n"))
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") || !strings.EqualFold(resp.Header.Get("Connection"), "upgrade") {
		t.Errorf("101 lacks Upgrade/Connection: %v", resp.Header)
	}
	if resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("Sec-WebSocket-Accept = %q", resp.Header.Get("Sec-WebSocket-Accept"))
	}
	if !requestIDRe.MatchString(resp.Header.Get("X-Request-Id")) {
		t.Errorf("101 has X-Request-Id %q", resp.Header.Get("X-Request-Id"))
	}

	hs := be.only(t)
	if hs.Target() != "/chat?room=1" || !strings.EqualFold(hs.Get("Upgrade"), "websocket") ||
		!strings.Contains(strings.ToLower(hs.Get("Connection")), "upgrade") {
		t.Errorf("backend handshake:\n%s\n%s", hs.Line, hs.Head)
	}
	for h, v := range map[string]string{"X-Custom": "ws", "Sec-WebSocket-Version": "13", "X-Forwarded-For": "127.0.0.1", "X-Forwarded-Host": "ws.test"} {
		if got := hs.Get(h); got != v {
			t.Errorf("backend handshake %s = %q, want %q", h, got, v)
		}
	}
	if hs.Get("X-Request-Id") != resp.Header.Get("X-Request-Id") {
		t.Errorf("backend X-Request-Id %q, client %q", hs.Get("X-Request-Id"), resp.Header.Get("X-Request-Id"))
	}

	line, err := br.ReadString('\n')
	if err != nil || line != "hello-from-backend\n" {
		t.Fatalf("first bytes after 101: %q, %v", line, err)
	}
	for _, msg := range []string{"ping-1\n", "ping-2\n"} {
		io.WriteString(c, msg)
		got, err := br.ReadString('\n')
		if err != nil || got != msg {
			t.Fatalf("echo of %q: %q, %v", msg, got, err)
		}
	}
	// A larger message, written and read concurrently.
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	go c.Write(big)
	got := make([]byte, len(big))
	if _, err := io.ReadFull(br, got); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("1 MiB echo: %v, equal %v", err, bytes.Equal(got, big))
	}
	// Half-close: the backend sees EOF, stops echoing and closes; the
	// client then sees EOF.
	c.(*net.TCPConn).CloseWrite()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	rest, err := io.ReadAll(br)
	if err != nil || len(rest) != 0 {
		t.Errorf("after half-close: %q, %v; want a clean EOF", rest, err)
	}
}

// TestE2EUpgradeRefusedByBackend: a backend that answers the handshake
// with an ordinary response has it relayed as such; the client connection
// stays usable.
func TestE2EUpgradeRefusedByBackend(t *testing.T) {
	be := newRawHTTPBackend(t, func(r *rawReq) string {
		if r.Has("Upgrade") {
			return rawResp("400 Bad Request", "no upgrade for you", "X-Custom: refused", "Content-Type: text/plain")
		}
		return okResp("plain")
	})
	g := startGateway(t, proxyTo("", "", be.Addr))
	c, br := dialRaw(t, g.Addr)
	io.WriteString(c, upgradeReq("/ws", ""))
	resp, body := readResp(t, br, "GET")
	if resp.StatusCode != 400 || string(body) != "no upgrade for you" || resp.Header.Get("X-Custom") != "refused" {
		t.Fatalf("got %d %q X-Custom=%q, want the backend's 400", resp.StatusCode, body, resp.Header.Get("X-Custom"))
	}
	if !requestIDRe.MatchString(resp.Header.Get("X-Request-Id")) {
		t.Errorf("X-Request-Id %q", resp.Header.Get("X-Request-Id"))
	}
	io.WriteString(c, crlf("GET /after HTTP/1.1\nHost: x\n\n"))
	resp, body = readResp(t, br, "GET")
	if resp.StatusCode != 200 || string(body) != "plain" {
		t.Errorf("next request on the connection: %d %q", resp.StatusCode, body)
	}
}

// TestE2EUpgradeAnswersCarryOneRequestID: a target's X-Request-Id lines,
// one or several, give way to the gateway's id on the answers to an
// upgrade request too, the 101 and a refusal alike, as on any response.
func TestE2EUpgradeAnswersCarryOneRequestID(t *testing.T) {
	ids := []string{"X-Request-Id: target-1", "X-Request-Id: target-2"}
	be := newRawBackend(t, func(c net.Conn, _ int64) {
		r, err := readRawReq(bufio.NewReader(c))
		if err != nil {
			return
		}
		if r.Target() == "/refuse" {
			io.WriteString(c, rawResp("403 Forbidden", "no", ids...))
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			strings.Join(ids, "\r\n")+"\r\n\r\n")
		c.(*net.TCPConn).CloseWrite()
	})
	g := startGateway(t, proxyTo("", "", be.Addr))
	for _, path := range []string{"/ws", "/refuse"} {
		c, br := dialRaw(t, g.Addr)
		io.WriteString(c, upgradeReq(path, "X-Request-Id: client-7\n"))
		resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if got := resp.Header.Values("X-Request-Id"); len(got) != 1 || got[0] != "client-7" {
			t.Errorf("%s: status %d, X-Request-Id %q, want [client-7]", path, resp.StatusCode, got)
		}
		c.Close()
	}
}

// TestE2EUpgradeStripsHopByHop: an upgrade request keeps Upgrade and
// Connection: upgrade, but the other hop-by-hop headers, credentials
// for the proxy above all, still must not reach the backend.
func TestE2EUpgradeStripsHopByHop(t *testing.T) {
	be := newEchoUpgradeBackend(t)
	g := startGateway(t, proxyTo("", "", be.Addr))
	c, br := dialRaw(t, g.Addr)
	io.WriteString(c, crlf("GET /ws HTTP/1.1\nHost: ws.test\nUpgrade: websocket\nConnection: Upgrade, X-Secret\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 13\n"+
		"X-Secret: s\nProxy-Authorization: Basic dXNlcjpwYXNz\nProxy-Foo: bar\nKeep-Alive: timeout=5\nTE: trailers\n\n"))
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	hs := be.only(t)
	var leaked []string
	for _, h := range []string{"X-Secret", "Proxy-Authorization", "Proxy-Foo", "Keep-Alive", "TE"} {
		if hs.Has(h) {
			leaked = append(leaked, h)
		}
	}
	if len(leaked) > 0 {
		t.Errorf("%s reached the backend; handshake:\n%s", strings.Join(leaked, ", "), hs.Head)
	}
}

// TestE2EUpgradeUpstreamErrors: the handshake fails like any request:
// 502 when the target refuses, 504 when it never answers.
func TestE2EUpgradeUpstreamErrors(t *testing.T) {
	t.Run("connect refused", func(t *testing.T) {
		g := startGateway(t, proxyTo("", "", closedAddr(t)))
		resp, body := rawRoundTrip(t, g.Addr, upgradeReq("/ws", ""))
		checkError(t, resp, body, 502, "upstream_connect_failed")
	})
	t.Run("never answers", func(t *testing.T) {
		be := newRawBackend(t, func(c net.Conn, _ int64) {
			br := bufio.NewReader(c)
			readRawReq(br)
			br.ReadByte()
		})
		g := startGateway(t, proxyTo("", `timeout = "300ms"`, be.Addr))
		start := time.Now()
		resp, body := rawRoundTrip(t, g.Addr, upgradeReq("/ws", ""))
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("answered after %v, want about the route timeout of 300ms", took)
		}
		checkError(t, resp, body, 504, "upstream_timeout")
	})
}

// newHoldingUpgradeBackend switches protocols, echoes until EOF and then
// neither sends nor closes: the backend a tunnel must not wait on
// forever. ended gets each connection's end as the backend sees it.
func newHoldingUpgradeBackend(t *testing.T) (*rawBackend, chan error) {
	ended := make(chan error, 8)
	stop := make(chan struct{})
	b := newRawBackend(t, func(c net.Conn, n int64) {
		br := bufio.NewReader(c)
		if _, err := readRawReq(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		_, err := io.Copy(c, br)
		ended <- err
		<-stop
	})
	// Registered after newRawBackend's, so run before it: that one
	// waits for the handlers.
	t.Cleanup(func() { close(stop) })
	return b, ended
}

// openTunnel makes a WebSocket handshake through the gateway at addr.
func openTunnel(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, br := dialRaw(t, addr)
	io.WriteString(c, upgradeReq("/ws", ""))
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	return c, br
}

// echo sends msg down the tunnel and reads it back.
func echo(t *testing.T, c net.Conn, br *bufio.Reader, msg string) {
	t.Helper()
	io.WriteString(c, msg+"\n")
	if got, err := br.ReadString('\n'); err != nil || got != msg+"\n" {
		t.Fatalf("echo of %q: %q, %v", msg, got, err)
	}
}

// TestE2ETunnelIdleTimeout: a tunnel that carries nothing either way for
// the listener's tunnel_idle_timeout is closed on both sides, half-closed
// or not; one that keeps carrying bytes lives past it.
func TestE2ETunnelIdleTimeout(t *testing.T) {
	be, ended := newHoldingUpgradeBackend(t)
	g := startGateway(t, proxyTo(`tunnel_idle_timeout = "400ms"`, "", be.Addr))

	// Busy for three idle periods: open all along.
	c, br := openTunnel(t, g.Addr)
	start := time.Now()
	var silent time.Time
	for time.Since(start) < 1200*time.Millisecond {
		time.Sleep(100 * time.Millisecond)
		echo(t, c, br, "tick")
		silent = time.Now()
	}

	// Then silent: closed after about the idle time, both sides.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Fatalf("silent tunnel: %q, %v; want EOF", rest, err)
	}
	if d := time.Since(silent); d < 350*time.Millisecond || d > 5*time.Second {
		t.Errorf("silent tunnel closed after %v, want about 400ms", d)
	}
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the backend's side of the idle tunnel stayed open")
	}

	// Half-closed by the client, the backend holding its side open and
	// silent: closed after the idle time too.
	c, br = openTunnel(t, g.Addr)
	echo(t, c, br, "last")
	c.(*net.TCPConn).CloseWrite()
	select {
	case err := <-ended:
		if err != nil {
			t.Fatalf("backend saw %v, want the client's half-close as EOF", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the client's half-close did not reach the backend")
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Errorf("half-closed tunnel: %q, %v; want EOF after the idle time", rest, err)
	}
}

// TestE2ETunnelsCountAsConnections: tunnels count against the listener's
// max_connections and in wasmgate_open_connections; a connection beyond
// the limit gets a 503 with a JSON error, and one is taken again once a
// tunnel ends.
func TestE2ETunnelsCountAsConnections(t *testing.T) {
	be := newEchoUpgradeBackend(t)
	g := startGateway(t, "[[listeners]]\nname = \"tunnel-limit\"\nlisten = \"127.0.0.1:0\"\nmax_connections = 2\n"+
		upstreamTOML("backend", "", be.Addr)+"[[routes]]\npath_prefix = \"/\"\nupstream = \"backend\"\n")
	g.Addr = g.G.ListenerAddr("tunnel-limit")
	g.URL = "http://" + g.Addr
	var tunnels []net.Conn
	for range 2 {
		c, br := openTunnel(t, g.Addr)
		if line, err := br.ReadString('\n'); err != nil || line != "hello-from-backend\n" {
			t.Fatalf("tunnel greeting: %q %v", line, err)
		}
		tunnels = append(tunnels, c)
	}
	_, metricsBody := doReq(t, newClient(t), "GET", g.AdminURL+"/metrics", nil, nil)
	if !strings.Contains(string(metricsBody), `wasmgate_open_connections{listener="tunnel-limit"} 2`) {
		t.Errorf("metrics while two tunnels are open:\n%s", grepLines(string(metricsBody), "tunnel-limit"))
	}

	c, br := dialRaw(t, g.Addr)
	io.WriteString(c, crlf("GET /x HTTP/1.1\nHost: x\n\n"))
	resp, body := readResp(t, br, "GET")
	if resp.StatusCode != 503 || !strings.Contains(string(body), `"error":"too_many_connections"`) ||
		resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("third connection: %d %q, want 503 too_many_connections", resp.StatusCode, body)
	}
	_, after := doReq(t, newClient(t), "GET", g.AdminURL+"/metrics", nil, nil)
	if n, m := refusedCount(metricsBody), refusedCount(after); m != n+1 {
		t.Errorf("refused connections %d -> %d, want one more:\n%s", n, m, grepLines(string(after), "tunnel-limit"))
	}

	tunnels[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := newClient(t).Get(g.URL + "/x")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 503 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection taken after a tunnel ended: %v %v", resp, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestE2EShutdownWaitsForTunnels: a stop lets open tunnels go on for the
// grace period, as it lets requests in flight finish, returns as soon as
// they have ended, and closes those still open when the grace is over.
func TestE2EShutdownWaitsForTunnels(t *testing.T) {
	be := newEchoUpgradeBackend(t)
	stop := func(g *gw, grace time.Duration) chan time.Duration {
		done := make(chan time.Duration, 1)
		go func() {
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), grace)
			defer cancel()
			_ = g.G.Shutdown(ctx)
			done <- time.Since(start)
		}()
		return done
	}

	// Open past the grace: closed at its end.
	g := startGateway(t, proxyTo("", "", be.Addr))
	c, br := openTunnel(t, g.Addr)
	if line, err := br.ReadString('\n'); err != nil || line != "hello-from-backend\n" {
		t.Fatalf("greeting: %q %v", line, err)
	}
	stopped := stop(g, 700*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	echo(t, c, br, "during the grace")
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Fatalf("tunnel at the grace's end: %q, %v; want EOF", rest, err)
	}
	select {
	case d := <-stopped:
		if d < 600*time.Millisecond {
			t.Errorf("stop returned after %v, before the grace was over", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stop did not return")
	}

	// Ended early: the stop returns then.
	g = startGateway(t, proxyTo("", "", be.Addr))
	c, br = openTunnel(t, g.Addr)
	if line, err := br.ReadString('\n'); err != nil || line != "hello-from-backend\n" {
		t.Fatalf("greeting: %q %v", line, err)
	}
	stopped = stop(g, 10*time.Second)
	time.Sleep(200 * time.Millisecond)
	c.Close()
	select {
	case d := <-stopped:
		if d > 3*time.Second {
			t.Errorf("stop took %v after the tunnel ended", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stop did not return once the tunnel ended")
	}
}

// refusedCount is wasmgate_refused_connections_total of the listener
// tunnel-limit in a metrics page (metrics outlive a gateway in a process).
func refusedCount(page []byte) int {
	for _, line := range strings.Split(string(page), "\n") {
		if v, ok := strings.CutPrefix(line, `wasmgate_refused_connections_total{listener="tunnel-limit"} `); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}
