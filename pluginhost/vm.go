package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmgate/wasmgate/pluginhost/internal/interrupt"
)

// VM is one started instance of a plugin's module.
type VM struct {
	p    *Plugin
	name string
	mod  api.Module
	// stdout and stderr gather the module's output for flushOutput.
	stdout, stderr outputBuffer
	mu             sync.Mutex // one callback at a time
	broken         atomic.Bool
	rootID         uint32
	nextID         uint32
	nextToken      uint32 // proxy_http_call tokens
	tickStop       chan struct{}
	closed         bool // by close, under mu

	// cur is the stream whose callback is running; host functions act on
	// it. Set and cleared under mu.
	cur *Stream
	// status of the last host call, for proxy_get_status.
	status uint32

	// A callback that overruns its deadline is stopped by setting the
	// global the instrumented module checks at every function entry and
	// loop (see package interrupt): the guest traps at the next one, and
	// the VM is replaced. In service, the plugin's sweeper (see sweep)
	// does it, from when the running callback started (callStart, on the
	// clock of sinceStart; 0 between callbacks): a timer armed and
	// stopped around every call costs more than a small callback does.
	// Start-up callbacks, before the VM is in the pool the sweeper walks,
	// use the watchdog timer. A trusted module has no such global and is
	// not stopped.
	watchdog  *time.Timer
	callStart atomic.Int64
	// calls and active (requests holding a context here) are kept per VM,
	// as the VM is per processor, so that counting touches no memory
	// another core writes.
	calls     atomic.Uint64
	active    atomic.Int64
	expired   atomic.Bool
	interrupt api.MutableGlobal

	// alloc is the guest's allocator; callbacks are its exports by
	// phase (see phases), nil where it has none or did not declare one.
	alloc     api.Function
	callbacks [numPhases]api.Function
	stack     [8]uint64
	// The guest's result area, if it lent one (see resultAreaName), and
	// how much of it the running callback has used.
	areaPtr, areaLen, areaUsed uint32
	// The guest's edit area, if it lent one (see editAreaName).
	editPtr, editLen uint32
	// ctx is given to the VM's callbacks: host functions find their VM
	// in it, cheaper than a lookup by module name on every host call.
	ctx context.Context
	// propPath and propVal are host functions' scratch: the dotted path
	// of a property, and values made for an answer (a property, a copy
	// of shared data, a digest) on their way into the guest.
	propPath, propVal []byte
	// editHeader's search for the last header (see lastKey).
	visitLast   func(k, v []byte)
	last        []byte
	lastSpecial [][]byte
	// argFrames hold host calls' arguments (see argFrame).
	argFrames [4][12]uint64
	argDepth  int

	// allocating is set while alloc runs (see give).
	allocating bool
	// hdrBuf and hdrEnds are editHeader's copy of a header list.
	hdrBuf  []byte
	hdrEnds []int
	// started is set once start-up callbacks are over; what only a
	// starting VM may do (declare its phases) is refused after.
	started bool
	// startErr is the last error the plugin logged while starting: the
	// reason, for most SDKs, that it refused its configuration.
	startErr string
	// The lifecycle the plugin declared (see declarePhasesName).
	lazyContext, finishedFlag bool
}

// vmKey is the context key under which a callback carries its VM.
type vmKey struct{}

// vms by instance name, for host functions to find their caller when the
// call's context does not carry it (start-up functions).
var (
	vms   sync.Map
	vmSeq atomic.Uint64
)

func (p *Plugin) startVM(ctx context.Context) (*VM, error) {
	// Unique across plugins and their versions: host functions find
	// their VM by this name, and a swapped-in version must not take the
	// names of the one it replaces.
	name := p.opts.Name + "#" + strconv.FormatUint(vmSeq.Add(1), 10)
	vm := &VM{p: p, name: name, rootID: 1, nextID: 2}
	vm.ctx = context.WithValue(context.Background(), vmKey{}, vm)
	vm.visitLast = vm.noteLast
	vm.watchdog = time.AfterFunc(time.Hour, vm.expire)
	vm.watchdog.Stop()
	vm.stdout = outputBuffer{p: p, stream: "stdout", level: zerolog.InfoLevel}
	vm.stderr = outputBuffer{p: p, stream: "stderr", level: zerolog.ErrorLevel}
	vms.Store(name, vm)
	cfg := wazero.NewModuleConfig().WithName(name).
		// Start functions run by hand below: a reactor (_initialize) and a
		// command (_start) both need theirs run before any callback.
		WithStartFunctions().
		WithStdout(&vm.stdout).WithStderr(&vm.stderr).
		WithSysWalltime().WithSysNanotime().WithRandSource(randReader{})
	mod, err := p.runtime.InstantiateModule(ctx, p.compiled, cfg)
	if err != nil {
		vms.Delete(name)
		return nil, fmt.Errorf("instantiate: %w", err)
	}
	if g, ok := mod.ExportedGlobal(interrupt.ExportName).(api.MutableGlobal); ok && !p.opts.Trusted {
		vm.interrupt = g
	}
	vm.mod = mod
	fail := func(err error) (*VM, error) {
		vm.close()
		return nil, err
	}
	// The module's start function (moved to an export by the
	// instrumentation, so that it runs under the watchdog too), then the
	// reactor's or command's.
	if vm.interrupt != nil {
		vm.watchdog.Reset(startBound(p.opts.CallTimeout))
	}
	for _, start := range [][]string{{interrupt.StartExport}, {"_initialize", "_start"}} {
		for _, name := range start {
			f := mod.ExportedFunction(name)
			if f == nil || p.opts.Trusted && name == interrupt.StartExport {
				continue
			}
			if _, err := f.Call(ctx); err != nil {
				var exit *sys.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != 0 {
					if vm.expired.Load() {
						err = fmt.Errorf("overran its deadline (%s): %w", startBound(p.opts.CallTimeout), err)
					}
					return fail(fmt.Errorf("%s: %w", name, err))
				}
			}
			break
		}
	}
	vm.flushOutput()
	if vm.watchdog.Stop(); vm.expired.Load() {
		return fail(fmt.Errorf("start-up overran its deadline (%s)", startBound(p.opts.CallTimeout)))
	}
	vm.alloc = mod.ExportedFunction("proxy_on_memory_allocate")
	if vm.alloc == nil {
		vm.alloc = mod.ExportedFunction("malloc")
	}
	if vm.alloc == nil {
		return fail(errors.New("the module exports neither proxy_on_memory_allocate nor malloc"))
	}
	for ph, d := range phases {
		if d.export != "" {
			vm.callbacks[ph] = mod.ExportedFunction(d.export)
		}
	}
	if vm.callbacks[phContextCreate] == nil {
		return fail(errors.New("the module does not export proxy_on_context_create"))
	}

	root := &Stream{vm: vm, id: vm.rootID, root: true}
	if _, err := vm.call(root, phContextCreate, uint64(vm.rootID), 0); err != nil {
		return fail(fmt.Errorf("proxy_on_context_create (root): %w", err))
	}
	if vm.callbacks[phVMStart] != nil {
		ok, err := vm.call(root, phVMStart, uint64(vm.rootID), uint64(len(p.opts.VMConfig)))
		if err != nil {
			return fail(fmt.Errorf("proxy_on_vm_start: %w", err))
		}
		if ok == 0 {
			return fail(fmt.Errorf("%w%s", ErrVMConfigRefused, vm.startReason()))
		}
	}
	if vm.callbacks[phConfigure] != nil {
		ok, err := vm.call(root, phConfigure, uint64(vm.rootID), uint64(len(p.opts.Config)))
		if err != nil {
			return fail(fmt.Errorf("proxy_on_configure: %w", err))
		}
		if ok == 0 {
			return fail(fmt.Errorf("%w%s", ErrConfigRefused, vm.startReason()))
		}
	}
	vm.mu.Lock() // a tick the plugin set while starting may be calling in
	vm.started = true
	vm.mu.Unlock()
	return vm, nil
}

// The errors of a plugin that refused what it was given to start with,
// for the caller to name the config field at fault.
var (
	ErrConfigRefused   = errors.New("proxy_on_configure refused the plugin configuration")
	ErrVMConfigRefused = errors.New("proxy_on_vm_start refused the VM configuration")
)

// startReason names the error the plugin logged while starting,
// or nothing if it logged none.
func (vm *VM) startReason() string {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.startErr == "" {
		return ""
	}
	return "; the plugin logged: " + vm.startErr
}

func (vm *VM) close() {
	vm.watchdog.Stop()
	vm.mu.Lock()
	if vm.tickStop != nil {
		close(vm.tickStop)
		vm.tickStop = nil
	}
	vm.closed = true
	vm.mu.Unlock()
	if vm.mod != nil {
		_ = vm.mod.Close(context.Background())
	}
	vms.Delete(vm.name)
}

// call runs one guest function for stream s under the VM's lock and
// returns its first result. Any failure breaks the VM, which is then
// replaced; the error says what kind of failure it was.
func (vm *VM) call(s *Stream, ph int, args ...uint64) (uint64, error) {
	f := vm.callbacks[ph]
	if f == nil {
		return 0, nil
	}
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.broken.Load() || vm.closed {
		// Closed: a timer's tick or a root callout's answer that came as
		// the plugin was retired; the module would fail as if it broke.
		return 0, errVMGone
	}
	if s.finished {
		return 0, nil // the guest released the context already
	}
	s.touched = true
	vm.cur = s
	vm.areaUsed = 0 // the previous callback's results are the guest's no more
	defer func() { vm.cur = nil }()
	p := vm.p
	vm.calls.Add(1)
	stack := vm.stack[:max(len(args), 1)]
	copy(stack, args)
	// Start-up callbacks have a longer bound, and their own timer: the
	// VM is not yet in the pool the sweeper walks.
	inService := vm.started
	armed := vm.interrupt != nil && !inService
	if armed {
		vm.watchdog.Reset(startBound(p.opts.CallTimeout))
	}
	start := sinceStart()
	vm.callStart.Store(int64(start) | 1) // never 0, which means idle
	err := f.CallWithStack(vm.ctx, stack)
	if err == nil && vm.editPtr != 0 {
		vm.takeEdits()
	}
	if len(vm.stdout.buf)+len(vm.stderr.buf) > 0 {
		vm.flushOutput()
	}
	vm.callStart.Store(0)
	took := sinceStart() - start
	if armed {
		vm.watchdog.Stop()
	}
	expired := vm.expired.Load()
	if err == nil && expired {
		// The deadline passed just as the callback returned; the flag is
		// set, the next call would trap, so this VM is done all the same.
		err = errors.New("callback overran its deadline")
	}
	p.durations[ph].Observe(took)
	if err != nil {
		kind := classify(err, expired)
		if kind == faultTrap && p.opts.MemoryPages > 0 {
			// A guest near its memory limit traps when its allocator gives
			// up; wazero does not say that a grow was refused, so a trap
			// with memory above three quarters of the limit counts as
			// running out of memory.
			if mem := vm.mod.Memory(); mem != nil && uint64(mem.Size()) > uint64(p.opts.MemoryPages)*65536*3/4 {
				kind = faultMemory
			}
		}
		p.fault(kind)
		vm.broken.Store(true)
		// A VM failing while the plugin loads fails the load; only one
		// that failed in service is replaced.
		if inService && !p.closed.Load() {
			p.replace(vm)
		}
		p.opts.Log.Warn().Str("plugin", p.opts.Name).Str("fault", kind).Err(err).
			Msg("plugin VM failed; replacing it")
		return 0, &Fault{Plugin: p.opts.Name, Kind: kind, Err: err}
	}
	return stack[0], nil
}

// expire stops the running callback, if the module can be stopped: the
// guest traps at its next check.
func (vm *VM) expire() {
	vm.expired.Store(true)
	if vm.interrupt != nil {
		vm.interrupt.Set(1)
	}
}

// clockStart is the origin of sinceStart.
var clockStart = time.Now()

// sinceStart reads the monotonic clock alone (time.Now reads the wall
// clock too, twice the cost on this kind of VM, and a callback is timed
// twice).
func sinceStart() time.Duration { return time.Since(clockStart) }

// sweep stops the callbacks that overran the plugin's call timeout, every
// quarter of it (between 1ms and 100ms), until the plugin is closed.
func (p *Plugin) sweep() {
	period := min(max(p.opts.CallTimeout/4, time.Millisecond), 100*time.Millisecond)
	t := time.NewTicker(period)
	defer t.Stop()
	for range t.C {
		if p.closed.Load() {
			return
		}
		// now is read before the start times: a start after it gives a
		// negative age, so a callback that began since is never blamed.
		now := sinceStart()
		p.mu.RLock()
		for _, vm := range p.vms {
			if st := vm.callStart.Load(); st != 0 && now-time.Duration(st) > p.opts.CallTimeout {
				vm.expire()
			}
		}
		p.mu.RUnlock()
	}
}

// startBound is how long a VM's start-up callbacks may take: compiling
// regular expressions or parsing keys takes longer than a request.
func startBound(callTimeout time.Duration) time.Duration { return 10*callTimeout + time.Second }

// Fault is a plugin failure: its VM has been thrown away.
type Fault struct {
	Plugin string
	Kind   string // trap, timeout, memory, exit, abi
	Err    error
}

func (f *Fault) Error() string {
	return fmt.Sprintf("plugin %s: %s: %v", f.Plugin, f.Kind, f.Err)
}

func (f *Fault) Unwrap() error { return f.Err }

var errVMGone = errors.New("plugin VM is being replaced")

func classify(err error, expired bool) string {
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded, sys.ExitCodeContextCanceled:
			return faultTimeout
		}
		return faultExit
	}
	if expired {
		return faultTimeout
	}
	msg := err.Error()
	if strings.Contains(msg, "out of bounds memory") || strings.Contains(msg, "memory") && strings.Contains(msg, "grow") {
		return faultMemory
	}
	return faultTrap
}

// outputBuffer gathers what a module writes to stdout or stderr (WASI
// fd_write) during one callback, which the VM then logs as one entry:
// stderr at error level, as the Proxy-Wasm spec has it, stdout at info. A
// Go guest's panic comes in some fifty writes; logged one by one they
// were fifty info lines. The VM's lock orders writes and the flush.
type outputBuffer struct {
	p      *Plugin
	stream string
	level  zerolog.Level
	buf    []byte
	cut    bool // more was written than maxOutput
}

// maxOutput bounds what one callback's output may hold in memory.
const maxOutput = 64 << 10

func (w *outputBuffer) Write(b []byte) (int, error) {
	if room := maxOutput - len(w.buf); len(b) > room {
		w.buf, w.cut = append(w.buf, b[:max(room, 0)]...), true
	} else {
		w.buf = append(w.buf, b...)
	}
	return len(b), nil
}

func (w *outputBuffer) flush() {
	if len(w.buf) == 0 {
		return
	}
	msg := strings.TrimRight(string(w.buf), "\n")
	if w.cut {
		msg += " [cut at 64 KiB]"
	}
	w.p.opts.Log.WithLevel(w.level).Str("plugin", w.p.opts.Name).Str("stream", w.stream).Msg(msg)
	w.buf, w.cut = w.buf[:0], false
	if cap(w.buf) > 4<<10 {
		w.buf = nil // a one-off flood does not stay in memory
	}
}

// flushOutput logs what the module wrote since the last flush.
func (vm *VM) flushOutput() {
	vm.stdout.flush()
	vm.stderr.flush()
}

// Callback phases, by which the host calls the guest and times the calls
// (wasmgate_plugin_callback_duration_seconds, labelled by phase).
const (
	phOther = iota
	phContextCreate
	phRequestHeaders
	phRequestBody
	phResponseHeaders
	phResponseBody
	phDone
	phLog
	phDelete
	phTick
	phQueueReady
	phCallResponse
	phVMStart
	phConfigure
	phRequestTrailers
	phResponseTrailers
	numPhases
)

// phases are each phase's label and the guest's export for it.
var phases = [numPhases]struct{ label, export string }{
	phOther:            {"other", ""},
	phContextCreate:    {"context_create", "proxy_on_context_create"},
	phRequestHeaders:   {"request_headers", "proxy_on_request_headers"},
	phRequestBody:      {"request_body", "proxy_on_request_body"},
	phResponseHeaders:  {"response_headers", "proxy_on_response_headers"},
	phResponseBody:     {"response_body", "proxy_on_response_body"},
	phDone:             {"done", "proxy_on_done"},
	phLog:              {"log", "proxy_on_log"},
	phDelete:           {"delete", "proxy_on_delete"},
	phTick:             {"tick", "proxy_on_tick"},
	phQueueReady:       {"queue_ready", "proxy_on_queue_ready"},
	phCallResponse:     {"http_call_response", "proxy_on_http_call_response"},
	phVMStart:          {"vm_start", "proxy_on_vm_start"},
	phConfigure:        {"configure", "proxy_on_configure"},
	phRequestTrailers:  {"request_trailers", "proxy_on_request_trailers"},
	phResponseTrailers: {"response_trailers", "proxy_on_response_trailers"},
}
