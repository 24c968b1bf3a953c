package proxy_test

import (
	"bufio"
	"encoding/json"
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

// ---------------------------------------------------------------------------
// A backend that can be killed and brought back on the same address.

type killable struct {
	name string
	addr string
	h    http.Handler

	mu     sync.Mutex
	srv    *http.Server
	hits   atomic.Int64 // requests other than health checks
	custom http.HandlerFunc
}

// killableHandler counts requests and answers with the backend's name,
// or as its custom handler says.
func killableHandler(k *killable) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			k.hits.Add(1)
		}
		if k.custom != nil {
			k.custom(w, r)
			return
		}
		fmt.Fprint(w, k.name)
	})
}

func newKillable(t *testing.T, name string, h http.HandlerFunc) *killable {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	k := &killable{name: name, addr: ln.Addr().String(), custom: h}
	k.h = killableHandler(k)
	k.serve(ln)
	t.Cleanup(k.kill)
	return k
}

func (k *killable) serve(ln net.Listener) {
	srv := &http.Server{Handler: k.h}
	k.mu.Lock()
	k.srv = srv
	k.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// kill stops listening and drops every open connection at once, as a
// crashed process would.
func (k *killable) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.srv != nil {
		_ = k.srv.Close()
		k.srv = nil
	}
}

func (k *killable) restart(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", k.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("restart %s on %s: %v", k.name, k.addr, err)
	}
	k.serve(ln)
}

// ---------------------------------------------------------------------------
// Admin API view of the upstreams.

type adminTarget struct {
	Address   string `json:"address"`
	Healthy   bool   `json:"healthy"`
	Ejected   bool   `json:"ejected"`
	Available bool   `json:"available"`
}

type adminUpstream struct {
	Name    string        `json:"name"`
	Circuit string        `json:"circuit"`
	Targets []adminTarget `json:"targets"`
}

func upstreamState(t *testing.T, g *gw, name string) adminUpstream {
	t.Helper()
	resp, err := http.Get(g.AdminURL + "/upstreams")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ups []adminUpstream
	if err := json.NewDecoder(resp.Body).Decode(&ups); err != nil {
		t.Fatal(err)
	}
	for _, u := range ups {
		if u.Name == name {
			return u
		}
	}
	t.Fatalf("no upstream %q in /upstreams", name)
	return adminUpstream{}
}

func targetState(t *testing.T, g *gw, upstream, addr string) adminTarget {
	t.Helper()
	for _, tg := range upstreamState(t, g, upstream).Targets {
		if tg.Address == addr {
			return tg
		}
	}
	t.Fatalf("no target %s in upstream %s", addr, upstream)
	return adminTarget{}
}

// waitFor polls cond for up to 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// load sends GETs from n goroutines until stop is closed and counts the
// answers that are not 200.
type load struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	failures   []string
	wg         sync.WaitGroup
	stop       chan struct{}
}

func startLoad(t *testing.T, url string, n int) *load {
	l := &load{stop: make(chan struct{})}
	client := newClient(t)
	for i := 0; i < n; i++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				resp, err := client.Get(url)
				if err != nil {
					l.fail(err.Error())
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					l.fail(fmt.Sprintf("%d %s", resp.StatusCode, body))
					continue
				}
				l.ok.Add(1)
			}
		}()
	}
	return l
}

func (l *load) fail(s string) {
	l.failed.Add(1)
	l.mu.Lock()
	if len(l.failures) < 5 {
		l.failures = append(l.failures, s)
	}
	l.mu.Unlock()
}

func (l *load) finish() { close(l.stop); l.wg.Wait() }

// ---------------------------------------------------------------------------

// TestE2EKillOneOfThreeBackends: under steady concurrent load with retries
// on, killing one of three backends fails no request; the dead target is
// taken out of rotation, and when it comes back the health checks return
// it to rotation and it takes traffic again.
func TestE2EKillOneOfThreeBackends(t *testing.T) {
	a, b, c := newKillable(t, "a", nil), newKillable(t, "b", nil), newKillable(t, "c", nil)
	g := startGateway(t, publicListener+upstreamTOML("backend", `
[upstreams.health.active]
path = "/healthz"
interval = "100ms"
timeout = "100ms"
healthy_threshold = 2
# Not 1: one stall of the test process (a loaded CI machine, the race
# detector) can time out every probe in flight at once, taking a and c
# out with b and leaving a request no target: the likely cause of a 502
# seen once in CI. b still leaves at once, by passive ejection, and
# returns only through probes.
unhealthy_threshold = 3
[upstreams.health.passive]
consecutive_failures = 1
base_ejection = "200ms"
max_ejection = "1s"
`, a.addr, b.addr, c.addr)+`
[[routes]]
path_prefix = "/"
upstream = "backend"
retries = { attempts = 3, on = ["connect-failure", "reset", "502", "503"] }
`)
	l := startLoad(t, g.URL+"/work", 8)
	waitFor(t, "traffic on every backend", func() bool { return a.hits.Load() > 50 && b.hits.Load() > 50 && c.hits.Load() > 50 })

	b.kill()
	waitFor(t, "b out of rotation", func() bool { return !targetState(t, g, "backend", b.addr).Available })
	before := a.hits.Load() + c.hits.Load()
	waitFor(t, "traffic on a and c without b", func() bool { return a.hits.Load()+c.hits.Load() > before+200 })

	hitsWhileDown := b.hits.Load()
	b.restart(t)
	waitFor(t, "b back in rotation", func() bool { return targetState(t, g, "backend", b.addr).Available })
	waitFor(t, "b serving again", func() bool { return b.hits.Load() > hitsWhileDown+50 })
	l.finish()

	if n := l.failed.Load(); n != 0 {
		t.Fatalf("%d of %d requests failed, e.g. %q", n, n+l.ok.Load(), l.failures)
	}
	t.Logf("%d requests, none failed; hits a=%d b=%d c=%d", l.ok.Load(), a.hits.Load(), b.hits.Load(), c.hits.Load())
}

// TestE2ESlowTargetPerTryTimeout: a target that answers too slowly trips
// the per-try timeout and the request is answered by another target within
// the route's timeout.
func TestE2ESlowTargetPerTryTimeout(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	slow := newKillable(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
		fmt.Fprint(w, "slow")
	})
	fast := newKillable(t, "fast", nil)
	g := startGateway(t, publicListener+upstreamTOML("backend", "", slow.addr, fast.addr)+`
[[routes]]
path_prefix = "/"
upstream = "backend"
timeout = "3s"
retries = { attempts = 2, per_try_timeout = "200ms", on = ["timeout"] }
`)
	client := newClient(t)
	for i := 0; i < 6; i++ {
		resp, body := doReq(t, client, "GET", g.URL+"/q", nil, nil)
		if resp.StatusCode != 200 || string(body) != "fast" {
			t.Fatalf("request %d: %d %q, want the fast target's answer", i, resp.StatusCode, body)
		}
	}
	if slow.hits.Load() == 0 {
		t.Fatal("the slow target was never tried; the test proves nothing")
	}

	// Without a retry the same slowness is a 504 at the per-try timeout.
	g2 := startGateway(t, publicListener+upstreamTOML("backend", "", slow.addr)+`
[[routes]]
path_prefix = "/"
upstream = "backend"
timeout = "3s"
retries = { attempts = 2, per_try_timeout = "200ms", on = ["timeout"] }
`)
	resp, body := doReq(t, client, "GET", g2.URL+"/q", nil, nil)
	checkError(t, resp, body, 504, "upstream_timeout")
}

// TestE2ECircuitBreaker: consecutive failures open the circuit, which then
// answers 503 without calling the upstream; once the backend heals, a
// half-open trial closes it again.
func TestE2ECircuitBreaker(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	be := newKillable(t, "be", func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "broken", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "fine")
	})
	g := startGateway(t, proxyToWith(`
[upstreams.circuit_breaker]
consecutive_failures = 5
open_for = "300ms"
half_open_requests = 1
`, be.addr))
	client := newClient(t)
	for i := 0; i < 5; i++ {
		resp, _ := doReq(t, client, "GET", g.URL+"/x", nil, nil)
		if resp.StatusCode != 500 {
			t.Fatalf("request %d: %d, want the backend's 500", i, resp.StatusCode)
		}
	}
	if s := upstreamState(t, g, "backend").Circuit; s != "open" {
		t.Fatalf("circuit %q after 5 failures, want open", s)
	}
	hits := be.hits.Load()
	resp, body := doReq(t, client, "GET", g.URL+"/x", nil, nil)
	checkError(t, resp, body, 503, "circuit_open")
	if be.hits.Load() != hits {
		t.Fatal("an open circuit still called the upstream")
	}

	failing.Store(false)
	waitFor(t, "the circuit to let a trial through and close", func() bool {
		resp, _ := doReq(t, client, "GET", g.URL+"/x", nil, nil)
		return resp.StatusCode == 200
	})
	if s := upstreamState(t, g, "backend").Circuit; s != "closed" {
		t.Fatalf("circuit %q after a good trial, want closed", s)
	}
	for i := 0; i < 5; i++ {
		if resp, body := doReq(t, client, "GET", g.URL+"/x", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("after recovery: %d %s", resp.StatusCode, body)
		}
	}
}

// TestE2ENoHealthyTargets: when the active checks find every target down,
// requests get a 503 saying so; with panic mode they go through anyway.
func TestE2ENoHealthyTargets(t *testing.T) {
	be := newKillable(t, "be", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			http.Error(w, "sick", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "still answers")
	})
	health := `
[upstreams.health.active]
path = "/healthz"
interval = "50ms"
timeout = "50ms"
unhealthy_threshold = 1
`
	for _, tc := range []struct {
		name, extra string
		status      int
	}{
		{"no panic mode", health, 503},
		{"panic mode", health + "[upstreams.health]\npanic_threshold = 0.5\n", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			extra := tc.extra
			if strings.Contains(extra, "panic_threshold") {
				// [upstreams.health] must come before its subtable.
				extra = "[upstreams.health]\npanic_threshold = 0.5\n" + health
			}
			g := startGateway(t, proxyToWith(extra, be.addr))
			waitFor(t, "the target marked unhealthy", func() bool { return !targetState(t, g, "backend", be.addr).Healthy })
			resp, body := doReq(t, newClient(t), "GET", g.URL+"/x", nil, nil)
			if tc.status == 503 {
				e := checkError(t, resp, body, 503, "no_healthy_targets")
				if !strings.Contains(e.Message, "no healthy targets") {
					t.Errorf("message %q", e.Message)
				}
				return
			}
			if resp.StatusCode != 200 || string(body) != "still answers" {
				t.Fatalf("panic mode: %d %q", resp.StatusCode, body)
			}
		})
	}
}

// TestE2ERetriesOnlyIdempotent: a POST is not retried unless the route
// opts in; a GET is, on another target.
func TestE2ERetriesOnlyIdempotent(t *testing.T) {
	var bad atomic.Int64
	broken := newKillable(t, "broken", func(w http.ResponseWriter, r *http.Request) {
		bad.Add(1)
		http.Error(w, "bad gateway", http.StatusBadGateway)
	})
	good := newKillable(t, "good", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "good:%s", b)
	})
	for _, tc := range []struct {
		name, method, retries string
		want                  int
	}{
		{"GET retried", "GET", `retries = { attempts = 2, on = ["502"] }`, 200},
		{"POST not retried", "POST", `retries = { attempts = 2, on = ["502"] }`, 502},
		{"POST retried when opted in", "POST", `retries = { attempts = 2, on = ["502"], non_idempotent = true }`, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startGateway(t, publicListener+upstreamTOML("backend", "", broken.addr, good.addr)+
				"[[routes]]\npath_prefix = \"/\"\nupstream = \"backend\"\n"+tc.retries+"\n")
			client := newClient(t)
			// Round robin alternates, so of four requests two go to the
			// broken target first.
			saw502 := false
			for i := 0; i < 4; i++ {
				resp, body := doReq(t, client, tc.method, g.URL+"/x", nil, strings.NewReader("payload"))
				switch {
				case resp.StatusCode == 502 && tc.want == 502:
					saw502 = true
				case resp.StatusCode != 200:
					t.Fatalf("request %d: %d %q, want %d", i, resp.StatusCode, body, tc.want)
				case string(body) != "good:payload":
					t.Fatalf("request %d: body %q: a retry must resend the request body whole", i, body)
				}
			}
			if tc.want == 502 && !saw502 {
				t.Fatal("every POST succeeded: a POST was retried without non_idempotent")
			}
		})
	}
	if bad.Load() == 0 {
		t.Fatal("the broken target was never tried")
	}
}

func proxyToWith(upstreamExtra string, targets ...string) string {
	return publicListener + upstreamTOML("backend", upstreamExtra, targets...) +
		"[[routes]]\nname = \"all\"\npath_prefix = \"/\"\nupstream = \"backend\"\n"
}

// TestE2EWeightedDistribution: through the gateway, 10,000 requests split
// over three targets within 5% of their weights.
func TestE2EWeightedDistribution(t *testing.T) {
	a, b, c := newKillable(t, "a", nil), newKillable(t, "b", nil), newKillable(t, "c", nil)
	g := startGateway(t, publicListener+fmt.Sprintf(`[[upstreams]]
name = "backend"
balancer = "weighted_round_robin"
targets = [{ address = %q, weight = 1 }, { address = %q, weight = 2 }, { address = %q, weight = 5 }]
[[routes]]
path_prefix = "/"
upstream = "backend"
`, a.addr, b.addr, c.addr))
	const n = 10000
	client := newClient(t)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/8; i++ {
				resp, err := client.Get(g.URL + "/w")
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d requests failed", failed.Load())
	}
	for _, tc := range []struct {
		k      *killable
		weight int
	}{{a, 1}, {b, 2}, {c, 5}} {
		want := float64(n) * float64(tc.weight) / 8
		got := float64(tc.k.hits.Load())
		if got < want*0.95 || got > want*1.05 {
			t.Errorf("target %s (weight %d): %v requests, want %v within 5%%", tc.k.name, tc.weight, got, want)
		}
	}
}

// TestE2ENoRetriesMeansOneTry: a route without retries sends a request
// once, even an idempotent one whose fresh connection the backend drops
// without answering (a request that crashes its backend must not crash a
// second); the client gets the 502.
func TestE2ENoRetriesMeansOneTry(t *testing.T) {
	be := newRawHTTPBackend(t, func(*rawReq) string { return "" })
	g := startGateway(t, proxyTo("", "", be.Addr))
	resp, body := doReq(t, newClient(t), "GET", g.URL+"/poison", nil, nil)
	checkError(t, resp, body, 502, "upstream_error")
	time.Sleep(100 * time.Millisecond)
	if n := len(be.Requests()); n != 1 {
		t.Fatalf("backend received the request %d times on %d connections; the route has no retries", n, be.Accepted())
	}
}

// TestE2EStaleConnectionIsSentAgain: a pooled connection the backend
// closed while idle is still replaced transparently: the request goes
// again on a new connection and the client never sees the close.
func TestE2EStaleConnectionIsSentAgain(t *testing.T) {
	// Answers one request per connection with keep-alive, then closes
	// without saying so, as a backend whose keep-alive timeout is shorter
	// than the gateway's does.
	be := newRawBackend(t, func(c net.Conn, n int64) {
		br := bufio.NewReader(c)
		if _, err := readRawReq(br); err != nil {
			return
		}
		io.WriteString(c, okResp("hello"))
	})
	g := startGateway(t, proxyTo("", "", be.Addr))
	client := newClient(t)
	for i := range 3 {
		resp, body := doReq(t, client, "GET", g.URL+"/x", nil, nil)
		if resp.StatusCode != 200 || string(body) != "hello" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		time.Sleep(50 * time.Millisecond) // the backend's close reaches the pool
	}
	if n := be.Accepted(); n != 3 {
		t.Errorf("backend accepted %d connections, want 3 (one per request)", n)
	}
}

// TestE2ELastAnswerKeptWhenRetryCannotGo: when the try's own failure
// leaves nothing to retry on (it ejected the only target, or opened the
// circuit), the client gets that try's answer, as documented, not a
// gateway 503 in its place.
func TestE2ELastAnswerKeptWhenRetryCannotGo(t *testing.T) {
	be := newRawHTTPBackend(t, func(*rawReq) string {
		return rawResp("502 Bad Gateway", `{"detail":"backend says no"}`, "Content-Type: application/json")
	})
	for _, tc := range []struct{ name, extra string }{
		{"passive ejection", "[upstreams.health.passive]\nconsecutive_failures = 1\n"},
		{"circuit breaker", "[upstreams.circuit_breaker]\nconsecutive_failures = 1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startGateway(t, publicListener+upstreamTOML("backend", tc.extra, be.Addr)+
				"[[routes]]\npath_prefix = \"/\"\nupstream = \"backend\"\nretries = { attempts = 2, on = [\"502\"] }\n")
			resp, body := doReq(t, newClient(t), "GET", g.URL+"/x", nil, nil)
			if resp.StatusCode != 502 || !strings.Contains(string(body), "backend says no") {
				t.Fatalf("got %d %s, want the backend's 502 (the last try's answer)", resp.StatusCode, body)
			}
		})
	}
}

// TestE2EP2CAvoidsARefusingTarget: with p2c_ewma, a target that refuses
// connections (and so fails in microseconds) does not take the traffic
// for being "fastest": nearly every request goes to the live one.
func TestE2EP2CAvoidsARefusingTarget(t *testing.T) {
	good := newKillable(t, "good", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond)
		fmt.Fprint(w, "good")
	})
	g := startGateway(t, publicListener+upstreamTOML("backend", `balancer = "p2c_ewma"`, good.addr, closedAddr(t))+
		"[[routes]]\npath_prefix = \"/\"\nupstream = \"backend\"\n")
	client := newClient(t)
	failed := 0
	const n = 200
	for range n {
		if resp, _ := doReq(t, client, "GET", g.URL+"/x", nil, nil); resp.StatusCode != 200 {
			failed++
		}
	}
	if failed > 10 {
		t.Fatalf("%d of %d requests failed with one of two targets refusing connections", failed, n)
	}
}

// TestE2EUpstreamWithoutBreakerShowsNone: /upstreams does not call the
// circuit of an upstream that has no breaker "closed", as if one watched.
func TestE2EUpstreamWithoutBreakerShowsNone(t *testing.T) {
	be := newKillable(t, "be", nil)
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.addr))
	if s := upstreamState(t, g, "backend").Circuit; s != "none" {
		t.Fatalf("circuit %q, want none", s)
	}
}
