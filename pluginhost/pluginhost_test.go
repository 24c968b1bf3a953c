package pluginhost

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/tetratelabs/wazero"
	"github.com/valyala/fasthttp"

	"github.com/wasmgate/wasmgate/internal/watfixture"
	"github.com/wasmgate/wasmgate/pluginhost/internal/interrupt"
)

// fixture is a committed module from testdata.
func fixture(t testing.TB, name string) []byte { return watfixture.Read(t, name) }

// load loads the committed fixture testdata/name.wasm.
func load(t testing.TB, name string, o Options) *Plugin {
	t.Helper()
	return loadModule(t, name, fixture(t, name), o)
}

// loadWAT loads a module assembled from WAT source: for a guest a test
// states whole beside its assertions (the hostile ones), where a shared
// fixture would hide what the test is about.
func loadWAT(t testing.TB, name, src string, o Options) *Plugin {
	t.Helper()
	return loadModule(t, name, watfixture.Assemble(t, src), o)
}

// bumpGuest is what every inline test module needs to be a Proxy-Wasm
// guest (see watfixture.Guest).
const bumpGuest = watfixture.Guest

func loadModule(t testing.TB, name string, module []byte, o Options) *Plugin {
	t.Helper()
	o.Module = module
	if o.Name == "" {
		o.Name = name
	}
	o.Log = zerolog.Nop()
	p, err := Load(context.Background(), o)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	t.Cleanup(p.Close)
	return p
}

func reqCtx(headers ...string) *fasthttp.RequestCtx {
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.SetRequestURI("http://example.test/a/b?x=1")
	ctx.Request.Header.SetMethod("GET")
	for i := 0; i+1 < len(headers); i += 2 {
		ctx.Request.Header.Set(headers[i], headers[i+1])
	}
	return ctx
}

// serveThrough runs a request with a 200 response through p, every
// phase and the end.
func serveThrough(t *testing.T, p *Plugin, ctx *fasthttp.RequestCtx) {
	t.Helper()
	r, _ := Chain{NewSlot(p)}.Begin(ctx, "r", "u")
	if _, err := r.RequestHeaders(); err != nil {
		t.Fatal(err)
	}
	ctx.Response.SetStatusCode(200)
	if _, err := r.ResponseHeaders(); err != nil {
		t.Fatal(err)
	}
	r.End()
}

// TestFixturesMatchTheirSource: every committed .wasm is what its .wat
// assembles to, so a fixture cannot drift from the source beside it.
func TestFixturesMatchTheirSource(t *testing.T) { watfixture.Check(t, "testdata") }

func TestHeadersAndConfig(t *testing.T) {
	p := load(t, "add_header", Options{Config: []byte("tenants=a,b"), Pool: 2})
	if p.ABI != "0.2.1" || len(p.Hash) != 64 {
		t.Fatalf("ABI %q hash %q", p.ABI, p.Hash)
	}
	ctx := reqCtx()
	r, err := Chain{NewSlot(p)}.Begin(ctx, "r", "u")
	if err != nil {
		t.Fatal(err)
	}
	if act, err := r.RequestHeaders(); act != Continue || err != nil {
		t.Fatalf("request headers: %v %v", act, err)
	}
	if got := string(ctx.Request.Header.Peek("x-plugin-config")); got != "tenants=a,b" {
		t.Fatalf("x-plugin-config = %q", got)
	}
	ctx.Response.SetStatusCode(200)
	if _, err := r.ResponseHeaders(); err != nil {
		t.Fatal(err)
	}
	if got := string(ctx.Response.Header.Peek("x-plugin")); got != "hello" {
		t.Fatalf("x-plugin = %q", got)
	}
	r.End()
}

func TestLocalResponse(t *testing.T) {
	p := load(t, "deny", Options{})
	ctx := reqCtx()
	r, _ := Chain{NewSlot(p)}.Begin(ctx, "r", "u")
	act, err := r.RequestHeaders()
	if act != Respond || err != nil || r.Local == nil {
		t.Fatalf("got %v %v %+v, want a local response", act, err, r.Local)
	}
	if r.Local.Status != 403 || string(r.Local.Body) != "no tenant\n" ||
		len(r.Local.Headers) != 1 || r.Local.Headers[0] != [2]string{"x-denied-by", "deny"} {
		t.Fatalf("local response %+v", r.Local)
	}
	r.End()
	ctx = reqCtx("X-Tenant", "a")
	r, _ = Chain{NewSlot(p)}.Begin(ctx, "r", "u")
	if act, err := r.RequestHeaders(); act != Continue || err != nil {
		t.Fatalf("with a tenant: %v %v", act, err)
	}
	r.End()
}

// TestBadGuestArguments: out-of-range pointers and lengths, unknown names
// and unimplemented calls get a status, never a host panic.
func TestBadGuestArguments(t *testing.T) {
	p := load(t, "abi_probe", Options{Name: "probe"})
	if p.ABI != "0.2.0" {
		t.Fatalf("ABI %q", p.ABI)
	}
	ctx := reqCtx()
	r, _ := Chain{NewSlot(p)}.Begin(ctx, "r", "u")
	ctx.Response.SetStatusCode(200)
	if _, err := r.ResponseHeaders(); err != nil {
		t.Fatal(err)
	}
	r.End()
	// InvalidMemoryAccess, InvalidMemoryAccess, NotFound, NotFound,
	// InvalidMemoryAccess.
	if got := string(ctx.Response.Header.Peek("x-status")); got != "66116" {
		t.Fatalf("statuses %q, want 66116", got)
	}
	if got := string(ctx.Response.Header.Peek("x-plugin-name")); got != "probe" {
		t.Fatalf("plugin_name property %q", got)
	}
}

func TestRefusesModuleWithoutABIVersion(t *testing.T) {
	_, err := Load(context.Background(), Options{Name: "x", Module: fixture(t, "noabi"), Log: zerolog.Nop()})
	if err == nil || !strings.Contains(err.Error(), "ABI version") {
		t.Fatalf("err %v, want a refusal naming the ABI version", err)
	}
	_, err = Load(context.Background(), Options{Name: "x", Module: []byte("not wasm"), Log: zerolog.Nop()})
	if err == nil || !strings.Contains(err.Error(), "compile") {
		t.Fatalf("err %v, want a compile error", err)
	}
}

// TestFaultsReplaceTheVM: each kind of failure is reported as a Fault of
// its kind, the VM is replaced, and the plugin keeps serving.
func TestFaultsReplaceTheVM(t *testing.T) {
	for _, tc := range []struct{ mode, kind string }{
		{"loop", faultTimeout}, {"grow", faultMemory}, {"exit", faultExit}, {"trap10", faultTrap},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			timeout := 2 * time.Second // growing to the limit is slow under -race
			if tc.mode == "loop" {
				timeout = 100 * time.Millisecond
			}
			p := load(t, "faulty", Options{VMConfig: []byte(tc.mode), CallTimeout: timeout, MemoryPages: 64})
			var fault *Fault
			for i := 0; i < 10 && fault == nil; i++ {
				r, err := Chain{NewSlot(p)}.Begin(reqCtx(), "r", "u")
				if err != nil {
					t.Fatal(err)
				}
				_, err = r.RequestHeaders()
				r.End()
				if err != nil {
					f, ok := err.(*Fault)
					if !ok {
						t.Fatalf("error %T %v, want *Fault", err, err)
					}
					fault = f
					if tc.mode == "trap10" && i != 9 {
						t.Fatalf("trapped on request %d, want the 10th", i+1)
					}
				}
			}
			if fault == nil || fault.Kind != tc.kind {
				t.Fatalf("fault %+v, want kind %s", fault, tc.kind)
			}
			deadline := time.Now().Add(10 * time.Second)
			for p.Stats().Replaced == 0 || p.Stats().Live != 1 {
				if time.Now().After(deadline) {
					t.Fatalf("VM not replaced: %+v", p.Stats())
				}
				time.Sleep(10 * time.Millisecond)
			}
			if tc.mode == "trap10" {
				r, _ := Chain{NewSlot(p)}.Begin(reqCtx(), "r", "u")
				if _, err := r.RequestHeaders(); err != nil {
					t.Fatalf("the replacement VM failed: %v", err)
				}
				r.End()
			}
		})
	}
}

// TestTimersAndQueues: a timer set in proxy_on_configure ticks, and a
// message each tick puts on the plugin's shared queue reaches
// proxy_on_queue_ready and is dequeued.
func TestTimersAndQueues(t *testing.T) {
	p := load(t, "ticker", Options{})
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx := reqCtx()
		r, _ := Chain{NewSlot(p)}.Begin(ctx, "r", "u")
		ctx.Response.SetStatusCode(200)
		if _, err := r.ResponseHeaders(); err != nil {
			t.Fatal(err)
		}
		r.End()
		ticks, got := string(ctx.Response.Header.Peek("x-ticks")), string(ctx.Response.Header.Peek("x-dequeued"))
		if ticks >= "3" && got >= "2" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ticks %q, dequeued %q after 10s", ticks, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHostServices: metrics, shared data with CAS, a foreign function, a
// property and the log level, as a guest sees them.
func TestHostServices(t *testing.T) {
	// Metrics are process-wide: a name of its own keeps a repeated run
	// (-count) from seeing the last run's counter.
	p := load(t, "host_probe", Options{Name: fmt.Sprintf("probe-%d", time.Now().UnixNano())})
	ctx := reqCtx("x-drop", "1")
	r, _ := Chain{NewSlot(p)}.Begin(ctx, "r", "u")
	if _, err := r.RequestHeaders(); err != nil {
		t.Fatal(err)
	}
	if v := ctx.Response.Header.Peek("x-edit"); v != nil {
		t.Errorf("a response edit applied before the response phase: %q", v)
	}
	ctx.Response.SetStatusCode(200)
	if _, err := r.ResponseHeaders(); err != nil {
		t.Fatal(err)
	}
	r.End()
	h := &ctx.Request.Header
	// define, increment, get, set, get, stale-cas set (8), foreign,
	// property, log level, response edit, pseudo-header edit (2), a batch
	// of edits, a batch with a pseudo-header edit (2), request edits, a
	// metric increment in a batch
	if got := string(h.Peek("x-host-status")); got != "000008000020200" {
		t.Errorf("statuses %q, want 000008000020200", got)
	}
	if got, drop := string(h.Peek("x-q")), h.Peek("x-drop"); got != "yes" || drop != nil {
		t.Errorf("request edits: x-q %q (want yes), x-drop %q (want none)", got, drop)
	}
	if got := string(ctx.Response.Header.Peek("x-edit")); got != "1" || ctx.Response.StatusCode() != 200 {
		t.Errorf("response edit: x-edit %q, status %d", got, ctx.Response.StatusCode())
	}
	var batch []string
	for _, v := range ctx.Response.Header.PeekAll("x-b") {
		batch = append(batch, string(v))
	}
	if strings.Join(batch, ",") != "one,two" {
		t.Errorf("batched edits: x-b %q, want one, two", batch)
	}
	if v := ctx.Response.Header.Peek("x-c"); v != nil {
		t.Errorf("a refused batch applied its first edit: x-c %q", v)
	}
	if got := string(h.Peek("x-foreign")); got != "ping" {
		t.Errorf("foreign echo %q", got)
	}
	if got := string(h.Peek("x-path")); got != "/a/b?x=1" {
		t.Errorf("request.path %q", got)
	}
	if got := string(h.Peek("x-counter")); got != "5" {
		t.Errorf("counter %q, want 5 (2, then 3 in a batch)", got)
	}
	if got, want := string(h.Peek("x-sha256")), fmt.Sprintf("%x", sha256.Sum256([]byte("ping"))); got != want {
		t.Errorf("wasmgate.sha256 %q, want %q", got, want)
	}
}

// TestCacheDir: with a cache directory, compiled modules land on disk.
func TestCacheDir(t *testing.T) {
	dir := t.TempDir()
	if err := UseCacheDir(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cacheMu.Lock(); cache, cacheAt = wazero.NewCompilationCache(), ""; cacheMu.Unlock() })
	load(t, "noop", Options{Name: "cached"})
	var files int
	_ = filepath.Walk(dir, func(_ string, info os.FileInfo, _ error) error {
		if info != nil && !info.IsDir() {
			files++
		}
		return nil
	})
	if files == 0 {
		t.Fatal("nothing was written to the cache directory")
	}
}

// TestEveryHostFunctionSurvivesBadArguments calls every host function the
// way a broken guest might: every pointer and length far outside memory,
// then all zero. Each must answer a status, never panic, and never claim
// success for a read or write it could not do.
func TestEveryHostFunctionSurvivesBadArguments(t *testing.T) {
	p := load(t, "noop", Options{Name: "robust"})
	vm := p.pick()
	ctx := reqCtx()
	vm.mu.Lock()
	defer vm.mu.Unlock()
	vm.cur = &Stream{vm: vm, id: 7, req: &Request{Ctx: ctx}}
	defer func() { vm.cur = nil }()
	for _, h := range hostFuncs {
		for _, fill := range []uint64{0xfffffff0, 0} {
			stack := make([]uint64, max(len(h.params), 1))
			for i := range stack {
				stack[i] = fill
			}
			var st uint32
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("%s(%#x...) panicked: %v", h.name, fill, r)
					}
				}()
				st = h.fn(vm, stack)
			}()
			if fill != 0 && st == stOK {
				switch h.name {
				case "proxy_continue_stream", "proxy_close_stream", "proxy_continue_request", "proxy_continue_response",
					"proxy_clear_route_cache", "proxy_done", "proxy_set_tick_period_milliseconds":
					// They take no pointers.
				default:
					t.Errorf("%s with pointers outside memory answered OK", h.name)
				}
			}
		}
	}
}

func TestHeaderMapsAndLifecycle(t *testing.T) {
	p := load(t, "maps_probe", Options{Config: []byte("cfg")})
	ctx := reqCtx("X-A", "old", "X-B", "gone", "X-C", "kept")
	serveThrough(t, p, ctx)
	h := &ctx.Request.Header
	// set_header_map_pairs replaced the whole map with x-set: 1 (after the
	// first call had set it back as it was).
	if string(h.Peek("X-Set")) != "1" || h.Peek("X-C") != nil || h.Peek("X-B") != nil {
		t.Errorf("request headers after set pairs:\n%s", h.Header())
	}
	if got := string(ctx.Response.Header.Peek("x-probe")); got != "00000000000" {
		t.Errorf("statuses %q, want all OK", got)
	}
	if got := string(ctx.Response.Header.Peek("x-pairs-bytes")); got != "1" {
		t.Errorf("proxy_get_header_map_size disagreed with the pairs it sizes")
	}
}

// TestProperties reads properties the way a guest does: a NUL-separated
// path in guest memory, the value handed back in guest memory.
func TestProperties(t *testing.T) {
	p := load(t, "noop", Options{Name: "props-test"})
	vm := p.pick()
	ctx := reqCtx("User-Agent", "probe/1", "X-In", "in")
	ctx.Response.Header.Set("X-Out", "out")
	vm.mu.Lock()
	defer vm.mu.Unlock()
	vm.cur = &Stream{vm: vm, id: 3, req: &Request{Ctx: ctx, Route: "the-route", Upstream: "the-upstream"}}
	defer func() { vm.cur = nil }()
	mem := vm.mod.Memory()
	get := func(path string) (string, uint32) {
		raw := []byte(strings.ReplaceAll(path, ".", "\x00"))
		mem.Write(100, raw)
		st := hGetProperty(vm, []uint64{100, uint64(len(raw)), 200, 204})
		ptr, _ := mem.ReadUint32Le(200)
		n, _ := mem.ReadUint32Le(204)
		b, _ := mem.Read(ptr, n)
		return string(b), st
	}
	for path, want := range map[string]string{
		"request.method":         "GET",
		"request.url_path":       "/a/b",
		"request.host":           "example.test",
		"request.useragent":      "probe/1",
		"request.headers.x-in":   "in",
		"response.headers.x-out": "out",
		"route_name":             "the-route",
		"cluster_name":           "the-upstream",
		"plugin_name":            "props-test",
	} {
		if got, st := get(path); st != stOK || got != want {
			t.Errorf("%s = %q (status %d), want %q", path, got, st, want)
		}
	}
	if _, st := get("no.such.property"); st != stNotFound {
		t.Errorf("unknown property: status %d, want NotFound", st)
	}
}

// TestResultArea: a plugin that lent the host a result area while it
// started gets returned values there, with no call back into it to
// allocate; the area is reused at every callback.
func TestResultArea(t *testing.T) {
	p := load(t, "result_area", Options{Pool: 1})
	for i := 0; i < 3; i++ {
		ctx := reqCtx("x-in", "value")
		r, err := Chain{NewSlot(p)}.Begin(ctx, "r", "u")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.RequestHeaders(); err != nil {
			t.Fatal(err)
		}
		where, allocs := string(ctx.Request.Header.Peek("x-where")), string(ctx.Request.Header.Peek("x-allocs"))
		if where != "area" || allocs != "0" {
			t.Fatalf("request %d: value in %q after %s allocations", i, where, allocs)
		}
		r.End()
	}
}

// TestInterruptionChecks: a module is loaded with the checks that let the
// watchdog stop it (its start function included), unless trusted, which
// runs it as built.
func TestInterruptionChecks(t *testing.T) {
	p := load(t, "noop", Options{})
	if p.vms[0].interrupt == nil || p.vms[0].mod.ExportedGlobal(interrupt.ExportName) == nil {
		t.Fatal("the module was not instrumented")
	}
	trusted := load(t, "noop", Options{Name: "trusted", Trusted: true})
	if trusted.vms[0].interrupt != nil || trusted.vms[0].mod.ExportedGlobal(interrupt.ExportName) != nil {
		t.Fatal("a trusted module was changed")
	}

	start := time.Now()
	_, err := Load(context.Background(), Options{Name: "spin", Module: fixture(t, "start_loop"),
		CallTimeout: 10 * time.Millisecond, Log: zerolog.Nop()})
	if err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("a start function looping for ever: %v, want a deadline error", err)
	}
	// The bound is 10 call timeouts plus a second.
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("stopped after %v", d)
	}
}

// TestAddressProperties: source.address and its kin are written without
// String's allocations, and must read exactly as String writes them.
func TestAddressProperties(t *testing.T) {
	vm := &VM{}
	for _, a := range []net.Addr{
		&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000},
		&net.TCPAddr{IP: net.IP{10, 1, 2, 3}, Port: 80},
		&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 443},
		&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 8080, Zone: "eth0"},
		&net.UnixAddr{Name: "/run/x.sock", Net: "unix"},
	} {
		if got := string(vm.appendAddr(a)); got != a.String() {
			t.Errorf("%#v: %q, want %q", a, got, a.String())
		}
		_, port := splitPort(a.String())
		if got := portOf(a); got != port {
			t.Errorf("%#v: port %d, want %d", a, got, port)
		}
	}
	a := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 9), Port: 5}
	if n := testing.AllocsPerRun(100, func() { vm.appendAddr(a) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// TestEditArea: edits a plugin leaves in the edit area it lent apply when
// its callback returns, with no host call: the request's at once, the
// response's in the response phase. A malformed batch is dropped whole,
// and the next request's edits apply again. A callback that leaves no
// edits gets none: the host emptied the area after the last.
func TestEditArea(t *testing.T) {
	// A name of its own: the counter is process-wide, and -count reruns.
	p := load(t, "edit_area", Options{Name: fmt.Sprintf("edit-area-%d", time.Now().UnixNano())})
	for i, mark := range []string{"", "x-skip", "x-bad", ""} {
		ctx := reqCtx()
		bad := mark != ""
		if bad {
			ctx.Request.Header.Set(mark, "1")
		}
		r, _ := Chain{NewSlot(p)}.Begin(ctx, "r", "u")
		if _, err := r.RequestHeaders(); err != nil {
			t.Fatal(err)
		}
		if v := ctx.Response.Header.Peek("x-late"); v != nil {
			t.Errorf("request %d: a response edit applied before the response phase: %q", i, v)
		}
		ctx.Response.SetStatusCode(200)
		if _, err := r.ResponseHeaders(); err != nil {
			t.Fatal(err)
		}
		r.End()
		area, late := string(ctx.Request.Header.Peek("x-area")), string(ctx.Response.Header.Peek("x-late"))
		if bad && (area != "" || late != "") {
			t.Errorf("request %d (%s): edits applied: x-area %q, x-late %q", i, mark, area, late)
		}
		if !bad && (area != "yes" || late != "1") {
			t.Errorf("request %d: x-area %q (want yes), x-late %q (want 1)", i, area, late)
		}
	}
	// The malformed batch, and only it, is counted.
	if n := p.editsRefused.Get(); n != 1 {
		t.Errorf("wasmgate_plugin_edits_refused_total %d, want 1", n)
	}
}

// TestNoEditsOnceOver: in the done and log phases the request is over and
// its response built (fasthttp sends it when the handler returns), so
// header edits are refused, made with host calls or left in the edit
// area, and the response goes out as the earlier phases left it.
func TestNoEditsOnceOver(t *testing.T) {
	p := load(t, "log_edits", Options{Name: fmt.Sprintf("log-edits-%d", time.Now().UnixNano())})
	ctx := reqCtx()
	serveThrough(t, p, ctx)
	for name, v := range map[string][]byte{
		"response x-log":      ctx.Response.Header.Peek("x-log"),
		"response x-log-area": ctx.Response.Header.Peek("x-log-area"),
		"request x-log-req":   ctx.Request.Header.Peek("x-log-req"),
	} {
		if v != nil {
			t.Errorf("%s set in the log phase: %q", name, v)
		}
	}
	if n := p.editsRefused.Get(); n != 1 {
		t.Errorf("wasmgate_plugin_edits_refused_total %d, want 1 (the log phase's batch)", n)
	}
}

// TestRetiredVersionWaitsForItsRequests: a version swapped out stays open
// while a request holds a context in it, however long (a slow upstream,
// a long download), and closes once the request ends. Closing it at a
// fixed 30 s failed such requests after their target had answered.
// TestClosedSlotServesALateRequest: a request that took a snapshot just
// before a reload retired its plugin begins its chain a moment after the
// slot was closed, and still finds the plugin in service.
func TestClosedSlotServesALateRequest(t *testing.T) {
	p := load(t, "add_header", Options{})
	slot := NewSlot(p)
	go slot.Close()
	time.Sleep(50 * time.Millisecond)
	r, err := Chain{slot}.Begin(reqCtx(), "r", "u")
	if err != nil {
		t.Fatalf("a request 50ms after the slot closed: %v", err)
	}
	if _, err := r.RequestHeaders(); err != nil {
		t.Fatal(err)
	}
	r.End()
	deadline := time.Now().Add(5 * time.Second)
	for !p.closed.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the retired version did not close once idle")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRetiredVersionWaitsForItsRequests(t *testing.T) {
	old := load(t, "add_header", Options{})
	slot := NewSlot(old)
	r, err := Chain{slot}.Begin(reqCtx(), "r", "u")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.RequestHeaders(); err != nil {
		t.Fatal(err)
	}
	slot.Swap(load(t, "add_header", Options{}))
	time.Sleep(300 * time.Millisecond)
	if old.closed.Load() {
		t.Fatal("the retired version closed under a request")
	}
	r.Ctx.Response.SetStatusCode(200)
	if _, err := r.ResponseHeaders(); err != nil {
		t.Fatalf("the request's response phase on the retired version: %v", err)
	}
	r.End()
	deadline := time.Now().Add(3 * time.Second)
	for !old.closed.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the retired version did not close once idle")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
