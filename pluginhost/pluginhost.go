// Package pluginhost runs the gateway's policy plugins: WebAssembly modules
// speaking the Proxy-Wasm ABI, compiled once by wazero and kept in pools of
// started VMs so that no request ever waits for an instantiation.
//
// A Plugin is one [[plugins]] entry: a compiled module, its configuration
// and its pool. A request gets an HTTP context in one VM of each plugin on
// its route's chain and keeps it for its whole life; each callback holds
// that VM's lock for the microseconds it runs. A VM that traps, runs past
// its deadline, runs out of memory or exits is thrown away and replaced in
// the background; the request it was serving fails (fail_closed) or skips
// the plugin (fail_open), as do the other requests whose contexts lived in
// it when their next callback comes. Other VMs do not notice.
package pluginhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/rs/zerolog"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wasmgate/wasmgate/internal/percpu"
	"github.com/wasmgate/wasmgate/pluginhost/internal/interrupt"
)

// Options are one plugin's settings.
type Options struct {
	Name        string
	Module      []byte // the .wasm bytes
	Config      []byte // handed to proxy_on_configure
	VMConfig    []byte // handed to proxy_on_vm_start
	Pool        int
	MemoryPages uint32 // limit, in 64 KiB pages
	CallTimeout time.Duration
	// Trusted runs the module as it was built: without the interruption
	// checks the host adds (see package interrupt), so with no deadline.
	// They cost little; this is for a module the instrumentation does not
	// understand (it refuses instructions it does not know). A trusted
	// plugin that never returns keeps its VM, and a CPU, busy until the
	// process ends.
	Trusted  bool
	FailOpen bool
	Log      zerolog.Logger
	// Callout serves proxy_http_call; nil answers Unimplemented.
	Callout Callout
	// HasUpstream reports whether the gateway has an upstream of that name
	// now, so that proxy_http_call can refuse an unknown one at once with
	// BadArgument, as Envoy does for an unknown cluster. Nil takes every
	// name; an unknown one then fails when the call is sent.
	HasUpstream func(name string) bool
}

// ErrMemoryLimit is Load's error for a module that starts with more
// memory than Options.MemoryPages allows.
var ErrMemoryLimit = errors.New("the module starts with more memory than the limit allows")

// ABI versions a module may declare by exporting a function of this name.
const (
	abi021 = "proxy_abi_version_0_2_1"
	abi020 = "proxy_abi_version_0_2_0"
)

// cache is the compilation cache shared by every plugin's runtime, so a
// module is compiled once per content however many plugins use it.
var (
	cacheMu sync.Mutex
	cache   = wazero.NewCompilationCache()
	cacheAt string
)

// UseCacheDir keeps compiled modules in dir as well, so that a restart
// finds them compiled. Plugins loaded afterwards use it.
func UseCacheDir(dir string) error {
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if dir == cacheAt {
		return nil
	}
	c, err := wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		return err
	}
	cache, cacheAt = c, dir
	return nil
}

func currentCache() wazero.CompilationCache {
	cacheMu.Lock()
	defer cacheMu.Unlock()
	return cache
}

// Plugin is a loaded plugin with its pool of VMs.
type Plugin struct {
	opts Options
	Hash string // sha256 of the module, hex
	ABI  string // "0.2.1" or "0.2.0"

	runtime  wazero.Runtime
	compiled wazero.CompiledModule

	mu  sync.RWMutex
	vms []*VM
	// pool is vms for pick, which runs on every request and so takes no
	// lock; it is republished whenever vms changes.
	pool atomic.Pointer[[]*VM]

	replaced atomic.Uint64
	// retiredCalls are the calls of VMs replaced since; the live VMs
	// count their own (see VM.calls).
	retiredCalls atomic.Uint64
	errs         atomic.Uint64
	closed       atomic.Bool

	faults    map[string]*metrics.Counter // by kind: trap, timeout, memory, exit, abi
	durations []*percpu.Histogram         // by phase, see phases
	replacedM *metrics.Counter
	// Batches of edits refused from the edit area (see takeEdits), and
	// when that was last logged.
	editsRefused *metrics.Counter
	editsLogged  atomic.Int64
	logLevel     int32
	// series are the names of the plugin's metrics, percpuSeries those
	// of its per-processor ones: dropped with the last version of the
	// plugin (see versions).
	series, percpuSeries []string
	registered           bool
}

// versions counts, by plugin name, the versions loaded and not closed.
// Versions of one plugin share its metrics (a swap loads the new one
// beside the old); when the last is closed, its series go, so a gateway
// whose plugins are renamed or removed over many reloads does not keep
// every name it ever served in memory and in /metrics.
var versions = struct {
	sync.Mutex
	n map[string]int
}{n: map[string]int{}}

// register counts p as a version of its plugin; p then holds its
// series until unregister.
func (p *Plugin) register() {
	versions.Lock()
	versions.n[p.opts.Name]++
	p.registered = true
	versions.Unlock()
}

// unregister ends p's hold on its plugin's series; the last version's
// end drops them. Only Load and Close call it, each at most once.
func (p *Plugin) unregister() {
	versions.Lock()
	defer versions.Unlock()
	if !p.registered {
		return
	}
	p.registered = false
	name := p.opts.Name
	if versions.n[name]--; versions.n[name] > 0 {
		return
	}
	delete(versions.n, name)
	live.Delete(name)
	for _, s := range p.series {
		metrics.UnregisterMetric(s)
	}
	for _, s := range p.percpuSeries {
		percpu.Unregister(s)
	}
}

// Load compiles the module and starts its pool. It fails, and leaves
// nothing running, when the module does not compile, declares no supported
// ABI version, or any VM fails to start or to accept its configuration.
func Load(ctx context.Context, o Options) (*Plugin, error) {
	if o.Pool < 1 {
		o.Pool = 1
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 100 * time.Millisecond
	}
	sum := sha256.Sum256(o.Module)
	p := &Plugin{opts: o, Hash: hex.EncodeToString(sum[:]), logLevel: levelFromZerolog(o.Log.GetLevel())}
	// No close-on-context-done: wazero would start a watcher goroutine on
	// every call into the module and call out of the guest at every loop
	// iteration, together several times a small policy's own work. The
	// module is instrumented instead: it checks a global at each function
	// entry and loop, and traps once the host has set it (see VM.call).
	cfg := wazero.NewRuntimeConfigCompiler().
		WithCompilationCache(currentCache())
	if o.MemoryPages > 0 {
		cfg = cfg.WithMemoryLimitPages(o.MemoryPages)
	}
	p.runtime = wazero.NewRuntimeWithConfig(ctx, cfg)
	ok := false
	defer func() {
		if !ok {
			_ = p.runtime.Close(ctx)
		}
	}()
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, p.runtime); err != nil {
		return nil, err
	}
	if err := p.instantiateHost(ctx); err != nil {
		return nil, err
	}
	module, err := o.Module, error(nil)
	if !o.Trusted {
		if module, err = interrupt.Instrument(o.Module); err != nil {
			return nil, fmt.Errorf("compile: adding interruption checks: %w", err)
		}
	}
	compiled, err := compile(ctx, p.runtime, module)
	if err != nil {
		// wazero refuses a module whose memory minimum is over the
		// runtime's limit as it compiles; the setting to change is the
		// limit, not the module.
		if o.MemoryPages > 0 && strings.Contains(err.Error(), "over limit of") {
			return nil, fmt.Errorf("%w: %v", ErrMemoryLimit, err)
		}
		return nil, fmt.Errorf("compile: %w", err)
	}
	p.compiled = compiled
	exports := compiled.ExportedFunctions()
	switch {
	case exports[abi021] != nil:
		p.ABI = "0.2.1"
	case exports[abi020] != nil:
		p.ABI = "0.2.0"
	default:
		return nil, errors.New("the module declares no Proxy-Wasm ABI version this host speaks (want an export proxy_abi_version_0_2_1 or proxy_abi_version_0_2_0)")
	}
	labels := fmt.Sprintf(`{plugin=%q`, o.Name)
	p.register()
	counter := func(s string) *metrics.Counter {
		p.series = append(p.series, s)
		return metrics.GetOrCreateCounter(s)
	}
	for _, ph := range phases {
		s := fmt.Sprintf(`wasmgate_plugin_callback_duration_seconds%s,phase=%q}`, labels, ph.label)
		p.percpuSeries = append(p.percpuSeries, s)
		p.durations = append(p.durations, percpu.GetOrCreateHistogram(s, callbackBuckets))
	}
	p.replacedM = counter("wasmgate_plugin_vms_replaced_total" + labels + "}")
	p.editsRefused = counter("wasmgate_plugin_edits_refused_total" + labels + "}")
	// The gauge outlives this version of the plugin (a swap registers the
	// same name): it reads whichever version went into service last.
	name := o.Name
	gauge := "wasmgate_plugin_vm_memory_bytes" + labels + "}"
	p.series = append(p.series, gauge)
	metrics.GetOrCreateGauge(gauge, func() float64 {
		v, ok := live.Load(name)
		if !ok {
			return 0
		}
		return float64(v.(*Plugin).memoryBytes())
	})
	p.faults = map[string]*metrics.Counter{}
	for _, k := range []string{faultTrap, faultTimeout, faultMemory, faultExit, faultABI, faultStalled} {
		p.faults[k] = counter(fmt.Sprintf(`wasmgate_plugin_errors_total%s,kind=%q}`, labels, k))
	}
	for i := 0; i < o.Pool; i++ {
		vm, err := p.startVM(ctx)
		if err != nil {
			// Closed first: a VM already started may have failed (a tick)
			// and be being replaced, which stops for a closed plugin.
			p.closed.Store(true)
			p.mu.Lock()
			for _, v := range p.vms {
				v.close()
			}
			p.vms = nil
			p.mu.Unlock()
			p.unregister()
			return nil, err
		}
		// Under the lock: a VM started earlier runs its ticks already,
		// and one that fails is replaced in p.vms meanwhile.
		p.mu.Lock()
		p.vms = append(p.vms, vm)
		p.publish() // a later VM's start may deliver to this one (a queue)
		p.mu.Unlock()
	}
	if !o.Trusted {
		go p.sweep()
	}
	// In service from here: a version refused while starting never
	// stood for the plugin in its gauge.
	live.Store(o.Name, p)
	ok = true
	return p, nil
}

// compile is the runtime's CompileModule, with a panic on a malformed
// module (wazero has a few) turned into an error: a bad plugin must not
// take the gateway down.
func compile(ctx context.Context, r wazero.Runtime, module []byte) (c wazero.CompiledModule, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("the module could not be decoded: %v", v)
		}
	}()
	return r.CompileModule(ctx, module)
}

// LoadFile reads a module from path, checking it against a sha256 pin when
// one is given.
func LoadFile(ctx context.Context, path, pin string, o Options) (*Plugin, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if pin != "" {
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != pin {
			return nil, fmt.Errorf("module %s has sha256 %s, want %s", path, got, pin)
		}
	}
	o.Module = data
	return Load(ctx, o)
}

var callbackBuckets = []float64{0.000001, 0.0000025, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001,
	0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 1}

// Name is the plugin's name from config.
func (p *Plugin) Name() string { return p.opts.Name }

// FailOpen reports the plugin's on_error policy.
func (p *Plugin) FailOpen() bool { return p.opts.FailOpen }

// Stats is what the admin API shows of a plugin.
type Stats struct {
	Name     string `json:"name"`
	Hash     string `json:"module_sha256"`
	ABI      string `json:"abi_version"`
	Pool     int    `json:"pool"`
	Live     int    `json:"vms_live"`
	Replaced uint64 `json:"vms_replaced"`
	Calls    uint64 `json:"calls"`
	Errors   uint64 `json:"errors"`
	// Phases are the per-request callbacks the gateway calls: those the
	// module exports, narrowed by what it declared while starting.
	Phases  []string `json:"phases"`
	Trusted bool     `json:"trusted"`
}

// Options returns the options p was loaded with, for loading a new
// version of its module with the same settings.
func (p *Plugin) Options() Options { return p.opts }

// Stats reports the plugin's counters.
func (p *Plugin) Stats() Stats {
	p.mu.RLock()
	live := 0
	phases := []string{}
	for _, vm := range p.vms {
		if !vm.broken.Load() {
			live++
		}
		if len(phases) == 0 {
			phases = vm.phaseNames()
		}
	}
	calls := p.retiredCalls.Load()
	for _, vm := range p.vms {
		calls += vm.calls.Load()
	}
	p.mu.RUnlock()
	return Stats{Name: p.opts.Name, Hash: p.Hash, ABI: p.ABI, Pool: p.opts.Pool, Live: live, Trusted: p.opts.Trusted,
		Replaced: p.replaced.Load(), Calls: calls, Errors: p.errs.Load(), Phases: phases}
}

// live is the latest loaded version of each plugin, by name, for gauges.
var live sync.Map

// memoryBytes is the linear memory of the plugin's VMs, together.
func (p *Plugin) memoryBytes() uint64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var n uint64
	for _, vm := range p.vms {
		if vm.broken.Load() || vm.mod == nil {
			continue
		}
		if mem := vm.mod.Memory(); mem != nil {
			n += uint64(mem.Size())
		}
	}
	return n
}

// pick returns a healthy VM: the one of the processor the request runs
// on when it is healthy. Keeping each VM on one core keeps its memory in
// that core's cache and off the other's; round robin, which sent each
// VM's guest stack and heap from core to core, made two busy cores serve
// a three-plugin chain more slowly than one.
func (p *Plugin) pick() *VM {
	pool := p.pool.Load()
	if pool == nil {
		return nil // no VM has started yet
	}
	vms := *pool
	n := len(vms)
	if n == 0 {
		return nil
	}
	start := percpu.ID()
	for i := 0; i < n; i++ {
		if vm := vms[(start+i)%n]; !vm.broken.Load() {
			return vm
		}
	}
	return nil
}

// publish makes the current vms the pool pick chooses from; p.mu is held,
// or p is not yet shared.
func (p *Plugin) publish() {
	vms := slices.Clone(p.vms)
	p.pool.Store(&vms)
}

// active is how many requests hold a context in one of p's VMs.
func (p *Plugin) active() int64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var n int64
	for _, vm := range p.vms {
		n += vm.active.Load()
	}
	return n
}

// replace swaps a broken VM for a fresh one, in the background.
func (p *Plugin) replace(old *VM) {
	p.replaced.Add(1)
	p.replacedM.Inc()
	go func() {
		for attempt := 0; !p.closed.Load(); attempt++ {
			vm, err := p.startVM(context.Background())
			if err == nil {
				p.mu.Lock()
				for i, v := range p.vms {
					if v == old {
						p.vms[i] = vm
					}
				}
				p.retiredCalls.Add(old.calls.Load())
				p.publish()
				p.mu.Unlock()
				old.close()
				if p.closed.Load() {
					vm.close()
				}
				return
			}
			p.opts.Log.Error().Err(err).Str("plugin", p.opts.Name).Msg("cannot start a replacement VM")
			time.Sleep(min(time.Duration(attempt+1)*100*time.Millisecond, 5*time.Second))
		}
	}()
}

// Close stops every VM and the runtime.
func (p *Plugin) Close() {
	if p.closed.Swap(true) {
		return
	}
	p.mu.Lock()
	for _, vm := range p.vms {
		vm.close()
	}
	// A Slot or a late request may still hold the closed version: its
	// VMs, and their memory, must not stay reachable through it.
	p.vms = nil
	p.mu.Unlock()
	p.pool.Store(nil)
	live.CompareAndDelete(p.opts.Name, p)
	p.unregister()
	_ = p.runtime.Close(context.Background())
}

// fault kinds, the label of wasmgate_plugin_errors_total.
const (
	faultTrap    = "trap"
	faultTimeout = "timeout"
	faultMemory  = "memory"
	faultExit    = "exit"
	faultABI     = "abi"
	// faultStalled: the plugin paused a request and nothing it did could
	// resume it. The VM is fine; the request is not let through.
	faultStalled = "stalled"
)

func (p *Plugin) fault(kind string) {
	p.errs.Add(1)
	p.faults[kind].Inc()
}

func levelFromZerolog(l zerolog.Level) int32 {
	switch {
	case l <= zerolog.TraceLevel:
		return 0
	case l == zerolog.DebugLevel:
		return 1
	case l == zerolog.InfoLevel:
		return 2
	case l == zerolog.WarnLevel:
		return 3
	case l == zerolog.ErrorLevel:
		return 4
	}
	return 5
}
