package proxy_test

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmgate/wasmgate/internal/testsvc"
)

// newKillableOn starts a killable backend on a given address.
func newKillableOn(t *testing.T, name, addr string) *killable {
	t.Helper()
	k := &killable{name: name, addr: addr}
	k.h = killableHandler(k)
	k.restart(t)
	t.Cleanup(k.kill)
	return k
}

// twoBackendsOneName: two backends on 127.0.0.2 and 127.0.0.3 with the
// same port, so that one DNS name with an A record for either IP and a
// fixed port can point at each in turn.
func twoBackendsOnePort(t *testing.T) (a, b *killable, port int) {
	t.Helper()
	for i := 0; i < 20; i++ {
		ln, err := net.Listen("tcp", "127.0.0.2:0")
		if err != nil {
			t.Fatalf("listen on 127.0.0.2: %v", err)
		}
		port = ln.Addr().(*net.TCPAddr).Port
		ln2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.3:%d", port))
		ln.Close()
		if err != nil {
			continue
		}
		ln2.Close()
		a = newKillableOn(t, "a", fmt.Sprintf("127.0.0.2:%d", port))
		b = newKillableOn(t, "b", fmt.Sprintf("127.0.0.3:%d", port))
		return a, b, port
	}
	t.Fatal("no port free on both 127.0.0.2 and 127.0.0.3")
	return nil, nil, 0
}

// switchesTraffic runs load through g, calls change, and waits until b
// takes the traffic and a gets none; no request may fail.
func switchesTraffic(t *testing.T, g *gw, a, b *killable, change func()) {
	t.Helper()
	l := startLoad(t, g.URL+"/d", 4)
	waitFor(t, "traffic on a", func() bool { return a.hits.Load() > 20 })
	change()
	waitFor(t, "traffic on b", func() bool { return b.hits.Load() > 20 })
	settled := a.hits.Load()
	before := b.hits.Load()
	waitFor(t, "b taking all the traffic", func() bool { return b.hits.Load() > before+100 })
	l.finish()
	if n := l.failed.Load(); n != 0 {
		t.Fatalf("%d of %d requests failed during the change, e.g. %q", n, n+l.ok.Load(), l.failures)
	}
	if a.hits.Load() > settled+8 {
		// A few requests picked before the swap may still land on a.
		t.Fatalf("a still got %d requests after b took over", a.hits.Load()-settled)
	}
}

func TestE2EDiscoveryFile(t *testing.T) {
	a, b := newKillable(t, "a", nil), newKillable(t, "b", nil)
	dir := t.TempDir()
	path := filepath.Join(dir, "targets.json")
	writeFile(t, path, fmt.Sprintf(`{"targets": [%q]}`, a.addr))
	g := startGateway(t, "[log]\nlevel = \"warn\"\naccess_log = false\noutput = \"{{log}}\"\n"+
		publicListener+fmt.Sprintf(`[[upstreams]]
name = "backend"
discovery = { provider = "file", path = %q, interval = "50ms" }
[[routes]]
path_prefix = "/"
upstream = "backend"
`, path))
	switchesTraffic(t, g, a, b, func() {
		// A broken file in between changes nothing.
		writeFile(t, path, `{"targets": [`)
		time.Sleep(200 * time.Millisecond)
		writeFile(t, path, fmt.Sprintf(`{"targets": [{"address": %q, "weight": 2}]}`, b.addr))
	})
	if !strings.Contains(g.logText(t), "discovery failed; keeping the last good targets") {
		t.Error("the broken file was not logged")
	}
}

func TestE2EDiscoveryDNS(t *testing.T) {
	a, b, port := twoBackendsOnePort(t)
	dns := testsvc.StartDnsmasq(t, "127.0.0.2 api.wasmgate.test\n")
	g := startGateway(t, publicListener+fmt.Sprintf(`[[upstreams]]
name = "backend"
discovery = { provider = "dns", name = "api.wasmgate.test", port = %d, resolver = %q, interval = "100ms" }
[[routes]]
path_prefix = "/"
upstream = "backend"
`, port, dns.Addr))
	switchesTraffic(t, g, a, b, func() { dns.SetHosts(t, "127.0.0.3 api.wasmgate.test\n") })
}

func TestE2EDiscoveryEtcd(t *testing.T) {
	a, b := newKillable(t, "a", nil), newKillable(t, "b", nil)
	etcd := testsvc.StartEtcd(t)
	etcd.Put(t, "/services/api/a", a.addr)
	g := startGateway(t, publicListener+fmt.Sprintf(`[[upstreams]]
name = "backend"
discovery = { provider = "etcd", endpoints = [%q], prefix = "/services/api/" }
[[routes]]
path_prefix = "/"
upstream = "backend"
`, etcd.URL))
	switchesTraffic(t, g, a, b, func() {
		etcd.Put(t, "/services/api/b", fmt.Sprintf(`{"address": %q, "weight": 1}`, b.addr))
		etcd.Delete(t, "/services/api/a")
	})
}
