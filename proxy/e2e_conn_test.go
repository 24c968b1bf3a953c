package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestE2EClientConnectionCloseHonoured: a client's Connection: close ends
// its own connection after the response, while the gateway keeps (and
// reuses) its pooled connection to the backend.
func TestE2EClientConnectionCloseHonoured(t *testing.T) {
	be := newRawHTTPBackend(t, nil)
	g := startGateway(t, proxyTo("", "", be.Addr))
	for i := 0; i < 4; i++ {
		c, br := dialRaw(t, g.Addr)
		fmt.Fprintf(c, crlf("GET /close/%d HTTP/1.1\nHost: x\nConnection: close\n\n"), i)
		resp, body := readResp(t, br, "GET")
		if resp.StatusCode != 200 || string(body) != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		if !resp.Close {
			t.Errorf("request %d: response lacks Connection: close", i)
		}
		if !connClosed(c, br, 2*time.Second) {
			t.Errorf("request %d: gateway left the client connection open", i)
		}
	}
	rs := be.Requests()
	if len(rs) != 4 {
		t.Fatalf("backend got %d requests, want 4", len(rs))
	}
	for _, r := range rs {
		if r.Has("Connection") {
			t.Errorf("backend got Connection: %q", r.Values("Connection"))
		}
	}

	// HTTP/1.0 without keep-alive is a close too.
	c, br := dialRaw(t, g.Addr)
	io.WriteString(c, crlf("GET /http10 HTTP/1.0\nHost: x\n\n"))
	resp, _ := readResp(t, br, "GET")
	if resp.StatusCode != 200 || !connClosed(c, br, 2*time.Second) {
		t.Errorf("HTTP/1.0: status %d, connection not closed", resp.StatusCode)
	}

	if n := be.Accepted(); n != 1 {
		t.Errorf("backend accepted %d connections for 5 sequential requests, want 1 (reused): a client's Connection: close must not close the pooled upstream connection", n)
	}
}

// TestE2EKeepAliveManyRequests: many sequential requests on one client
// connection all succeed, and so do pipelined ones.
func TestE2EKeepAliveManyRequests(t *testing.T) {
	be := newRawHTTPBackend(t, func(r *rawReq) string { return okResp("echo " + r.Target()) })
	g := startGateway(t, proxyTo("", "", be.Addr))
	c, br := dialRaw(t, g.Addr)
	const n = 200
	for i := 0; i < n; i++ {
		method, body := "GET", ""
		if i%3 == 1 {
			method, body = "POST", fmt.Sprintf("body-%d", i)
		}
		fmt.Fprintf(c, "%s /ka/%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", method, i, len(body), body)
		resp, got := readResp(t, br, method)
		if want := fmt.Sprintf("echo /ka/%d", i); resp.StatusCode != 200 || string(got) != want {
			t.Fatalf("request %d: %d %q, want 200 %q", i, resp.StatusCode, got, want)
		}
		if resp.Close {
			t.Fatalf("request %d: gateway asked to close", i)
		}
	}
	if got := len(be.Requests()); got != n {
		t.Errorf("backend got %d requests, want %d", got, n)
	}

	t.Run("pipelined", func(t *testing.T) {
		var all strings.Builder
		for i := 0; i < 20; i++ {
			fmt.Fprintf(&all, "GET /pipe/%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
		}
		io.WriteString(c, all.String())
		for i := 0; i < 20; i++ {
			resp, got := readResp(t, br, "GET")
			if want := fmt.Sprintf("echo /pipe/%d", i); resp.StatusCode != 200 || string(got) != want {
				t.Fatalf("pipelined %d: %d %q, want %q", i, resp.StatusCode, got, want)
			}
		}
	})
}

// TestE2EConcurrentRoundRobin: 50 clients x 200 requests, each client on
// its own keep-alive connection, through the gateway to two backends:
// every one succeeds, reaches the right path, and round robin splits them
// evenly.
func TestE2EConcurrentRoundRobin(t *testing.T) {
	const workers, each = 50, 200
	var backends [2]*rawBackend
	for i := range backends {
		name := fmt.Sprintf("b%d", i)
		backends[i] = newRawHTTPBackend(t, func(r *rawReq) string { return okResp(name + " " + r.Target()) })
	}
	g := startGateway(t, proxyTo("", "", backends[0].Addr, backends[1].Addr))
	var failures atomic.Int64
	var firstErr sync.Once
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fail := func(format string, args ...any) {
				failures.Add(1)
				firstErr.Do(func() { t.Errorf(format, args...) })
			}
			c, err := net.DialTimeout("tcp", g.Addr, 5*time.Second)
			if err != nil {
				fail("dial: %v", err)
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(50 * time.Second))
			br := bufio.NewReader(c)
			for i := 0; i < each; i++ {
				path := fmt.Sprintf("/w%d/%d", w, i)
				if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
					fail("GET %s: %v", path, err)
					return
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					fail("GET %s: %v", path, err)
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || !strings.HasSuffix(string(b), " "+path) {
					fail("GET %s: %d %q %v", path, resp.StatusCode, b, err)
				}
			}
		}()
	}
	wg.Wait()
	if f := failures.Load(); f != 0 {
		t.Fatalf("%d of %d requests failed", f, workers*each)
	}
	a, b := int64(len(backends[0].Requests())), int64(len(backends[1].Requests()))
	if a+b != workers*each {
		t.Fatalf("backends got %d+%d requests, want %d", a, b, workers*each)
	}
	half := int64(workers * each / 2)
	if d := a - half; d > half/10 || d < -half/10 {
		t.Errorf("round robin split %d / %d, want each within 10%% of %d", a, b, half)
	}
}
