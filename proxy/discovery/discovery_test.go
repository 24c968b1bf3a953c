package discovery

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmgate/wasmgate/internal/testsvc"
)

// run starts p and returns its sets as they come and its reported errors.
type run struct {
	sets   chan []Target
	mu     sync.Mutex
	errs   []error
	cancel context.CancelFunc
	done   chan error
}

func (r *run) onError(err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
}

func (r *run) errors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

func newRun() *run { return &run{sets: make(chan []Target, 16), done: make(chan error, 1)} }

func (r *run) start(t *testing.T, p Provider) {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	out := make(chan []Target)
	go func() { r.done <- p.Run(ctx, out) }()
	go func() {
		for {
			select {
			case s := <-out:
				r.sets <- s
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run returned %v after cancel, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
}

// next waits for the next set.
func (r *run) next(t *testing.T) []Target {
	t.Helper()
	select {
	case s := <-r.sets:
		return s
	case <-time.After(10 * time.Second):
		t.Fatalf("no target set within 10s; errors: %v", r.errors())
		return nil
	}
}

// quiet checks that no set arrives for a while.
func (r *run) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case s := <-r.sets:
		t.Fatalf("unexpected set %v", s)
	case <-time.After(d):
	}
}

func targets(spec ...any) []Target {
	var ts []Target
	for i := 0; i < len(spec); i += 2 {
		ts = append(ts, Target{Address: spec[i].(string), Weight: spec[i+1].(int)})
	}
	return ts
}

func wantSet(t *testing.T, got, want []Target) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("set %v, want %v", got, want)
	}
}

func TestStatic(t *testing.T) {
	r := newRun()
	r.start(t, NewStatic(targets("b:2", 1, "a:1", 2, "b:2", 3)))
	// Sorted by address, duplicates merged.
	wantSet(t, r.next(t), targets("a:1", 2, "b:2", 4))
}

func TestFileJSONAndTOML(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, first, second, broken, brokenErr string
	}{
		{"targets.json",
			`{"targets": ["10.0.0.1:80", {"address": "10.0.0.2:80", "weight": 3}]}`,
			`{"targets": [{"address": "10.0.0.3:80"}]}`,
			"{\n\"targets\": [\n\"10.0.0.9:80\",,\n]}", "line 3"},
		{"targets.toml",
			`targets = ["10.0.0.1:80", { address = "10.0.0.2:80", weight = 3 }]`,
			"targets = [{ address = \"10.0.0.3:80\" }]",
			"targets = [\"nohost\"]", "targets[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			write(t, path, tc.first)
			r := newRun()
			r.start(t, NewFile(FileOptions{Path: path, Interval: 20 * time.Millisecond, OnError: r.onError}))
			wantSet(t, r.next(t), targets("10.0.0.1:80", 1, "10.0.0.2:80", 3))

			write(t, path, tc.broken)
			waitErr(t, r, tc.brokenErr)
			write(t, path, `{"targets": []}`+"\n# "+tc.name) // empty (or not even valid TOML)
			time.Sleep(100 * time.Millisecond)
			r.quiet(t, 100*time.Millisecond)

			write(t, path, tc.second)
			wantSet(t, r.next(t), targets("10.0.0.3:80", 1))
		})
	}
}

func TestFileMissingKeepsNothingAndReports(t *testing.T) {
	r := newRun()
	r.start(t, NewFile(FileOptions{Path: filepath.Join(t.TempDir(), "none.json"), Interval: 20 * time.Millisecond, OnError: r.onError}))
	waitErr(t, r, "no such file")
	r.quiet(t, 100*time.Millisecond)
}

func TestDNSRecordsAndChanges(t *testing.T) {
	dns := testsvc.StartDnsmasq(t, "127.0.0.2 api.test\n127.0.0.3 api.test\n127.0.0.4 b1.test\n127.0.0.5 b2.test\n",
		"--srv-host=_api._tcp.svc.test,b1.test,8081,0,5",
		"--srv-host=_api._tcp.svc.test,b2.test,8082,0,0",
		"--srv-host=_api._tcp.prio.test,b1.test,8081,10,1",
		"--srv-host=_api._tcp.prio.test,b2.test,8082,20,1",
		"--srv-host=_api._tcp.fallback.test,nowhere.test,8081,10,1",
		"--srv-host=_api._tcp.fallback.test,b2.test,8082,20,1")

	t.Run("A", func(t *testing.T) {
		r := newRun()
		r.start(t, NewDNS(DNSOptions{Name: "api.test", Port: 8080, Type: "A", Interval: 50 * time.Millisecond,
			Resolver: dns.Addr, OnError: r.onError}))
		wantSet(t, r.next(t), targets("127.0.0.2:8080", 1, "127.0.0.3:8080", 1))
	})
	t.Run("SRV", func(t *testing.T) {
		r := newRun()
		r.start(t, NewDNS(DNSOptions{Name: "_api._tcp.svc.test", Type: "SRV", Interval: 50 * time.Millisecond,
			Resolver: dns.Addr, OnError: r.onError}))
		// Ports and weights from the records; weight 0 counts as 1.
		wantSet(t, r.next(t), targets("127.0.0.4:8081", 5, "127.0.0.5:8082", 1))
	})
	t.Run("SRV priorities: the lowest that resolves", func(t *testing.T) {
		r := newRun()
		r.start(t, NewDNS(DNSOptions{Name: "_api._tcp.prio.test", Type: "SRV", Interval: 50 * time.Millisecond,
			Resolver: dns.Addr, OnError: r.onError}))
		wantSet(t, r.next(t), targets("127.0.0.4:8081", 1)) // priority 20 is a backup
		r = newRun()
		r.start(t, NewDNS(DNSOptions{Name: "_api._tcp.fallback.test", Type: "SRV", Interval: 50 * time.Millisecond,
			Resolver: dns.Addr, OnError: r.onError}))
		wantSet(t, r.next(t), targets("127.0.0.5:8082", 1)) // priority 10's host does not resolve
	})
	t.Run("change, then a dead server keeps the last set", func(t *testing.T) {
		r := newRun()
		r.start(t, NewDNS(DNSOptions{Name: "api.test", Port: 8080, Type: "A", Interval: 50 * time.Millisecond,
			Resolver: dns.Addr, OnError: r.onError}))
		wantSet(t, r.next(t), targets("127.0.0.2:8080", 1, "127.0.0.3:8080", 1))
		dns.SetHosts(t, "127.0.0.7 api.test\n")
		wantSet(t, r.next(t), targets("127.0.0.7:8080", 1))
		dns.Kill()
		waitErr(t, r, "dns api.test")
		r.quiet(t, 200*time.Millisecond)
	})
}

func TestEtcdListWatchAndRestart(t *testing.T) {
	etcd := testsvc.StartEtcd(t)
	etcd.Put(t, "/svc/api/1", "10.0.0.1:80")
	etcd.Put(t, "/svc/api/2", `{"address": "10.0.0.2:80", "weight": 4}`)
	etcd.Put(t, "/svc/apiother/1", "10.9.9.9:80") // outside the prefix
	r := newRun()
	r.start(t, NewEtcd(EtcdOptions{Endpoints: []string{etcd.URL}, Prefix: "/svc/api/", OnError: r.onError}))
	wantSet(t, r.next(t), targets("10.0.0.1:80", 1, "10.0.0.2:80", 4))

	etcd.Put(t, "/svc/api/3", "10.0.0.3:80")
	wantSet(t, r.next(t), targets("10.0.0.1:80", 1, "10.0.0.2:80", 4, "10.0.0.3:80", 1))
	etcd.Delete(t, "/svc/api/1")
	wantSet(t, r.next(t), targets("10.0.0.2:80", 4, "10.0.0.3:80", 1))

	// A key that is not a target is reported and left out.
	etcd.Put(t, "/svc/api/bad", "not an address")
	waitErr(t, r, "not an address")

	// While etcd is down the set stays; after it returns changes flow.
	etcd.Kill()
	waitErr(t, r, "etcd")
	r.quiet(t, 200*time.Millisecond)
	etcd.Restart(t)
	etcd.Put(t, "/svc/api/4", "10.0.0.4:80")
	got := r.next(t)
	for len(got) != 3 { // the re-list may come before the new key
		got = r.next(t)
	}
	wantSet(t, got, targets("10.0.0.2:80", 4, "10.0.0.3:80", 1, "10.0.0.4:80", 1))
}

// TestEtcdBackoffRestartsAfterAWorkingWatch: reconnect attempts double
// their pause while they fail, and a watch that later breaks starts again
// from the shortest pause; before, after one long outage every later
// break waited the longest pause (5 s) before listing again. The pauses
// are recorded rather than waited for, so the test shows which one the
// provider chose without depending on how long etcd takes to restart.
func TestEtcdBackoffRestartsAfterAWorkingWatch(t *testing.T) {
	srv := testsvc.StartEtcd(t)
	srv.Put(t, "/svc/api/1", "10.0.0.1:80")
	r := newRun()
	p := NewEtcd(EtcdOptions{Endpoints: []string{srv.URL}, Prefix: "/svc/api/", OnError: r.onError}).(*etcd)
	pauses := make(chan time.Duration, 1024)
	p.pause = func(ctx context.Context, d time.Duration) bool {
		select {
		case pauses <- d:
		case <-ctx.Done():
			return false
		}
		return sleepCtx(ctx, 10*time.Millisecond)
	}
	nextPause := func() time.Duration {
		t.Helper()
		select {
		case d := <-pauses:
			return d
		case <-time.After(10 * time.Second):
			t.Fatalf("no reconnect attempt within 10s; errors: %v", r.errors())
			return 0
		}
	}
	r.start(t, p)
	wantSet(t, r.next(t), targets("10.0.0.1:80", 1))

	// An outage long enough to reach the longest pause.
	srv.Kill()
	if d := nextPause(); d != retryMin {
		t.Fatalf("first pause after a working watch broke: %v, want %v", d, retryMin)
	}
	want := retryMin
	for want < retryMax {
		want = min(2*want, retryMax)
		if d := nextPause(); d != want {
			t.Fatalf("pause after consecutive failures: %v, want %v", d, want)
		}
	}

	// Back: the provider lists again and follows changes.
	srv.Restart(t)
	srv.Put(t, "/svc/api/2", "10.0.0.2:80")
	for got := r.next(t); len(got) != 2; got = r.next(t) {
	}
	for len(pauses) > 0 { // the attempts made while etcd was starting
		<-pauses
	}

	// The watch breaks again: the next attempt waits the shortest pause.
	srv.Kill()
	if d := nextPause(); d != retryMin {
		t.Fatalf("first pause after the watch broke again: %v, want %v (the backoff kept the outage's pace)", d, retryMin)
	}
}

// TestConsul runs against a real Consul agent when there is one; Debian
// has no package for it, and a hand-written imitation would test our idea
// of Consul rather than Consul.
func TestConsul(t *testing.T) {
	addr := os.Getenv("CONSUL_HTTP_ADDR")
	if addr == "" {
		t.Skip("no Consul agent on this machine: set CONSUL_HTTP_ADDR to one (with a service \"wasmgate-test\" registered) to run this test")
	}
	if !strings.HasPrefix(addr, "http") {
		addr = "http://" + addr
	}
	r := newRun()
	r.start(t, NewConsul(ConsulOptions{Address: addr, Service: "wasmgate-test", OnError: r.onError}))
	if set := r.next(t); len(set) == 0 {
		t.Fatal("empty set")
	}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func waitErr(t *testing.T, r *run, sub string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, err := range r.errors() {
			if strings.Contains(err.Error(), sub) {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no error containing %q; got %v", sub, r.errors())
}
