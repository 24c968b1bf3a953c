package proxy_test

// End-to-end harness: a real gateway built from a TOML string, real
// backends on loopback (net/http/httptest servers, or raw TCP servers that
// show the exact bytes that arrive and can misbehave), and raw clients for
// framing tests. Every E2E test is named TestE2E... so
//
//	go test -race -count=1 ./proxy/ -run E2E
//
// selects them. Other e2e_*_test.go files build on the helpers here.

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmgate/wasmgate/pluginhost"
	"github.com/wasmgate/wasmgate/proxy"
)

// ---------------------------------------------------------------------------
// Gateway

// gw is a running gateway started by startGateway.
type gw struct {
	G        *proxy.Gateway
	Dir      string // the test's TempDir; the config and log live here
	Config   string // path of the TOML file (rewrite it and call G.Reload)
	LogPath  string // where log.output points unless the TOML says otherwise
	Addr     string // host:port of the listener named "public" ("" if none)
	URL      string // "http://" + Addr
	AdminURL string // "http://" + admin address ("" if the admin API is off)
}

// Snippets for the TOML given to startGateway.
const (
	// publicListener is a plain listener on a free loopback port.
	publicListener = "[[listeners]]\nname = \"public\"\nlisten = \"127.0.0.1:0\"\n"
	// accessLogOn replaces the harness' default [log] table: access log on,
	// written to {{log}} (see gw.waitLog).
	accessLogOn = "[log]\nlevel = \"error\"\naccess_log = true\noutput = \"{{log}}\"\n"
)

// startGateway writes tomlText into a TempDir, starts a gateway from it
// and shuts it down when the test ends.
//
// Unless the text has tables of its own, the harness adds
//
//	[admin] listen = "127.0.0.1:0"
//	[log]   level = "error", access_log = false, output = {{log}}
//
// In the text, {{dir}} is replaced by the TempDir and {{log}} by the log
// file's path. Listeners should say listen = "127.0.0.1:0"; the "public"
// one's address is in gw.Addr, others via gw.G.ListenerAddr(name).
func startGateway(t testing.TB, tomlText string) *gw {
	t.Helper()
	dir := t.TempDir()
	g := &gw{Dir: dir, Config: filepath.Join(dir, "gateway.toml"), LogPath: filepath.Join(dir, "gateway.log")}
	var pre strings.Builder
	if !strings.Contains(tomlText, "[admin]") {
		pre.WriteString("[admin]\nlisten = \"127.0.0.1:0\"\n\n")
	}
	if !strings.Contains(tomlText, "[log]") {
		pre.WriteString("[log]\nlevel = \"error\"\naccess_log = false\noutput = \"{{log}}\"\n\n")
	}
	text := pre.String() + tomlText
	text = strings.ReplaceAll(text, "{{dir}}", filepath.ToSlash(dir))
	text = strings.ReplaceAll(text, "{{log}}", filepath.ToSlash(g.LogPath))
	if err := os.WriteFile(g.Config, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	gateway := runGateway(t, g.Config)
	g.G = gateway
	if a := gateway.ListenerAddr("public"); a != "" {
		g.Addr, g.URL = a, "http://"+a
	}
	if a := gateway.AdminAddr(); a != "" {
		g.AdminURL = "http://" + a
	}
	return g
}

// runGateway starts a gateway from the config file at path and shuts it
// down when the test ends.
func runGateway(t testing.TB, path string) *proxy.Gateway {
	t.Helper()
	gateway, err := proxy.New(proxy.Options{ConfigPath: path})
	if err != nil {
		text, _ := os.ReadFile(path)
		t.Fatalf("proxy.New: %v\nconfig:\n%s", err, text)
	}
	if err := gateway.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := gateway.Shutdown(ctx); err != nil {
			t.Logf("gateway shutdown: %v", err)
		}
	})
	return gateway
}

// logText is what the gateway has written to LogPath so far. The gateway
// flushes its log every 100ms.
func (g *gw) logText(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(g.LogPath)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// waitLog waits (up to 3s) for a log line containing every one of subs and
// returns it decoded as JSON.
func (g *gw) waitLog(t testing.TB, subs ...string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		for _, line := range strings.Split(g.logText(t), "\n") {
			ok := line != ""
			for _, s := range subs {
				ok = ok && strings.Contains(line, s)
			}
			if ok {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("log line is not JSON: %v: %s", err, line)
				}
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line containing %q; log:\n%s", subs, g.logText(t))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// proxyTo is the smallest useful config: the public listener and one
// catch-all route to an upstream "backend" with the given targets.
// listenerExtra/routeExtra are TOML lines added to those tables.
func proxyTo(listenerExtra, routeExtra string, targets ...string) string {
	return publicListener + listenerExtra + "\n" +
		upstreamTOML("backend", "", targets...) +
		"[[routes]]\nname = \"all\"\npath_prefix = \"/\"\nupstream = \"backend\"\n" + routeExtra + "\n"
}

// pluginRoute declares plugin name (module, and extra TOML lines for its
// table) and a catch-all route to the upstream "backend" through it.
func pluginRoute(name, module, extra string) string {
	return fmt.Sprintf("\n[[plugins]]\nname = %q\nmodule = %q\n%s[[routes]]\npath_prefix = \"/\"\nupstream = \"backend\"\nplugins = [%q]\n",
		name, module, extra, name)
}

// upstreamTOML declares an upstream; extra is TOML lines for its table.
func upstreamTOML(name, extra string, targets ...string) string {
	q := make([]string, len(targets))
	for i, a := range targets {
		q[i] = strconv.Quote(a)
	}
	return fmt.Sprintf("[[upstreams]]\nname = %q\ntargets = [%s]\nconnect_timeout = \"1s\"\ntimeout = \"10s\"\n%s\n",
		name, strings.Join(q, ", "), extra)
}

// ---------------------------------------------------------------------------
// Clients

// newClient is an HTTP client for the gateway that does not follow
// redirects nor ask for compression, with a generous idle pool.
func newClient(t testing.TB) *http.Client {
	tr := &http.Transport{
		DisableCompression:  true,
		MaxIdleConnsPerHost: 128,
		ForceAttemptHTTP2:   false,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// adminPlugins is GET /plugins on the gateway's admin API, by name.
func adminPlugins(t testing.TB, c *http.Client, g *gw) map[string]pluginhost.Stats {
	t.Helper()
	_, body := doReq(t, c, "GET", g.AdminURL+"/plugins", nil, nil)
	var list []pluginhost.Stats
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatalf("/plugins: %v %s", err, body)
	}
	m := map[string]pluginhost.Stats{}
	for _, p := range list {
		m[p.Name] = p
	}
	return m
}

// doReq does one request with c and returns the response with
// its body read.
func doReq(t testing.TB, c *http.Client, method, url string, hdr map[string]string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp, b
}

// dialRaw opens a TCP connection to addr, closed when the test ends.
func dialRaw(t testing.TB, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return c, bufio.NewReader(c)
}

// readResp reads one response (and its whole body) from br. method is
// the request's, so a HEAD response is read without a body.
func readResp(t testing.TB, br *bufio.Reader, method string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading response body: %v", err)
	}
	return resp, b
}

// rawRoundTrip writes raw (a whole request, CRLFs included) on a new
// connection to addr and reads one response.
func rawRoundTrip(t testing.TB, addr, raw string) (*http.Response, []byte) {
	t.Helper()
	c, br := dialRaw(t, addr)
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	method, _, _ := strings.Cut(raw, " ")
	return readResp(t, br, method)
}

// crlf turns "\n" into "\r\n", so raw requests can be written readably.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// connClosed reports whether the peer closed c (EOF within wait).
func connClosed(c net.Conn, br *bufio.Reader, wait time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	_, err := br.ReadByte()
	_ = c.SetReadDeadline(time.Time{})
	if err == nil {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return true // io.EOF or a reset
}

// ---------------------------------------------------------------------------
// Gateway error bodies

// errorBody is the JSON every gateway-generated error carries.
type errorBody struct {
	Error     string `json:"error"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

// checkError asserts resp is a gateway error: status, JSON content type,
// exactly the three fields, code, a message, and request_id equal to the
// X-Request-Id response header.
func checkError(t testing.TB, resp *http.Response, body []byte, status int, code string) errorBody {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status = %d, want %d; body %q", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("error body is not JSON: %v: %q", err, body)
	}
	for _, k := range []string{"error", "message", "request_id"} {
		if _, ok := raw[k].(string); !ok {
			t.Errorf("error body lacks string field %q: %s", k, body)
		}
	}
	if len(raw) != 3 {
		t.Errorf("error body has %d fields, want error/message/request_id: %s", len(raw), body)
	}
	var e errorBody
	_ = json.Unmarshal(body, &e)
	if e.Error != code {
		t.Errorf("error = %q, want %q (body %s)", e.Error, code, body)
	}
	if e.Message == "" {
		t.Errorf("empty message: %s", body)
	}
	if id := resp.Header.Get("X-Request-Id"); e.RequestID == "" || e.RequestID != id {
		t.Errorf("request_id = %q, X-Request-Id header = %q; want equal and non-empty", e.RequestID, id)
	}
	return e
}

var requestIDRe = regexp.MustCompile(`^[0-9a-f]{32}$`)

// ---------------------------------------------------------------------------
// Backends

// rawReq is one request as a raw backend received it, header bytes intact.
type rawReq struct {
	Line    string      // request line, e.g. "GET /x HTTP/1.1"
	Head    string      // the header lines as received, CRLFs included
	Fields  [][2]string // header fields in order, names as sent
	Body    []byte      // de-chunked body
	Trailer string      // a chunked body's trailer lines as received
	Conn    int64       // which accepted connection (1-based) carried it
}

func (r *rawReq) Method() string { m, _, _ := strings.Cut(r.Line, " "); return m }

// Target is the request-target of the request line.
func (r *rawReq) Target() string {
	f := strings.Fields(r.Line)
	if len(f) < 2 {
		return ""
	}
	return f[1]
}

// Values lists every value of the header name (case-insensitive).
func (r *rawReq) Values(name string) []string {
	var v []string
	for _, f := range r.Fields {
		if strings.EqualFold(f[0], name) {
			v = append(v, f[1])
		}
	}
	return v
}

// Get is the first value of name, "" if absent.
func (r *rawReq) Get(name string) string {
	if v := r.Values(name); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (r *rawReq) Has(name string) bool { return len(r.Values(name)) > 0 }

// readRawReq reads one request from br. It returns io.EOF when the
// connection ends cleanly before a request.
func readRawReq(br *bufio.Reader) (*rawReq, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		if line == "" {
			return nil, io.EOF
		}
		return nil, err
	}
	r := &rawReq{Line: strings.TrimRight(line, "\r\n")}
	var head strings.Builder
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("reading header: %w", err)
		}
		if l == "\r\n" || l == "\n" {
			break
		}
		head.WriteString(l)
		k, v, ok := strings.Cut(strings.TrimRight(l, "\r\n"), ":")
		if !ok {
			return nil, fmt.Errorf("malformed header line %q", l)
		}
		r.Fields = append(r.Fields, [2]string{k, strings.TrimSpace(v)})
	}
	r.Head = head.String()
	var body io.Reader
	switch {
	case strings.EqualFold(r.Get("Transfer-Encoding"), "chunked"):
		body = httputil.NewChunkedReader(br)
	case r.Has("Content-Length"):
		n, err := strconv.ParseInt(r.Get("Content-Length"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad Content-Length %q", r.Get("Content-Length"))
		}
		body = io.LimitReader(br, n)
	}
	if body != nil {
		if r.Body, err = io.ReadAll(body); err != nil {
			return nil, fmt.Errorf("reading body: %w", err)
		}
		if strings.EqualFold(r.Get("Transfer-Encoding"), "chunked") {
			// The chunked reader stops at the last chunk; read the trailer
			// section so the next request starts clean.
			var trailer strings.Builder
			for {
				l, err := br.ReadString('\n')
				if err != nil || l == "\r\n" || l == "\n" {
					break
				}
				trailer.WriteString(l)
			}
			r.Trailer = trailer.String()
		}
	}
	return r, nil
}

// rawBackend is a TCP server on loopback that runs handle for every
// connection it accepts, and counts them.
type rawBackend struct {
	Addr     string
	accepted atomic.Int64

	mu    sync.Mutex
	reqs  []*rawReq
	conns []net.Conn
	got   chan *rawReq // every request, as it arrives (buffered)
}

// newRawBackend serves handle(conn, n) for every accepted connection,
// n being its 1-based number. Connections and the listener are closed
// when the test ends.
func newRawBackend(t testing.TB, handle func(c net.Conn, n int64)) *rawBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &rawBackend{Addr: ln.Addr().String(), got: make(chan *rawReq, 4096)}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := b.accepted.Add(1)
			b.mu.Lock()
			b.conns = append(b.conns, c)
			b.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c, n)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		for _, c := range b.conns {
			c.Close()
		}
		b.mu.Unlock()
		wg.Wait()
	})
	return b
}

// newRawHTTPBackend is a keep-alive HTTP/1.1 server that records every
// request and answers with the raw bytes respond returns ("" closes the
// connection without answering). A nil respond answers okResp("ok").
func newRawHTTPBackend(t testing.TB, respond func(r *rawReq) string) *rawBackend {
	if respond == nil {
		respond = func(*rawReq) string { return okResp("ok") }
	}
	var b *rawBackend
	b = newRawBackend(t, func(c net.Conn, n int64) {
		br := bufio.NewReader(c)
		for {
			r, err := readRawReq(br)
			if err != nil {
				return
			}
			r.Conn = n
			b.record(r)
			out := respond(r)
			if out == "" {
				return
			}
			if _, err := io.WriteString(c, out); err != nil {
				return
			}
		}
	})
	return b
}

func (b *rawBackend) record(r *rawReq) {
	b.mu.Lock()
	b.reqs = append(b.reqs, r)
	b.mu.Unlock()
	select {
	case b.got <- r:
	default:
	}
}

// Requests is every request received so far.
func (b *rawBackend) Requests() []*rawReq {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*rawReq(nil), b.reqs...)
}

// Accepted is the number of connections accepted so far.
func (b *rawBackend) Accepted() int64 { return b.accepted.Load() }

// only returns the one request the test expects the backend to have got.
func (b *rawBackend) only(t testing.TB) *rawReq {
	t.Helper()
	rs := b.Requests()
	if len(rs) != 1 {
		t.Fatalf("backend got %d requests, want 1", len(rs))
	}
	return rs[0]
}

// okResp is a 200 with body and Content-Length; extra are header lines
// ("Name: value") added before it.
func okResp(body string, extra ...string) string {
	return rawResp("200 OK", body, extra...)
}

// rawResp is an HTTP/1.1 response with the status ("404 Not Found"),
// Content-Length framing and extra header lines.
func rawResp(status, body string, extra ...string) string {
	var b strings.Builder
	b.WriteString("HTTP/1.1 " + status + "\r\n")
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return b.String()
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

// newHTTPBackend starts an httptest server for h, closed when the test
// ends; if conns is not nil it counts the connections the server accepts.
func newHTTPBackend(t testing.TB, h http.Handler, conns *atomic.Int64) *httptest.Server {
	t.Helper()
	s := httptest.NewUnstartedServer(h)
	if conns != nil {
		s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				conns.Add(1)
			}
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// addrOf is the host:port an httptest server listens on.
func addrOf(s *httptest.Server) string { return s.Listener.Addr().String() }

// tlsDial opens a TLS connection to addr with the given SNI, verifying
// nothing: it is for looking at the certificate the gateway presents.
func tlsDial(t testing.TB, addr, serverName string) *tls.Conn {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{
		ServerName:         serverName,
		InsecureSkipVerify: true, //nolint:gosec // the test inspects the certificate itself
		NextProtos:         []string{"http/1.1"},
	})
	if err != nil {
		t.Fatalf("TLS dial %s (SNI %q): %v", addr, serverName, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestE2EHarnessSmoke checks the harness itself: a request through the
// gateway reaches a raw backend, and the admin API answers.
func TestE2EHarnessSmoke(t *testing.T) {
	be := newRawHTTPBackend(t, nil)
	g := startGateway(t, proxyTo("", "", be.Addr))
	resp, body := doReq(t, newClient(t), "GET", g.URL+"/hello", nil, nil)
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("got %d %q, want 200 ok", resp.StatusCode, body)
	}
	if got := be.only(t).Target(); got != "/hello" {
		t.Errorf("backend got target %q, want /hello", got)
	}
	resp, _ = doReq(t, newClient(t), "GET", g.AdminURL+"/healthz", nil, nil)
	if resp.StatusCode != 200 {
		t.Errorf("admin /healthz = %d, want 200", resp.StatusCode)
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
