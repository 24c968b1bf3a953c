package proxy_test

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
)

// TestE2EReloadReopensTheLogFile: logrotate's default (rename the file,
// then SIGHUP) leaves the gateway logging to a new file at the configured
// path, not to the renamed one for ever.
func TestE2EReloadReopensTheLogFile(t *testing.T) {
	be := newRawHTTPBackend(t, nil)
	g := startGateway(t, accessLogOn+proxyTo("", "", be.Addr))
	if resp, err := http.Get(g.URL + "/before-rotate"); err == nil {
		resp.Body.Close()
	}
	g.waitLog(t, "/before-rotate")
	if err := os.Rename(g.LogPath, g.LogPath+".1"); err != nil {
		t.Fatal(err)
	}
	if _, err := g.G.Reload(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(g.URL + "/after-rotate")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	g.waitLog(t, "/after-rotate")
	old, _ := os.ReadFile(g.LogPath + ".1")
	if strings.Contains(string(old), "/after-rotate") {
		t.Errorf("a line logged after the reload went to the rotated file")
	}
	if !strings.Contains(string(old), "/before-rotate") {
		t.Errorf("the rotated file lost what it had: %q", old)
	}
}

// TestE2EReloadWarnsWhenTLSIsTurnedOnOrOff: certificates reload, but a
// listener's socket speaks TLS or not from the start; a reload that adds
// or removes tls says it takes a restart, and the listener keeps serving
// as it did.
func TestE2EReloadWarnsWhenTLSIsTurnedOnOrOff(t *testing.T) {
	be := newRawHTTPBackend(t, nil)
	g := startGateway(t, proxyTo("", "", be.Addr))
	c, k := writeCert(t, g.Dir, "a.test")
	orig := readFile(t, g.Config)
	writeFile(t, g.Config, strings.Replace(orig, "name = \"public\"\nlisten = \"127.0.0.1:0\"\n",
		fmt.Sprintf("name = \"public\"\nlisten = \"127.0.0.1:0\"\ntls = [ { cert = %q, key = %q } ]\n", c, k), 1))
	warnings, err := g.G.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(warnings, "\n"), `listener "public": tls turned on`) {
		t.Errorf("tls added: warnings %q", warnings)
	}
	if resp, err := http.Get(g.URL + "/x"); err != nil || resp.StatusCode != 200 {
		t.Errorf("plain HTTP after the reload: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// Still not in effect: every reload says so, not only the first.
	if warnings, err = g.G.Reload(); err != nil || !strings.Contains(strings.Join(warnings, "\n"), `listener "public": tls turned on`) {
		t.Errorf("second reload: warnings %q, %v", warnings, err)
	}
	// Undone: nothing to warn of (before, it said tls was turned off and
	// the listener served HTTPS, which it never did).
	writeFile(t, g.Config, orig)
	if warnings, err = g.G.Reload(); err != nil || len(warnings) != 0 {
		t.Errorf("reload back to the running settings: warnings %q, %v", warnings, err)
	}

	g = tlsGateway(t, "", be.Addr)
	text := readFile(t, g.Config)
	i := strings.Index(text, "tls = [")
	j := strings.Index(text[i:], "\n")
	writeFile(t, g.Config, text[:i]+text[i+j+1:])
	if warnings, err = g.G.Reload(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(warnings, "\n"), `listener "tls": tls turned off`) {
		t.Errorf("tls removed: warnings %q", warnings)
	}
}

// TestE2ERemovedTargetLeavesMetrics: a target removed by a reload stops
// being exported (its health gauge would otherwise stay at 1 for the life
// of the process, and discovery churn would grow the series without
// bound); the target that stays keeps its series and their counts.
func TestE2ERemovedTargetLeavesMetrics(t *testing.T) {
	a := newRawHTTPBackend(t, nil)
	b := newRawHTTPBackend(t, nil)
	g := startGateway(t, proxyTo("", "", a.Addr, b.Addr))
	for range 4 {
		if resp, err := http.Get(g.URL + "/x"); err == nil {
			resp.Body.Close()
		}
	}
	writeFile(t, g.Config, strings.Replace(readFile(t, g.Config), ", \""+b.Addr+"\"", "", 1))
	if _, err := g.G.Reload(); err != nil {
		t.Fatal(err)
	}
	_, body := doReq(t, newClient(t), "GET", g.AdminURL+"/metrics", nil, nil)
	page := string(body)
	if strings.Contains(page, b.Addr) {
		t.Errorf("the removed target is still exported:\n%s", grepLines(page, b.Addr))
	}
	for _, want := range []string{
		fmt.Sprintf(`wasmgate_upstream_target_healthy{upstream="backend",target=%q} 1`, a.Addr),
		fmt.Sprintf(`wasmgate_upstream_request_duration_seconds_count{upstream="backend",target=%q} 2`, a.Addr),
	} {
		if !strings.Contains(page, want) {
			t.Errorf("missing %s:\n%s", want, grepLines(page, a.Addr))
		}
	}
}

// TestE2EConfigShowsSettingsInForce: GET /config shows what a setting
// left out is in force as (a plugin's pool, a route's timeout taken from
// its upstream), not 0.
func TestE2EConfigShowsSettingsInForce(t *testing.T) {
	be := newKillable(t, "be", nil)
	g := startGateway(t, publicListener+upstreamTOML("backend", "", be.addr)+pluginRoute("p", fixturePath(t, "noop"), ""))
	resp, body := doReq(t, newClient(t), "GET", g.AdminURL+"/config", nil, nil)
	pool := fmt.Sprintf("pool = %d", runtime.GOMAXPROCS(0))
	_, route, _ := strings.Cut(string(body), "[[routes]]")
	route, _, _ = strings.Cut(route, "\n[[")
	if resp.StatusCode != 200 || !strings.Contains(string(body), pool) || !strings.Contains(route, `timeout = "10s"`) {
		t.Fatalf("want %q and the route's timeout 10s:\n%s", pool, body)
	}
}
