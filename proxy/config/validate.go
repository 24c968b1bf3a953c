package config

import (
	"crypto/tls"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wasmgate/wasmgate/internal/httpsyntax"
)

// minWatchInterval keeps the file watcher from spinning a CPU.
const minWatchInterval = 10 * time.Millisecond

func validate(c *Config, e *errs) {
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		e.add("log.level", "unknown level %q (want debug, info, warn or error)", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "console":
	default:
		e.add("log.format", "unknown format %q (want json or console)", c.Log.Format)
	}

	if c.Gateway.WatchInterval.D() < minWatchInterval {
		e.add("gateway.watch_interval", "must be at least %s: each tick stats the config and every module", minWatchInterval)
	}
	if c.Admin.Listen != "" {
		if err := checkHostPort(c.Admin.Listen); err != nil {
			e.add("admin.listen", "%v", err)
		} else if !IsLoopback(c.Admin.Listen) && c.Admin.Token == "" {
			e.add("admin.token", "required when admin.listen (%q) is not a loopback address", c.Admin.Listen)
		}
	}

	if len(c.Listeners) == 0 {
		e.add("listeners", "at least one listener is required")
	}
	names := map[string]int{}
	for i, l := range c.Listeners {
		p := fmt.Sprintf("listeners[%d]", i)
		if j, dup := names[l.Name]; dup {
			e.add(p+".name", "duplicate listener name %q (also listeners[%d])", l.Name, j)
		}
		names[l.Name] = i
		if err := checkHostPort(l.Listen); err != nil {
			e.add(p+".listen", "%v", err)
		} else {
			for j := range i {
				if sameSocket(l.Listen, c.Listeners[j].Listen) {
					e.add(p+".listen", "address %q is already used by listeners[%d] (%q)", l.Listen, j, c.Listeners[j].Listen)
					break
				}
			}
			if c.Admin.Listen != "" && sameSocket(l.Listen, c.Admin.Listen) {
				e.add(p+".listen", "address %q is the admin API's (admin.listen %q)", l.Listen, c.Admin.Listen)
			}
		}
		for k, cert := range l.TLS {
			cp := fmt.Sprintf("%s.tls[%d]", p, k)
			switch {
			case cert.Cert == "":
				e.add(cp+".cert", "required")
			case cert.Key == "":
				e.add(cp+".key", "required")
			default:
				if _, err := tls.LoadX509KeyPair(cert.Cert, cert.Key); err != nil {
					e.add(cp, "cannot load certificate: %v", err)
				}
			}
		}
		if l.RedirectHTTPS && len(l.TLS) > 0 {
			e.add(p+".redirect_https", "only a plain HTTP listener can redirect to HTTPS")
		}
		if l.HTTPSPort < 0 || l.HTTPSPort > 65535 {
			e.add(p+".https_port", "must be a port number")
		}
		if l.MaxHeaderBytes < 1024 {
			e.add(p+".max_header_bytes", "must be at least 1KiB")
		}
		if l.MaxConnections < 0 {
			e.add(p+".max_connections", "must not be negative")
		}
		switch l.HeadersWithUnderscores {
		case "drop", "allow", "reject":
		default:
			e.add(p+".headers_with_underscores", "want drop, allow or reject, got %q", l.HeadersWithUnderscores)
		}
		if l.ReusePort {
			if _, port, err := net.SplitHostPort(l.Listen); err == nil && port == "0" {
				e.add(p+".reuse_port", "needs a fixed port: with port 0 every process would get a port of its own")
			}
		}
	}

	ups := map[string]int{}
	for i, u := range c.Upstreams {
		p := fmt.Sprintf("upstreams[%d]", i)
		if u.Name == "" {
			e.add(p+".name", "required")
		} else if j, dup := ups[u.Name]; dup {
			e.add(p+".name", "duplicate upstream name %q (also upstreams[%d])", u.Name, j)
		} else {
			ups[u.Name] = i
		}
		seen := make(map[string]int, len(u.Targets))
		for k, t := range u.Targets {
			tp := fmt.Sprintf("%s.targets[%d]", p, k)
			if err := checkHostPort(t.Address); err != nil {
				e.add(tp, "%v", err)
			}
			// One target, one pool and one health checker: a second entry
			// would be a second target under the same name.
			if j, dup := seen[t.Address]; dup {
				e.add(tp, "duplicate target %q (also targets[%d]); give it a weight instead", t.Address, j)
			} else {
				seen[t.Address] = k
			}
			if t.Weight < 1 {
				e.add(tp+".weight", "must be at least 1")
			}
		}
		if u.MaxConnsPerTarget < 0 {
			e.add(p+".max_connections_per_target", "must not be negative")
		}
		if u.TLSSkipVerify && !u.TLS {
			e.add(p+".tls_insecure_skip_verify", "set without tls = true")
		}
		if u.Balancer == "consistent_hash" && u.HashOn == "" {
			e.add(p+".hash_on", "required with balancer consistent_hash (header:NAME, cookie:NAME, client_ip or path)")
		} else if u.HashOn != "" && u.Balancer != "consistent_hash" {
			e.add(p+".hash_on", "only used by balancer consistent_hash")
		}
		validateResilience(p, u, e)
	}

	plugins := validatePlugins(c, e)
	routes := map[string]int{}
	for i, r := range c.Routes {
		p := fmt.Sprintf("routes[%d]", i)
		if j, dup := routes[r.Name]; dup {
			e.add(p+".name", "duplicate route name %q (also routes[%d])", r.Name, j)
		}
		routes[r.Name] = i
		switch {
		case r.DirectResponse != nil && r.Upstream != "":
			e.add(p+".direct_response", "a route has either an upstream or a direct_response, not both")
		case r.DirectResponse != nil:
			d := r.DirectResponse
			if s := d.Status; s < 100 || s > 599 {
				e.add(p+".direct_response.status", "%d is not an HTTP status", s)
			}
			if !fieldValue(d.ContentType) {
				e.add(p+".direct_response.content_type", "%q holds a control character", d.ContentType)
			}
			for _, name := range slices.Sorted(maps.Keys(d.Headers)) {
				hp := fmt.Sprintf("%s.direct_response.headers.%q", p, name)
				switch {
				case !httpsyntax.IsToken(name):
					// Sent as written, "Bad Name: x" is a line no two
					// clients parse alike.
					e.add(hp, "not a header name")
				case framing(name):
					e.add(hp, "the gateway frames the response itself")
				case !fieldValue(d.Headers[name]):
					e.add(hp, "the value holds a control character")
				}
			}
		case r.Upstream == "":
			e.add(p+".upstream", "required (or a direct_response)")
		default:
			if _, ok := ups[r.Upstream]; !ok {
				e.add(p+".upstream", "no upstream named %q", r.Upstream)
			}
		}
		if r.Retries != nil {
			if r.Upstream == "" {
				e.add(p+".retries", "only a route with an upstream can retry")
			}
			validateRetries(p+".retries", r.Retries, e)
		}
		if r.StripPrefix && r.PathPrefix == "" {
			e.add(p+".strip_prefix", "needs path_prefix")
		}
		if r.StripPrefix && r.PathRewrite != nil {
			e.add(p+".path_rewrite", "use either strip_prefix or path_rewrite, not both")
		}
		if r.PathRewrite != nil && r.PathRewrite.Regex == "" {
			e.add(p+".path_rewrite.regex", "required")
		}
		// Compiled again when the routes are built; checked here too so
		// that a bad pattern is listed with every other error, not found
		// only once they are fixed.
		checkRegex(e, p+".path_regex", r.PathRegex)
		if r.PathRewrite != nil {
			checkRegex(e, p+".path_rewrite.regex", r.PathRewrite.Regex)
		}
		for _, kind := range []struct {
			name string
			m    map[string]Match
		}{{"headers", r.Headers}, {"query", r.Query}} {
			for _, name := range slices.Sorted(maps.Keys(kind.m)) {
				checkRegex(e, p+"."+kind.name+"."+name, kind.m[name].Regex)
			}
		}
		for k, m := range r.Methods {
			if m == "" || strings.ToUpper(m) != m || strings.ContainsAny(m, " \t/") {
				e.add(fmt.Sprintf("%s.methods[%d]", p, k), "%q is not an upper-case HTTP method", m)
			}
		}
		if r.HostRewrite != "" && strings.ContainsAny(r.HostRewrite, " /\t") {
			e.add(p+".host_rewrite", "%q is not a host", r.HostRewrite)
		}
		for k, name := range r.Plugins {
			if !plugins[name] {
				e.add(fmt.Sprintf("%s.plugins[%d]", p, k), "no plugin named %q", name)
			}
		}
		if len(r.Plugins) > 16 {
			e.add(p+".plugins", "at most 16 plugins on a route")
		}
	}
}

// fieldValue reports whether s may be a header value: no control
// character but tab (a newline would start a header line of its own).
func fieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// framing reports whether a configured response header would contradict
// the framing and connection handling the gateway does itself.
func framing(name string) bool {
	for _, f := range []string{"Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Upgrade", "Trailer"} {
		if strings.EqualFold(name, f) {
			return true
		}
	}
	return false
}

func checkRegex(e *errs, path, re string) {
	if re == "" {
		return
	}
	if _, err := regexp.Compile(re); err != nil {
		e.add(path, "%v", err)
	}
}

// sameSocket reports two listen addresses that cannot both be bound: the
// same port, and the same host, "localhost" counting as 127.0.0.1, or
// either host a wildcard (every interface). Port 0 never conflicts.
func sameSocket(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || pa != pb || pa == "0" {
		return false
	}
	norm := func(h string) string {
		switch h {
		case "", "0.0.0.0", "::":
			return "*"
		case "localhost":
			return "127.0.0.1"
		}
		if ip, err := netip.ParseAddr(h); err == nil {
			return ip.Unmap().String()
		}
		return strings.ToLower(h)
	}
	ha, hb = norm(ha), norm(hb)
	return ha == hb || ha == "*" || hb == "*"
}

func checkHostPort(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has no valid port", s)
	}
	return nil
}

// IsLoopback reports whether a listen address only accepts local
// connections. An empty host ("":9901) listens everywhere, so it is not.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
