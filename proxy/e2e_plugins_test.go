package proxy_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmgate/wasmgate/internal/watfixture"
)

// fixturePath is a Proxy-Wasm test module from pluginhost/testdata.
func fixturePath(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "pluginhost", "testdata", name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func echoHeaders(t *testing.T) *killable {
	return newKillable(t, "be", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "config=%s tenant=%s", r.Header.Get("X-Plugin-Config"), r.Header.Get("X-Tenant"))
	})
}

// TestE2EPluginsRunInOrder: a route's chain changes the request before it
// is forwarded and the response before it is sent; a plugin can answer
// the request itself.
func TestE2EPluginsRunInOrder(t *testing.T) {
	be := echoHeaders(t)
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.addr)+fmt.Sprintf(`
[[plugins]]
name = "stamp"
module = %q
config = "tenants=a,b"
pool = 2

[[plugins]]
name = "tenant-check"
module = %q

[[routes]]
path_prefix = "/"
upstream = "backend"
plugins = ["tenant-check", "stamp"]
`, fixturePath(t, "add_header"), fixturePath(t, "deny")))
	client := newClient(t)

	resp, body := doReq(t, client, "GET", g.URL+"/x", map[string]string{"X-Tenant": "a"}, nil)
	if resp.StatusCode != 200 || string(body) != "config=tenants=a,b tenant=a" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if got := resp.Header.Get("X-Plugin"); got != "hello" {
		t.Errorf("response header X-Plugin = %q", got)
	}

	hits := be.hits.Load()
	resp, body = doReq(t, client, "GET", g.URL+"/x", nil, nil)
	if resp.StatusCode != 403 || string(body) != "no tenant\n" || resp.Header.Get("X-Denied-By") != "deny" {
		t.Fatalf("without a tenant: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if be.hits.Load() != hits {
		t.Fatal("a request the plugin answered still reached the backend")
	}
	if !requestIDRe.MatchString(resp.Header.Get("X-Request-Id")) {
		t.Errorf("local response without a request id")
	}
}

// TestE2EFaultyPluginsAreContained: under concurrent load, a route whose
// plugin traps on one request in ten answers 500 for exactly those; a
// route without it answers every request; plugins that loop, exhaust
// memory or exit fail their own requests only, and faults are counted.
func TestE2EFaultyPluginsAreContained(t *testing.T) {
	be := newKillable(t, "be", nil)
	cfg := publicListener + upstreamTOML("backend", "", be.addr)
	for _, mode := range []string{"trap10", "loop", "grow", "exit"} {
		// Only the looping plugin should meet its deadline; growing memory
		// to the limit can take a while under the race detector.
		timeout := "2s"
		if mode == "loop" {
			timeout = "50ms"
		}
		cfg += fmt.Sprintf("[[plugins]]\nname = %q\nmodule = %q\nvm_config = %q\npool = 2\ncall_timeout = %q\nmemory_limit = \"4MiB\"\n",
			mode, fixturePath(t, "faulty"), mode, timeout)
		cfg += fmt.Sprintf("[[routes]]\npath_prefix = \"/%s/\"\nupstream = \"backend\"\nplugins = [%q]\n", mode, mode)
	}
	cfg += fmt.Sprintf("[[plugins]]\nname = \"open\"\nmodule = %q\nvm_config = \"loop\"\non_error = \"fail_open\"\ncall_timeout = \"20ms\"\n", fixturePath(t, "faulty"))
	cfg += "[[routes]]\npath_prefix = \"/open/\"\nupstream = \"backend\"\nplugins = [\"open\"]\n"
	cfg += "[[routes]]\npath_prefix = \"/clean/\"\nupstream = \"backend\"\n"
	g := startGateway(t, cfg)
	client := newClient(t)

	var wg sync.WaitGroup
	var cleanFailed, trapOK, trap500, trapOther, badOther atomic.Int64
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				resp, err := client.Get(g.URL + "/clean/x")
				if err != nil || resp.StatusCode != 200 {
					cleanFailed.Add(1)
				}
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if i%10 == 0 {
					// The plugins that fail every request, in the same load.
					for _, mode := range []string{"loop", "grow", "exit"} {
						r, err := client.Get(g.URL + "/" + mode + "/x")
						if err != nil {
							badOther.Add(1)
							continue
						}
						io.Copy(io.Discard, r.Body)
						r.Body.Close()
						if r.StatusCode != 500 {
							badOther.Add(1)
						}
					}
				}
				resp, err = client.Get(g.URL + "/trap10/x")
				if err != nil {
					trapOther.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case 200:
					trapOK.Add(1)
				case 500:
					trap500.Add(1)
				default:
					trapOther.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if cleanFailed.Load() != 0 {
		t.Errorf("%d requests failed on the route without the plugin", cleanFailed.Load())
	}
	if badOther.Load() != 0 {
		t.Errorf("%d requests to the looping, growing and exiting plugins got something other than 500", badOther.Load())
	}
	// Each VM traps on its own tenth request; 400 requests over two VMs
	// that are replaced when they trap give about 40 faults.
	if trapOther.Load() != 0 || trap500.Load() < 20 || trap500.Load() > 60 {
		t.Errorf("trap10 route: %d ok, %d 500s, %d other; want about one 500 in ten", trapOK.Load(), trap500.Load(), trapOther.Load())
	}
	for _, mode := range []string{"loop", "grow", "exit"} {
		resp, body := doReq(t, client, "GET", g.URL+"/"+mode+"/x", nil, nil)
		checkError(t, resp, body, 500, "plugin_error")
	}
	resp, body := doReq(t, client, "GET", g.URL+"/open/x", nil, nil)
	if resp.StatusCode != 200 || string(body) != "be" {
		t.Errorf("fail_open plugin that loops: %d %q, want the backend's answer", resp.StatusCode, body)
	}
	resp, body = doReq(t, client, "GET", g.AdminURL+"/metrics", nil, nil)
	m := string(body)
	for _, want := range []string{
		`wasmgate_plugin_errors_total{plugin="trap10",kind="trap"}`,
		`wasmgate_plugin_errors_total{plugin="loop",kind="timeout"}`,
		`wasmgate_plugin_errors_total{plugin="grow",kind="memory"}`,
		`wasmgate_plugin_errors_total{plugin="exit",kind="exit"}`,
	} {
		if !strings.Contains(m, want) || strings.Contains(m, want+" 0\n") {
			t.Errorf("metrics lack a non-zero %s:\n%s", want, grepLines(m, "wasmgate_plugin_errors_total"))
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestE2EPluginConfigErrors: a module that is not Proxy-Wasm, or whose
// hash does not match its pin, refuses the config with the field named.
func TestE2EPluginConfigErrors(t *testing.T) {
	be := newKillable(t, "be", nil)
	good := publicListener + upstreamTOML("backend", "", be.addr) +
		"[[routes]]\npath_prefix = \"/\"\nupstream = \"backend\"\n"
	g := startGateway(t, good)
	for _, tc := range []struct{ extra, want string }{
		{fmt.Sprintf("[[plugins]]\nname = \"p\"\nmodule = %q\n", fixturePath(t, "noabi")), "plugins[0].module"},
		{fmt.Sprintf("[[plugins]]\nname = \"p\"\nmodule = %q\nsha256 = %q\n", fixturePath(t, "noop"), strings.Repeat("0", 64)), "plugins[0].sha256"},
		// A name is a path segment of PUT /plugins/{name}: ".." could
		// never be swapped.
		{fmt.Sprintf("[[plugins]]\nname = \"..\"\nmodule = %q\n", fixturePath(t, "noop")), "plugins[0].name"},
		{fmt.Sprintf("[[plugins]]\nname = \"a/b\"\nmodule = %q\n", fixturePath(t, "noop")), "plugins[0].name"},
	} {
		writeFile(t, g.Config, readFile(t, g.Config)+tc.extra)
		_, err := g.G.Reload()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("reload: %v, want an error at %s", err, tc.want)
		}
		writeFile(t, g.Config, strings.Replace(readFile(t, g.Config), tc.extra, "", 1))
	}
	if resp, _ := doReq(t, newClient(t), "GET", g.URL+"/x", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("the old config stopped serving: %d", resp.StatusCode)
	}
}

func TestE2EAdminPlugins(t *testing.T) {
	be := newKillable(t, "be", nil)
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.addr)+pluginRoute("noop", fixturePath(t, "noop"), "pool = 3\n"))
	client := newClient(t)
	for i := 0; i < 5; i++ {
		if resp, _ := doReq(t, client, "GET", g.URL+"/x", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	list := adminPlugins(t, client, g)
	p, ok := list["noop"]
	if len(list) != 1 || !ok {
		t.Fatalf("/plugins: %+v", list)
	}
	if p.Name != "noop" || p.ABI != "0.2.1" || p.Pool != 3 || p.Live != 3 || p.Replaced != 0 || len(p.Hash) != 64 || p.Calls < 5 {
		t.Errorf("/plugins: %+v", p)
	}
}

// TestE2EPluginHotSwap: under concurrent load, PUT /plugins/{name} swaps
// the module 20 times, alternating two behaviours; no request fails and
// each swap changes what the next request sees. Then a change of the
// module file is picked up the same way.
func TestE2EPluginHotSwap(t *testing.T) {
	be := newKillable(t, "be", nil)
	dir := t.TempDir()
	module := filepath.Join(dir, "p.wasm")
	noop, _ := os.ReadFile(fixturePath(t, "noop"))
	stamp, _ := os.ReadFile(fixturePath(t, "add_header"))
	writeFile(t, module, string(noop))
	// Written well before the gateway starts: the load's reading of it is
	// the watcher's first, and the watcher need not read it again.
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(module, old, old); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, "[gateway]\nwatch_interval = \"50ms\"\n"+publicListener+upstreamTOML("backend", "", be.addr)+pluginRoute("p", module, "pool = 2\n"))
	time.Sleep(200 * time.Millisecond) // several ticks
	if n := g.G.ModuleReads(); n != 0 {
		t.Fatalf("the watcher read the module loaded from an old file %d times", n)
	}
	l := startLoad(t, g.URL+"/swap", 6)
	client := newClient(t)
	for i := 0; i < 20; i++ {
		body, want := noop, ""
		if i%2 == 0 {
			body, want = stamp, "hello"
		}
		req, _ := http.NewRequest("PUT", g.AdminURL+"/plugins/p", strings.NewReader(string(body)))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("swap %d: %d %s", i, resp.StatusCode, out)
		}
		r, _ := doReq(t, client, "GET", g.URL+"/check", nil, nil)
		if got := r.Header.Get("X-Plugin"); got != want {
			t.Fatalf("after swap %d: X-Plugin %q, want %q", i, got, want)
		}
	}
	l.finish()
	if n := l.failed.Load(); n != 0 {
		t.Fatalf("%d of %d requests failed during 20 swaps, e.g. %q", n, n+l.ok.Load(), l.failures)
	}

	// A refused module (no ABI version, or a wrong pin) leaves the running one.
	req, _ := http.NewRequest("PUT", g.AdminURL+"/plugins/p", strings.NewReader("not wasm"))
	resp, err := client.Do(req)
	if err != nil || resp.StatusCode != 422 {
		t.Fatalf("bad module: %v %v", resp, err)
	}
	resp.Body.Close()
	req, _ = http.NewRequest("PUT", g.AdminURL+"/plugins/p", strings.NewReader(string(stamp)))
	req.Header.Set("X-Module-Sha256", strings.Repeat("0", 64))
	if resp, err = client.Do(req); err != nil || resp.StatusCode != 422 {
		t.Fatalf("wrong pin: %v %v", resp, err)
	}
	resp.Body.Close()
	if r, _ := doReq(t, client, "GET", g.URL+"/check", nil, nil); r.StatusCode != 200 || r.Header.Get("X-Plugin") != "" {
		t.Fatalf("after refused swaps: %d X-Plugin %q", r.StatusCode, r.Header.Get("X-Plugin"))
	}

	// The watched file.
	writeFile(t, module, string(stamp))
	waitFor(t, "the changed module file to be swapped in", func() bool {
		r, _ := doReq(t, client, "GET", g.URL+"/check", nil, nil)
		return r.Header.Get("X-Plugin") == "hello"
	})

	// Once the file has settled the watcher stops reading it: several
	// ticks pass without a read. (Reading and hashing every module on
	// every tick cost throughput under load.)
	waitFor(t, "the watcher to stop reading the unchanged module", func() bool {
		n := g.G.ModuleReads()
		time.Sleep(300 * time.Millisecond)
		return g.G.ModuleReads() == n
	})
	// A file rewritten in place with new content is still seen.
	writeFile(t, module, string(noop))
	waitFor(t, "the rewritten module file to be swapped in", func() bool {
		r, _ := doReq(t, client, "GET", g.URL+"/check", nil, nil)
		return r.StatusCode == 200 && r.Header.Get("X-Plugin") == ""
	})
}

// TestE2EPluginHTTPCallout: a plugin authorizes each request against
// another upstream with proxy_http_call; the request resumes or is
// rejected on the callout's answer.
func TestE2EPluginHTTPCallout(t *testing.T) {
	be := newKillable(t, "be", nil)
	var checks atomic.Int64
	auth := newKillable(t, "auth", func(w http.ResponseWriter, r *http.Request) {
		checks.Add(1)
		b, _ := io.ReadAll(r.Body)
		if r.Method != "POST" || r.URL.Path != "/check" || string(b) != "secret" {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		fmt.Fprint(w, "ok")
	})
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.addr)+upstreamTOML("auth", "", auth.addr)+pluginRoute("authz", fixturePath(t, "auth_callout"), ""))
	client := newClient(t)
	resp, body := doReq(t, client, "GET", g.URL+"/x", map[string]string{"X-Token": "secret"}, nil)
	if resp.StatusCode != 200 || string(body) != "be" {
		t.Fatalf("authorized: %d %q", resp.StatusCode, body)
	}
	hits := be.hits.Load()
	for _, hdr := range []map[string]string{{"X-Token": "wrong"}, nil} {
		resp, body = doReq(t, client, "GET", g.URL+"/x", hdr, nil)
		if resp.StatusCode != 403 || string(body) != "denied by auth\n" {
			t.Fatalf("token %v: %d %q", hdr, resp.StatusCode, body)
		}
	}
	if be.hits.Load() != hits {
		t.Fatal("a rejected request reached the backend")
	}
	if checks.Load() != 3 {
		t.Fatalf("auth saw %d checks, want 3", checks.Load())
	}
	// With auth down the callout fails and the plugin rejects.
	auth.kill()
	resp, _ = doReq(t, client, "GET", g.URL+"/x", map[string]string{"X-Token": "secret"}, nil)
	if resp.StatusCode != 403 {
		t.Fatalf("auth down: %d, want the plugin's 403", resp.StatusCode)
	}
}

// TestE2EPluginBodies: a plugin that handles bodies gets them whole and
// changes them; Content-Length follows. Bodies over the listener's limit
// are refused with 413, and a large one streamed in is buffered for it.
func TestE2EPluginBodies(t *testing.T) {
	be := newKillable(t, "be", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Got-Length", fmt.Sprint(r.ContentLength))
		w.Write(b)
	})
	g := startGateway(t, "[[listeners]]\nname = \"public\"\nlisten = \"127.0.0.1:0\"\nmax_body_bytes = \"200KiB\"\n"+
		upstreamTOML("backend", "", be.addr)+pluginRoute("body", fixturePath(t, "body"), ""))
	client := newClient(t)
	resp, body := doReq(t, client, "POST", g.URL+"/b", nil, strings.NewReader("payload"))
	if resp.StatusCode != 200 || string(body) != "<payload>!" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Got-Length") != "9" || resp.ContentLength != 10 {
		t.Fatalf("lengths: backend saw %s, client %d", resp.Header.Get("X-Got-Length"), resp.ContentLength)
	}
	big := strings.Repeat("x", 150<<10) // over the 64 KiB in-memory threshold: streamed in
	resp, body = doReq(t, client, "POST", g.URL+"/b", nil, strings.NewReader(big))
	if resp.StatusCode != 200 || string(body) != "<"+big+">!" {
		t.Fatalf("150 KiB body: %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, body = doReq(t, client, "POST", g.URL+"/b", nil, strings.NewReader(strings.Repeat("y", 300<<10)))
	checkError(t, resp, body, 413, "body_too_large")
}

// TestE2EPluginMetrics: per-plugin callback durations by phase, VM memory
// and replacements are exported.
func TestE2EPluginMetrics(t *testing.T) {
	be := newKillable(t, "be", nil)
	// Metrics are process-wide: a name of its own keeps a repeated run
	// (-count) from seeing the last run's counts.
	name := fmt.Sprintf("metered%d", time.Now().UnixNano())
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.addr)+fmt.Sprintf(`
[[plugins]]
name = %q
module = %q
pool = 2
[[routes]]
path_prefix = "/"
upstream = "backend"
plugins = [%q]
`, name, fixturePath(t, "add_header"), name))
	client := newClient(t)
	doReq(t, client, "GET", g.URL+"/x", nil, nil)
	_, body := doReq(t, client, "GET", g.AdminURL+"/metrics", nil, nil)
	m := string(body)
	for _, want := range []string{
		`wasmgate_plugin_callback_duration_seconds_count{plugin="%s",phase="request_headers"} 1`,
		`wasmgate_plugin_callback_duration_seconds_count{plugin="%s",phase="response_headers"} 1`,
		`wasmgate_plugin_vm_memory_bytes{plugin="%s"} 262144`, // 2 VMs of 2 pages
		`wasmgate_plugin_vms_replaced_total{plugin="%s"} 0`,
	} {
		if want = fmt.Sprintf(want, name); !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(m, name))
		}
	}
}

// TestE2EPluginTrailers: a plugin reads a chunked request's trailers
// (map 1) and acts on them before the request is forwarded.
func TestE2EPluginTrailers(t *testing.T) {
	be := newKillable(t, "be", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s checksum=%s", b, r.Header.Get("X-Got-Checksum"))
	})
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.addr)+pluginRoute("trailers", fixturePath(t, "trailers"), ""))
	resp, body := rawRoundTrip(t, g.Addr, crlf("POST /t HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\nTrailer: X-Checksum\n\n"+
		"5\nhello\n0\nX-Checksum: abc123\n\n"))
	if resp.StatusCode != 200 || string(body) != "hello checksum=abc123" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
}

// TestE2EPluginPropertiesAndClose: a property a plugin sets is readable
// for the rest of the request; a plugin closing the stream drops the
// request and the connection.
func TestE2EPluginPropertiesAndClose(t *testing.T) {
	be := newKillable(t, "be", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Header.Get("X-Prop"))
	})
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.addr)+pluginRoute("props", fixturePath(t, "props"), ""))
	resp, body := doReq(t, newClient(t), "GET", g.URL+"/p", nil, nil)
	if resp.StatusCode != 200 || string(body) != "value-1" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	hits := be.hits.Load()
	c, br := dialRaw(t, g.Addr)
	io.WriteString(c, crlf("GET /p HTTP/1.1\nHost: x\nX-Close: 1\n\n"))
	resp, body = readResp(t, br, "GET")
	checkError(t, resp, body, 502, "stream_closed")
	if !resp.Close {
		t.Error("the connection was kept after the plugin closed the stream")
	}
	if be.hits.Load() != hits {
		t.Error("a closed stream reached the backend")
	}
}

// TestE2EPluginFromAnotherSDK: a plugin written in AssemblyScript with a
// third-party Proxy-Wasm SDK (@gcoredev/proxy-wasm-sdk-as, from the npm
// registry; make plugins builds it) runs through the gateway unmodified.
// Our fixtures and the host were written side by side; this guest was
// not, so it checks the host against the specification as others read it.
func TestE2EPluginFromAnotherSDK(t *testing.T) {
	module := builtPlugin(t, "as_add_header.wasm")
	be := newKillable(t, "be", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Header.Get("X-As-Request"))
	})
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.addr)+pluginRoute("as-add-header", module, "config = \"from the config\"\n"))
	client := newClient(t)
	for i := 0; i < 3; i++ {
		resp, body := doReq(t, client, "GET", g.URL+"/as", nil, nil)
		if resp.StatusCode != 200 || string(body) != "seen" || resp.Header.Get("Hello") != "from the config" {
			t.Fatalf("request %d: %d %q hello=%q", i, resp.StatusCode, body, resp.Header.Get("Hello"))
		}
	}
}

// builtPlugin is the path of a plugin make plugins built.
func builtPlugin(t testing.TB, file string) string {
	t.Helper()
	module, err := filepath.Abs(filepath.Join("..", "plugins", "build", file))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(module); err != nil {
		t.Fatalf("%v: run make plugins (make test does) to build the plugins", err)
	}
	return module
}

// TestE2EGoPluginKeyAuth: the key-auth plugin, written in standard Go on
// sdk/go and built by make plugins, checks API keys through the gateway.
func TestE2EGoPluginKeyAuth(t *testing.T) {
	module := builtPlugin(t, "key_auth.wasm")
	be := newKillable(t, "be", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "consumer=%s key=%s", r.Header.Get("X-Consumer"), r.Header.Get("X-Api-Key"))
	})
	sum := fmt.Sprintf("%x", sha256Sum("s3cret"))
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.addr)+fmt.Sprintf(`
[[plugins]]
name = "key-auth"
module = %q
config = '{"query": "api_key", "keys": [{"consumer": "alice", "sha256": "%s"}]}'
call_timeout = "2s"
pool = 1
[[routes]]
path_prefix = "/"
upstream = "backend"
plugins = ["key-auth"]
`, module, sum))
	client := newClient(t)
	resp, body := doReq(t, client, "GET", g.URL+"/k", map[string]string{"X-Api-Key": "s3cret"}, nil)
	if resp.StatusCode != 200 || string(body) != "consumer=alice key=" {
		t.Fatalf("good key: %d %q", resp.StatusCode, body)
	}
	resp, body = doReq(t, client, "GET", g.URL+"/k?api_key=s3cret", nil, nil)
	if resp.StatusCode != 200 || string(body) != "consumer=alice key=" {
		t.Fatalf("key in the query: %d %q", resp.StatusCode, body)
	}
	for _, hdr := range []map[string]string{{"X-Api-Key": "wrong"}, nil} {
		resp, body = doReq(t, client, "GET", g.URL+"/k", hdr, nil)
		if resp.StatusCode != 401 || resp.Header.Get("Content-Type") != "application/json" ||
			!strings.Contains(string(body), `"error":"unauthorized"`) {
			t.Fatalf("key %v: %d %q", hdr, resp.StatusCode, body)
		}
	}
}

// TestE2EPausedRequestIsNotLetThrough: a plugin that pauses a request and
// leaves nothing that could resume it fails the request (500, fault
// "stalled"), or is skipped with fail_open; the request never reaches the
// upstream on its own.
func TestE2EPausedRequestIsNotLetThrough(t *testing.T) {
	be := newKillable(t, "be", nil)
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.addr)+fmt.Sprintf(`
[[plugins]]
name = "stall"
module = %q
[[plugins]]
name = "stall-open"
module = %q
on_error = "fail_open"
[[routes]]
path_prefix = "/closed"
upstream = "backend"
plugins = ["stall"]
[[routes]]
path_prefix = "/open"
upstream = "backend"
plugins = ["stall-open"]
`, fixturePath(t, "stall"), fixturePath(t, "stall")))
	client := newClient(t)
	resp, body := doReq(t, client, "GET", g.URL+"/closed", nil, nil)
	checkError(t, resp, body, 500, "plugin_error")
	if n := be.hits.Load(); n != 0 {
		t.Fatalf("the backend saw %d requests", n)
	}
	if resp, _ := doReq(t, client, "GET", g.URL+"/open", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("fail_open: %d", resp.StatusCode)
	}
	_, metrics := doReq(t, client, "GET", g.AdminURL+"/metrics", nil, nil)
	if !strings.Contains(string(metrics), `wasmgate_plugin_errors_total{plugin="stall",kind="stalled"} 1`) {
		t.Fatalf("no stalled fault counted:\n%s", metrics)
	}
}

// TestE2EStalledRequestsReleaseTheirContexts: a request the plugin
// stalled fails, but its context still ends in the guest (done, log,
// delete): the VM stays in service, and a client repeating such requests
// must not grow the guest's state with each. The fixture answers a normal
// request with 200 + the contexts it holds.
func TestE2EStalledRequestsReleaseTheirContexts(t *testing.T) {
	be := newKillable(t, "be", nil)
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.addr)+pluginRoute("stall-count", fixturePath(t, "stall_count"), "pool = 1\n"))
	client := newClient(t)
	for range 5 {
		resp, body := doReq(t, client, "GET", g.URL+"/x", map[string]string{"X-Stall": "1"}, nil)
		checkError(t, resp, body, 500, "plugin_error")
	}
	if resp, _ := doReq(t, client, "GET", g.URL+"/x", nil, nil); resp.StatusCode != 201 {
		t.Fatalf("the guest holds %d contexts after 5 stalled requests, want 1 (this request's)", resp.StatusCode-200)
	}
}

// TestE2ERenamedPluginLeavesNoSeries: a plugin renamed or removed by a
// reload takes its metrics (and with them the last reference to its VMs)
// away once closed; before, every name a gateway ever served stayed in
// /metrics, about 25 MB of memory each. A module refused by PUT does not
// stand for the plugin in its memory gauge.
func TestE2ERenamedPluginLeavesNoSeries(t *testing.T) {
	be := newKillable(t, "be", nil)
	conf := func(name string) string {
		return publicListener + upstreamTOML("backend", "", be.addr) + pluginRoute(name, fixturePath(t, "noop"), "call_timeout = \"20ms\"\n")
	}
	g := startGateway(t, conf("gen-0"))
	client := newClient(t)
	for i := 1; i <= 3; i++ {
		writeFile(t, g.Config, conf(fmt.Sprintf("gen-%d", i)))
		if _, err := g.G.Reload(); err != nil {
			t.Fatal(err)
		}
		if resp, _ := doReq(t, client, "GET", g.URL+"/x", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("after reload %d: %d", i, resp.StatusCode)
		}
	}
	series := func() string {
		_, page := doReq(t, client, "GET", g.AdminURL+"/metrics", nil, nil)
		return grepLines(string(page), `plugin="gen-`)
	}
	deadline := time.Now().Add(5 * time.Second)
	for strings.Contains(series(), `"gen-0"`) || strings.Contains(series(), `"gen-2"`) {
		if time.Now().After(deadline) {
			t.Fatalf("retired plugins still exported:\n%s", series())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(series(), `wasmgate_plugin_vm_memory_bytes{plugin="gen-3"}`) {
		t.Fatalf("the serving plugin's series are gone:\n%s", series())
	}
	// A refused upload (it compiles, then never finishes starting) leaves
	// the gauge reading the version in service.
	gauge := func() string {
		return grepLines(series(), `wasmgate_plugin_vm_memory_bytes{plugin="gen-3"}`)
	}
	before := gauge()
	spin, err := os.ReadFile(fixturePath(t, "start_loop"))
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := doReq(t, client, "PUT", g.AdminURL+"/plugins/gen-3", nil, bytes.NewReader(spin))
	if resp.StatusCode == 200 {
		t.Fatal("a module that never starts was taken")
	}
	if after := gauge(); after != before || strings.HasSuffix(after, " 0") {
		t.Fatalf("memory gauge %q after a refused upload, was %q", after, before)
	}
}

// TestE2ETrustedPlugin: a plugin marked trusted (its module run as built,
// without the interruption checks, and no deadline armed) behaves the
// same, and GET /plugins says which plugins are trusted.
func TestE2ETrustedPlugin(t *testing.T) {
	be := newKillable(t, "be", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "consumer=%s", r.Header.Get("X-Consumer"))
	})
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.addr)+fmt.Sprintf(`
[[plugins]]
name = "key-auth"
module = %q
config = '{"keys": [{"consumer": "alice", "sha256": "%x"}]}'
trusted = true
pool = 1
[[routes]]
path_prefix = "/"
upstream = "backend"
plugins = ["key-auth"]
`, builtPlugin(t, "key_auth.wasm"), sha256Sum("s3cret")))
	client := newClient(t)
	if resp, body := doReq(t, client, "GET", g.URL+"/", map[string]string{"X-Api-Key": "s3cret"}, nil); resp.StatusCode != 200 || string(body) != "consumer=alice" {
		t.Fatalf("good key: %d %q", resp.StatusCode, body)
	}
	if resp, _ := doReq(t, client, "GET", g.URL+"/", nil, nil); resp.StatusCode != 401 {
		t.Fatalf("no key: %d", resp.StatusCode)
	}
	if p := adminPlugins(t, client, g)["key-auth"]; !p.Trusted {
		t.Fatalf("/plugins: %+v", p)
	}
}

// TestE2EPluginHeaderEditsKeepOrder: a plugin's Set replaces every value
// a client sent (a client cannot add a second X-Consumer that survives),
// and its Remove leaves the other headers in the order they came.
func TestE2EPluginHeaderEditsKeepOrder(t *testing.T) {
	be := newRawHTTPBackend(t, nil)
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.Addr)+fmt.Sprintf(`
[[plugins]]
name = "key-auth"
module = %q
config = '{"keys": [{"consumer": "alice", "sha256": "%x"}]}'
call_timeout = "2s"
pool = 1
[[routes]]
path_prefix = "/"
upstream = "backend"
plugins = ["key-auth"]
`, builtPlugin(t, "key_auth.wasm"), sha256Sum("s3cret")))
	resp, body := rawRoundTrip(t, g.Addr, crlf("GET /h HTTP/1.1\nHost: x\nX-A: 1\nX-Consumer: mallory\nX-Api-Key: s3cret\n"+
		"X-B: 2\nX-Consumer: eve\nX-A: 3\nX-C: 4\nConnection: close\n\n"))
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var order []string
	for _, f := range be.only(t).Fields {
		switch strings.ToLower(f[0]) {
		case "x-a", "x-b", "x-c", "x-consumer", "x-api-key":
			order = append(order, strings.ToLower(f[0])+"="+f[1])
		}
	}
	if got := strings.Join(order, " "); got != "x-a=1 x-consumer=alice x-b=2 x-a=3 x-c=4" {
		t.Fatalf("upstream saw %s", got)
	}
}

func sha256Sum(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// TestE2EGoPluginCORS: preflights from allowed origins (exact and
// wildcard) are answered by the plugin, others refused; actual requests
// from allowed origins get Access-Control-Allow-Origin.
func TestE2EGoPluginCORS(t *testing.T) {
	be := newKillable(t, "be", nil)
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.addr)+pluginRoute("cors", builtPlugin(t, "cors.wasm"), "config = '{\"origins\": [\"https://app.example.com\", \"https://*.example.org\"], \"methods\": [\"GET\", \"PUT\"], \"headers\": [\"X-Tenant\"], \"credentials\": true, \"max_age\": 600}'\ncall_timeout = \"2s\"\npool = 1\n"))
	client := newClient(t)
	hits := be.hits.Load()
	for _, origin := range []string{"https://app.example.com", "https://a.b.example.org"} {
		resp, _ := doReq(t, client, "OPTIONS", g.URL+"/c", map[string]string{
			"Origin": origin, "Access-Control-Request-Method": "PUT"}, nil)
		if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != origin ||
			resp.Header.Get("Access-Control-Allow-Methods") != "GET, PUT" ||
			resp.Header.Get("Access-Control-Allow-Headers") != "X-Tenant" ||
			resp.Header.Get("Access-Control-Allow-Credentials") != "true" ||
			resp.Header.Get("Access-Control-Max-Age") != "600" {
			t.Fatalf("preflight from %s: %d %v", origin, resp.StatusCode, resp.Header)
		}
	}
	for _, origin := range []string{"https://evil.test", "https://example.org", "http://app.example.org"} {
		resp, body := doReq(t, client, "OPTIONS", g.URL+"/c", map[string]string{
			"Origin": origin, "Access-Control-Request-Method": "PUT"}, nil)
		if resp.StatusCode != 403 || !strings.Contains(string(body), "cors_origin") {
			t.Fatalf("preflight from %s: %d %q", origin, resp.StatusCode, body)
		}
	}
	if be.hits.Load() != hits {
		t.Fatal("a preflight reached the backend")
	}
	resp, _ := doReq(t, client, "GET", g.URL+"/c", map[string]string{"Origin": "https://app.example.com"}, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Fatalf("actual request: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = doReq(t, client, "GET", g.URL+"/c", map[string]string{"Origin": "https://evil.test"}, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("request from another origin: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestE2EResponseEditsReachEveryAnswer: the response headers a plugin
// sets in its request phase (cors's Access-Control-Allow-Origin,
// rate-limit's X-RateLimit-*) are on every answer the client gets after
// that plugin let the request through: a later plugin's 401 or 429, and a
// gateway error. A browser that cannot read a 401 or a 429 cannot react
// to it. The plugin that answers builds its own response: a preflight has
// one Vary, not the edit's as well.
func TestE2EResponseEditsReachEveryAnswer(t *testing.T) {
	be := newKillable(t, "be", nil)
	key := fmt.Sprintf("%x", sha256Sum("k1"))
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.addr)+
		upstreamTOML("dead", "", "127.0.0.1:1")+fmt.Sprintf(`
[[plugins]]
name = "cors"
module = %q
config = '{"origins": ["https://app.example.com"], "credentials": true}'
[[plugins]]
name = "rl-%s"
module = %q
config = '{"limit": 2, "window": "1h", "key": "route"}'
[[plugins]]
name = "ka"
module = %q
config = '{"keys": [{"consumer": "c1", "sha256": "%s"}]}'
[[routes]]
path_prefix = "/auth/"
upstream = "backend"
plugins = ["cors", "ka"]
[[routes]]
path_prefix = "/limited/"
upstream = "backend"
plugins = ["cors", "rl-%s"]
[[routes]]
path_prefix = "/dead/"
upstream = "dead"
plugins = ["cors", "rl-%s"]
`, builtPlugin(t, "cors.wasm"), run, builtPlugin(t, "rate_limit.wasm"), builtPlugin(t, "key_auth.wasm"), key, run, run))
	client := newClient(t)
	origin := map[string]string{"Origin": "https://app.example.com"}
	corsOK := func(what string, resp *http.Response) {
		t.Helper()
		if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
			resp.Header.Get("Access-Control-Allow-Credentials") != "true" ||
			len(resp.Header.Values("Vary")) != 1 {
			t.Errorf("%s: %d without the CORS headers once each: %v", what, resp.StatusCode, resp.Header)
		}
	}

	resp, body := doReq(t, client, "GET", g.URL+"/auth/x", origin, nil)
	if resp.StatusCode != 401 {
		t.Fatalf("without a key: %d %s", resp.StatusCode, body)
	}
	corsOK("key-auth's 401", resp)
	resp, _ = doReq(t, client, "GET", g.URL+"/auth/x", map[string]string{"Origin": "https://app.example.com", "X-Api-Key": "k1"}, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("with a key: %d", resp.StatusCode)
	}
	corsOK("the upstream's 200", resp)

	for i := range 3 {
		resp, body = doReq(t, client, "GET", g.URL+"/limited/x", origin, nil)
		if want := []int{200, 200, 429}[i]; resp.StatusCode != want {
			t.Fatalf("request %d: %d %s, want %d", i, resp.StatusCode, body, want)
		}
	}
	corsOK("rate-limit's 429", resp)
	if resp.Header.Get("Retry-After") == "" || len(resp.Header.Values("X-RateLimit-Limit")) != 1 {
		t.Errorf("429 without its own headers, or with them twice: %v", resp.Header)
	}

	resp, body = doReq(t, client, "GET", g.URL+"/dead/x", origin, nil)
	if resp.StatusCode != 502 || !strings.Contains(string(body), "upstream_connect_failed") {
		t.Fatalf("dead upstream: %d %s", resp.StatusCode, body)
	}
	corsOK("the gateway's 502", resp)
	if resp.Header.Get("X-RateLimit-Limit") != "2" || resp.Header.Get("X-RateLimit-Remaining") != "1" {
		t.Errorf("502 without rate-limit's headers: %v", resp.Header)
	}

	resp, _ = doReq(t, client, "OPTIONS", g.URL+"/limited/x", map[string]string{
		"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"}, nil)
	if resp.StatusCode != 204 {
		t.Fatalf("preflight: %d", resp.StatusCode)
	}
	corsOK("the preflight", resp)
}

// TestE2EGoPluginIPFilter: allow and deny lists on the peer address, and
// on the client address trusted proxies recorded in X-Forwarded-For.
func TestE2EGoPluginIPFilter(t *testing.T) {
	be := newKillable(t, "be", nil)
	module := builtPlugin(t, "ip_filter.wasm")
	cfg := publicListener + upstreamTOML("backend", "", be.addr)
	for name, conf := range map[string]string{
		"allow-loopback": `{"allow": ["127.0.0.0/8"], "deny": ["127.0.0.5"]}`,
		"deny-me":        `{"deny": ["127.0.0.1"]}`,
		"behind-proxy":   `{"allow": ["10.0.0.0/8"], "trusted_proxies": 1}`,
		// The proxies' addresses instead of a count: X-Forwarded-For
		// counts only from them (the test client, 127.0.0.1, is one for
		// the first route and not for the second).
		"cidr-trusted":   `{"deny": ["203.0.113.0/24"], "trusted_proxy_cidrs": ["127.0.0.0/8"]}`,
		"cidr-untrusted": `{"deny": ["203.0.113.0/24"], "trusted_proxy_cidrs": ["10.0.0.0/8"]}`,
	} {
		cfg += fmt.Sprintf("[[plugins]]\nname = %q\nmodule = %q\nconfig = '%s'\ncall_timeout = \"2s\"\npool = 1\n", name, module, conf)
		cfg += fmt.Sprintf("[[routes]]\npath_prefix = \"/%s/\"\nupstream = \"backend\"\nplugins = [%q]\n", name, name)
	}
	g := startGateway(t, cfg)
	client := newClient(t)
	for _, tc := range []struct {
		path, xff string
		want      int
	}{
		{"/allow-loopback/x", "", 200},
		{"/deny-me/x", "", 403},
		// One trusted proxy: the client is the last entry, whatever the
		// client wrote before it.
		{"/behind-proxy/x", "198.51.100.7, 10.0.0.1", 200},
		{"/behind-proxy/x", "203.0.113.9", 403},
		{"/behind-proxy/x", "", 403},
		{"/cidr-trusted/x", "203.0.113.9", 403},
		{"/cidr-trusted/x", "203.0.113.9, 198.51.100.7", 200},
		{"/cidr-trusted/x", "", 200},
		{"/cidr-untrusted/x", "203.0.113.9", 200},
	} {
		var hdr map[string]string
		if tc.xff != "" {
			hdr = map[string]string{"X-Forwarded-For": tc.xff}
		}
		resp, body := doReq(t, client, "GET", g.URL+tc.path, hdr, nil)
		if resp.StatusCode != tc.want {
			t.Errorf("%s (XFF %q): %d %q, want %d", tc.path, tc.xff, resp.StatusCode, body, tc.want)
		}
		if tc.want == 403 && !strings.Contains(string(body), `"error":"ip_denied"`) {
			t.Errorf("%s: body %q", tc.path, body)
		}
	}
	// A proxy that adds a line of its own leaves the client's line first:
	// the lines are one list, and the client's address is not the one it
	// wrote.
	for _, tc := range []struct {
		lines []string
		want  int
	}{
		{[]string{"10.9.9.9", "203.0.113.9"}, 403},
		{[]string{"203.0.113.9", "10.0.0.1"}, 200},
	} {
		req, err := http.NewRequest("GET", g.URL+"/behind-proxy/x", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header["X-Forwarded-For"] = tc.lines
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("X-Forwarded-For lines %q: %d, want %d", tc.lines, resp.StatusCode, tc.want)
		}
	}
}

// eosWAT reports, in x-eos on the response, the end_of_stream flag its
// request headers came with, whether its request body callback ran, and
// the flag of the response headers: "100" for a GET answered with a body.
const eosWAT = `(module
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $req (mut i32) (i32.const 0))
  (global $body (mut i32) (i32.const 0))
  (data (i32.const 16) "x-eos")
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 1024))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (global.set $req (local.get 2))
    (global.set $body (i32.const 0))
    (i32.const 0))
  (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32)
    (global.set $body (i32.const 1))
    (i32.const 0))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (i32.store8 (i32.const 32) (i32.add (i32.const 48) (global.get $req)))
    (i32.store8 (i32.const 33) (i32.add (i32.const 48) (global.get $body)))
    (i32.store8 (i32.const 34) (i32.add (i32.const 48) (local.get 2)))
    (drop (call $add (i32.const 2) (i32.const 16) (i32.const 5) (i32.const 32) (i32.const 3)))
    (i32.const 0))
)`

// TestE2EEndOfStreamFlags: headers without a body come with end_of_stream
// set and no body callback follows, as on Envoy; before, every request
// and response headers callback had it clear, and a bodiless GET went
// through the body phase (buffering included).
func TestE2EEndOfStreamFlags(t *testing.T) {
	be := newKillable(t, "be", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/none" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		fmt.Fprint(w, "body")
	})
	module := filepath.Join(t.TempDir(), "eos.wasm")
	writeFile(t, module, string(watfixture.Assemble(t, eosWAT)))
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.addr)+pluginRoute("eos", module, ""))
	client := newClient(t)
	for _, tc := range []struct {
		method, path, body, want string
	}{
		{"GET", "/x", "", "100"},
		{"POST", "/x", "data", "010"},
		{"HEAD", "/x", "", "101"},
		{"GET", "/none", "", "101"},
	} {
		var body io.Reader
		if tc.body != "" {
			body = strings.NewReader(tc.body)
		}
		resp, _ := doReq(t, client, tc.method, g.URL+tc.path, nil, body)
		if got := resp.Header.Get("X-Eos"); got != tc.want {
			t.Errorf("%s %s: x-eos %q, want %q", tc.method, tc.path, got, tc.want)
		}
	}
}

// watPairs encodes a Proxy-Wasm header map as a WAT data string.
func watPairs(pairs ...string) (data string, size int) {
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, uint32(len(pairs)/2))
	for _, p := range pairs {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
	}
	for _, p := range pairs {
		b = append(append(b, p...), 0)
	}
	var s strings.Builder
	for _, c := range b {
		fmt.Fprintf(&s, "\\%02x", c)
	}
	return s.String(), len(b)
}

// tickFetchWAT fetches GET /keys from upstream "idp" on its first tick,
// and once the response has come (to the root context) answers every
// request itself with its body; before that requests pass.
func tickFetchWAT() string {
	headers, size := watPairs(":method", "GET", ":path", "/keys", ":authority", "idp.test")
	return fmt.Sprintf(`(module
  (import "env" "proxy_http_call" (func $call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_tick_period_milliseconds" (func $tick (param i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $buf (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_send_local_response" (func $respond (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 16) "idp")
  (data (i32.const 48) "\00\00\00\00")
  (data (i32.const 64) "%s")
%s
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $tick (i32.const 10)))
    (i32.const 1))
  (func (export "proxy_on_tick") (param i32)
    (if (i32.eqz (i32.load (i32.const 812)))
      (then
        (i32.store (i32.const 812) (i32.const 1))
        (drop (call $call (i32.const 16) (i32.const 3) (i32.const 64) (i32.const %d)
          (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 2000) (i32.const 900))))))
  (func (export "proxy_on_http_call_response") (param i32 i32 i32 i32 i32)
    (if (i32.eqz (call $buf (i32.const 4) (i32.const 0) (local.get 3) (i32.const 820) (i32.const 824)))
      (then (i32.store (i32.const 808) (i32.const 1)))))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (if (result i32) (i32.load (i32.const 808))
      (then
        (drop (call $respond (i32.const 200) (i32.const 0) (i32.const 0)
          (i32.load (i32.const 820)) (i32.load (i32.const 824)) (i32.const 48) (i32.const 4) (i32.const -1)))
        (i32.const 1))
      (else (i32.const 0))))
)`, headers, watfixture.Guest, size)
}

// tickFixture is what the tick-callout tests need: a key service idp
// answering "keyset-42", a backend, and tickFetchWAT assembled to a file.
func tickFixture(t *testing.T) (idp, be *rawBackend, wasm string) {
	idp = newRawHTTPBackend(t, func(*rawReq) string { return okResp("keyset-42") })
	be = newRawHTTPBackend(t, nil)
	wasm = filepath.Join(t.TempDir(), "tick.wasm")
	if err := os.WriteFile(wasm, watfixture.Assemble(t, tickFetchWAT()), 0o644); err != nil {
		t.Fatal(err)
	}
	return idp, be, wasm
}

// TestE2ECalloutFromTick: a plugin fetching from an upstream on a timer,
// with no request (as JWKS refreshers built for Envoy do), gets the call
// sent through the gateway's upstream and the response in its root
// context.
func TestE2ECalloutFromTick(t *testing.T) {
	idp, be, wasm := tickFixture(t)
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.Addr)+upstreamTOML("idp", "", idp.Addr)+
		pluginRoute("ticker", wasm, "pool = 1\n"))
	c := newClient(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, body := doReq(t, c, "GET", g.URL+"/x", nil, nil)
		if resp.StatusCode == 200 && string(body) == "keyset-42" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the plugin never answered with the fetched body: last %d %q, idp got %d requests",
				resp.StatusCode, body, len(idp.Requests()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	rs := idp.Requests()
	if len(rs) != 1 || rs[0].Line != "GET /keys HTTP/1.1" || rs[0].Get("Host") != "idp.test" {
		t.Fatalf("idp got %d requests, first %q Host %q", len(rs), rs[0].Line, rs[0].Get("Host"))
	}
}

// TestE2ERefusedReloadLeavesNoTargetSeries: targets a refused reload built
// (refused for a plugin config, or for another upstream's balancer) were
// never served; they must not stay in /metrics, reported healthy, for
// ever. A reload that succeeds does export its new target.
func TestE2ERefusedReloadLeavesNoTargetSeries(t *testing.T) {
	be := newKillable(t, "be", nil)
	base := publicListener + "[[routes]]\npath_prefix = \"/\"\nupstream = \"backend\"\n"
	g := startGateway(t, base+upstreamTOML("backend", "", be.addr))
	refused := []string{
		// key-auth refuses a config without keys.
		base + upstreamTOML("backend", "", be.addr, "127.0.0.9:4101") + fmt.Sprintf("[[plugins]]\nname = \"ka\"\nmodule = %q\nconfig = '{\"keys\": []}'\n", builtPlugin(t, "key_auth.wasm")),
		base + upstreamTOML("backend", "", be.addr, "127.0.0.9:4102") + upstreamTOML("other", "balancer = \"magic\"", "127.0.0.9:4103"),
	}
	for i, conf := range refused {
		writeFile(t, g.Config, conf)
		if _, err := g.G.Reload(); err == nil {
			t.Fatalf("config %d was not refused", i)
		}
	}
	writeFile(t, g.Config, base+upstreamTOML("backend", "", be.addr, "127.0.0.9:4104"))
	if _, err := g.G.Reload(); err != nil {
		t.Fatal(err)
	}
	_, page := doReq(t, newClient(t), "GET", g.AdminURL+"/metrics", nil, nil)
	if got := grepLines(string(page), "127.0.0.9:410"); strings.Contains(got, ":4101") || strings.Contains(got, ":4102") ||
		strings.Contains(got, ":4103") || !strings.Contains(got, `wasmgate_upstream_target_healthy{upstream="backend",target="127.0.0.9:4104"}`) {
		t.Fatalf("series of those targets:\n%s", got)
	}
}

// TestE2ERenamedRouteLeavesNoSeries: a route's series leave /metrics with
// the last snapshot that has a route of that name; a refused reload's
// routes were never served and leave none.
func TestE2ERenamedRouteLeavesNoSeries(t *testing.T) {
	be := newKillable(t, "be", nil)
	conf := func(route, extra string) string {
		return publicListener + upstreamTOML("backend", "", be.addr) +
			fmt.Sprintf("[[routes]]\nname = %q\npath_prefix = \"/\"\nupstream = \"backend\"\n%s", route, extra)
	}
	g := startGateway(t, conf("rn-0", ""))
	client := newClient(t)
	for i := 1; i <= 2; i++ {
		writeFile(t, g.Config, conf(fmt.Sprintf("rn-%d", i), ""))
		if _, err := g.G.Reload(); err != nil {
			t.Fatal(err)
		}
		if resp, _ := doReq(t, client, "GET", g.URL+"/x", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("after reload %d: %d", i, resp.StatusCode)
		}
	}
	writeFile(t, g.Config, conf("rn-refused", "plugins = [\"ka\"]\n")+fmt.Sprintf("[[plugins]]\nname = \"ka\"\nmodule = %q\nconfig = '{\"keys\": []}'\n", builtPlugin(t, "key_auth.wasm")))
	if _, err := g.G.Reload(); err == nil {
		t.Fatal("the reload with a refused plugin config passed")
	}
	_, page := doReq(t, client, "GET", g.AdminURL+"/metrics", nil, nil)
	got := grepLines(string(page), `route="rn-`)
	if strings.Contains(got, `"rn-0"`) || strings.Contains(got, `"rn-1"`) || strings.Contains(got, `"rn-refused"`) ||
		!strings.Contains(got, `wasmgate_requests_total{route="rn-2",status="2xx"} 1`) {
		t.Fatalf("route series:\n%s", got)
	}
}

// TestE2ECalloutFromTickDuringStart: VMs started first tick, and call
// out, while the rest of the pool starts and before the gateway exists;
// the call goes to the upstream of the snapshot being built, and nothing
// faults.
func TestE2ECalloutFromTickDuringStart(t *testing.T) {
	idp, be, wasm := tickFixture(t)
	name := fmt.Sprintf("ticker-%d", time.Now().UnixNano())
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.Addr)+upstreamTOML("idp", "", idp.Addr)+
		pluginRoute(name, wasm, "pool = 8\n"))
	deadline := time.Now().Add(5 * time.Second)
	for len(idp.Requests()) < 8 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 8 VMs fetched", len(idp.Requests()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, page := doReq(t, newClient(t), "GET", g.AdminURL+"/metrics", nil, nil)
	for _, line := range strings.Split(grepLines(string(page), `wasmgate_plugin_errors_total{plugin="`+name+`"`), "\n") {
		if line != "" && !strings.HasSuffix(line, " 0") {
			t.Fatalf("a fault: %s", line)
		}
	}
}

// TestE2ECalloutFromTickToUpstreamOfTheSameReload: a plugin a reload adds
// calls, from its first tick, an upstream the same reload adds, while
// the reload is still starting another plugin: the call goes out.
func TestE2ECalloutFromTickToUpstreamOfTheSameReload(t *testing.T) {
	idp, be, wasm := tickFixture(t)
	base := publicListener + upstreamTOML("backend", "", be.Addr)
	g := startGateway(t, base+"[[routes]]\npath_prefix = \"/\"\nupstream = \"backend\"\n")
	// The transform plugin, started after the ticker, keeps the build
	// going well past the ticker's first tick.
	writeFile(t, g.Config, base+upstreamTOML("idp", "", idp.Addr)+pluginRoute("ticker", wasm, "pool = 1\n")+
		fmt.Sprintf("[[plugins]]\nname = \"slow\"\nmodule = %q\nconfig = '{}'\npool = 8\n", builtPlugin(t, "transform.wasm")))
	if _, err := g.G.Reload(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(idp.Requests()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the tick's callout to the new upstream never went out")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
