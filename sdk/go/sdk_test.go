package proxywasm_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	proxywasm "github.com/wasmgate/wasmgate/sdk/go"
	"github.com/wasmgate/wasmgate/sdk/go/proxytest"
)

// plugin is a test plugin whose hooks are set per test.
type plugin struct {
	configure func([]byte) error
	newHTTP   func() proxywasm.HTTP
	tick      func()
	queue     func(proxywasm.Queue)
}

func (p *plugin) OnConfigure(c []byte) error {
	if p.configure != nil {
		return p.configure(c)
	}
	return nil
}
func (p *plugin) NewHTTP() proxywasm.HTTP        { return p.newHTTP() }
func (p *plugin) OnTick()                        { p.tick() }
func (p *plugin) OnQueueReady(q proxywasm.Queue) { p.queue(q) }

// hooks is an HTTP with every phase, each one optional.
type hooks struct {
	reqHeaders  func(proxywasm.Stream) proxywasm.Action
	reqBody     func(proxywasm.Stream, int) proxywasm.Action
	reqTrailers func(proxywasm.Stream) proxywasm.Action
	respHeaders func(proxywasm.Stream) proxywasm.Action
	respBody    func(proxywasm.Stream, int) proxywasm.Action
	done        func(proxywasm.Stream)
}

func run(f func(proxywasm.Stream) proxywasm.Action, s proxywasm.Stream) proxywasm.Action {
	if f == nil {
		return proxywasm.Continue
	}
	return f(s)
}

func (h *hooks) OnRequestHeaders(s proxywasm.Stream, _ bool) proxywasm.Action {
	return run(h.reqHeaders, s)
}
func (h *hooks) OnRequestBody(s proxywasm.Stream, n int, _ bool) proxywasm.Action {
	if h.reqBody == nil {
		return proxywasm.Continue
	}
	return h.reqBody(s, n)
}
func (h *hooks) OnRequestTrailers(s proxywasm.Stream) proxywasm.Action { return run(h.reqTrailers, s) }
func (h *hooks) OnResponseHeaders(s proxywasm.Stream, _ bool) proxywasm.Action {
	return run(h.respHeaders, s)
}
func (h *hooks) OnResponseBody(s proxywasm.Stream, n int, _ bool) proxywasm.Action {
	if h.respBody == nil {
		return proxywasm.Continue
	}
	return h.respBody(s, n)
}
func (h *hooks) OnDone(s proxywasm.Stream) {
	if h.done != nil {
		h.done(s)
	}
}

func start(t *testing.T, p *plugin, opts proxytest.Options) *proxytest.Host {
	t.Helper()
	proxywasm.Register(func() proxywasm.Plugin { return p })
	h, err := proxytest.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

var get = [][2]string{{":method", "GET"}, {":path", "/a?b=c"}, {":authority", "example.com"}, {"x-in", "1"}}

func TestHeaders(t *testing.T) {
	var seen string
	var all [][2]string
	h := start(t, &plugin{newHTTP: func() proxywasm.HTTP {
		return &hooks{reqHeaders: func(s proxywasm.Stream) proxywasm.Action {
			m := s.RequestHeaders()
			seen, _ = m.Get(":path")
			if _, err := m.Get("absent"); !errors.Is(err, proxywasm.ErrNotFound) {
				t.Errorf("absent header: %v", err)
			}
			_ = m.Add("x-add", "a")
			_ = m.Add("x-add", "b")
			_ = m.Set("x-in", "2")
			_ = m.Remove(":authority")
			all, _ = m.All()
			return proxywasm.Continue
		}, respHeaders: func(s proxywasm.Stream) proxywasm.Action {
			_ = s.ResponseHeaders().SetAll([][2]string{{":status", "201"}, {"x-out", "yes"}})
			return proxywasm.Continue
		}}
	}}, proxytest.Options{})
	s := h.NewStream()
	if act := s.RequestHeaders(get, true); act != proxywasm.Continue || seen != "/a?b=c" {
		t.Fatalf("action %d, :path %q", act, seen)
	}
	want := "[[:method GET] [:path /a?b=c] [x-in 2] [x-add a] [x-add b]]"
	if got := strings.Join(strings.Fields(strings.Trim(fmtPairs(all), "")), " "); got != want {
		t.Fatalf("All() = %s, want %s", got, want)
	}
	s.ResponseHeaders([][2]string{{":status", "200"}}, false)
	if s.ResponseHeader("x-out") != "yes" || s.ResponseHeader(":status") != "201" {
		t.Fatalf("response %v", s.Response)
	}
}

func fmtPairs(p [][2]string) string {
	var b strings.Builder
	b.WriteString("[")
	for i, kv := range p {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString("[" + kv[0] + " " + kv[1] + "]")
	}
	return b.String() + "]"
}

func TestBodiesAndTrailers(t *testing.T) {
	var size int
	h := start(t, &plugin{newHTTP: func() proxywasm.HTTP {
		return &hooks{reqBody: func(s proxywasm.Stream, n int) proxywasm.Action {
			size = n
			b := s.RequestBody()
			if got, _ := b.Bytes(); string(got) != "middle" {
				t.Errorf("body %q", got)
			}
			_ = b.Prepend([]byte("<"))
			_ = b.Append([]byte(">"))
			return proxywasm.Continue
		}, respBody: func(s proxywasm.Stream, n int) proxywasm.Action {
			_ = s.ResponseBody().Replace([]byte("replaced"))
			return proxywasm.Continue
		}, reqTrailers: func(s proxywasm.Stream) proxywasm.Action {
			v, _ := s.RequestTrailers().Get("grpc-status")
			_ = s.RequestTrailers().Set("x-checked", v)
			return proxywasm.Continue
		}}
	}}, proxytest.Options{})
	s := h.NewStream()
	s.RequestHeaders(get, false)
	s.SendRequestBody([]byte("middle"))
	if size != 6 || string(s.RequestBody) != "<middle>" {
		t.Fatalf("size %d, body %q", size, s.RequestBody)
	}
	s.SendRequestTrailers([][2]string{{"grpc-status", "0"}})
	if v := get1(s.RequestTrailers, "x-checked"); v != "0" {
		t.Fatalf("trailers %v", s.RequestTrailers)
	}
	s.SendResponseBody([]byte("original"))
	if string(s.ResponseBody) != "replaced" {
		t.Fatalf("response body %q", s.ResponseBody)
	}
}

func get1(p [][2]string, k string) string {
	for _, kv := range p {
		if kv[0] == k {
			return kv[1]
		}
	}
	return ""
}

// TestPhasesFollowTheType: the phases declared to the host are the
// optional methods of the type NewHTTP returns after configuration.
func TestPhasesFollowTheType(t *testing.T) {
	h := start(t, &plugin{newHTTP: func() proxywasm.HTTP { return headersOnly{} }}, proxytest.Options{})
	if strings.Join(h.Phases, ",") != "request_headers" {
		t.Fatalf("phases %v", h.Phases)
	}
	h = start(t, &plugin{newHTTP: func() proxywasm.HTTP { return &hooks{} }}, proxytest.Options{})
	want := "log,request_body,request_headers,request_trailers,response_body,response_headers"
	if strings.Join(h.Phases, ",") != want {
		t.Fatalf("phases %v, want %s", h.Phases, want)
	}
}

type headersOnly struct{}

func (headersOnly) OnRequestHeaders(proxywasm.Stream, bool) proxywasm.Action {
	return proxywasm.Continue
}

func TestLocalResponseAndConfig(t *testing.T) {
	var cfg string
	h := start(t, &plugin{configure: func(c []byte) error { cfg = string(c); return nil },
		newHTTP: func() proxywasm.HTTP {
			return &hooks{reqHeaders: func(s proxywasm.Stream) proxywasm.Action {
				_ = s.Respond(403, [][2]string{{"Content-Type", "text/plain"}}, []byte("no"))
				return proxywasm.Pause
			}}
		}}, proxytest.Options{Config: []byte(`{"a":1}`)})
	if cfg != `{"a":1}` {
		t.Fatalf("config %q", cfg)
	}
	s := h.NewStream()
	if act := s.RequestHeaders(get, true); act != proxywasm.Pause || s.Local == nil ||
		s.Local.Status != 403 || string(s.Local.Body) != "no" || s.Local.Header("content-type") != "text/plain" {
		t.Fatalf("action %d, local %+v", act, s.Local)
	}

	proxywasm.Register(func() proxywasm.Plugin {
		return &plugin{configure: func([]byte) error { return errors.New("bad field x") }}
	})
	if _, err := proxytest.New(proxytest.Options{}); err == nil || !strings.Contains(err.Error(), "bad field x") {
		t.Fatalf("refused config: %v", err)
	}
}

func TestCallout(t *testing.T) {
	var status int
	var body string
	h := start(t, &plugin{newHTTP: func() proxywasm.HTTP {
		return &hooks{reqHeaders: func(s proxywasm.Stream) proxywasm.Action {
			err := s.Callout("auth", [][2]string{{":method", "GET"}, {":path", "/check"}, {":authority", "auth"}}, nil,
				time.Second, func(s proxywasm.Stream, r *proxywasm.CalloutResponse) {
					status, body = r.Status(), string(r.Body())
					if status == 200 {
						_ = s.RequestHeaders().Set("x-user", string(r.Body()))
						_ = s.Resume()
					} else {
						_ = s.Respond(503, nil, nil)
					}
				})
			if err != nil {
				t.Error(err)
			}
			return proxywasm.Pause
		}}
	}}, proxytest.Options{})
	s := h.NewStream()
	if act := s.RequestHeaders(get, true); act != proxywasm.Pause {
		t.Fatalf("action %d", act)
	}
	calls := h.Callouts()
	if len(calls) != 1 || calls[0].Upstream != "auth" || calls[0].Header(":path") != "/check" || calls[0].Timeout != time.Second {
		t.Fatalf("callouts %+v", calls)
	}
	calls[0].Respond(200, [][2]string{{"x-a", "b"}}, []byte("alice"))
	if status != 200 || body != "alice" || s.Resumed != 1 || s.Header("x-user") != "alice" {
		t.Fatalf("status %d body %q resumed %d headers %v", status, body, s.Resumed, s.Request)
	}

	s2 := h.NewStream()
	s2.RequestHeaders(get, true)
	h.Callouts()[0].Fail()
	if status != 0 || s2.Local == nil || s2.Local.Status != 503 {
		t.Fatalf("failed callout: status %d, local %+v", status, s2.Local)
	}
}

func TestSharedDataCAS(t *testing.T) {
	h := start(t, &plugin{newHTTP: func() proxywasm.HTTP { return headersOnly{} }}, proxytest.Options{})
	_ = h
	if _, _, err := proxywasm.SharedData("k"); !errors.Is(err, proxywasm.ErrNotFound) {
		t.Fatalf("missing key: %v", err)
	}
	if err := proxywasm.SetSharedData("k", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	v, cas, err := proxywasm.SharedData("k")
	if err != nil || string(v) != "1" {
		t.Fatalf("%q %v", v, err)
	}
	h.PutSharedData("k", []byte("other VM"))
	if err := proxywasm.SetSharedData("k", []byte("2"), cas); !errors.Is(err, proxywasm.ErrCASMismatch) {
		t.Fatalf("stale cas: %v", err)
	}
	_, cas, _ = proxywasm.SharedData("k")
	if err := proxywasm.SetSharedData("k", []byte("2"), cas); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := h.SharedData("k"); string(v) != "2" {
		t.Fatalf("stored %q", v)
	}
}

func TestQueuesTicksMetricsLog(t *testing.T) {
	var got []string
	var ticks int
	var q proxywasm.Queue
	p := &plugin{newHTTP: func() proxywasm.HTTP { return headersOnly{} },
		tick: func() { ticks++ },
		queue: func(id proxywasm.Queue) {
			for {
				item, err := id.Dequeue()
				if errors.Is(err, proxywasm.ErrEmpty) {
					return
				}
				got = append(got, string(item))
			}
		}}
	p.configure = func([]byte) error {
		var err error
		if q, err = proxywasm.RegisterQueue("jobs"); err != nil {
			return err
		}
		return proxywasm.SetTickPeriod(250 * time.Millisecond)
	}
	h := start(t, p, proxytest.Options{LogLevel: proxywasm.LevelInfo})
	if h.TickPeriod != 250*time.Millisecond {
		t.Fatalf("tick period %v", h.TickPeriod)
	}
	h.Tick()
	h.Tick()
	if ticks != 2 {
		t.Fatalf("ticks %d", ticks)
	}
	if err := h.EnqueueFrom("jobs", []byte("a")); err != nil {
		t.Fatal(err)
	}
	_ = q.Enqueue([]byte("b"))
	_ = h.EnqueueFrom("jobs", []byte("c"))
	if strings.Join(got, "") != "abc" {
		t.Fatalf("dequeued %q", got)
	}

	c, _ := proxywasm.NewCounter("requests")
	_ = c.Add(2)
	_ = c.Add(3)
	g, _ := proxywasm.NewGauge("inflight")
	_ = g.Set(7)
	_ = g.Add(-2)
	hist, _ := proxywasm.NewHistogram("sizes")
	_ = hist.Record(10)
	_ = hist.Record(20)
	if m, _ := h.Metric("requests"); m.Value != 5 {
		t.Fatalf("counter %d", m.Value)
	}
	if v, _ := g.Value(); v != 5 {
		t.Fatalf("gauge %d", v)
	}
	if m, _ := h.Metric("sizes"); len(m.Records) != 2 || m.Records[1] != 20 {
		t.Fatalf("histogram %+v", m)
	}

	proxywasm.LogDebug("hidden")
	proxywasm.Log("shown")
	proxywasm.LogError("bad")
	if got := strings.Join(h.LogsAt(proxywasm.LevelTrace), "|"); got != "shown|bad" {
		t.Fatalf("logs %q", got)
	}
	if proxywasm.Enabled(proxywasm.LevelDebug) || !proxywasm.Enabled(proxywasm.LevelWarn) {
		t.Fatal("Enabled does not follow the host's level")
	}
}

func TestPropertiesAndClock(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	var addr, route, path, consumer string
	h := start(t, &plugin{newHTTP: func() proxywasm.HTTP {
		return &hooks{reqHeaders: func(s proxywasm.Stream) proxywasm.Action {
			a, _ := s.Property("source", "address")
			r, _ := s.Property("route_name")
			addr, route = string(a), string(r)
			_ = s.SetProperty([]byte("alice"), "wasmgate", "consumer")
			// What the host derives stays the request's, as on wasmgate;
			// what the plugin set reads back.
			_ = s.SetProperty([]byte("/elsewhere"), "request", "path")
			p, _ := s.Property("request", "path")
			c, _ := s.Property("wasmgate", "consumer")
			path, consumer = string(p), string(c)
			if !proxywasm.Now().Equal(now) {
				t.Errorf("Now() = %v", proxywasm.Now())
			}
			return proxywasm.Continue
		}}
	}}, proxytest.Options{Properties: map[string]string{"route_name": "api"}, Now: func() time.Time { return now }})
	s := h.NewStream()
	s.Properties["source.address"] = "10.0.0.1:5555"
	s.RequestHeaders(get, true)
	if addr != "10.0.0.1:5555" || route != "api" || s.Properties["wasmgate.consumer"] != "alice" {
		t.Fatalf("addr %q route %q props %v", addr, route, s.Properties)
	}
	if path != "/a?b=c" || consumer != "alice" {
		t.Fatalf("after SetProperty: request.path %q (want the request's), wasmgate.consumer %q", path, consumer)
	}
}

// TestRootCallout: a callout from OnTick gets its answer in the root
// context; while the plugin starts, the host refuses one.
func TestRootCallout(t *testing.T) {
	var atConfigure error
	var status int
	var body string
	h := start(t, &plugin{
		newHTTP: func() proxywasm.HTTP { return &hooks{} },
		configure: func([]byte) error {
			atConfigure = proxywasm.RootCallout("idp", nil, nil, time.Second, func(*proxywasm.CalloutResponse) {})
			return nil
		},
		tick: func() {
			err := proxywasm.RootCallout("idp", [][2]string{{":method", "GET"}, {":path", "/keys"}, {":authority", "idp"}}, nil, time.Second,
				func(r *proxywasm.CalloutResponse) { status, body = r.Status(), string(r.Body()) })
			if err != nil {
				t.Errorf("RootCallout from OnTick: %v", err)
			}
		},
	}, proxytest.Options{Upstreams: []string{"idp"}})
	if !errors.Is(atConfigure, proxywasm.ErrBadArgument) {
		t.Fatalf("RootCallout from OnConfigure: %v, want ErrBadArgument", atConfigure)
	}
	h.Tick()
	cs := h.Callouts()
	if len(cs) != 1 || cs[0].Upstream != "idp" || cs[0].Header(":path") != "/keys" {
		t.Fatalf("callouts %+v", cs)
	}
	cs[0].Respond(200, nil, []byte("keyset"))
	if status != 200 || body != "keyset" {
		t.Fatalf("done got %d %q", status, body)
	}
}

// TestEmulatorHostIsAuthority: a request given with a Host header shows
// it as :authority only, as wasmgate does.
func TestEmulatorHostIsAuthority(t *testing.T) {
	var authority, host string
	var hostFound bool
	h := start(t, &plugin{newHTTP: func() proxywasm.HTTP {
		return &hooks{reqHeaders: func(s proxywasm.Stream) proxywasm.Action {
			authority, _ = s.RequestHeaders().Get(":authority")
			var err error
			host, err = s.RequestHeaders().Get("host")
			hostFound = err == nil
			return proxywasm.Continue
		}}
	}}, proxytest.Options{})
	h.NewStream().RequestHeaders([][2]string{{":method", "GET"}, {":path", "/"}, {"Host", "api.test"}, {"x-in", "1"}}, true)
	if authority != "api.test" || hostFound {
		t.Fatalf(":authority %q, host header %q (found %v); want api.test and none", authority, host, hostFound)
	}
}

// reusable counts how often the SDK made or recycled request objects.
type reusable struct {
	resets *int
	seen   bool
}

func (r *reusable) OnRequestHeaders(proxywasm.Stream, bool) proxywasm.Action {
	if r.seen {
		panic("a reused object was not reset")
	}
	r.seen = true
	return proxywasm.Continue
}
func (r *reusable) Reset() { *r.resets++; r.seen = false }

func TestResetterObjectsAreReused(t *testing.T) {
	made, resets := 0, 0
	h := start(t, &plugin{newHTTP: func() proxywasm.HTTP { made++; return &reusable{resets: &resets} }}, proxytest.Options{})
	for i := 0; i < 10; i++ {
		s := h.NewStream()
		s.RequestHeaders(get, true)
		s.Complete()
	}
	// One made at configuration to learn the phases; reused ever since.
	if made != 1 || resets != 11 {
		t.Fatalf("made %d, resets %d", made, resets)
	}
}

// lifecycleProbe counts what the SDK does with its HTTP objects; it may
// handle response headers and may make a callout.
type lifecycleProbe struct {
	made, resets *int
	callout      bool
}

func (l *lifecycleProbe) OnRequestHeaders(s proxywasm.Stream, _ bool) proxywasm.Action {
	if !l.callout {
		return proxywasm.Continue
	}
	err := s.Callout("auth", [][2]string{{":method", "GET"}, {":path", "/"}, {":authority", "auth"}}, nil, time.Second,
		func(s proxywasm.Stream, _ *proxywasm.CalloutResponse) { _ = s.Resume() })
	if err != nil {
		panic(err)
	}
	return proxywasm.Pause
}
func (l *lifecycleProbe) Reset() { *l.resets++ }

type withResponse struct{ lifecycleProbe }

func (w *withResponse) OnResponseHeaders(proxywasm.Stream, bool) proxywasm.Action {
	return proxywasm.Continue
}

// TestLifecycleSavesCalls: with a host that agrees (wasmgate), a request's
// context is created by its first callback and released after the
// plugin's last one, the host told so by the finished flag; with one that
// does not, the ABI's own create and delete do it.
func TestLifecycleSavesCalls(t *testing.T) {
	made, resets := 0, 0
	probe := func(callout, response bool) func() proxywasm.HTTP {
		return func() proxywasm.HTTP {
			made++
			l := lifecycleProbe{made: &made, resets: &resets, callout: callout}
			if response {
				return &withResponse{l}
			}
			return &l
		}
	}
	h := start(t, &plugin{newHTTP: probe(false, false)}, proxytest.Options{})
	if strings.Join(h.Lifecycle, ",") != "context_on_first_call,finished_flag,edits" || strings.Join(h.Phases, ",") != "request_headers" {
		t.Fatalf("lifecycle %v, phases %v", h.Lifecycle, h.Phases)
	}
	for i := 0; i < 3; i++ {
		s := h.NewStream()
		if act := s.RequestHeaders(get, true); act != proxywasm.Continue {
			t.Fatalf("action %d (the flag must not leak into the action)", act)
		}
		if !s.Finished {
			t.Fatal("a headers-only plugin kept its context after its only callback")
		}
		s.Complete()
	}
	// One object made to learn the phases, reset then and after each request.
	if made != 1 || resets != 4 {
		t.Fatalf("made %d, resets %d", made, resets)
	}

	made, resets = 0, 0
	h = start(t, &plugin{newHTTP: probe(false, true)}, proxytest.Options{})
	s := h.NewStream()
	s.RequestHeaders(get, true)
	if s.Finished {
		t.Fatal("released before its response callback")
	}
	s.ResponseHeaders([][2]string{{":status", "200"}}, true)
	if !s.Finished || resets != 2 {
		t.Fatalf("after the response: finished %v, resets %d", s.Finished, resets)
	}

	made, resets = 0, 0
	h = start(t, &plugin{newHTTP: probe(true, false)}, proxytest.Options{})
	s = h.NewStream()
	if act := s.RequestHeaders(get, true); act != proxywasm.Pause || s.Finished {
		t.Fatalf("action %d, finished %v: released with a callout outstanding", act, s.Finished)
	}
	h.Callouts()[0].Respond(200, nil, nil)
	if s.Resumed != 1 {
		t.Fatalf("resumed %d", s.Resumed)
	}
	s.Complete()
	if resets != 2 {
		t.Fatalf("resets %d: proxy_on_delete did not release the context", resets)
	}

	made, resets = 0, 0
	h = start(t, &plugin{newHTTP: probe(false, false)}, proxytest.Options{RefuseLifecycle: true})
	// Without wasmgate's extensions the SDK takes the response headers
	// too: it applies response header edits there itself.
	if len(h.Lifecycle) != 0 || strings.Join(h.Phases, ",") != "request_headers,response_headers" {
		t.Fatalf("refused: lifecycle %v, phases %v", h.Lifecycle, h.Phases)
	}
	s = h.NewStream()
	s.RequestHeaders(get, true)
	if s.Finished || resets != 1 {
		t.Fatalf("refused: finished %v, resets %d", s.Finished, resets)
	}
	s.Complete()
	if resets != 2 {
		t.Fatalf("refused: resets %d after proxy_on_delete", resets)
	}
}

func TestSHA256(t *testing.T) {
	data := []byte("an api key")
	want := sha256.Sum256(data)
	for _, noHost := range []bool{false, true} {
		var got [2][32]byte
		h := start(t, &plugin{newHTTP: func() proxywasm.HTTP {
			return &hooks{reqHeaders: func(proxywasm.Stream) proxywasm.Action {
				got[0], got[1] = proxywasm.SHA256(data), proxywasm.SHA256(nil)
				return proxywasm.Continue
			}}
		}}, proxytest.Options{NoSHA256: noHost})
		for i := 0; i < 2; i++ {
			h.NewStream().RequestHeaders(get, true)
		}
		if got[0] != want || got[1] != sha256.Sum256(nil) {
			t.Fatalf("host without sha256 %v: got %x, %x", noHost, got[0], got[1])
		}
		// With the host's function every hash is the host's; without it,
		// the plugin's own.
		calls := 4
		if noHost {
			calls = 0
		}
		if n := h.Foreign["wasmgate.sha256"]; n != calls {
			t.Fatalf("host without sha256 %v: %d calls of wasmgate.sha256, want %d", noHost, n, calls)
		}
	}
}

func TestResponseEdits(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		calls := 0
		h := start(t, &plugin{newHTTP: func() proxywasm.HTTP {
			return requestOnly(func(s proxywasm.Stream) proxywasm.Action {
				calls++
				e := s.ResponseEdits()
				for _, err := range []error{
					e.Set("X-Limit", "10"), e.Add("X-Multi", "b"), e.Remove("X-Secret"),
					e.SetBytes("X-Upstream", []byte("replaced")),
				} {
					if err != nil {
						t.Fatal(err)
					}
				}
				wantBadArgument(t, e.Set(":status", "500"), e.Set("", "x"), e.Add("X-Nul", "a\x00b"))
				return proxywasm.Continue
			})
		}}, proxytest.Options{RefuseLifecycle: refuse})
		s := h.NewStream()
		s.RequestHeaders(get, true)
		s.ResponseHeaders([][2]string{{":status", "200"}, {"x-multi", "a"}, {"x-secret", "s"},
			{"x-upstream", "1"}, {"x-upstream", "2"}}, true)
		got := fmt.Sprint(s.Response)
		want := "[[:status 200] [x-multi a] [x-upstream replaced] [x-limit 10] [x-multi b]]"
		if got != want {
			t.Errorf("refused %v: response %s, want %s", refuse, got, want)
		}
		// On wasmgate the host applied the edits, all four sent in one
		// call when the callback returned: the plugin, headers-only, was
		// called once. Without the extension the SDK asked for the
		// response callback to apply them itself.
		if n := h.Foreign["wasmgate.edits"]; refuse && n != 0 || !refuse && n != 1 || calls != 1 {
			t.Errorf("refused %v: %d calls of wasmgate.edits, %d calls of the plugin", refuse, n, calls)
		}
		if !refuse && !s.Finished {
			t.Error("a headers-only plugin with response edits kept its context")
		}
		s.Complete()
	}
}

// An edit made in the response phase applies at once: the plugin reads it
// back in the same callback (which sends the batch first).
func TestResponseEditInResponsePhase(t *testing.T) {
	var seen string
	h := start(t, &plugin{newHTTP: func() proxywasm.HTTP { return &lateEdit{seen: &seen} }}, proxytest.Options{})
	s := h.NewStream()
	s.RequestHeaders(get, true)
	s.ResponseHeaders([][2]string{{":status", "200"}}, true)
	if seen != "1" || s.ResponseHeader("x-late") != "1" {
		t.Fatalf("read back %q, response %v", seen, s.Response)
	}
	if n := h.Foreign["wasmgate.edits"]; n != 1 {
		t.Fatalf("%d calls of wasmgate.edits, want 1", n)
	}
	s.Complete()
}

type lateEdit struct{ seen *string }

func (*lateEdit) OnRequestHeaders(proxywasm.Stream, bool) proxywasm.Action { return proxywasm.Continue }
func (l *lateEdit) OnResponseHeaders(s proxywasm.Stream, _ bool) proxywasm.Action {
	_ = s.ResponseEdits().Set("X-Late", "1")
	*l.seen, _ = s.ResponseHeaders().Get("x-late")
	return proxywasm.Continue
}

// requestOnly is a request type with no phase but the request headers.
type requestOnly func(proxywasm.Stream) proxywasm.Action

func (f requestOnly) OnRequestHeaders(s proxywasm.Stream, _ bool) proxywasm.Action { return f(s) }

// TestRequestHeaderEdits: on wasmgate a callback's edits of the request
// headers go in batches: the plugin reading a header back sends those
// made so far first, so it sees them, and the rest go as the callback
// returns; a pseudo-header is edited at once. Without the extension each
// edit is a host call of its own. Either way the request ends the same.
func TestRequestHeaderEdits(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		var seen string
		h := start(t, &plugin{newHTTP: func() proxywasm.HTTP {
			return requestOnly(func(s proxywasm.Stream) proxywasm.Action {
				m := s.RequestHeaders()
				_ = m.Set("x-a", "1")
				_ = m.Remove("x-in")
				_ = m.Add("x-b", "2")
				seen, _ = m.Get("x-a")
				_ = m.Set(":path", "/rewritten")
				_ = m.Set("x-c", "3")
				_ = s.ResponseEdits().Set("x-r", "4")
				if !refuse {
					// Checked as the batch is made, not refused with it.
					wantBadArgument(t, m.Set("x-nul", "a\x00b"), m.Add("", "v"))
				}
				return proxywasm.Continue
			})
		}}, proxytest.Options{RefuseLifecycle: refuse})
		s := h.NewStream()
		s.RequestHeaders(get, true)
		got := fmt.Sprint(s.Request)
		want := "[[:method GET] [:path /rewritten] [:authority example.com] [x-a 1] [x-b 2] [x-c 3]]"
		if seen != "1" || got != want {
			t.Errorf("refused %v: read back %q, request %s, want %s", refuse, seen, got, want)
		}
		// The read sent three edits, the end of the callback two more.
		if n := h.Foreign["wasmgate.edits"]; refuse && n != 0 || !refuse && n != 2 {
			t.Errorf("refused %v: %d calls of wasmgate.edits", refuse, n)
		}
		s.ResponseHeaders([][2]string{{":status", "200"}}, true)
		if s.ResponseHeader("x-r") != "4" {
			t.Errorf("refused %v: response %v", refuse, s.Response)
		}
		s.Complete()
	}
}

// TestCountsInBatch: on wasmgate a request's counter and gauge increments
// go with its batch of edits, and reading a value back sends the batch
// first; without the extension each is a host call.
func TestCountsInBatch(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		var c proxywasm.Counter
		var g proxywasm.Gauge
		var seen uint64
		h := start(t, &plugin{newHTTP: func() proxywasm.HTTP {
			return requestOnly(func(s proxywasm.Stream) proxywasm.Action {
				_ = c.Add(2)
				_ = g.Add(5)
				seen, _ = c.Value()
				_ = c.Add(3)
				_ = g.Add(-1)
				_ = s.RequestHeaders().Set("x-counted", "1")
				return proxywasm.Continue
			})
		}}, proxytest.Options{RefuseLifecycle: refuse})
		c, _ = proxywasm.NewCounter("batched")
		g, _ = proxywasm.NewGauge("batched_gauge")
		s := h.NewStream()
		s.RequestHeaders(get, true)
		cm, _ := h.Metric("batched")
		gm, _ := h.Metric("batched_gauge")
		if seen != 2 || cm.Value != 5 || gm.Value != 4 || s.Header("x-counted") != "1" {
			t.Errorf("refused %v: read back %d, counter %d, gauge %d, x-counted %q", refuse, seen, cm.Value, gm.Value, s.Header("x-counted"))
		}
		// The read sent the first two, the callback's end the rest.
		if n := h.Foreign["wasmgate.edits"]; refuse && n != 0 || !refuse && n != 2 {
			t.Errorf("refused %v: %d calls of wasmgate.edits", refuse, n)
		}
		s.Complete()
	}
}

// TestBadIncrementFailsAlone: an increment the host would refuse (here a
// histogram's id converted to a counter) fails on its own, as it does
// without batching, and the callback's header edits still apply: the
// host refuses a batch whole, so such an increment must not join one.
func TestBadIncrementFailsAlone(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		var hist proxywasm.Histogram
		var errs [2]error
		h := start(t, &plugin{newHTTP: func() proxywasm.HTTP {
			return requestOnly(func(s proxywasm.Stream) proxywasm.Action {
				_ = s.RequestHeaders().Set("x-consumer", "alice")
				_ = s.RequestHeaders().Remove("authorization")
				_ = s.ResponseEdits().Set("x-r", "1")
				errs[0] = proxywasm.Counter(hist).Add(1)
				errs[1] = proxywasm.Counter(hist + 100).Add(1) // never defined
				return proxywasm.Continue
			})
		}}, proxytest.Options{RefuseLifecycle: refuse})
		hist, _ = proxywasm.NewHistogram("h")
		s := h.NewStream()
		s.RequestHeaders(append(get, [2]string{"authorization", "secret"}), true)
		s.ResponseHeaders([][2]string{{":status", "200"}}, true)
		if s.Header("x-consumer") != "alice" || s.HasHeader("authorization") || s.ResponseHeader("x-r") != "1" {
			t.Errorf("refused %v: edits lost: request %v, response %v", refuse, s.Request, s.Response)
		}
		if !errors.Is(errs[0], proxywasm.ErrBadArgument) || !errors.Is(errs[1], proxywasm.ErrNotFound) {
			t.Errorf("refused %v: increments of a histogram and of no metric: %v", refuse, errs)
		}
		s.Complete()
	}
}

// TestResponseEditsOfAnotherRequest: response edits carry their request.
// Made from another request's callback, they never land on the running
// one's response: on wasmgate, which cannot switch a callback to another
// request, they fail, as they do from a root callback; without the
// extension they are kept for their own request.
func TestResponseEditsOfAnotherRequest(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		var first proxywasm.Stream
		var fromOther, fromTick error
		n := 0
		p := &plugin{newHTTP: func() proxywasm.HTTP {
			return &hooks{reqHeaders: func(s proxywasm.Stream) proxywasm.Action {
				if n++; n == 1 {
					first = s
				} else {
					fromOther = first.ResponseEdits().Set("x-for-first", "1")
				}
				return proxywasm.Continue
			}}
		}}
		p.tick = func() { fromTick = first.ResponseEdits().Set("x-tick", "1") }
		h := start(t, p, proxytest.Options{RefuseLifecycle: refuse})
		a, b := h.NewStream(), h.NewStream()
		a.RequestHeaders(get, true)
		b.RequestHeaders(get, true)
		h.Tick()
		a.ResponseHeaders([][2]string{{":status", "200"}}, true)
		b.ResponseHeaders([][2]string{{":status", "200"}}, true)
		if b.ResponseHeader("x-for-first") != "" || b.ResponseHeader("x-tick") != "" {
			t.Errorf("refused %v: another request's edits on this one: %v", refuse, b.Response)
		}
		if refuse {
			if fromOther != nil || fromTick != nil || a.ResponseHeader("x-for-first") != "1" || a.ResponseHeader("x-tick") != "1" {
				t.Errorf("kept edits: %v, %v; response %v", fromOther, fromTick, a.Response)
			}
		} else if !errors.Is(fromOther, proxywasm.ErrBadArgument) || !errors.Is(fromTick, proxywasm.ErrBadArgument) {
			t.Errorf("edits from elsewhere on wasmgate: %v, %v", fromOther, fromTick)
		}
		a.Complete()
		b.Complete()
	}
}

// TestNoEditsOnceDone: OnDone sees the response as sent; header edits
// there fail (wasmgate refuses them once the request is over) rather
// than change it, and counting still works.
func TestNoEditsOnceDone(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		var c proxywasm.Counter
		var errs []error
		var status string
		h := start(t, &plugin{newHTTP: func() proxywasm.HTTP {
			return &hooks{done: func(s proxywasm.Stream) {
				status, _ = s.ResponseHeaders().Get(":status")
				errs = []error{
					s.ResponseHeaders().Set("x-done", "1"),
					s.RequestHeaders().Add("x-done-req", "1"),
					s.ResponseEdits().Set("x-done-edit", "1"),
					c.Add(1),
				}
			}}
		}}, proxytest.Options{RefuseLifecycle: refuse})
		c, _ = proxywasm.NewCounter("done")
		s := h.NewStream()
		s.RequestHeaders(get, true)
		s.ResponseHeaders([][2]string{{":status", "200"}}, true)
		s.Complete()
		m, _ := h.Metric("done")
		if status != "200" || s.HasHeader("x-done-req") || s.ResponseHeader("x-done") != "" || s.ResponseHeader("x-done-edit") != "" || m.Value != 1 {
			t.Errorf("refused %v: status %q, request %v, response %v, count %d", refuse, status, s.Request, s.Response, m.Value)
		}
		if len(errs) != 4 || !errors.Is(errs[0], proxywasm.ErrBadArgument) || !errors.Is(errs[1], proxywasm.ErrBadArgument) ||
			!errors.Is(errs[2], proxywasm.ErrBadArgument) || errs[3] != nil {
			t.Errorf("refused %v: errors %v", refuse, errs)
		}
	}
}

// TestHeaderValues: every line of a header, in order, where Peek gives
// the first; names match whatever their case.
func TestHeaderValues(t *testing.T) {
	var got []string
	var first []byte
	h := start(t, &plugin{newHTTP: func() proxywasm.HTTP {
		return requestOnly(func(s proxywasm.Stream) proxywasm.Action {
			_ = s.RequestHeaders().Add("x-forwarded-for", "192.0.2.3") // sent first
			vals, err := s.RequestHeaders().Values("X-Forwarded-For", nil)
			if err != nil {
				t.Error(err)
			}
			for _, v := range vals {
				got = append(got, string(v))
			}
			v, _ := s.RequestHeaders().Peek("x-forwarded-for")
			first = append([]byte(nil), v...) // a view lasts only the callback
			return proxywasm.Continue
		})
	}}, proxytest.Options{})
	s := h.NewStream()
	s.RequestHeaders(append(get, [2]string{"x-forwarded-for", "192.0.2.1, 192.0.2.9"}, [2]string{"x-other", "1"},
		[2]string{"x-forwarded-for", "192.0.2.2"}), true)
	if want := "[192.0.2.1, 192.0.2.9 192.0.2.2 192.0.2.3]"; fmt.Sprint(got) != want || string(first) != "192.0.2.1, 192.0.2.9" {
		t.Errorf("values %v, want %s; first %q", got, want, first)
	}
	s.Complete()
}

// TestEmulatorOverwritesKeptViews: a value a host call handed out is
// overwritten when the callback returns, as wasmgate reuses that memory
// (for other clients' requests too): a plugin keeping a Peek slice sees
// 0xAA in its next callback, in its unit test, not another client's
// header in production.
func TestEmulatorOverwritesKeptViews(t *testing.T) {
	var kept []byte
	var later string
	h := start(t, &plugin{newHTTP: func() proxywasm.HTTP {
		return &hooks{
			reqHeaders: func(s proxywasm.Stream) proxywasm.Action {
				kept, _ = s.RequestHeaders().Peek("x-user")
				return proxywasm.Continue
			},
			respHeaders: func(s proxywasm.Stream) proxywasm.Action {
				later = string(kept)
				return proxywasm.Continue
			},
		}
	}}, proxytest.Options{})
	s := h.NewStream()
	s.RequestHeaders(append(get, [2]string{"x-user", "alice"}), true)
	s.ResponseHeaders([][2]string{{":status", "200"}}, true)
	if later != "\xaa\xaa\xaa\xaa\xaa" {
		t.Fatalf("the kept view reads %q after its callback, want it overwritten", later)
	}
}

// TestInterleavedRequestsKeepTheirObjects: requests whose contexts outlive
// their first callback each keep an HTTP object of their own, however
// their callbacks interleave, and the objects are reused once they end.
func TestInterleavedRequestsKeepTheirObjects(t *testing.T) {
	made := 0
	h := start(t, &plugin{newHTTP: func() proxywasm.HTTP {
		made++
		return &remember{}
	}}, proxytest.Options{})
	for round := 0; round < 3; round++ {
		var streams []*proxytest.Stream
		for i := 0; i < 3; i++ {
			s := h.NewStream()
			s.RequestHeaders(append(get, [2]string{"x-id", fmt.Sprint(i)}), true)
			streams = append(streams, s)
		}
		for i, s := range streams {
			s.ResponseHeaders([][2]string{{":status", "200"}}, true)
			if got := s.ResponseHeader("x-id"); got != fmt.Sprint(i) {
				t.Fatalf("round %d: request %d's response has x-id %q", round, i, got)
			}
			s.Complete()
		}
	}
	// Three requests at once need three objects: the one made while the
	// plugin started and two more; the later rounds reuse them.
	if made != 3 {
		t.Errorf("%d HTTP objects made, want 3", made)
	}
}

// remember copies the request's x-id to its response.
type remember struct{ id string }

func (r *remember) Reset() { r.id = "" }
func (r *remember) OnRequestHeaders(s proxywasm.Stream, _ bool) proxywasm.Action {
	r.id, _ = s.RequestHeaders().Get("x-id")
	return proxywasm.Continue
}
func (r *remember) OnResponseHeaders(s proxywasm.Stream, _ bool) proxywasm.Action {
	_ = s.ResponseHeaders().Set("x-id", r.id)
	return proxywasm.Continue
}

// wantBadArgument fails the test unless each edit was refused with
// ErrBadArgument.
func wantBadArgument(t *testing.T, errs ...error) {
	t.Helper()
	for _, err := range errs {
		if !errors.Is(err, proxywasm.ErrBadArgument) {
			t.Errorf("a bad edit gave %v", err)
		}
	}
}

// TestEmulatorRefusesWhatWasmgateRefuses: a local response with a status
// outside 100-599, and a callout made once the request is over (OnDone),
// fail in the emulator as they fail on wasmgate, so a plugin's unit test
// does not pass on what the gateway refuses. A local response keeps no
// pseudo-header.
func TestEmulatorRefusesWhatWasmgateRefuses(t *testing.T) {
	var respondErr, calloutErr error
	h := start(t, &plugin{newHTTP: func() proxywasm.HTTP {
		return &hooks{
			reqHeaders: func(s proxywasm.Stream) proxywasm.Action {
				respondErr = s.Respond(600, nil, []byte("custom"))
				return proxywasm.Continue
			},
			done: func(s proxywasm.Stream) {
				calloutErr = s.Callout("audit", [][2]string{{":method", "POST"}, {":path", "/audit"}, {":authority", "audit"}},
					[]byte("done"), time.Second, func(proxywasm.Stream, *proxywasm.CalloutResponse) {})
			},
		}
	}}, proxytest.Options{})
	s := h.NewStream()
	s.RequestHeaders(get, true)
	s.ResponseHeaders([][2]string{{":status", "200"}}, true)
	s.Complete()
	if !errors.Is(respondErr, proxywasm.ErrBadArgument) || s.Local != nil {
		t.Errorf("Respond(600): %v, local %+v; want ErrBadArgument and no response", respondErr, s.Local)
	}
	if !errors.Is(calloutErr, proxywasm.ErrBadArgument) || len(h.Callouts()) != 0 {
		t.Errorf("a callout from OnDone: %v, %d listed; want ErrBadArgument and none", calloutErr, len(h.Callouts()))
	}

	h = start(t, &plugin{newHTTP: func() proxywasm.HTTP {
		return &hooks{reqHeaders: func(s proxywasm.Stream) proxywasm.Action {
			_ = s.Respond(401, [][2]string{{":status", "200"}, {"www-authenticate", "Basic"}}, nil)
			return proxywasm.Pause
		}}
	}}, proxytest.Options{})
	s = h.NewStream()
	s.RequestHeaders(get, true)
	if s.Local == nil || len(s.Local.Headers) != 1 || s.Local.Headers[0][0] != "www-authenticate" {
		t.Errorf("local response headers: %+v, want www-authenticate only", s.Local)
	}
}

// TestEmulatorMarksAStalledRequest: a callback that pauses with nothing
// that could resume the request is marked Stalled (wasmgate fails it);
// one that paused for a callout, or answered locally, is not.
func TestEmulatorMarksAStalledRequest(t *testing.T) {
	for _, tc := range []struct {
		name    string
		act     func(s proxywasm.Stream)
		stalled bool
	}{
		{"nothing pending", func(proxywasm.Stream) {}, true},
		{"a local response", func(s proxywasm.Stream) { _ = s.Respond(403, nil, nil) }, false},
		{"a callout", func(s proxywasm.Stream) {
			_ = s.Callout("auth", [][2]string{{":method", "GET"}, {":path", "/"}, {":authority", "auth"}},
				nil, time.Second, func(proxywasm.Stream, *proxywasm.CalloutResponse) {})
		}, false},
		{"resumed", func(s proxywasm.Stream) { _ = s.Resume() }, false},
	} {
		h := start(t, &plugin{newHTTP: func() proxywasm.HTTP {
			return &hooks{reqHeaders: func(s proxywasm.Stream) proxywasm.Action {
				tc.act(s)
				return proxywasm.Pause
			}}
		}}, proxytest.Options{})
		s := h.NewStream()
		s.RequestHeaders(get, true)
		if s.Stalled != tc.stalled {
			t.Errorf("%s: Stalled %v, want %v", tc.name, s.Stalled, tc.stalled)
		}
	}

	// A callout's done function that neither resumes nor answers leaves
	// the request stalled once the answer is in, as wasmgate finds it
	// (500 plugin_error); one that resumes does not.
	for _, resume := range []bool{false, true} {
		h := start(t, &plugin{newHTTP: func() proxywasm.HTTP {
			return &hooks{reqHeaders: func(s proxywasm.Stream) proxywasm.Action {
				_ = s.Callout("auth", [][2]string{{":method", "GET"}, {":path", "/"}, {":authority", "auth"}},
					nil, time.Second, func(s proxywasm.Stream, _ *proxywasm.CalloutResponse) {
						if resume {
							_ = s.Resume()
						}
					})
				return proxywasm.Pause
			}}
		}}, proxytest.Options{})
		s := h.NewStream()
		s.RequestHeaders(get, true)
		h.Callouts()[0].Respond(200, nil, nil)
		if s.Stalled == resume {
			t.Errorf("done that resumes %v: Stalled %v", resume, s.Stalled)
		}
	}
}

// TestEmulatorNotifiesOwnEnqueues: an item a plugin enqueues to a queue of
// its own, from a request's callback, reaches its OnQueueReady after the
// callback, as on wasmgate.
func TestEmulatorNotifiesOwnEnqueues(t *testing.T) {
	var got []string
	var q proxywasm.Queue
	p := &plugin{
		newHTTP: func() proxywasm.HTTP {
			return &hooks{reqHeaders: func(proxywasm.Stream) proxywasm.Action {
				_ = q.Enqueue([]byte("job"))
				if len(got) != 0 {
					t.Error("OnQueueReady ran inside the callback")
				}
				return proxywasm.Continue
			}}
		},
		queue: func(id proxywasm.Queue) {
			item, err := id.Dequeue()
			if err == nil {
				got = append(got, string(item))
			}
		},
	}
	p.configure = func([]byte) error {
		var err error
		q, err = proxywasm.RegisterQueue("own")
		return err
	}
	h := start(t, p, proxytest.Options{})
	h.NewStream().RequestHeaders(get, true)
	if strings.Join(got, ",") != "job" {
		t.Fatalf("dequeued %q after the callback, want job", got)
	}
}

// TestEmulatorDerivesProperties: the request and response properties
// wasmgate derives from the messages are there in the emulator too,
// unless the test set them; numbers are 8-byte little-endian, as there.
func TestEmulatorDerivesProperties(t *testing.T) {
	got := map[string]string{}
	read := func(s proxywasm.Stream, path ...string) {
		v, err := s.Property(path...)
		if err != nil {
			got[strings.Join(path, ".")] = "error: " + err.Error()
			return
		}
		got[strings.Join(path, ".")] = string(v)
	}
	h := start(t, &plugin{newHTTP: func() proxywasm.HTTP {
		return &hooks{
			reqHeaders: func(s proxywasm.Stream) proxywasm.Action {
				read(s, "request", "path")
				read(s, "request", "url_path")
				read(s, "request", "query")
				read(s, "request", "method")
				read(s, "request", "host")
				read(s, "request", "headers", "x-user")
				read(s, "source", "address")
				return proxywasm.Continue
			},
			respHeaders: func(s proxywasm.Stream) proxywasm.Action {
				read(s, "response", "code")
				return proxywasm.Continue
			},
		}
	}}, proxytest.Options{Properties: map[string]string{"source.address": "192.0.2.1:4000"}})
	s := h.NewStream()
	s.RequestHeaders([][2]string{{":method", "GET"}, {":path", "/a/b?x=1"}, {":authority", "api.test"}, {"X-User", "alice"}}, true)
	s.ResponseHeaders([][2]string{{":status", "201"}}, true)
	want := map[string]string{
		"request.path": "/a/b?x=1", "request.url_path": "/a/b", "request.query": "x=1", "request.method": "GET",
		"request.host": "api.test", "request.headers.x-user": "alice", "source.address": "192.0.2.1:4000",
		"response.code": "\xc9\x00\x00\x00\x00\x00\x00\x00",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}
