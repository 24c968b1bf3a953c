package proxy_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
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
