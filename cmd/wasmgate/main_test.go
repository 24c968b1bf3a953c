package main

// These tests drive the real binary: built once in TestMain, started as a
// child process on loopback ports, talked to over HTTP and signals.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// binary is built with the race detector; fastBinary without, for tests
// that start Go-built plugins (wazero compiles a module many times slower
// under the race detector).
var binary, fastBinary, echoBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wasmgate-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "wasmgate")
	out, err := exec.Command("go", "build", "-race", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building wasmgate: %v\n%s", err, out)
		os.Exit(1)
	}
	fastBinary = filepath.Join(dir, "wasmgate-norace")
	if out, err := exec.Command("go", "build", "-o", fastBinary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building wasmgate: %v\n%s", err, out)
		os.Exit(1)
	}
	echoBinary = filepath.Join(dir, "echo")
	if out, err := exec.Command("go", "build", "-o", echoBinary, "../echo").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building echo: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running wasmgate binary.
type proc struct {
	cmd    *exec.Cmd
	config string
	public string // http://addr of the "public" listener
	admin  string // http://addr of the admin API
	logs   *lineLog
	exited chan error
}

// lineLog keeps the child's output lines for assertions.
type lineLog struct {
	mu    sync.Mutex
	lines []string
	cond  *sync.Cond
}

func (l *lineLog) add(s string) {
	l.mu.Lock()
	l.lines = append(l.lines, s)
	l.mu.Unlock()
	l.cond.Broadcast()
}

// waitFor returns the first line containing all of subs, waiting up to d.
func (l *lineLog) waitFor(t *testing.T, d time.Duration, subs ...string) string {
	t.Helper()
	deadline := time.Now().Add(d)
	timer := time.AfterFunc(d, l.cond.Broadcast)
	defer timer.Stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
	next:
		for _, line := range l.lines {
			for _, s := range subs {
				if !strings.Contains(line, s) {
					continue next
				}
			}
			return line
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q within %v; got:\n%s", subs, d, strings.Join(l.lines, "\n"))
		}
		l.cond.Wait()
	}
}

func writeConfig(t *testing.T, path, text string) {
	t.Helper()
	// Write beside and rename, so a watching gateway never reads half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// startProc runs `wasmgate run -c <config>` and waits until it listens.
func startProc(t *testing.T, configText string) *proc {
	t.Helper()
	return startProcWith(t, binary, configText)
}

// startProcWith is startProc with another build of the binary.
func startProcWith(t *testing.T, bin, configText string) *proc {
	t.Helper()
	config := filepath.Join(t.TempDir(), "gateway.toml")
	writeConfig(t, config, configText)
	p := spawnProc(t, bin, config)
	var entry struct{ Addr string }
	// Starting compiles every plugin module (seconds each on a busy machine).
	line := p.logs.waitFor(t, 90*time.Second, `"listener":"public"`, `"message":"listening"`)
	if err := json.Unmarshal([]byte(line), &entry); err != nil {
		t.Fatal(err)
	}
	p.public = "http://" + entry.Addr
	if strings.Contains(configText, "[admin]") && !strings.Contains(configText, noAdmin) {
		line = p.logs.waitFor(t, 5*time.Second, "admin API listening")
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatal(err)
		}
		p.admin = "http://" + entry.Addr
	}
	return p
}

// spawnProc runs bin with the config file at path, collecting its log
// lines, and kills it when the test ends; it does not wait for the start.
func spawnProc(t *testing.T, bin, path string) *proc {
	t.Helper()
	p := &proc{config: path, exited: make(chan error, 1), logs: &lineLog{}}
	p.logs.cond = sync.NewCond(&p.logs.mu)
	p.cmd = exec.Command(bin, "run", "-c", p.config)
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = p.cmd.Stdout
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.logs.add(sc.Text())
		}
		p.exited <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
	})
	return p
}

func (p *proc) signal(t *testing.T, s os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(s); err != nil {
		t.Fatal(err)
	}
}

func (p *proc) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case err := <-p.exited:
		return err
	case <-time.After(d):
		t.Fatalf("wasmgate did not exit within %v", d)
		return nil
	}
}

// named is a backend that answers with its name.
func named(t *testing.T, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, name)
	}))
	t.Cleanup(s.Close)
	return s
}

func hostPort(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

func routeTo(target, admin string, extra string) string {
	return fmt.Sprintf(`
%s
[log]
level = "info"
access_log = false

[[listeners]]
name = "public"
listen = "127.0.0.1:0"

[[upstreams]]
name = "app"
targets = [%q]

[[routes]]
name = "all"
path_prefix = "/"
upstream = "app"
%s
`, admin, target, extra)
}

const (
	loopbackAdmin = "[admin]\nlisten = \"127.0.0.1:0\"\n"
	noAdmin       = "[admin]\nlisten = \"\"\n"
)

func get(client *http.Client, url string) (int, string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func TestVersionPrintsVersion(t *testing.T) {
	out, err := exec.Command(binary, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "wasmgate ") {
		t.Fatalf("version: %v %q", err, out)
	}
}

func TestUnknownCommandExitsWithUsage(t *testing.T) {
	out, err := exec.Command(binary, "serve").CombinedOutput()
	var ee *exec.ExitError
	if !errorsAs(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "usage:") {
		t.Fatalf("got %v %q", err, out)
	}
}

func errorsAs(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}

func TestValidateListsEveryErrorWithFileLineAndPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.toml")
	writeConfig(t, path, `[[listeners]]
name = "public"
listen = "127.0.0.1:8080"

[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]

[[routes]]
name = "one"
upstream = "app"

[[routes]]
name = "two"
upstream = "app"
timeout = "soon"
`)
	// A type error stops decoding, so it is reported alone; fix it and the
	// validation errors, all of them, come next.
	out, err := exec.Command(binary, "validate", "-c", path).CombinedOutput()
	var ee *exec.ExitError
	if !errorsAs(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("want exit 1, got %v\n%s", err, out)
	}
	if want := path + ":16: routes[1].timeout: invalid duration \"soon\""; !strings.Contains(string(out), want) {
		t.Fatalf("want %q in\n%s", want, out)
	}

	writeConfig(t, path, `[[listeners]]
name = "public"
listen = "127.0.0.1:8080"

[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]

[[routes]]
name = "one"
upstream = "app"
path_regex = "(unclosed"

[[routes]]
name = "two"
upstream = "billing"
strip_prefix = true

[[routes]]
name = "three"
upstream = "app"
retry_count = 3
`)
	out, err = exec.Command(binary, "validate", "-c", path).CombinedOutput()
	if !errorsAs(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("want exit 1, got %v\n%s", err, out)
	}
	want := []string{
		path + ":22: routes[2].retry_count: unknown key \"retry_count\"",
	}
	for _, w := range want {
		if !strings.Contains(string(out), w) {
			t.Fatalf("want %q in\n%s", w, out)
		}
	}

	// Without the unknown key, every validation error is listed at once,
	// the bad pattern among them.
	text := strings.Replace(mustRead(t, path), "retry_count = 3\n", "", 1)
	writeConfig(t, path, text)
	out, _ = exec.Command(binary, "validate", "-c", path).CombinedOutput()
	for _, w := range []string{
		path + ":12: routes[0].path_regex: ",
		path + ":16: routes[1].upstream: no upstream named \"billing\"",
		path + ":17: routes[1].strip_prefix: needs path_prefix",
		"3 error(s)",
	} {
		if !strings.Contains(string(out), w) {
			t.Fatalf("want %q in\n%s", w, out)
		}
	}

	// With those fixed, the pattern is still refused.
	text = strings.Replace(text, "upstream = \"billing\"\nstrip_prefix = true\n", "upstream = \"app\"\n", 1)
	writeConfig(t, path, text)
	out, _ = exec.Command(binary, "validate", "-c", path).CombinedOutput()
	if w := path + ":12: routes[0].path_regex: "; !strings.Contains(string(out), w) {
		t.Fatalf("want %q in\n%s", w, out)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestValidatePrintsPluginWarnings: what a plugin warns of while it
// starts (here a bcrypt cost that makes logins slow) is printed by
// validate too, on stderr, and the file still passes.
func TestValidatePrintsPluginWarnings(t *testing.T) {
	module, err := filepath.Abs("../../plugins/build/basic_auth.wasm")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(module); err != nil {
		t.Fatalf("%v (make plugins builds it)", err)
	}
	path := filepath.Join(t.TempDir(), "slow.toml")
	writeConfig(t, path, fmt.Sprintf(`[admin]
listen = ""
[[listeners]]
listen = "127.0.0.1:8080"
[[plugins]]
name = "basic"
module = %q
config = '{"users": [{"username": "alice", "bcrypt": "$2b$13$abcdefghijklmnopqrstuvABCDEFGHIJKLMNOPQRSTUVWXYZ01234"}]}'
[[routes]]
path_prefix = "/"
direct_response = { status = 204 }
plugins = ["basic"]
`, module))
	cmd := exec.Command(binary, "validate", "-c", path)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s%s", err, stdout.String(), stderr.String())
	}
	want := path + ": warning: plugin basic: basic-auth: users[0].bcrypt has cost 13"
	if !strings.Contains(stderr.String(), want) || strings.Count(stderr.String(), "warning") != 1 || stdout.String() != path+": ok\n" {
		t.Fatalf("stdout %q, stderr %q; want one warning starting %q", stdout.String(), stderr.String(), want)
	}
}

func TestValidateAcceptsTheDemoConfig(t *testing.T) {
	out, err := exec.Command(binary, "validate", "-c", "../../gateway.toml").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

// TestReloadUnderLoadFailsNoRequest swaps the config 20 times, by SIGHUP
// and by POST /reload, with bad configs in between, while clients send
// requests without pause; not one request may fail, and traffic must follow
// each good config.
func TestReloadUnderLoadFailsNoRequest(t *testing.T) {
	a, b := named(t, "A"), named(t, "B")
	p := startProc(t, routeTo(hostPort(a), loopbackAdmin, ""))

	var (
		stop     atomic.Bool
		total    atomic.Int64
		failures atomic.Int64
		lastSeen atomic.Value
		wg       sync.WaitGroup
		errMu    sync.Mutex
		firstErr string
	)
	lastSeen.Store("")
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 5 * time.Second}
			for !stop.Load() {
				code, body, err := get(client, p.public+"/")
				total.Add(1)
				if err != nil || code != 200 || (body != "A" && body != "B") {
					failures.Add(1)
					errMu.Lock()
					if firstErr == "" {
						firstErr = fmt.Sprintf("code=%d body=%q err=%v", code, body, err)
					}
					errMu.Unlock()
					continue
				}
				lastSeen.Store(body)
			}
		}()
	}

	waitServing := func(want string) {
		t.Helper()
		client := &http.Client{Timeout: 5 * time.Second}
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if _, body, err := get(client, p.public+"/"); err == nil && body == want {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("traffic did not move to %s", want)
	}

	for i := 0; i < 20; i++ {
		target, want := a, "A"
		if i%2 == 0 {
			target, want = b, "B"
		}
		if i%5 == 4 {
			// A broken config in between must change nothing.
			writeConfig(t, p.config, routeTo(hostPort(target), loopbackAdmin, `upstream_typo = "x"`))
			resp, err := http.Post(p.admin+"/reload", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "upstream_typo") {
				t.Fatalf("bad config reload: %d %s", resp.StatusCode, body)
			}
		}
		writeConfig(t, p.config, routeTo(hostPort(target), loopbackAdmin, ""))
		if i%2 == 0 {
			p.signal(t, syscall.SIGHUP)
		} else {
			resp, err := http.Post(p.admin+"/reload", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("reload %d: status %d", i, resp.StatusCode)
			}
		}
		waitServing(want)
		time.Sleep(20 * time.Millisecond) // let the load run on the new snapshot
	}
	stop.Store(true)
	wg.Wait()

	if f := failures.Load(); f > 0 {
		t.Fatalf("%d of %d requests failed during reloads; first: %s", f, total.Load(), firstErr)
	}
	if total.Load() < 100 {
		t.Fatalf("only %d requests ran; the load did not overlap the reloads", total.Load())
	}
	code, metrics, err := get(http.DefaultClient, p.admin+"/metrics")
	if err != nil || code != 200 {
		t.Fatal(code, err)
	}
	for _, want := range []string{`wasmgate_config_reloads_total{result="ok"} 20`, `wasmgate_config_reloads_total{result="failed"} 4`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	t.Logf("%d requests, 0 failed, across 20 reloads and 4 refused configs", total.Load())
}

func TestWatchedConfigFileReloadsOnChange(t *testing.T) {
	a, b := named(t, "A"), named(t, "B")
	watch := "[gateway]\nwatch_config = true\nwatch_interval = \"50ms\"\n"
	p := startProc(t, routeTo(hostPort(a), watch+noAdmin, ""))
	if _, body, _ := get(http.DefaultClient, p.public+"/"); body != "A" {
		t.Fatalf("before: %q", body)
	}
	writeConfig(t, p.config, routeTo(hostPort(b), watch+noAdmin, ""))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, body, _ := get(http.DefaultClient, p.public+"/"); body == "B" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the edited file was not picked up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A broken edit is reported once and the running config keeps serving.
	writeConfig(t, p.config, "this is not toml ===")
	p.logs.waitFor(t, 5*time.Second, "config reload failed")
	if code, body, err := get(http.DefaultClient, p.public+"/"); err != nil || code != 200 || body != "B" {
		t.Fatalf("after a bad edit: %d %q %v", code, body, err)
	}
	// A file that fails for a reason outside it (a module it names, not
	// there yet) is applied once that is mended, with no edit of the file.
	c := named(t, "C")
	module := filepath.Join(t.TempDir(), "late.wasm")
	writeConfig(t, p.config, routeTo(hostPort(c), watch+noAdmin, fmt.Sprintf("plugins = [\"late\"]\n\n[[plugins]]\nname = \"late\"\nmodule = %q\n", module)))
	p.logs.waitFor(t, 5*time.Second, "late.wasm")
	noop, err := os.ReadFile("../../pluginhost/testdata/noop.wasm")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(module, noop, 0o644); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		if _, body, _ := get(http.DefaultClient, p.public+"/"); body == "C" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the file was not applied once the module it names was there")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSIGTERMLetsInFlightRequestsFinish sends SIGTERM while a slow request
// is in flight: it must complete, new connections must be refused, and the
// process must exit 0.
func TestSIGTERMLetsInFlightRequestsFinish(t *testing.T) {
	started := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(700 * time.Millisecond)
		_, _ = io.WriteString(w, "finished")
	}))
	defer slow.Close()
	p := startProc(t, routeTo(hostPort(slow), "[gateway]\nshutdown_grace = \"5s\"\n"+noAdmin, ""))

	type result struct {
		code int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		code, body, err := get(&http.Client{Timeout: 10 * time.Second}, p.public+"/")
		res <- result{code, body, err}
	}()
	<-started
	p.signal(t, syscall.SIGTERM)
	r := <-res
	if r.err != nil || r.code != 200 || r.body != "finished" {
		t.Fatalf("in-flight request: %d %q %v", r.code, r.body, r.err)
	}
	if err := p.wait(t, 10*time.Second); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(p.public, "http://"), time.Second); err == nil {
		c.Close()
		t.Fatal("still accepting connections after shutdown")
	}
}

func TestSIGTERMGivesUpAfterTheGracePeriod(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
	}))
	defer func() { close(release); stuck.Close() }()
	p := startProc(t, routeTo(hostPort(stuck), "[gateway]\nshutdown_grace = \"300ms\"\n"+noAdmin, "timeout = \"60s\""))
	go func() { _, _, _ = get(&http.Client{Timeout: 30 * time.Second}, p.public+"/") }()
	<-started
	begin := time.Now()
	p.signal(t, syscall.SIGTERM)
	// A planned stop that used its grace period is not a failure.
	if err := p.wait(t, 10*time.Second); err != nil {
		t.Errorf("exit: %v", err)
	}
	if time.Since(begin) > 5*time.Second {
		t.Fatalf("shutdown took %v despite a 300ms grace period", time.Since(begin))
	}
}

func TestAdminAPIOffLoopbackRequiresToken(t *testing.T) {
	app := named(t, "A")
	dir := t.TempDir()
	path := filepath.Join(dir, "g.toml")
	writeConfig(t, path, routeTo(hostPort(app), "[admin]\nlisten = \"0.0.0.0:0\"\n", ""))
	out, err := exec.Command(binary, "validate", "-c", path).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "admin.token: required when admin.listen") {
		t.Fatalf("want a token error, got %v\n%s", err, out)
	}

	p := startProc(t, routeTo(hostPort(app), "[admin]\nlisten = \"0.0.0.0:0\"\ntoken = \"s3cret\"\n", ""))
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(p.admin, "http://"))
	admin := "http://127.0.0.1:" + port
	do := func(method, path, token string) (int, string) {
		req, _ := http.NewRequest(method, admin+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/healthz", "", 200},
		{"GET", "/readyz", "", 200},
		{"POST", "/reload", "", 401},
		{"POST", "/reload", "wrong", 401},
		{"GET", "/routes", "", 401},
		{"GET", "/config", "", 401},
		{"GET", "/routes", "s3cret", 200},
		{"POST", "/reload", "s3cret", 200},
	} {
		if code, body := do(c.method, c.path, c.token); code != c.want {
			t.Errorf("%s %s token=%q: %d %s, want %d", c.method, c.path, c.token, code, body, c.want)
		}
	}
	if _, body := do("GET", "/config", "s3cret"); strings.Contains(body, "s3cret") || !strings.Contains(body, "<redacted>") {
		t.Errorf("config not redacted:\n%s", body)
	}
}

// TestSIGHUPDuringStartDoesNotKill: a reload signal sent while the
// gateway is still starting (here waiting for discovery, which has no
// file yet) is not fatal: the gateway starts, reloads, and serves.
func TestSIGHUPDuringStartDoesNotKill(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gateway.toml")
	writeConfig(t, cfg, `
[admin]
listen = ""
[log]
access_log = false
[[listeners]]
name = "public"
listen = "127.0.0.1:0"
[[upstreams]]
name = "app"
discovery = { provider = "file", path = "missing.json" }
[[routes]]
path_prefix = "/"
upstream = "app"
`)
	p := spawnProc(t, binary, cfg)
	time.Sleep(1 * time.Second) // inside start's wait for discovery
	p.signal(t, syscall.SIGHUP)
	select {
	case err := <-p.exited:
		t.Fatalf("wasmgate exited after a SIGHUP during start: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	p.logs.waitFor(t, 30*time.Second, `"message":"listening"`)
	p.logs.waitFor(t, 10*time.Second, "reloaded")
	p.signal(t, syscall.SIGTERM)
	if err := p.wait(t, 20*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

// TestValidateChecksTheFileItIsGiven: a config file given without -c is
// refused (exit 2), rather than ./gateway.toml being checked in its place.
func TestValidateChecksTheFileItIsGiven(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, filepath.Join(dir, "gateway.toml"), "[[listeners]]\nlisten = \"127.0.0.1:0\"\n[[routes]]\npath_prefix = \"/\"\ndirect_response = { body = \"ok\" }\n")
	bad := filepath.Join(dir, "new.toml")
	writeConfig(t, bad, "this is not toml = = =\n")
	for _, cmdName := range []string{"validate", "run"} {
		cmd := exec.Command(binary, cmdName, bad)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errorsAs(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "-c") {
			t.Errorf("%s %s: %v, %s; want exit 2 pointing at -c", cmdName, bad, err, out)
		}
	}
}

// TestValidateRefusesWhatRunRefuses: a log file in a directory that does
// not exist, or a plugin cache where no directory can be made, fails
// validate as it fails run, with the field named.
func TestValidateRefusesWhatRunRefuses(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	writeConfig(t, blocker, "")
	for _, tc := range []struct{ name, table, field string }{
		{"log file in a missing directory", "[log]\noutput = \"no/such/dir/gateway.log\"\n", "log.output"},
		{"plugin cache under a file", "[gateway]\nplugin_cache_dir = \"file/cache\"\n", "gateway.plugin_cache_dir"},
	} {
		cfg := filepath.Join(dir, "gateway.toml")
		writeConfig(t, cfg, "[admin]\nlisten = \"\"\n"+tc.table+`
[[listeners]]
name = "public"
listen = "127.0.0.1:0"
[[routes]]
path_prefix = "/"
direct_response = { body = "ok" }
`)
		vout, verr := exec.Command(binary, "validate", "-c", cfg).CombinedOutput()
		if verr == nil || !strings.Contains(string(vout), tc.field) {
			t.Errorf("%s: validate %v: %s; want an error naming %s", tc.name, verr, vout, tc.field)
		}
		run := exec.Command(binary, "run", "-c", cfg)
		done := make(chan error, 1)
		go func() { _, err := run.CombinedOutput(); done <- err }()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("%s: run exited 0", tc.name)
			}
		case <-time.After(20 * time.Second):
			_ = run.Process.Kill()
			t.Errorf("%s: run started where validate refused", tc.name)
		}
	}
	// And validate leaves nothing behind.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("validate left files: %v", entries)
	}
}
