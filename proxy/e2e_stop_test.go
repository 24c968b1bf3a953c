package proxy_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wasmgate/wasmgate/proxy"
)

// TestE2EReloadLeavesNoDiscoveryWaiter: a discovered upstream whose
// provider never answers leaves nothing behind when a reload replaces
// its snapshot (each reload used to leave a goroutine waiting for the
// first answer for ever).
func TestE2EReloadLeavesNoDiscoveryWaiter(t *testing.T) {
	g := startGateway(t, publicListener+`
[[upstreams]]
name = "d"
discovery = { provider = "file", path = "{{dir}}/missing.json", interval = "1h" }
[[routes]]
path_prefix = "/"
upstream = "d"
`)
	if _, err := g.G.Reload(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	before := runtime.NumGoroutine()
	for i := 0; i < 50; i++ {
		if _, err := g.G.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the replaced snapshots' goroutines to end", func() bool {
		return runtime.NumGoroutine()-before < 10
	})
}

// TestE2EShutdownGraceBoundsTheAdminAPI: an admin client that sent half a
// request does not hold the gateway's stop past its grace period.
func TestE2EShutdownGraceBoundsTheAdminAPI(t *testing.T) {
	g := startGateway(t, publicListener)
	c, err := net.Dial("tcp", g.G.AdminAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET /metrics HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	begin := time.Now()
	_ = g.G.Shutdown(ctx)
	if took := time.Since(begin); took > 2*time.Second {
		t.Fatalf("stop took %v with a 300ms grace period", took)
	}
}

// TestE2EBusyAddressNamesTheField: an address that cannot be bound at
// start is reported as the config error it is, with the file, line and
// field, for a listener as for the admin API.
func TestE2EBusyAddressNamesTheField(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	for _, tc := range []struct{ text, want string }{
		{"[admin]\nlisten = \"\"\n[[listeners]]\nname = \"public\"\nlisten = \"" + busy.Addr().String() + "\"\n",
			":5: listeners[0].listen: listener \"public\": "},
		{"[admin]\nlisten = \"" + busy.Addr().String() + "\"\n[[listeners]]\nname = \"public\"\nlisten = \"127.0.0.1:0\"\n",
			":2: admin.listen: "},
	} {
		path := filepath.Join(dir, "g.toml")
		if err := os.WriteFile(path, []byte(tc.text+"[log]\nlevel = \"error\"\noutput = \""+filepath.Join(dir, "log")+"\"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		g, err := proxy.New(proxy.Options{ConfigPath: path})
		if err != nil {
			t.Fatal(err)
		}
		err = g.Start()
		if err == nil {
			_ = g.Shutdown(context.Background())
			t.Fatalf("started on a busy address:\n%s", tc.text)
		}
		if msg := err.Error(); !strings.HasPrefix(msg, path+tc.want) || !strings.Contains(msg, "address already in use") {
			t.Errorf("error %q, want %s%s... address already in use", msg, path, tc.want)
		}
	}
}

// TestE2EShutdownGraceBoundsAnUpload: an upload still starting its plugin
// (one that loops in its start, stopped only at the start-up deadline)
// holds the reload lock; the stop waits for it within the grace period
// only, and what the upload loaded is not put in service after it.
func TestE2EShutdownGraceBoundsAnUpload(t *testing.T) {
	be := newKillable(t, "be", nil)
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.addr)+pluginRoute("p", fixturePath(t, "noop"), "call_timeout = \"200ms\"\n"))
	spin, err := os.ReadFile(fixturePath(t, "start_loop"))
	if err != nil {
		t.Fatal(err)
	}
	put := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("PUT", g.AdminURL+"/plugins/p", bytes.NewReader(spin))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			put <- 0
			return
		}
		resp.Body.Close()
		put <- resp.StatusCode
	}()
	// The upload holds the lock for its start's 3 s bound.
	for deadline := time.Now().Add(3 * time.Second); !g.G.ReloadBusy(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the upload never took the reload lock")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	begin := time.Now()
	err = g.G.Shutdown(ctx)
	if took := time.Since(begin); took > 2*time.Second || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stop took %v with a 300ms grace period (err %v)", took, err)
	}
	if code := <-put; code == 200 {
		t.Fatal("the upload was put in service after the stop")
	}
}
