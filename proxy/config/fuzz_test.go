package config

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// seedConfigs returns the contents of every testdata/*.toml file, the
// repository's gateway.toml and every config of the error table.
func seedConfigs(f *testing.F) []string {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*.toml"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no testdata configs: %v", err)
	}
	paths = append(paths, filepath.Join("..", "..", "gateway.toml"))
	var out []string
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			out = append(out, string(b))
		}
	}
	for _, c := range errorCases {
		out = append(out, c.src)
	}
	return out
}

// quotedValue finds the string values of duration and size keys.
var quotedValue = regexp.MustCompile(`(?m)(?:timeout|grace|interval|bytes)\s*=\s*"([^"]*)"`)

func seedValues(f *testing.F, extra ...string) {
	f.Helper()
	seen := map[string]bool{}
	for _, s := range append(extra, seedConfigs(f)...) {
		for _, m := range quotedValue.FindAllStringSubmatch(s, -1) {
			seen[m[1]] = true
		}
	}
	for _, s := range extra {
		seen[s] = true
	}
	for s := range seen {
		f.Add(s)
	}
}

// FuzzParse: Parse never panics; whatever it accepts satisfies the
// invariants the proxy relies on, and whatever it refuses is reported as
// located Errors.
func FuzzParse(f *testing.F) {
	for _, s := range seedConfigs(f) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, "fuzz.toml")
		if err != nil {
			checkErrors(t, data, err)
			return
		}
		checkInvariants(t, cfg)
	})
}

func checkErrors(t *testing.T, data []byte, err error) {
	var list Errors
	if !errors.As(err, &list) {
		t.Fatalf("error %T is not Errors: %v", err, err)
	}
	if len(list) == 0 {
		t.Fatal("empty Errors returned")
	}
	lines := strings.Count(string(data), "\n") + 1
	for _, e := range list {
		if e == nil {
			t.Fatal("nil *FieldError in Errors")
		}
		if e.File != "fuzz.toml" {
			t.Errorf("File = %q, want fuzz.toml", e.File)
		}
		if e.Msg == "" {
			t.Errorf("empty message: %+v", *e)
		}
		if e.Line < 0 || e.Line > lines {
			t.Errorf("line %d outside the %d-line input: %s", e.Line, lines, e)
		}
		if !strings.HasPrefix(e.Error(), "fuzz.toml") {
			t.Errorf("Error() = %q does not start with the file", e.Error())
		}
	}
}

func checkInvariants(t *testing.T, c *Config) {
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("accepted config breaks an invariant: "+format, args...)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		fail("log.level %q", c.Log.Level)
	}
	if c.Log.Format != "json" && c.Log.Format != "console" {
		fail("log.format %q", c.Log.Format)
	}
	if c.Log.Output == "" {
		fail("empty log.output")
	}
	if c.Gateway.ShutdownGrace <= 0 || c.Gateway.WatchInterval <= 0 {
		fail("gateway durations %+v", c.Gateway)
	}
	if c.Admin.Listen != "" {
		if checkHostPort(c.Admin.Listen) != nil {
			fail("admin.listen %q", c.Admin.Listen)
		}
		if !IsLoopback(c.Admin.Listen) && c.Admin.Token == "" {
			fail("public admin.listen %q without token", c.Admin.Listen)
		}
	}

	if len(c.Listeners) == 0 {
		fail("no listeners")
	}
	lnames, addrs := map[string]bool{}, map[string]bool{}
	for i, l := range c.Listeners {
		if l.Name == "" || lnames[l.Name] {
			fail("listeners[%d].name %q empty or duplicate", i, l.Name)
		}
		lnames[l.Name] = true
		if checkHostPort(l.Listen) != nil || addrs[l.Listen] {
			fail("listeners[%d].listen %q invalid or duplicate", i, l.Listen)
		}
		addrs[l.Listen] = true
		if l.MaxHeaderBytes < 1024 || l.MaxBodyBytes <= 0 || l.MaxConnections <= 0 {
			fail("listeners[%d] limits %+v", i, l)
		}
		if l.ReadTimeout <= 0 || l.WriteTimeout <= 0 || l.IdleTimeout <= 0 {
			fail("listeners[%d] timeouts %+v", i, l)
		}
		if l.HTTPSPort < 0 || l.HTTPSPort > 65535 {
			fail("listeners[%d].https_port %d", i, l.HTTPSPort)
		}
		if l.RedirectHTTPS && (len(l.TLS) > 0 || l.HTTPSPort == 0) {
			fail("listeners[%d] redirects with tls or no https_port", i)
		}
		for k, cert := range l.TLS {
			if cert.Cert == "" || cert.Key == "" {
				fail("listeners[%d].tls[%d] incomplete", i, k)
			}
		}
	}

	ups := map[string]bool{}
	for i, u := range c.Upstreams {
		if u.Name == "" || ups[u.Name] {
			fail("upstreams[%d].name %q empty or duplicate", i, u.Name)
		}
		ups[u.Name] = true
		if len(u.Targets) == 0 {
			fail("upstreams[%d] has no targets", i)
		}
		for k, tg := range u.Targets {
			if checkHostPort(tg.Address) != nil || tg.Weight < 1 {
				fail("upstreams[%d].targets[%d] = %+v", i, k, tg)
			}
		}
		if u.Balancer == "" || u.MaxConnsPerTarget <= 0 {
			fail("upstreams[%d] balancer/pool %+v", i, u)
		}
		if u.ConnectTimeout <= 0 || u.Timeout <= 0 || u.IdleTimeout <= 0 {
			fail("upstreams[%d] timeouts %+v", i, u)
		}
		if u.TLSSkipVerify && !u.TLS {
			fail("upstreams[%d] skip-verify without tls", i)
		}
	}

	rnames := map[string]bool{}
	for i, r := range c.Routes {
		if r.Name == "" || rnames[r.Name] {
			fail("routes[%d].name %q empty or duplicate", i, r.Name)
		}
		rnames[r.Name] = true
		if d := r.DirectResponse; d != nil {
			if r.Upstream != "" {
				fail("routes[%d] has an upstream and a direct_response", i)
			}
			if d.Status < 100 || d.Status > 599 || d.ContentType == "" {
				fail("routes[%d].direct_response %+v", i, *d)
			}
		} else if !ups[r.Upstream] {
			fail("routes[%d].upstream %q does not exist", i, r.Upstream)
		}
		if r.Timeout < 0 {
			fail("routes[%d].timeout negative", i)
		}
		if r.StripPrefix && (r.PathPrefix == "" || r.PathRewrite != nil) {
			fail("routes[%d] strip_prefix without path_prefix or with path_rewrite", i)
		}
		if r.PathRewrite != nil && r.PathRewrite.Regex == "" {
			fail("routes[%d].path_rewrite without regex", i)
		}
		if len(r.Plugins) > 0 {
			fail("routes[%d] names plugins %q", i, r.Plugins)
		}
		for _, m := range r.Methods {
			if m == "" || strings.ToUpper(m) != m {
				fail("routes[%d] method %q", i, m)
			}
		}
		for kind, ms := range map[string]map[string]Match{"headers": r.Headers, "query": r.Query} {
			for name, m := range ms {
				n := 0
				if m.Exact != "" {
					n++
				}
				if m.Regex != "" {
					n++
				}
				if m.Present {
					n++
				}
				if m.set != 1 || n > 1 {
					fail("routes[%d].%s.%s = %+v is not exactly one condition", i, kind, name, m)
				}
			}
		}
	}
}

func FuzzDuration(f *testing.F) {
	seedValues(f, "0", "0s", "250ms", "1m30s", "1h2m3s4ms5us6ns", "9µs", "-1s", "30",
		"2562047h47m16.854775807s", "2562047h47m16.854775808s", ".5s", "+1s", "")
	f.Fuzz(func(t *testing.T, s string) {
		var d Duration
		if err := d.UnmarshalText([]byte(s)); err != nil {
			if d != 0 {
				t.Fatalf("UnmarshalText(%q) failed but set %d", s, int64(d))
			}
			return
		}
		if d < 0 {
			t.Fatalf("UnmarshalText(%q) = %d, negative", s, int64(d))
		}
		checkDurationRoundTrip(t, d)
	})
}

func FuzzSize(f *testing.F) {
	seedValues(f, "0", "1", "512B", "1KB", "1MB", "1GB", "64KiB", "10MiB", "3GiB", "10 MiB",
		"4611686018427387904", "4294967296GiB", "4294967297GiB", "17179869184GiB", "-1", "KiB", "")
	f.Fuzz(func(t *testing.T, s string) {
		var z Size
		if err := z.UnmarshalText([]byte(s)); err != nil {
			if z != 0 {
				t.Fatalf("UnmarshalText(%q) failed but set %d", s, int64(z))
			}
			return
		}
		if z < 0 || z > 1<<62 {
			t.Fatalf("UnmarshalText(%q) = %d, outside [0, 2^62]", s, int64(z))
		}
		checkSizeRoundTrip(t, z)
	})
}
