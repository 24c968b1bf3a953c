package proxy_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
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
	dns := startDnsmasq(t, "127.0.0.2 api.wasmgate.test\n")
	g := startGateway(t, publicListener+fmt.Sprintf(`[[upstreams]]
name = "backend"
discovery = { provider = "dns", name = "api.wasmgate.test", port = %d, resolver = %q, interval = "100ms" }
[[routes]]
path_prefix = "/"
upstream = "backend"
`, port, dns.addr))
	switchesTraffic(t, g, a, b, func() { dns.setHosts(t, "127.0.0.3 api.wasmgate.test\n") })
}

// dnsmasq is a real DNS server answering from a hosts file that tests
// rewrite (SIGHUP makes it re-read the file).
type dnsmasq struct {
	addr  string
	hosts string
	cmd   *exec.Cmd
}

func startDnsmasq(t *testing.T, hosts string) *dnsmasq {
	t.Helper()
	bin, err := exec.LookPath("dnsmasq")
	if err != nil {
		bin = "/usr/sbin/dnsmasq"
		if _, err := os.Stat(bin); err != nil {
			t.Fatal("dnsmasq is not installed (make deps installs Debian's dnsmasq-base)")
		}
	}
	dir := t.TempDir()
	d := &dnsmasq{hosts: filepath.Join(dir, "hosts")}
	writeFile(t, d.hosts, hosts)
	for attempt := 0; attempt < 5; attempt++ {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		pc.Close()
		d.addr = "127.0.0.1:" + strconv.Itoa(port)
		d.cmd = exec.Command(bin, "--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-daemon",
			"--listen-address=127.0.0.1", "--bind-interfaces", "--port="+strconv.Itoa(port),
			"--addn-hosts="+d.hosts, "--local-ttl=0", "--user=root", "--pid-file=", "--log-facility=-")
		stderr, _ := d.cmd.StderrPipe()
		if err := d.cmd.Start(); err != nil {
			t.Fatalf("dnsmasq: %v", err)
		}
		// dnsmasq logs "started" once it listens; give up on this port if
		// it exits first (the port was taken meanwhile).
		started := make(chan bool, 1)
		go func() {
			sc := bufio.NewScanner(stderr)
			ok := false
			for sc.Scan() {
				if !ok && strings.Contains(sc.Text(), "started") {
					ok = true
					started <- true
				}
			}
			if !ok {
				started <- false
			}
		}()
		select {
		case ok := <-started:
			if ok {
				t.Cleanup(func() { _ = d.cmd.Process.Kill(); _ = d.cmd.Wait() })
				return d
			}
		case <-time.After(5 * time.Second):
		}
		_ = d.cmd.Process.Kill()
		_ = d.cmd.Wait()
	}
	t.Fatal("dnsmasq did not start")
	return nil
}

func (d *dnsmasq) setHosts(t *testing.T, hosts string) {
	t.Helper()
	writeFile(t, d.hosts, hosts)
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}
