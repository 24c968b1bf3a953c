package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"github.com/rs/zerolog"

	"github.com/wasmgate/wasmgate/pluginhost"
	"github.com/wasmgate/wasmgate/proxy/config"
	"github.com/wasmgate/wasmgate/proxy/upstream"
)

// loadedPlugin is a plugin with the fingerprint of what it was built from,
// so that a reload keeps a plugin whose module and settings are unchanged
// (and its warm VMs) instead of loading it again.
type loadedPlugin struct {
	slot *pluginhost.Slot
	key  string // settings and module hash it was loaded from
	// file is the module file's hash when last loaded from disk; the
	// watcher swaps in a new version when the file's hash moves on.
	file string
	// seen is the file's metadata when the watcher last hashed it. Reading
	// and hashing every module each tick cost more than a percent of a CPU
	// and megabytes of garbage under load, so a file whose metadata stands
	// still is not read again.
	seen   os.FileInfo
	seenAt time.Time
	// pin is the config's sha256 for the plugin, if any: no module with
	// another hash goes into service, whether from the file, the watcher
	// or PUT /plugins/{name}.
	pin string
}

// unchanged tells whether the module file can be taken to hold what the
// watcher hashed before: the same file, size and modification time, and a
// modification time old enough (at the time it was seen) that a write in
// the same timestamp tick cannot have followed the read.
func (lp *loadedPlugin) unchanged(fi os.FileInfo) bool {
	old := lp.seen
	return old != nil && os.SameFile(old, fi) && old.Size() == fi.Size() &&
		old.ModTime().Equal(fi.ModTime()) && lp.seenAt.Sub(fi.ModTime()) > time.Second
}

// buildPlugins loads the plugins of cfg, reusing those of prev that did
// not change. It returns them by name and the ones it loaded anew (to
// close if the snapshot is not put into service).
func buildPlugins(cfg *config.Config, prev *Snapshot, log zerolog.Logger, calls *callTargets) (map[string]*loadedPlugin, []*loadedPlugin, []error) {
	out := map[string]*loadedPlugin{}
	var fresh []*loadedPlugin
	var errs []error
	for i, pc := range cfg.Plugins {
		path := cfg.ModulePath(pc)
		// The file's metadata before it is read, so that the watcher's
		// first tick need not read and hash it again (see unchanged).
		fi, _ := os.Stat(path)
		readAt := time.Now()
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("plugins[%d].module: %w", i, err))
			continue
		}
		sum := sha256.Sum256(data)
		hash := hex.EncodeToString(sum[:])
		if pc.SHA256 != "" && pc.SHA256 != hash {
			errs = append(errs, fmt.Errorf("plugins[%d].sha256: the module's sha256 is %s", i, hash))
			continue
		}
		// The pin is part of the key: a reload that adds one must put
		// it in force (a running version taken by PUT goes with it).
		key := fmt.Sprintf("%s|%s|%q|%q|%d|%d|%d|%s|%t|%s", pc.Name, hash, pc.Config, pc.VMConfig, pc.Pool,
			pc.MemoryLimit, pc.CallTimeout, pc.OnError, pc.Trusted, pc.SHA256)
		if prev != nil {
			if old := prev.plugins[pc.Name]; old != nil && old.key == key {
				out[pc.Name] = old
				continue
			}
		}
		pool := pc.Pool
		if pool == 0 {
			pool = runtime.GOMAXPROCS(0)
		}
		call, has := calls.options()
		p, err := pluginhost.Load(context.Background(), pluginhost.Options{
			Name: pc.Name, Module: data, Config: []byte(pc.Config), VMConfig: []byte(pc.VMConfig),
			Pool: pool, MemoryPages: uint32(pc.MemoryLimit / 65536), CallTimeout: pc.CallTimeout.D(),
			FailOpen: pc.OnError == "fail_open", Trusted: pc.Trusted, Log: log, Callout: call, HasUpstream: has,
		})
		if err != nil {
			field := "module"
			switch {
			case errors.Is(err, pluginhost.ErrConfigRefused):
				field = "config"
			case errors.Is(err, pluginhost.ErrVMConfigRefused):
				field = "vm_config"
			case errors.Is(err, pluginhost.ErrMemoryLimit):
				field = "memory_limit"
			}
			errs = append(errs, fmt.Errorf("plugins[%d].%s: %w", i, field, err))
			continue
		}
		lp := &loadedPlugin{slot: pluginhost.NewSlot(p), key: key, file: hash, seen: fi, seenAt: readAt, pin: pc.SHA256}
		out[pc.Name] = lp
		fresh = append(fresh, lp)
	}
	return out, fresh, errs
}

// closePlugins closes the plugins of old that next does not use.
func closePlugins(old, next *Snapshot) {
	if old == nil {
		return
	}
	for name, lp := range old.plugins {
		if next == nil || next.plugins[name] != lp {
			go lp.slot.Close()
		}
	}
}

func closeFresh(fresh []*loadedPlugin) {
	for _, lp := range fresh {
		lp.slot.Plugin().Close()
	}
}

// SwapPlugin puts a new version of a plugin's module in service while
// traffic flows: it is compiled and its VMs started beside the running
// version, then swapped in; requests that began on the old version finish
// there. If pin is not empty the module's sha256 must match it. On any
// error the running version stays.
func (g *Gateway) SwapPlugin(name string, module []byte, pin string) (pluginhost.Stats, error) {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	lp := g.snap.Load().plugins[name]
	if lp == nil {
		return pluginhost.Stats{}, fmt.Errorf("no plugin named %q", name)
	}
	return g.swap(lp, module, pin, true)
}

// swap loads module beside lp's running version and swaps it in. An
// uploaded module is never run trusted (without the interruption
// checks): a plugin's trusted covers the module its config names, and an
// upload that loops in its start would hold the reload lock, and with it
// every reload and the shutdown, for ever.
func (g *Gateway) swap(lp *loadedPlugin, module []byte, pin string, uploaded bool) (pluginhost.Stats, error) {
	sum := sha256.Sum256(module)
	hash := hex.EncodeToString(sum[:])
	if lp.pin != "" && hash != lp.pin {
		return pluginhost.Stats{}, fmt.Errorf("the module's sha256 is %s; the config pins this plugin to %s (plugins.sha256)", hash, lp.pin)
	}
	if pin != "" && hash != pin {
		return pluginhost.Stats{}, fmt.Errorf("the module's sha256 is %s, not %s", hash, pin)
	}
	o := lp.slot.Plugin().Options()
	o.Module = module
	if uploaded {
		o.Trusted = false
	}
	p, err := pluginhost.Load(context.Background(), o)
	if err != nil {
		return pluginhost.Stats{}, err
	}
	if g.stopping() {
		p.Close() // loaded while the gateway stopped: nothing would close it
		return pluginhost.Stats{}, errStopping
	}
	lp.slot.Swap(p)
	pluginSwaps.Inc()
	g.logs.app().Info().Str("plugin", o.Name).Str("sha256", p.Hash).Msg("plugin module swapped")
	return p.Stats(), nil
}

// watchModules swaps in plugin modules whose files change, until stop.
func (g *Gateway) watchModules(every time.Duration) {
	g.every(every, g.checkModules)
}

// checkModules swaps in each plugin whose module file changed.
func (g *Gateway) checkModules() {
	g.reloadMu.Lock()
	snap := g.snap.Load()
	for _, pc := range snap.Config.Plugins {
		lp := snap.plugins[pc.Name]
		if lp == nil {
			continue
		}
		path := snap.Config.ModulePath(pc)
		fi, err := os.Stat(path)
		if err != nil {
			continue // a file being replaced; the next tick sees the new one
		}
		if lp.unchanged(fi) {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		g.moduleReads.Add(1)
		lp.seen, lp.seenAt = fi, time.Now()
		sum := sha256.Sum256(data)
		hash := hex.EncodeToString(sum[:])
		if hash == lp.file {
			continue
		}
		if _, err := g.swap(lp, data, "", false); err != nil { // swap checks lp.pin
			// The key stays the loaded module's: a reload then reads the
			// file and reports what is wrong with it, as validate and a
			// restart would, instead of keeping the old version and
			// saying all is well. (lp.seen keeps the watcher from
			// trying the same file again.)
			g.logs.app().Error().Err(err).Str("plugin", pc.Name).
				Msg("changed plugin module refused; the running version keeps serving")
			continue
		}
		// The key follows the file, so the next reload keeps this swap.
		lp.key = strings.Replace(lp.key, lp.file, hash, 1)
		lp.file = hash
	}
	g.reloadMu.Unlock()
}

var pluginSwaps = metrics.NewCounter("wasmgate_plugin_swaps_total")

// callTargets are the upstreams plugins' HTTP callouts go to: those of
// the snapshot serving, then those of one being built. A plugin that a
// build starts may call out from its first tick, before its snapshot
// serves (at start, before the gateway exists), to an upstream the same
// build adds. Builds are serialised (reloadMu), so one is built at a time.
type callTargets struct {
	serving, building atomic.Pointer[upstream.Set]
}

func (c *callTargets) get(name string) *upstream.Upstream {
	if s := c.serving.Load(); s != nil {
		if u := s.Get(name); u != nil {
			return u
		}
	}
	if s := c.building.Load(); s != nil {
		return s.Get(name)
	}
	return nil
}

// serve puts a snapshot's upstreams in service for callouts; a build that
// failed passes nil, which only forgets the set it built.
func (c *callTargets) serve(s *upstream.Set) {
	if s != nil {
		c.serving.Store(s)
	}
	c.building.Store(nil)
}

// options are the callout settings of a plugin's Options; none without a
// gateway (validate, Build).
func (c *callTargets) options() (pluginhost.Callout, func(string) bool) {
	if c == nil {
		return nil, nil
	}
	return c.call, func(name string) bool { return c.get(name) != nil }
}

// call serves a plugin's proxy_http_call: the named upstream (see
// callTargets), a target its balancer picks, its pool.
func (c *callTargets) call(name string, req *fasthttp.Request, resp *fasthttp.Response, timeout time.Duration) error {
	u := c.get(name)
	if u == nil {
		return fmt.Errorf("%w %q", pluginhost.ErrNoUpstream, name)
	}
	var e upstream.Eligible
	e.Reset(time.Now().UnixNano())
	target := u.Pick(&fasthttp.RequestCtx{}, &e)
	if target == nil {
		return fmt.Errorf("upstream %s has no available target", name)
	}
	if len(req.Header.Host()) == 0 {
		req.Header.SetHostBytes(target.HostHeader())
	}
	req.UseHostHeader = true
	if target.TLS() {
		req.URI().SetScheme("https")
	} else {
		req.URI().SetScheme("http")
	}
	return target.Do(req, resp, timeout)
}
