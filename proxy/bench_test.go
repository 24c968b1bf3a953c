package proxy

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"
)

// catchAll sends every request to the benchmark backend.
const catchAll = `
[[routes]]
name = "all"
path_prefix = "/"
upstream = "backend"
`

// benchGateway builds a gateway (not listening) with the given routes and
// an upstream "backend" that is a real fasthttp server on loopback, and
// returns a function that runs one request through the handler.
func benchGateway(b testing.TB, routes string) func(ctx *fasthttp.RequestCtx) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	backend := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"ok":true}`)
	}}
	go func() { _ = backend.Serve(ln) }()
	b.Cleanup(func() { _ = backend.Shutdown() })

	dir := b.TempDir()
	path := filepath.Join(dir, "g.toml")
	cfg := `
[admin]
listen = ""
[log]
level = "warn"
access_log = false
output = "` + filepath.Join(dir, "log") + `"
[[listeners]]
name = "bench"
listen = "127.0.0.1:0"
[[upstreams]]
name = "backend"
targets = ["` + ln.Addr().String() + `"]
` + routes
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		b.Fatal(err)
	}
	g, err := New(Options{ConfigPath: path})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(g.logs.close)
	b.Cleanup(func() {
		// Warnings (a plugin's fault, say) are worth seeing when a
		// benchmark fails.
		if b.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			b.Logf("gateway log:\n%s", log)
		}
	})
	l := g.listeners[0]
	return func(ctx *fasthttp.RequestCtx) { g.serve(ctx, l) }
}

func benchRequest(ctx *fasthttp.RequestCtx, req *fasthttp.Request, remote *net.TCPAddr) {
	req.Reset()
	req.Header.SetMethod("GET")
	req.SetRequestURI("/api/users?id=7")
	req.Header.SetHost("api.example.com")
	req.Header.Set("User-Agent", "bench")
	req.Header.Set("Accept", "*/*")
	ctx.Init(req, remote, nil)
	// Init keeps the last response's headers; fasthttp's server resets
	// them between requests, and so must the benchmarks, or a plugin that
	// adds a header (cors's Vary) grows the response forever.
	ctx.Response.Reset()
}

// BenchmarkProxyRoundTrip is one request through the gateway's handler to a
// loopback backend and back: routing, header rewriting, the upstream
// exchange, metrics. allocs/op counts every goroutine, the backend's too.
func BenchmarkProxyRoundTrip(b *testing.B) {
	serve := benchGateway(b, catchAll)
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	benchRequest(&ctx, &req, remote)
	serve(&ctx) // warm the pool
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		benchRequest(&ctx, &req, remote)
		serve(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("status %d", ctx.Response.StatusCode())
		}
		// What the server does after the handler: relay the body, then
		// close the stream, which returns the connection to the pool.
		if _, err := io.Copy(io.Discard, ctx.Response.BodyStream()); err != nil {
			b.Fatal(err)
		}
		_ = ctx.Response.CloseBodyStream()
	}
}

// BenchmarkDirectResponse is the gateway's own cost without an upstream:
// routing, request id, metrics and a response from config.
func BenchmarkDirectResponse(b *testing.B) {
	serve := benchGateway(b, catchAll+`
[[routes]]
name = "status"
path = "/status"
direct_response = { status = 200, body = "ok" }
`)
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req.Reset()
		req.Header.SetMethod("GET")
		req.SetRequestURI("/status")
		req.Header.SetHost("api.example.com")
		ctx.Init(&req, remote, nil)
		serve(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("status %d", ctx.Response.StatusCode())
		}
	}
}

// BenchmarkPluginChain is the cost of a route's plugin chain: a direct
// response (no upstream, so only the gateway's own work is measured) with
// no plugin, one and three no-op Proxy-Wasm plugins. Each plugin opens a
// context and runs request headers, response headers, done, log and
// delete: five calls into its VM per request.
func BenchmarkPluginChain(b *testing.B) {
	plugins := noopPlugins(b, "pool = 1\n")
	for _, tc := range []struct{ name, chain string }{
		{"plugins=0", `[]`}, {"plugins=1", `["a"]`}, {"plugins=3", `["a", "b", "c"]`},
	} {
		b.Run(tc.name, func(b *testing.B) { benchChain(b, plugins, tc.chain, 0, nil, false) })
	}
}

// BenchmarkPluginChainParallel is BenchmarkPluginChain with three plugins
// from as many goroutines as processors, each plugin with a VM per
// processor: what the plugins' bookkeeping shared between VMs (pool
// choice, counters, metrics) costs when every core is calling in.
func BenchmarkPluginChainParallel(b *testing.B) {
	plugins := noopPlugins(b, "") // the default pool: a VM per processor
	for _, tc := range []struct{ name, chain string }{
		{"plugins=0", `[]`}, {"plugins=3", `["a", "b", "c"]`},
	} {
		b.Run(tc.name, func(b *testing.B) { benchChain(b, plugins, tc.chain, 0, nil, true) })
	}
}

// noopPlugins configures plugins a, b and c, each the no-op fixture, with
// extra settings.
func noopPlugins(b *testing.B, extra string) string {
	noop, err := filepath.Abs(filepath.Join("..", "pluginhost", "testdata", "noop.wasm"))
	if err != nil {
		b.Fatal(err)
	}
	plugins := ""
	for _, n := range []string{"a", "b", "c"} {
		plugins += "[[plugins]]\nname = \"" + n + "\"\nmodule = \"" + noop + "\"\ncall_timeout = \"5s\"\n" + extra
	}
	return plugins
}

// benchChain measures requests through a route that answers directly with
// the given plugin chain, so only the gateway's own work is timed. warm
// requests run first, untimed; prepare adds headers to each request. With
// parallel, GOMAXPROCS goroutines send requests at once, as the cores of a
// loaded gateway do.
func benchChain(b *testing.B, plugins, chain string, warm int, prepare func(*fasthttp.RequestHeader), parallel bool) {
	serve := benchGateway(b, plugins+`
[[routes]]
name = "status"
path_prefix = "/"
direct_response = { status = 200, body = "ok" }
plugins = `+chain+"\n")
	// client is one sender: each call sends a request, false when the
	// answer was wrong.
	client := func() func() bool {
		remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
		var ctx fasthttp.RequestCtx
		var req fasthttp.Request
		return func() bool {
			benchRequest(&ctx, &req, remote)
			if prepare != nil {
				prepare(&ctx.Request.Header)
			}
			serve(&ctx)
			if ctx.Response.StatusCode() != 200 {
				b.Errorf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
				return false
			}
			return true
		}
	}
	// Warm from a sender per processor at once: a request runs in the VM
	// of its processor, so one sender alone would leave the others' VMs
	// cold (their first requests grow the guest's memory, which the
	// timed loop would then count).
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := client()
			for i := 0; i < warm && run(); i++ {
			}
		}()
	}
	wg.Wait()
	run := client()
	b.ReportAllocs()
	b.ResetTimer()
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			run := client()
			for pb.Next() && run() {
			}
		})
		return
	}
	for i := 0; i < b.N && run(); i++ {
	}
}
