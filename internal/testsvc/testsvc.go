// Package testsvc starts the real servers tests run against (dnsmasq,
// etcd) on free loopback ports, and stops them when the test ends. It is
// imported by tests only. A missing server binary fails the test: `make
// deps` installs them from Debian's packages.
package testsvc

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func lookPath(t testing.TB, name, pkg string, fallbacks ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range fallbacks {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("%s is not installed (make deps installs Debian's %s)", name, pkg)
	return ""
}

// FreePort returns a TCP port that was free on 127.0.0.1 a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Dnsmasq is a real DNS server answering from a hosts file and SRV
// records that tests rewrite.
type Dnsmasq struct {
	Addr  string // host:port, UDP and TCP
	dir   string
	hosts string
	cmd   *exec.Cmd
	args  []string
}

// StartDnsmasq serves hosts (lines of "IP name") and the given extra
// dnsmasq options (e.g. "--srv-host=_api._tcp.test,backend.test,8080,0,5").
func StartDnsmasq(t testing.TB, hosts string, extra ...string) *Dnsmasq {
	t.Helper()
	bin := lookPath(t, "dnsmasq", "dnsmasq-base", "/usr/sbin/dnsmasq")
	d := &Dnsmasq{dir: t.TempDir()}
	d.hosts = filepath.Join(d.dir, "hosts")
	if err := os.WriteFile(d.hosts, []byte(hosts), 0o644); err != nil {
		t.Fatal(err)
	}
	for attempt := 0; attempt < 5; attempt++ {
		port := FreePort(t)
		d.Addr = "127.0.0.1:" + strconv.Itoa(port)
		d.args = append([]string{"--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-daemon",
			"--listen-address=127.0.0.1", "--bind-interfaces", "--port=" + strconv.Itoa(port),
			"--addn-hosts=" + d.hosts, "--local-ttl=0", "--user=root", "--pid-file=", "--log-facility=-"}, extra...)
		if d.start(bin) {
			t.Cleanup(d.stop)
			return d
		}
	}
	t.Fatal("dnsmasq did not start")
	return nil
}

// start runs dnsmasq and waits for it to say it started; false when it
// exits first (the port was taken in the meantime).
func (d *Dnsmasq) start(bin string) bool {
	d.cmd = exec.Command(bin, d.args...)
	stderr, _ := d.cmd.StderrPipe()
	if err := d.cmd.Start(); err != nil {
		return false
	}
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
			return true
		}
	case <-time.After(5 * time.Second):
	}
	d.stop()
	return false
}

func (d *Dnsmasq) stop() {
	if d.cmd != nil && d.cmd.Process != nil {
		_ = d.cmd.Process.Kill()
		_ = d.cmd.Wait()
	}
}

// SetHosts rewrites the hosts file; dnsmasq re-reads it on SIGHUP.
func (d *Dnsmasq) SetHosts(t testing.TB, hosts string) {
	t.Helper()
	if err := os.WriteFile(d.hosts, []byte(hosts), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

// Kill stops the server, as a crash would.
func (d *Dnsmasq) Kill() { d.stop() }

// Etcd is a real single-member etcd server.
type Etcd struct {
	URL  string // http://127.0.0.1:port, the client URL
	dir  string
	cmd  *exec.Cmd
	args []string
	bin  string
}

// StartEtcd starts etcd with a fresh data directory.
func StartEtcd(t testing.TB) *Etcd {
	t.Helper()
	e := &Etcd{bin: lookPath(t, "etcd", "etcd-server"), dir: t.TempDir()}
	for attempt := 0; attempt < 5; attempt++ {
		client, peer := FreePort(t), FreePort(t)
		e.URL = fmt.Sprintf("http://127.0.0.1:%d", client)
		peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
		e.args = []string{"--data-dir", filepath.Join(e.dir, "data"), "--name", "test",
			"--listen-client-urls", e.URL, "--advertise-client-urls", e.URL,
			"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
			"--initial-cluster", "test=" + peerURL, "--log-level", "error"}
		if e.start() {
			t.Cleanup(e.Kill)
			return e
		}
	}
	t.Fatal("etcd did not start")
	return nil
}

func (e *Etcd) start() bool {
	e.cmd = exec.Command(e.bin, e.args...)
	e.cmd.Stdout, e.cmd.Stderr = nil, nil
	if err := e.cmd.Start(); err != nil {
		return false
	}
	exited := make(chan struct{})
	go func() { _ = e.cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if resp, err := http.Get(e.URL + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.Kill()
	return false
}

// Kill stops etcd at once.
func (e *Etcd) Kill() {
	if e.cmd != nil && e.cmd.Process != nil {
		_ = e.cmd.Process.Kill()
		time.Sleep(50 * time.Millisecond)
	}
}

// Restart starts etcd again on the same ports and data.
func (e *Etcd) Restart(t testing.TB) {
	t.Helper()
	e.Kill()
	for i := 0; i < 20; i++ {
		if e.start() {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("etcd did not restart")
}

// Put sets key to value.
func (e *Etcd) Put(t testing.TB, key, value string) {
	t.Helper()
	e.call(t, "/v3/kv/put", fmt.Sprintf(`{"key":%q,"value":%q}`, b64(key), b64(value)))
}

// Delete removes key.
func (e *Etcd) Delete(t testing.TB, key string) {
	t.Helper()
	e.call(t, "/v3/kv/deleterange", fmt.Sprintf(`{"key":%q}`, b64(key)))
}

func (e *Etcd) call(t testing.TB, path, body string) {
	t.Helper()
	resp, err := http.Post(e.URL+path, "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("etcd %s: %s", path, resp.Status)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
