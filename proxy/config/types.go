package config

import (
	"fmt"
	"sort"
	"strings"
)

// Config is the whole gateway configuration. Field comments are the
// reference; docs/CONFIG.md repeats them for operators with the defaults.
type Config struct {
	Gateway   Gateway    `toml:"gateway"`
	Admin     Admin      `toml:"admin"`
	Log       Log        `toml:"log"`
	Listeners []Listener `toml:"listeners"`
	Upstreams []Upstream `toml:"upstreams"`
	Routes    []Route    `toml:"routes"`
	Plugins   []Plugin   `toml:"plugins"`

	// File is the path the config was read from ("" when parsed from bytes).
	File string `toml:"-"`

	loc *locator
}

// Gateway holds process-wide settings.
type Gateway struct {
	// ShutdownGrace is how long SIGTERM/SIGINT waits for in-flight requests.
	ShutdownGrace Duration `toml:"shutdown_grace"`
	// WatchConfig reloads the config when its file changes.
	WatchConfig bool `toml:"watch_config"`
	// WatchInterval is how often the file is checked when WatchConfig is
	// on, and how often plugin module files are checked.
	WatchInterval Duration `toml:"watch_interval"`
	// PluginCacheDir, when set, keeps compiled plugin modules on disk so a
	// restart does not compile them again.
	PluginCacheDir string `toml:"plugin_cache_dir"`
}

// Admin is the admin API listener.
type Admin struct {
	// Listen is host:port; "" disables the admin API.
	Listen string `toml:"listen"`
	// Token is the bearer token mutating endpoints require. It is mandatory
	// when Listen is not a loopback address.
	Token string `toml:"token"`
}

// Log configures the process log and the access log.
type Log struct {
	Level     string `toml:"level"`      // debug | info | warn | error
	Format    string `toml:"format"`     // json | console
	AccessLog *bool  `toml:"access_log"` // one line per request; default true
	Output    string `toml:"output"`     // stdout | stderr | a file path
}

// File is the log file's path, or "" when the log goes to stdout or
// stderr.
func (l Log) File() string {
	if l.Output == "stdout" || l.Output == "stderr" {
		return ""
	}
	return l.Output
}

// AccessLogOn reports whether access logging is on (the default).
func (l Log) AccessLogOn() bool { return l.AccessLog == nil || *l.AccessLog }

// Listener is one address the gateway accepts client connections on.
type Listener struct {
	Name   string `toml:"name"`
	Listen string `toml:"listen"`
	// TLS makes this an HTTPS listener; several certificates are chosen by
	// SNI (the first is the default for clients that send no name).
	TLS []Certificate `toml:"tls"`
	// RedirectHTTPS answers every request on this plain listener with a 308
	// to the same URL on https, on HTTPSPort.
	RedirectHTTPS bool `toml:"redirect_https"`
	HTTPSPort     int  `toml:"https_port"`

	MaxHeaderBytes Size     `toml:"max_header_bytes"`
	MaxBodyBytes   Size     `toml:"max_body_bytes"`
	ReadTimeout    Duration `toml:"read_timeout"`
	WriteTimeout   Duration `toml:"write_timeout"`
	IdleTimeout    Duration `toml:"idle_timeout"`
	MaxConnections int      `toml:"max_connections"`
	// TunnelIdleTimeout closes an upgraded connection (WebSocket) that
	// has carried no byte either way for this long.
	TunnelIdleTimeout Duration `toml:"tunnel_idle_timeout"`
	// ReusePort binds with SO_REUSEPORT, so that several gateway
	// processes can share the address and the kernel spreads new
	// connections among them.
	ReusePort bool `toml:"reuse_port"`
	// HeadersWithUnderscores is what happens to a request header whose
	// name holds an underscore: "drop" (the default), "allow" or
	// "reject" (400). CGI-style backends read X_User and X-User as one
	// name, so a client's X_User could pass for a header a policy set.
	HeadersWithUnderscores string `toml:"headers_with_underscores"`
}

// Certificate is a PEM certificate chain and its private key.
type Certificate struct {
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
}

// Upstream is a named group of targets that routes send traffic to.
type Upstream struct {
	Name    string   `toml:"name"`
	Targets []Target `toml:"targets"`
	// Balancer is round_robin, weighted_round_robin, least_connections,
	// p2c_ewma or consistent_hash; HashOn is the key of the last:
	// header:NAME, cookie:NAME, client_ip or path.
	Balancer string `toml:"balancer"`
	HashOn   string `toml:"hash_on"`

	Health         *Health         `toml:"health"`
	CircuitBreaker *CircuitBreaker `toml:"circuit_breaker"`
	RetryBudget    RetryBudget     `toml:"retry_budget"`
	Discovery      *Discovery      `toml:"discovery"`

	// MaxConnsPerTarget caps the keep-alive pool of each target; requests
	// beyond it wait up to the route timeout for a free connection.
	MaxConnsPerTarget int      `toml:"max_connections_per_target"`
	ConnectTimeout    Duration `toml:"connect_timeout"`
	// Timeout is the default response timeout for routes that set none.
	Timeout     Duration `toml:"timeout"`
	IdleTimeout Duration `toml:"idle_timeout"` // idle keep-alive connections are closed after this

	TLS           bool   `toml:"tls"`             // speak HTTPS to the targets
	TLSServerName string `toml:"tls_server_name"` // SNI and verification name; default the target host
	TLSSkipVerify bool   `toml:"tls_insecure_skip_verify"`
}

// Target is one backend address. In TOML it is either "host:port" or
// { address = "host:port", weight = 3 }.
type Target struct {
	Address string `toml:"address"`
	Weight  int    `toml:"weight"`
}

// UnmarshalTOML accepts both spellings of a target.
func (t *Target) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case string:
		t.Address, t.Weight = x, 1
		return nil
	case map[string]any:
		t.Weight = 1
		// Sorted, so that a table with several problems always reports
		// the same one.
		for _, k := range sortedKeys(x) {
			val := x[k]
			switch k {
			case "address":
				s, ok := val.(string)
				if !ok {
					return keyError{"address", fmt.Sprintf("want a string, got %T", val)}
				}
				t.Address = s
			case "weight":
				n, ok := val.(int64)
				if !ok {
					return keyError{"weight", fmt.Sprintf("want an integer, got %T", val)}
				}
				t.Weight = int(n)
			default:
				return fmt.Errorf("unknown key %q (want address, weight)", k)
			}
		}
		return nil
	}
	return fmt.Errorf("want \"host:port\" or { address = \"host:port\", weight = N }, got %T", v)
}

// keyError is a problem with one key of a table a type decodes itself,
// so that the error's path can name the key (targets[1].weight).
type keyError struct{ key, msg string }

func (e keyError) Error() string { return e.key + ": " + e.msg }

// Route sends matching requests to an upstream (or answers them directly).
type Route struct {
	Name     string `toml:"name"`
	Priority int    `toml:"priority"`

	Hosts      []string         `toml:"hosts"`
	Path       string           `toml:"path"`
	PathPrefix string           `toml:"path_prefix"`
	PathRegex  string           `toml:"path_regex"`
	Methods    []string         `toml:"methods"`
	Headers    map[string]Match `toml:"headers"`
	Query      map[string]Match `toml:"query"`

	Upstream string `toml:"upstream"`
	// Timeout bounds the upstream response (headers and body); it defaults
	// to the upstream's timeout.
	Timeout     Duration     `toml:"timeout"`
	StripPrefix bool         `toml:"strip_prefix"`
	PathRewrite *PathRewrite `toml:"path_rewrite"`
	// PreserveHost forwards the client's Host header (the default); when
	// false the target's address is sent. HostRewrite, when set, wins.
	PreserveHost   *bool           `toml:"preserve_host"`
	HostRewrite    string          `toml:"host_rewrite"`
	DirectResponse *DirectResponse `toml:"direct_response"`
	// Retries is the route's retry policy; nil means no retries.
	Retries *Retries `toml:"retries"`
	// Plugins is the ordered plugin chain run for this route.
	Plugins []string `toml:"plugins"`
}

// PreserveHostOn reports whether the client's Host is forwarded.
func (r Route) PreserveHostOn() bool { return r.PreserveHost == nil || *r.PreserveHost }

// Match is a header or query condition. In TOML it is a string for an exact
// value, or a table: { regex = "^v[0-9]+$" } or { present = true }.
type Match struct {
	Exact   string `toml:"exact"`
	Regex   string `toml:"regex"`
	Present bool   `toml:"present"`
	set     int    // how many of the three were given; validated later
}

// UnmarshalTOML accepts both spellings of a match.
func (m *Match) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case string:
		m.Exact, m.set = x, 1
		return nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			val := x[k]
			switch k {
			case "exact", "regex":
				s, ok := val.(string)
				if !ok {
					return fmt.Errorf("%s: want a string, got %T", k, val)
				}
				if k == "exact" {
					m.Exact = s
				} else {
					m.Regex = s
				}
			case "present":
				b, ok := val.(bool)
				if !ok || !b {
					return fmt.Errorf("present: want true")
				}
				m.Present = true
			default:
				return fmt.Errorf("unknown key %q (want exact, regex or present)", k)
			}
			m.set++
		}
		if m.set != 1 {
			return fmt.Errorf("want exactly one of exact, regex, present; got %s", strings.Join(keys, ", "))
		}
		return nil
	}
	return fmt.Errorf("want a string or { regex = \"...\" } or { present = true }, got %T", v)
}

// PathRewrite replaces the part of the path matched by Regex with
// Replacement ($1 etc. refer to groups), before forwarding.
type PathRewrite struct {
	Regex       string `toml:"regex"`
	Replacement string `toml:"replacement"`
}

// DirectResponse answers the request from the gateway itself.
type DirectResponse struct {
	Status      int               `toml:"status"`
	Body        string            `toml:"body"`
	ContentType string            `toml:"content_type"`
	Headers     map[string]string `toml:"headers"`
}
