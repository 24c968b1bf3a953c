package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/wasmgate/wasmgate/pluginhost"
	"github.com/wasmgate/wasmgate/proxy/admin"
	"github.com/wasmgate/wasmgate/proxy/config"
	"github.com/wasmgate/wasmgate/proxy/discovery"
)

// adminServer adapts the gateway to the admin API's Backend.
type adminServer struct {
	g   *Gateway
	srv *admin.Server
}

func newAdminServer(g *Gateway, cfg config.Admin) (*adminServer, error) {
	a := &adminServer{g: g}
	srv, err := admin.New(cfg.Listen, cfg.Token, config.IsLoopback(cfg.Listen), a)
	if err != nil {
		return nil, err
	}
	a.srv = srv
	return a, nil
}

func (a *adminServer) addr() string                 { return a.srv.Addr() }
func (a *adminServer) shutdown(ctx context.Context) { a.srv.Shutdown(ctx) }

func (a *adminServer) Ready() bool               { return a.g.ready.Load() }
func (a *adminServer) Reload() ([]string, error) { return a.g.Reload() }
func (a *adminServer) EffectiveConfig() ([]byte, error) {
	snap := a.g.snap.Load()
	cfg := *snap.Config
	// Settings left out show what is in force, not 0: the plugins' pools
	// and the routes' timeouts (their upstream's).
	cfg.Plugins = slices.Clone(cfg.Plugins)
	for i := range cfg.Plugins {
		if lp := snap.plugins[cfg.Plugins[i].Name]; lp != nil && cfg.Plugins[i].Pool == 0 {
			cfg.Plugins[i].Pool = lp.slot.Plugin().Options().Pool
		}
	}
	cfg.Routes = slices.Clone(cfg.Routes)
	for i := range cfg.Routes {
		if i < len(snap.Routes) && snap.Routes[i] != nil && cfg.Routes[i].Timeout == 0 {
			cfg.Routes[i].Timeout = config.Duration(snap.Routes[i].Timeout)
		}
	}
	return effectiveConfig(&cfg)
}

// redact hides a secret that is set.
func redact(s string) string {
	if s == "" {
		return ""
	}
	return "<redacted>"
}

// fingerprint stands for a plugin's config in GET /config.
func fingerprint(cfg string) string {
	if cfg == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(cfg))
	return fmt.Sprintf("<redacted: %d bytes, sha256 %x>", len(cfg), sum)
}

// effectiveConfig is the config as TOML with its secrets out: the admin
// token, discovery credentials, and every plugin's config and vm_config,
// which is where keys, secrets and hashes of credentials live (which of
// their fields are secret only the plugin knows). A plugin config shows
// as its size and sha256, enough to tell which one is in service.
func effectiveConfig(c *config.Config) ([]byte, error) {
	cp := *c
	cp.Admin.Token = redact(cp.Admin.Token)
	cp.Upstreams = slices.Clone(cp.Upstreams)
	for i, u := range cp.Upstreams {
		if d := u.Discovery; d != nil {
			dc := *d
			dc.Password, dc.Token = redact(dc.Password), redact(dc.Token)
			dc.Address = discovery.RedactURL(dc.Address)
			dc.Endpoints = slices.Clone(dc.Endpoints)
			for k, ep := range dc.Endpoints {
				dc.Endpoints[k] = discovery.RedactURL(ep)
			}
			cp.Upstreams[i].Discovery = &dc
		}
	}
	cp.Plugins = slices.Clone(cp.Plugins)
	for i := range cp.Plugins {
		cp.Plugins[i].Config = fingerprint(cp.Plugins[i].Config)
		cp.Plugins[i].VMConfig = fingerprint(cp.Plugins[i].VMConfig)
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(cp); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type routeInfo struct {
	Name       string   `json:"name"`
	Priority   int      `json:"priority"`
	Hosts      []string `json:"hosts,omitempty"`
	Path       string   `json:"path,omitempty"`
	PathPrefix string   `json:"path_prefix,omitempty"`
	PathRegex  string   `json:"path_regex,omitempty"`
	Methods    []string `json:"methods,omitempty"`
	Upstream   string   `json:"upstream,omitempty"`
	Direct     bool     `json:"direct_response,omitempty"`
	Timeout    string   `json:"timeout,omitempty"`
	Plugins    []string `json:"plugins"`
}

// Routes lists routes in the order the router tries them.
func (a *adminServer) Routes() any {
	snap := a.g.snap.Load()
	out := []routeInfo{}
	for _, i := range snap.Router.Order() {
		rc, r := snap.Config.Routes[i], snap.Routes[i]
		info := routeInfo{
			Name: rc.Name, Priority: rc.Priority, Hosts: rc.Hosts, Path: rc.Path,
			PathPrefix: rc.PathPrefix, PathRegex: rc.PathRegex, Methods: rc.Methods,
			Upstream: rc.Upstream, Direct: r.direct != nil, Plugins: rc.Plugins,
		}
		if r.Upstream != nil {
			info.Timeout = r.Timeout.String()
		}
		if info.Plugins == nil {
			info.Plugins = []string{}
		}
		out = append(out, info)
	}
	return out
}

type targetInfo struct {
	Address string `json:"address"`
	Weight  int    `json:"weight"`
	// Healthy is the active checks' verdict; Ejected, passive checks';
	// Available is whether balancers may pick the target now.
	Healthy   bool    `json:"healthy"`
	Ejected   bool    `json:"ejected"`
	Available bool    `json:"available"`
	Inflight  int64   `json:"inflight"`
	Requests  uint64  `json:"requests"`
	Failures  uint64  `json:"failures"`
	LatencyMS float64 `json:"latency_ewma_ms"`
}

type upstreamInfo struct {
	Name     string       `json:"name"`
	Balancer string       `json:"balancer"`
	Circuit  string       `json:"circuit"`
	Inflight int64        `json:"inflight"`
	Targets  []targetInfo `json:"targets"`
}

// Plugins lists the plugins in config order with their counters.
func (a *adminServer) Plugins() any {
	snap := a.g.snap.Load()
	out := []pluginhost.Stats{}
	for _, pc := range snap.Config.Plugins {
		if lp := snap.plugins[pc.Name]; lp != nil {
			out = append(out, lp.slot.Plugin().Stats())
		}
	}
	return out
}

// SwapPlugin implements PUT /plugins/{name}.
func (a *adminServer) SwapPlugin(name string, module []byte, pin string) (any, error) {
	return a.g.SwapPlugin(name, module, pin)
}

// Upstreams lists upstreams with per-target live counters.
func (a *adminServer) Upstreams() any {
	out := []upstreamInfo{}
	for _, u := range a.g.snap.Load().Upstreams.All() {
		ui := upstreamInfo{Name: u.Name, Balancer: u.Balancer, Circuit: u.Breaker.State().String(),
			Inflight: u.Breaker.Inflight(), Targets: []targetInfo{}}
		if u.Config().CircuitBreaker == nil {
			ui.Circuit = "none" // no thresholds: it never opens
		}
		now := time.Now().UnixNano()
		for _, t := range u.Targets() {
			ui.Targets = append(ui.Targets, targetInfo{
				Address: t.Addr, Weight: t.Weight, Healthy: t.Healthy(), Ejected: t.Ejected(),
				Available: t.Available(now), Inflight: t.Inflight(),
				Requests: t.Requests(), Failures: t.Failures(), LatencyMS: float64(t.EWMA()) / 1e6,
			})
		}
		out = append(out, ui)
	}
	return out
}
