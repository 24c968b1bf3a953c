package proxy

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/rs/zerolog"

	"github.com/wasmgate/wasmgate/pluginhost"
	"github.com/wasmgate/wasmgate/proxy/config"
)

// Options are the process-level settings that do not come from the file.
type Options struct {
	// ConfigPath is the file loaded at start and on every reload.
	ConfigPath string
	// Console forces human-readable logs whatever log.format says.
	Console bool
}

// Gateway is a running wasmgate: its listeners, the current snapshot and
// the machinery that replaces it.
type Gateway struct {
	opts      Options
	snap      atomic.Pointer[Snapshot]
	listeners []*listener
	logs      *logs
	ids       *idGen
	admin     *adminServer

	reloadMu sync.Mutex
	// bound is the config the sockets, the admin API and the log output
	// were set up from: what runs of the settings a reload cannot apply.
	bound       *config.Config
	configHash  [32]byte
	calls       *callTargets // where plugins' callouts go
	moduleReads atomic.Int64 // module files the watcher read
	ready       atomic.Bool
	stop        chan struct{}
	stopOnce    sync.Once
	serveErr    chan error
}

var (
	reloadsOK     = metrics.NewCounter(`wasmgate_config_reloads_total{result="ok"}`)
	reloadsFailed = metrics.NewCounter(`wasmgate_config_reloads_total{result="failed"}`)
)

// New loads and compiles the config. Nothing listens until Start.
func New(opts Options) (*Gateway, error) {
	cfg, data, err := loadFile(opts.ConfigPath)
	if err != nil {
		return nil, err
	}
	lg, err := newLogs(cfg.Log, opts.Console)
	if err != nil {
		return nil, err
	}
	if dir := cfg.Gateway.PluginCacheDir; dir != "" {
		if err := pluginhost.UseCacheDir(dir); err != nil {
			lg.close()
			return nil, config.Errors{{File: cfg.File, Line: 0, Path: "gateway.plugin_cache_dir", Msg: err.Error()}}
		}
	}
	calls := &callTargets{}
	snap, err := build(cfg, nil, *lg.app(), calls)
	if err != nil {
		lg.close()
		return nil, Locate(cfg, err)
	}
	calls.serve(snap.Upstreams)
	g := &Gateway{
		calls:      calls,
		opts:       opts,
		logs:       lg,
		ids:        newIDGen(),
		bound:      cfg,
		configHash: sha256.Sum256(data),
		stop:       make(chan struct{}),
		serveErr:   make(chan error, len(cfg.Listeners)+1),
	}
	g.snap.Store(snap)
	for _, lc := range cfg.Listeners {
		l, err := g.newListener(lc)
		if err != nil {
			// Nothing will serve what was built: its plugins (their
			// timers may call out), targets and series go.
			snap.discard(nil)
			lg.close()
			return nil, err
		}
		g.listeners = append(g.listeners, l)
	}
	return g, nil
}

// Validate loads and compiles the config at path exactly as a start or a
// reload would, without listening. It returns config.Errors on failure,
// and the warnings plugins logged while they started (a setting they take
// but advise against), once each: run logs them, and an operator
// checking a file before deploying it must see them too.
func Validate(path string) (warnings []string, err error) {
	cfg, _, err := loadFile(path)
	if err != nil {
		return nil, err
	}
	// What a start opens or creates, checked without creating it: validate
	// must not accept a config that run then refuses.
	var files config.Errors
	if out := cfg.Log.File(); out != "" {
		if err := canWrite(out, false); err != nil {
			files = append(files, cfg.FieldErr(fmt.Errorf("log.output: %w", err)))
		}
	}
	if dir := cfg.Gateway.PluginCacheDir; dir != "" {
		if err := canWrite(dir, true); err != nil {
			files = append(files, cfg.FieldErr(fmt.Errorf("gateway.plugin_cache_dir: %w", err)))
		}
	}
	if len(files) > 0 {
		return nil, files
	}
	var w startWarnings
	snap, err := build(cfg, nil, zerolog.New(&w).Level(zerolog.WarnLevel), nil)
	if err != nil {
		return w.list, Locate(cfg, err)
	}
	snap.discard(nil)
	return w.list, nil
}

// startWarnings keeps the messages logged at warning level while a config
// is built, each once (every VM of a plugin logs its own). Errors are left
// out: one that fails the start is in the error validate reports.
type startWarnings struct {
	mu   sync.Mutex
	list []string
}

func (w *startWarnings) Write(p []byte) (int, error) {
	var e struct {
		Level   string `json:"level"`
		Plugin  string `json:"plugin"`
		Message string `json:"message"`
	}
	if json.Unmarshal(p, &e) != nil || e.Level != "warn" || e.Message == "" {
		return len(p), nil
	}
	line := e.Message
	if e.Plugin != "" {
		line = "plugin " + e.Plugin + ": " + line
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !slices.Contains(w.list, line) {
		w.list = append(w.list, line)
	}
	return len(p), nil
}

// canWrite reports why path could not be opened for writing (a file) or
// created and written in (a directory), leaving nothing behind. An
// existing file is opened without being changed. Otherwise a file's
// directory must exist, and a directory's nearest existing ancestor (a
// start creates the rest); either must take a file, tried with a
// temporary one removed at once.
func canWrite(path string, dir bool) error {
	fi, err := os.Stat(path)
	switch {
	case err == nil && dir && !fi.IsDir():
		return fmt.Errorf("%s: not a directory", path)
	case err == nil && !dir && fi.IsDir():
		return fmt.Errorf("%s: is a directory", path)
	case err == nil && !dir:
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err == nil {
			err = f.Close()
		}
		return err
	case err != nil && !os.IsNotExist(err):
		return err
	}
	p := path
	if !dir {
		p = filepath.Dir(path) // the file is missing: its directory must not be
	}
	for {
		fi, err := os.Stat(p)
		switch {
		case err == nil && !fi.IsDir():
			return fmt.Errorf("%s: %s is not a directory", path, p)
		case err == nil:
			f, err := os.CreateTemp(p, ".wasmgate-validate-*")
			if err != nil {
				return fmt.Errorf("%s: cannot write in %s: %w", path, p, err)
			}
			f.Close()
			return os.Remove(f.Name())
		case !dir:
			return fmt.Errorf("%s: directory %s does not exist", path, p)
		case filepath.Dir(p) == p:
			return fmt.Errorf("%s: no existing directory above it", path)
		}
		p = filepath.Dir(p)
	}
}

func loadFile(path string) (*config.Config, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, config.Errors{{File: path, Msg: err.Error()}}
	}
	cfg, err := config.Parse(data, path)
	return cfg, data, err
}

// Locate turns the joined errors of Build into config.Errors with lines.
func Locate(cfg *config.Config, err error) config.Errors {
	var out config.Errors
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, inner := range j.Unwrap() {
				walk(inner)
			}
			return
		}
		out = append(out, cfg.FieldErr(e))
	}
	walk(err)
	return out
}

// discoveryStartWait bounds how long Start waits for discovered targets.
const discoveryStartWait = 5 * time.Second

// Start binds every listener and the admin API and starts serving. It
// fails without serving anything if any address cannot be bound.
func (g *Gateway) Start() error {
	g.snap.Load().Upstreams.Activate()
	go g.watchModules(g.snap.Load().Config.Gateway.WatchInterval.D())
	// Upstreams that discover their targets get a moment to find them
	// before traffic arrives; one that cannot keeps answering 503 until it
	// does, rather than holding the whole gateway back.
	select {
	case <-g.startDiscovery(g.snap.Load()):
	case <-time.After(discoveryStartWait):
		g.logs.app().Warn().Msg("discovery has not found targets for every upstream yet; starting anyway")
	}
	// An address that cannot be bound is the config's error: it names the
	// field and its line, as any other does.
	cfg := g.snap.Load().Config
	for i, l := range g.listeners {
		if err := l.listen(); err != nil {
			g.closeListeners()
			return cfg.FieldErr(fmt.Errorf("listeners[%d].listen: %w", i, err))
		}
	}
	if cfg.Admin.Listen != "" {
		a, err := newAdminServer(g, cfg.Admin)
		if err != nil {
			g.closeListeners()
			return cfg.FieldErr(fmt.Errorf("admin.listen: %w", err))
		}
		g.admin = a
	}
	for _, l := range g.listeners {
		go func(l *listener) {
			if err := l.serve(); err != nil {
				g.serveErr <- err
			}
		}(l)
	}
	if cfg.Gateway.WatchConfig {
		go g.watch(cfg.Gateway.WatchInterval.D())
	}
	g.ready.Store(true)
	log := g.logs.app()
	for _, l := range g.listeners {
		log.Info().Str("listener", l.name).Str("addr", l.ln.Addr().String()).Bool("tls", l.tls).Msg("listening")
	}
	if g.admin != nil {
		log.Info().Str("addr", g.admin.addr()).Msg("admin API listening")
	}
	return nil
}

func (g *Gateway) closeListeners() {
	for _, l := range g.listeners {
		if l.ln != nil {
			l.ln.Close()
		}
	}
}

// Errors reports a listener that stopped serving on its own.
func (g *Gateway) Errors() <-chan error { return g.serveErr }

// ListenerAddr returns the bound address of the named listener ("" if
// none), which tells tests the port when the config says :0.
func (g *Gateway) ListenerAddr(name string) string {
	for _, l := range g.listeners {
		if l.name == name && l.ln != nil {
			return l.ln.Addr().String()
		}
	}
	return ""
}

// AdminAddr returns the bound address of the admin API, "" if off.
func (g *Gateway) AdminAddr() string {
	if g.admin == nil {
		return ""
	}
	return g.admin.addr()
}

// Snapshot returns the snapshot currently serving.
func (g *Gateway) Snapshot() *Snapshot { return g.snap.Load() }

// Reload reads the config file again and, if it is valid, swaps in a new
// snapshot. On any error the running snapshot keeps serving untouched.
// Listener and admin settings are bound at start: a change to them is
// reported in the returned warnings and takes effect at the next restart,
// except TLS certificates, which are re-read.
func (g *Gateway) Reload() (warnings []string, err error) {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	log := g.logs.app()
	cfg, data, err := loadFile(g.opts.ConfigPath)
	if err == nil {
		old := g.snap.Load()
		var next *Snapshot
		next, err = build(cfg, old, *g.logs.app(), g.calls)
		if err != nil {
			err = Locate(cfg, err)
		} else if g.stopping() {
			// Built while the gateway stopped: nothing will serve it.
			next.discard(old)
			err = errStopping
		} else if err = g.reloadCerts(cfg); err != nil {
			next.discard(old)
		} else {
			// Against what runs, not the last file: a change not yet in
			// effect is reported by every reload until the restart, and a
			// change undone reports nothing.
			warnings = g.restartOnly(g.bound, cfg)
			warnings = append(warnings, uploadsReplaced(old, next)...)
			next.Upstreams.Activate()
			g.snap.Store(next)
			g.calls.serve(next.Upstreams)
			g.configHash = sha256.Sum256(data)
			g.logs.apply(cfg.Log)
			if err := g.logs.reopen(); err != nil {
				warnings = append(warnings, err.Error()+"; logging goes on to the file as it was")
			}
			g.startDiscovery(next)
			stopDiscoveryOf(old)
			old.Upstreams.Retire(next.Upstreams)
			// Requests in flight on old plugins finish their callbacks; a
			// closed VM fails the rest of such a request's callbacks,
			// which the chain treats as the plugin's on_error says.
			closePlugins(old, next)
			old.releaseRouteMetrics()
		}
	}
	if err != nil {
		g.calls.serve(nil) // callouts go on to the upstreams serving
		reloadsFailed.Inc()
		log.Error().Err(err).Msg("config reload failed; the running config keeps serving")
		return nil, err
	}
	reloadsOK.Inc()
	for _, w := range warnings {
		log.Warn().Msg(w)
	}
	log.Info().Int("routes", len(cfg.Routes)).Int("upstreams", len(cfg.Upstreams)).Msg("config reloaded")
	return warnings, nil
}

// reloadCerts reads every TLS listener's certificates again and puts
// them in service together, or none: a file that fails (changed since
// the config was validated) leaves every listener with its old ones.
func (g *Gateway) reloadCerts(cfg *config.Config) error {
	type update struct {
		l     *listener
		certs []tls.Certificate
	}
	var next []update
	for _, l := range g.listeners {
		for _, lc := range cfg.Listeners {
			if lc.Name == l.name && l.tls && len(lc.TLS) > 0 {
				certs, err := readCerts(lc)
				if err != nil {
					return err
				}
				next = append(next, update{l, certs})
			}
		}
	}
	for _, u := range next {
		u.l.certs.Store(&u.certs)
	}
	return nil
}

// uploadsReplaced lists the plugins whose module, uploaded by PUT, a
// reload replaces with the file's: a changed setting reloads the plugin
// from its file, and the operator should know the upload is gone.
func uploadsReplaced(old, next *Snapshot) []string {
	var w []string
	for name, lp := range old.plugins {
		if nl := next.plugins[name]; nl != nil && nl != lp && lp.slot.Plugin().Hash != lp.file {
			w = append(w, fmt.Sprintf("plugin %q: its settings changed, so it was loaded from its module file again; the module uploaded by PUT /plugins/%s is no longer in service", name, name))
		}
	}
	slices.Sort(w)
	return w
}

// restartOnly lists the changes a reload cannot apply to running sockets.
func (g *Gateway) restartOnly(old, next *config.Config) []string {
	var w []string
	strip := func(ls []config.Listener) []config.Listener {
		out := make([]config.Listener, len(ls))
		for i, l := range ls {
			l.TLS = nil // certificates are reloaded
			out[i] = l
		}
		return out
	}
	if !reflect.DeepEqual(strip(old.Listeners), strip(next.Listeners)) {
		w = append(w, "listeners changed: the new listener settings take effect at the next restart")
	}
	// Certificates reload, but whether a listener speaks TLS at all is
	// fixed by its socket: turning it on or off needs a restart.
	wasTLS := make(map[string]bool, len(old.Listeners))
	for _, l := range old.Listeners {
		wasTLS[l.Name] = len(l.TLS) > 0
	}
	for _, l := range next.Listeners {
		was, ok := wasTLS[l.Name]
		switch {
		case ok && !was && len(l.TLS) > 0:
			w = append(w, fmt.Sprintf("listener %q: tls turned on: takes effect at the next restart; it serves plain HTTP until then", l.Name))
		case ok && was && len(l.TLS) == 0:
			w = append(w, fmt.Sprintf("listener %q: tls turned off: takes effect at the next restart; it serves HTTPS until then", l.Name))
		}
	}
	if old.Admin != next.Admin {
		w = append(w, "admin changed: the new admin settings take effect at the next restart")
	}
	if old.Log.Output != next.Log.Output {
		w = append(w, "log.output changed: takes effect at the next restart")
	}
	return w
}

// watch reloads when the config file's content changes.
//
// Content is applied once it reads the same at two ticks in a row: an
// editor or a script writing the file in place may be halfway through,
// and half a file can be a valid config that drops routes. Content whose
// reload failed is tried again, after 1 s and then twice as long each
// time up to a minute: it may have failed for a reason outside the file
// (a module or certificate it names, deployed after it), and a valid file
// must not stay unapplied until someone edits it again.
func (g *Gateway) watch(every time.Duration) {
	var seen, failed [32]byte
	var backoff, wait time.Duration
	g.every(every, func() {
		data, err := os.ReadFile(g.opts.ConfigPath)
		if err != nil {
			return
		}
		h := sha256.Sum256(data)
		g.reloadMu.Lock()
		applied := h == g.configHash
		g.reloadMu.Unlock()
		switch {
		case applied:
			seen, failed = h, [32]byte{}
			return
		case h != seen:
			seen = h // changed since the last tick: let it settle
			return
		case h == failed:
			if wait -= every; wait > 0 {
				return
			}
		}
		if _, err := g.Reload(); err != nil {
			if h != failed {
				failed, backoff = h, time.Second
			} else {
				backoff = min(2*backoff, time.Minute)
			}
			wait = backoff
		}
	})
}

// lockWithin locks mu, or gives up when ctx is done.
func lockWithin(ctx context.Context, mu *sync.Mutex) bool {
	for !mu.TryLock() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(5 * time.Millisecond):
		}
	}
	return true
}

// errStopping is a reload's error once the gateway has begun to stop.
var errStopping = errors.New("the gateway is stopping")

// stopping reports whether Shutdown has begun.
func (g *Gateway) stopping() bool {
	select {
	case <-g.stop:
		return true
	default:
		return false
	}
}

// every runs f each interval until the gateway stops.
func (g *Gateway) every(interval time.Duration, f func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
		f()
	}
}

// Shutdown stops accepting connections, lets requests in flight finish
// until ctx is done, then closes what is left.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.ready.Store(false)
	g.stopOnce.Do(func() { close(g.stop) })
	var wg sync.WaitGroup
	errs := make([]error, len(g.listeners))
	for i, l := range g.listeners {
		if l.ln == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.server.ShutdownWithContext(ctx)
			l.closeTunnels(ctx)
		}()
	}
	wg.Wait()
	if g.admin != nil {
		g.admin.shutdown(ctx)
	}
	// Stops health checks and discovery, and closes pooled connections.
	// A reload or an upload still starting its plugins holds the lock for
	// as long as their start-up takes: waited for within the grace period
	// only, as the requests are; the process ends either way.
	if lockWithin(ctx, &g.reloadMu) {
		stopDiscoveryOf(g.snap.Load())
		g.snap.Load().Upstreams.Retire(nil)
		closePlugins(g.snap.Load(), nil)
		g.reloadMu.Unlock()
	} else {
		errs = append(errs, fmt.Errorf("a reload still running: %w", ctx.Err()))
	}
	g.logs.app().Info().Msg("stopped")
	g.logs.close()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
