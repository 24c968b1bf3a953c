package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// compareConfig reports every section of got that differs from want, so a
// failure names the field instead of dumping two whole structs.
func compareConfig(t *testing.T, got, want *Config) {
	t.Helper()
	check := func(name string, g, w any) {
		t.Helper()
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, g, w)
		}
	}
	check("File", got.File, want.File)
	check("Gateway", got.Gateway, want.Gateway)
	check("Admin", got.Admin, want.Admin)
	gl, wl := got.Log, want.Log
	check("Log.AccessLog", deref(gl.AccessLog), deref(wl.AccessLog))
	gl.AccessLog, wl.AccessLog = nil, nil
	check("Log", gl, wl)
	check("len(Listeners)", len(got.Listeners), len(want.Listeners))
	for i := range min(len(got.Listeners), len(want.Listeners)) {
		check(fmt.Sprintf("Listeners[%d]", i), got.Listeners[i], want.Listeners[i])
	}
	check("len(Upstreams)", len(got.Upstreams), len(want.Upstreams))
	for i := range min(len(got.Upstreams), len(want.Upstreams)) {
		check(fmt.Sprintf("Upstreams[%d]", i), got.Upstreams[i], want.Upstreams[i])
	}
	check("Plugins", got.Plugins, want.Plugins)
	check("len(Routes)", len(got.Routes), len(want.Routes))
	for i := range min(len(got.Routes), len(want.Routes)) {
		g, w := got.Routes[i], want.Routes[i]
		// Compare pointer fields by value so the message shows them.
		check(fmt.Sprintf("Routes[%d].PreserveHost", i), deref(g.PreserveHost), deref(w.PreserveHost))
		check(fmt.Sprintf("Routes[%d].PathRewrite", i), deref(g.PathRewrite), deref(w.PathRewrite))
		check(fmt.Sprintf("Routes[%d].DirectResponse", i), deref(g.DirectResponse), deref(w.DirectResponse))
		check(fmt.Sprintf("Routes[%d]", i), g, w)
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestParseFull loads testdata/full.toml, which sets every field of every
// table, with real certificates generated for the run.
func TestParseFull(t *testing.T) {
	dir := t.TempDir()
	cert1, key1 := writeCert(t, dir, "api.example.com")
	cert2, key2 := writeCert(t, dir, "www.example.org")
	path := filepath.Join(dir, "gateway.toml")
	if err := os.MkdirAll(filepath.Join(dir, "plugins"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "plugins", "tenant.wasm"), "\x00asm")
	writeFile(t, path, substitute(t, readTestdata(t, "full.toml"), map[string]string{
		"CERT1": cert1, "KEY1": key1, "CERT2": cert2, "KEY2": key2,
	}))

	got, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &Config{
		File: path,
		Gateway: Gateway{
			ShutdownGrace:  Duration(20 * time.Second),
			WatchConfig:    true,
			WatchInterval:  Duration(500 * time.Millisecond),
			PluginCacheDir: "/var/cache/wasmgate",
		},
		Admin: Admin{Listen: "0.0.0.0:9902", Token: "s3cret-token"},
		Log: Log{
			Level:     "debug",
			Format:    "console",
			AccessLog: ptr(false),
			Output:    "/var/log/wasmgate/gateway.log",
		},
		Listeners: []Listener{
			{
				Name:   "public-https",
				Listen: "0.0.0.0:8443",
				TLS: []Certificate{
					{Cert: cert1, Key: key1},
					{Cert: cert2, Key: key2},
				},
				MaxHeaderBytes:         32 << 10,
				MaxBodyBytes:           1000 * 1000,
				ReadTimeout:            Duration(10 * time.Second),
				WriteTimeout:           Duration(90 * time.Second),
				IdleTimeout:            Duration(2 * time.Minute),
				MaxConnections:         500,
				TunnelIdleTimeout:      Duration(10 * time.Minute),
				ReusePort:              true,
				HeadersWithUnderscores: "reject",
			},
			{
				Name:           "public-http",
				Listen:         "0.0.0.0:8080",
				RedirectHTTPS:  true,
				HTTPSPort:      4443,
				MaxHeaderBytes: 2048,
				MaxBodyBytes:   2 << 30,
				// Not set in the file: defaults.
				ReadTimeout:            Duration(30 * time.Second),
				WriteTimeout:           Duration(30 * time.Second),
				IdleTimeout:            Duration(60 * time.Second),
				MaxConnections:         10000,
				TunnelIdleTimeout:      Duration(time.Hour),
				HeadersWithUnderscores: "drop",
			},
		},
		Upstreams: []Upstream{
			{
				Name: "users",
				Targets: []Target{
					{Address: "10.0.0.1:8080", Weight: 1},
					{Address: "10.0.0.2:8080", Weight: 3},
				},
				Balancer: "consistent_hash",
				HashOn:   "header:X-User",
				Health: &Health{
					PanicThreshold: 0.5,
					Active: &ActiveHealth{
						Path: "/healthz", Host: "users.internal",
						Interval: Duration(3 * time.Second), Timeout: Duration(500 * time.Millisecond),
						Statuses: []int{200, 204}, HealthyThreshold: 1, UnhealthyThreshold: 4, Jitter: ptr(0.0),
					},
					Passive: &PassiveHealth{ConsecutiveFailures: 3, BaseEjection: Duration(10 * time.Second), MaxEjection: Duration(2 * time.Minute)},
				},
				CircuitBreaker: &CircuitBreaker{
					MaxRequests: 100, MaxPending: 10, ConsecutiveFailures: 20, ErrorRate: 0.5, MinRequests: 50,
					Window: Duration(30 * time.Second), OpenFor: Duration(15 * time.Second), HalfOpenRequests: 3,
				},
				RetryBudget:       RetryBudget{Ratio: ptr(0.1), MinConcurrent: ptr(5)},
				MaxConnsPerTarget: 64,
				ConnectTimeout:    Duration(750 * time.Millisecond),
				Timeout:           Duration(45 * time.Second),
				IdleTimeout:       Duration(30 * time.Second),
				TLS:               true,
				TLSServerName:     "users.internal",
				TLSSkipVerify:     true,
			},
			{
				Name:              "billing",
				Targets:           []Target{{Address: "[2001:db8::1]:443", Weight: 1}},
				Balancer:          "round_robin",
				RetryBudget:       RetryBudget{Ratio: ptr(0.2), MinConcurrent: ptr(3)},
				MaxConnsPerTarget: 1024,
				ConnectTimeout:    Duration(5 * time.Second),
				Timeout:           Duration(30 * time.Second),
				IdleTimeout:       Duration(50 * time.Second),
			},
			discovered("by-dns", &Discovery{Provider: "dns", Name: "_api._tcp.internal", Record: "SRV",
				Resolver: "127.0.0.1:5353", Interval: Duration(10 * time.Second)}),
			discovered("by-dns-a", &Discovery{Provider: "dns", Name: "api.internal", Port: 8080, Record: "A",
				Interval: Duration(30 * time.Second)}),
			discovered("by-file", &Discovery{Provider: "file", Path: "/etc/wasmgate/targets.json", Interval: Duration(time.Second)}),
			discovered("by-etcd", &Discovery{Provider: "etcd", Endpoints: []string{"http://10.0.0.5:2379", "http://10.0.0.6:2379"},
				Prefix: "/services/api/", Username: "gw", Password: "pw"}),
			discovered("by-consul", &Discovery{Provider: "consul", Address: "http://10.0.0.7:8500", Service: "api",
				Tag: "v2", Token: "consul-token"}),
		},
		Plugins: []Plugin{{
			Name: "tenant-check", Module: "plugins/tenant.wasm",
			SHA256: "0000000000000000000000000000000000000000000000000000000000000000",
			Config: `{"tenants": ["a", "b"]}`, VMConfig: "vm", Pool: 3,
			MemoryLimit: 16 << 20, CallTimeout: Duration(20 * time.Millisecond), OnError: "fail_open",
		}},
		Routes: []Route{
			{
				Name:       "users-api",
				Priority:   10,
				Hosts:      []string{"api.example.com", "*.example.org"},
				PathPrefix: "/users/",
				Methods:    []string{"GET", "POST"},
				Headers: map[string]Match{
					"X-Api-Version": {Exact: "2", set: 1},
					"X-Tenant":      {Regex: "^[a-z]+$", set: 1},
					"Authorization": {Present: true, set: 1},
				},
				Query: map[string]Match{
					"debug": {Exact: "1", set: 1},
					"page":  {Regex: "^[0-9]+$", set: 1},
					"trace": {Present: true, set: 1},
				},
				Upstream:     "users",
				Timeout:      Duration(5 * time.Second),
				StripPrefix:  true,
				PreserveHost: ptr(false),
				HostRewrite:  "users.internal",
				Plugins:      []string{"tenant-check"},
				Retries: &Retries{Attempts: 3, PerTryTimeout: Duration(time.Second), On: []string{"connect-failure", "timeout", "5xx"},
					NonIdempotent: true, BackoffBase: Duration(10 * time.Millisecond), BackoffMax: Duration(time.Second)},
			},
			{
				Name:         "billing",
				PathRegex:    "^/billing/v[0-9]+/",
				Upstream:     "billing",
				PreserveHost: ptr(true),
				PathRewrite: &PathRewrite{
					Regex:       "^/billing/(v[0-9]+)/(.*)$",
					Replacement: "/api/$1/$2",
				},
			},
			{
				Name:    "maintenance",
				Path:    "/maintenance",
				Headers: map[string]Match{"X-Exact": {Exact: "yes", set: 1}},
				DirectResponse: &DirectResponse{
					Status:      503,
					Body:        "Down for maintenance.\n[[routes]]\nupstream = \"not-a-key\"\n",
					ContentType: "text/html",
					Headers:     map[string]string{"Retry-After": "120", "Cache-Control": "no-store"},
				},
			},
		},
	}
	compareConfig(t, got, want)

	if got.Log.AccessLogOn() {
		t.Error("AccessLogOn() = true with access_log = false")
	}
	if got.Routes[0].PreserveHostOn() || !got.Routes[1].PreserveHostOn() {
		t.Error("PreserveHostOn() does not follow preserve_host")
	}
}

// TestFullTomlCoversSchema guards TestParseFull: every TOML key of every
// table in types.go must appear in testdata/full.toml.
func TestFullTomlCoversSchema(t *testing.T) {
	src := readTestdata(t, "full.toml")
	used := map[string]bool{}
	for _, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			// A header names a table by its full path; mark every suffix so
			// that [upstreams.health.active] counts as health.active.
			parts := strings.Split(strings.Trim(strings.Fields(line)[0], "[]"), ".")
			for i := range parts {
				used[strings.Join(parts[i:], ".")] = true
			}
			continue
		}
		// key = value, plus the keys of inline tables on the line.
		for _, m := range regexpKey.FindAllStringSubmatch(line, -1) {
			used[m[1]] = true
		}
	}
	var walk func(t reflect.Type, into string)
	walk = func(typ reflect.Type, into string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ == reflect.TypeOf(Duration(0)) {
			return
		}
		for i := range typ.NumField() {
			f := typ.Field(i)
			tag := f.Tag.Get("toml")
			if tag == "" || tag == "-" {
				continue
			}
			if !used[tag] && !used[into+"."+tag] {
				t.Errorf("testdata/full.toml never sets %s%s", into+".", tag)
			}
			walk(f.Type, tag)
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	for _, k := range []string{"exact", "regex", "present", "address", "weight"} {
		if !used[k] {
			t.Errorf("testdata/full.toml never uses %q in a target or match table", k)
		}
	}
}

func TestDefaults(t *testing.T) {
	got, err := Load(filepath.Join("testdata", "minimal.toml"))
	if err != nil {
		t.Fatal(err)
	}
	// Literal values, not the Default* constants: a changed default must
	// show up here and in docs/CONFIG.md.
	want := &Config{
		File: filepath.Join("testdata", "minimal.toml"),
		Gateway: Gateway{
			ShutdownGrace: Duration(15 * time.Second),
			WatchInterval: Duration(2 * time.Second),
		},
		Admin: Admin{Listen: "127.0.0.1:9901"},
		Log:   Log{Level: "info", Format: "json", Output: "stdout"},
		Listeners: []Listener{{
			Name:                   "127.0.0.1:8080", // the listen address
			Listen:                 "127.0.0.1:8080",
			MaxHeaderBytes:         16 << 10,
			MaxBodyBytes:           10 << 20,
			ReadTimeout:            Duration(30 * time.Second),
			WriteTimeout:           Duration(30 * time.Second),
			IdleTimeout:            Duration(60 * time.Second),
			MaxConnections:         10000,
			TunnelIdleTimeout:      Duration(time.Hour),
			HeadersWithUnderscores: "drop",
		}},
		Upstreams: []Upstream{{
			Name:              "app",
			Targets:           []Target{{Address: "127.0.0.1:9000", Weight: 1}},
			Balancer:          "round_robin",
			MaxConnsPerTarget: 1024,
			ConnectTimeout:    Duration(5 * time.Second),
			Timeout:           Duration(30 * time.Second),
			IdleTimeout:       Duration(50 * time.Second),
			RetryBudget:       RetryBudget{Ratio: ptr(0.2), MinConcurrent: ptr(3)},
		}},
		Routes: []Route{{Name: "route-0", Upstream: "app"}},
	}
	compareConfig(t, got, want)
	if !got.Log.AccessLogOn() {
		t.Error("access log is off by default")
	}
	if !got.Routes[0].PreserveHostOn() {
		t.Error("preserve_host is off by default")
	}
}

// TestDefaultsExplicitZero: a timeout, size or count of 0 means "use the
// default", the same as leaving the key out.
func TestDefaultsExplicitZero(t *testing.T) {
	cfg := mustParse(t, `
[gateway]
shutdown_grace = "0s"
watch_interval = "0"

[[listeners]]
listen = "127.0.0.1:8080"
max_header_bytes = "0"
max_body_bytes = 0
read_timeout = "0s"
write_timeout = "0ms"
idle_timeout = "0h"
max_connections = 0

[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]
max_connections_per_target = 0
connect_timeout = "0s"
timeout = "0s"
idle_timeout = "0s"

[[routes]]
upstream = "app"
timeout = "0s"
`)
	l, u := cfg.Listeners[0], cfg.Upstreams[0]
	for name, c := range map[string][2]int64{
		"gateway.shutdown_grace":                  {int64(cfg.Gateway.ShutdownGrace), int64(15 * time.Second)},
		"gateway.watch_interval":                  {int64(cfg.Gateway.WatchInterval), int64(2 * time.Second)},
		"listeners[0].max_header_bytes":           {int64(l.MaxHeaderBytes), 16 << 10},
		"listeners[0].max_body_bytes":             {int64(l.MaxBodyBytes), 10 << 20},
		"listeners[0].read_timeout":               {int64(l.ReadTimeout), int64(30 * time.Second)},
		"listeners[0].write_timeout":              {int64(l.WriteTimeout), int64(30 * time.Second)},
		"listeners[0].idle_timeout":               {int64(l.IdleTimeout), int64(60 * time.Second)},
		"listeners[0].max_connections":            {int64(l.MaxConnections), 10000},
		"upstreams[0].max_connections_per_target": {int64(u.MaxConnsPerTarget), 1024},
		"upstreams[0].connect_timeout":            {int64(u.ConnectTimeout), int64(5 * time.Second)},
		"upstreams[0].timeout":                    {int64(u.Timeout), int64(30 * time.Second)},
		"upstreams[0].idle_timeout":               {int64(u.IdleTimeout), int64(50 * time.Second)},
		// A route timeout stays 0: the proxy then uses the upstream's.
		"routes[0].timeout": {int64(cfg.Routes[0].Timeout), 0},
	} {
		if c[0] != c[1] {
			t.Errorf("%s = %d, want %d", name, c[0], c[1])
		}
	}
}

const minimalTail = `
[[listeners]]
listen = "127.0.0.1:8080"

[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]

[[routes]]
upstream = "app"
`

func TestDefaultAdmin(t *testing.T) {
	for _, tc := range []struct {
		name, head string
		want       Admin
	}{
		{"no admin table", "", Admin{Listen: "127.0.0.1:9901"}},
		{"empty admin table", "[admin]\n", Admin{Listen: "127.0.0.1:9901"}},
		{"token only", "[admin]\ntoken = \"t\"\n", Admin{Listen: "127.0.0.1:9901", Token: "t"}},
		{"explicit empty listen disables", "[admin]\nlisten = \"\"\n", Admin{}},
		{"inline empty listen disables", "admin = { listen = \"\" }\n", Admin{}},
		{"loopback without token", "[admin]\nlisten = \"127.0.0.1:7000\"\n", Admin{Listen: "127.0.0.1:7000"}},
		{"ipv6 loopback without token", "[admin]\nlisten = \"[::1]:7000\"\n", Admin{Listen: "[::1]:7000"}},
		{"localhost without token", "[admin]\nlisten = \"localhost:7000\"\n", Admin{Listen: "localhost:7000"}},
		{"public with token", "[admin]\nlisten = \":7000\"\ntoken = \"t\"\n", Admin{Listen: ":7000", Token: "t"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mustParse(t, tc.head+minimalTail)
			if cfg.Admin != tc.want {
				t.Errorf("Admin = %+v, want %+v", cfg.Admin, tc.want)
			}
		})
	}
}

func TestDefaultHTTPSPort(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCert(t, dir, "example.com")
	tls := fmt.Sprintf("tls = [{ cert = %q, key = %q }]", cert, key)
	tail := `
[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]

[[routes]]
upstream = "app"
`
	for _, tc := range []struct {
		name      string
		listeners string
		want      []int // HTTPSPort of each listener
	}{
		{
			"no TLS listener: 443",
			"[[listeners]]\nlisten = \":8080\"\nredirect_https = true\n",
			[]int{443},
		},
		{
			"port of the TLS listener",
			"[[listeners]]\nlisten = \":8080\"\nredirect_https = true\n" +
				"[[listeners]]\nlisten = \":8443\"\n" + tls + "\n",
			[]int{8443, 0},
		},
		{
			"port of the first TLS listener",
			"[[listeners]]\nlisten = \"127.0.0.1:9443\"\n" + tls + "\n" +
				"[[listeners]]\nlisten = \":8080\"\nredirect_https = true\n" +
				"[[listeners]]\nlisten = \"[::1]:10443\"\n" + tls + "\n",
			[]int{0, 9443, 0},
		},
		{
			"explicit https_port wins",
			"[[listeners]]\nlisten = \":8080\"\nredirect_https = true\nhttps_port = 7443\n" +
				"[[listeners]]\nlisten = \":8443\"\n" + tls + "\n",
			[]int{7443, 0},
		},
		{
			"no redirect: stays 0",
			"[[listeners]]\nlisten = \":8080\"\n" +
				"[[listeners]]\nlisten = \":8443\"\n" + tls + "\n",
			[]int{0, 0},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mustParse(t, tc.listeners+tail)
			var got []int
			for _, l := range cfg.Listeners {
				got = append(got, l.HTTPSPort)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("https_port = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDefaultNames(t *testing.T) {
	cfg := mustParse(t, `
[[listeners]]
listen = "127.0.0.1:8080"
[[listeners]]
name = "second"
listen = "127.0.0.1:8081"

[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]

[[routes]]
upstream = "app"
[[routes]]
name = "named"
upstream = "app"
[[routes]]
upstream = "app"
[[routes]]
direct_response = {}
`)
	var listeners, routes []string
	for _, l := range cfg.Listeners {
		listeners = append(listeners, l.Name)
	}
	for _, r := range cfg.Routes {
		routes = append(routes, r.Name)
	}
	if want := []string{"127.0.0.1:8080", "second"}; !reflect.DeepEqual(listeners, want) {
		t.Errorf("listener names = %q, want %q", listeners, want)
	}
	if want := []string{"route-0", "named", "route-2", "route-3"}; !reflect.DeepEqual(routes, want) {
		t.Errorf("route names = %q, want %q", routes, want)
	}
	want := DirectResponse{Status: 200, ContentType: "text/plain; charset=utf-8"}
	if got := *cfg.Routes[3].DirectResponse; !reflect.DeepEqual(got, want) {
		t.Errorf("direct_response defaults = %+v, want %+v", got, want)
	}
}

// TestTargetAndMatchSpellings: the string and table spellings decode to the
// same values.
func TestTargetAndMatchSpellings(t *testing.T) {
	cfg := mustParse(t, `
[[listeners]]
listen = "127.0.0.1:8080"

[[upstreams]]
name = "a"
targets = ["h1:1", { address = "h2:2" }, { address = "h3:3", weight = 7 }, { weight = 2, address = "h4:4" }]

[[upstreams]]
name = "b"
[[upstreams.targets]]
address = "h5:5"
weight = 4

[[routes]]
upstream = "a"
headers = { A = "x", B = { exact = "x" }, C = { regex = "^x$" }, D = { present = true } }
[routes.query]
a = ""
b = { exact = "" }
`)
	wantTargets := [][]Target{
		{{"h1:1", 1}, {"h2:2", 1}, {"h3:3", 7}, {"h4:4", 2}},
		{{"h5:5", 4}},
	}
	for i, want := range wantTargets {
		if got := cfg.Upstreams[i].Targets; !reflect.DeepEqual(got, want) {
			t.Errorf("upstreams[%d].targets = %+v, want %+v", i, got, want)
		}
	}
	wantHeaders := map[string]Match{
		"A": {Exact: "x", set: 1},
		"B": {Exact: "x", set: 1},
		"C": {Regex: "^x$", set: 1},
		"D": {Present: true, set: 1},
	}
	if got := cfg.Routes[0].Headers; !reflect.DeepEqual(got, wantHeaders) {
		t.Errorf("headers = %+v, want %+v", got, wantHeaders)
	}
	wantQuery := map[string]Match{"a": {set: 1}, "b": {set: 1}}
	if got := cfg.Routes[0].Query; !reflect.DeepEqual(got, wantQuery) {
		t.Errorf("query = %+v, want %+v", got, wantQuery)
	}
}

func TestLoadErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.toml")
	_, err := Load(missing)
	var list Errors
	if !errors.As(err, &list) || len(list) != 1 {
		t.Fatalf("Load(missing) = %v, want one FieldError", err)
	}
	want := missing + ": open " + missing + ": no such file or directory"
	if got := err.Error(); got != want {
		t.Errorf("Load(missing):\n got %s\nwant %s", got, want)
	}
	if !errors.Is(list[0], list[0]) || list[0].Line != 0 || list[0].Path != "" {
		t.Errorf("FieldError = %+v, want no line and no path", *list[0])
	}

	// Errors from Load carry the file name given.
	path := filepath.Join(t.TempDir(), "bad.toml")
	writeFile(t, path, "[[listeners]]\nlisten = \"nowhere\"\n")
	_, err = Load(path)
	if want := path + `:2: listeners[0].listen: "nowhere" is not host:port`; err == nil || err.Error() != want {
		t.Errorf("Load(bad):\n got %v\nwant %s", err, want)
	}
}

// TestParseWithoutFile: errors from bytes with no file name use "line N: ".
func TestParseWithoutFile(t *testing.T) {
	_, err := Parse([]byte("[log]\nlevel = \"loud\"\n"+minimalTail), "")
	want := `line 2: log.level: unknown level "loud" (want debug, info, warn or error)`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestFieldErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		e    FieldError
		want string
	}{
		{FieldError{"gw.toml", 3, "routes[0].upstream", "bad"}, "gw.toml:3: routes[0].upstream: bad"},
		{FieldError{"gw.toml", 0, "routes[0].upstream", "bad"}, "gw.toml: routes[0].upstream: bad"},
		{FieldError{"gw.toml", 3, "", "bad"}, "gw.toml:3: bad"},
		{FieldError{"", 3, "p", "bad"}, "line 3: p: bad"},
		{FieldError{"", 0, "p", "bad"}, "p: bad"},
		{FieldError{"", 0, "", "bad"}, "bad"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("%+v.Error() = %q, want %q", tc.e, got, tc.want)
		}
	}
}

// TestLocateAndFieldErr covers the helpers the proxy uses for errors found
// after loading (route compilation).
func TestLocateAndFieldErr(t *testing.T) {
	src := `[[listeners]]
listen = "127.0.0.1:8080"

[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]

[[routes]]
upstream = "app"

[[routes]]
upstream = "app"
path_regex = "^/x"
`
	cfg, err := Parse([]byte(src), "gw.toml")
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{
		"routes[1].path_regex":   13,
		"routes[1].hosts":        11, // not in the file: its route
		"routes[0].upstream":     9,
		"upstreams[0].targets":   6,
		"listeners[0]":           1,
		"routes[7].path_regex":   0,
		"":                       0,
		"gateway.shutdown_grace": 0,
	} {
		if file, line := cfg.Locate(path); file != "gw.toml" || line != want {
			t.Errorf("Locate(%q) = %s:%d, want gw.toml:%d", path, file, line, want)
		}
	}

	fe := cfg.FieldErr(errors.New("routes[1].path_regex: error parsing regexp: missing closing ): `(`"))
	if want := "gw.toml:13: routes[1].path_regex: error parsing regexp: missing closing ): `(`"; fe.Error() != want {
		t.Errorf("FieldErr:\n got %s\nwant %s", fe, want)
	}
	fe = cfg.FieldErr(errors.New("something went wrong: badly"))
	if want := "gw.toml: something went wrong: badly"; fe.Error() != want {
		t.Errorf("FieldErr without a path:\n got %s\nwant %s", fe, want)
	}

	// A Config built in code has no locator.
	var c Config
	if _, line := c.Locate("routes[0]"); line != 0 {
		t.Errorf("Locate on a Config not from Parse = %d, want 0", line)
	}
}

// TestShippedConfig: the demo gateway.toml at the repository root loads.
func TestShippedConfig(t *testing.T) {
	path := filepath.Join("..", "..", "gateway.toml")
	if _, err := os.Stat(path); err != nil {
		// The repository always ships it: its absence is a broken checkout
		// or a moved package, not a reason to skip.
		t.Fatalf("shipped config missing: %v", err)
	}
	if _, err := Load(path); err != nil {
		t.Errorf("Load(%s): %v", path, err)
	}
}

// discovered is an upstream with default settings whose targets come from
// d.
func discovered(name string, d *Discovery) Upstream {
	return Upstream{
		Name:              name,
		Balancer:          "round_robin",
		Discovery:         d,
		RetryBudget:       RetryBudget{Ratio: ptr(0.2), MinConcurrent: ptr(3)},
		MaxConnsPerTarget: 1024,
		ConnectTimeout:    Duration(5 * time.Second),
		Timeout:           Duration(30 * time.Second),
		IdleTimeout:       Duration(50 * time.Second),
	}
}

// TestRetryBudgetFloorZeroKept: min_concurrent = 0 (no floor) is kept,
// not replaced by the default.
func TestRetryBudgetFloorZeroKept(t *testing.T) {
	cfg, err := Parse([]byte(`
[[listeners]]
listen = "127.0.0.1:0"
[[upstreams]]
name = "u"
targets = ["127.0.0.1:1"]
retry_budget = { ratio = 0.1, min_concurrent = 0 }
[[upstreams]]
name = "v"
targets = ["127.0.0.1:2"]
[[routes]]
path_prefix = "/"
upstream = "u"
`), "floor.toml")
	if err != nil {
		t.Fatal(err)
	}
	if got := *cfg.Upstreams[0].RetryBudget.MinConcurrent; got != 0 {
		t.Errorf("min_concurrent = 0 in the file became %d", got)
	}
	if got := *cfg.Upstreams[1].RetryBudget.MinConcurrent; got != DefaultRetryBudgetMin {
		t.Errorf("min_concurrent unset: %d, want the default %d", got, DefaultRetryBudgetMin)
	}
}
