package proxy_test

import (
	"context"
	"net"
	"runtime"
	"testing"
	"time"
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
