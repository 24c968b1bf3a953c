package pluginhost

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmgate/wasmgate/internal/percpu"
)

// Status values of the Proxy-Wasm ABI (proxy_status_t).
const (
	stOK                = 0
	stNotFound          = 1
	stBadArgument       = 2
	stInvalidMemory     = 6
	stEmpty             = 7
	stCasMismatch       = 8
	stInternal          = 10
	stUnimplemented     = 12
	mapRequestHeads     = 0
	mapRequestTrailers  = 1
	mapResponseHeads    = 2
	mapResponseTrailers = 3
	bufPluginConfig     = 7
	bufVMConfig         = 6
)

const i32, i64 = api.ValueTypeI32, api.ValueTypeI64

// hostFunc is one import of the "env" module.
type hostFunc struct {
	name   string
	params []api.ValueType
	fn     func(vm *VM, stack []uint64) uint32
}

func ints(n int) []api.ValueType {
	t := make([]api.ValueType, n)
	for i := range t {
		t[i] = i32
	}
	return t
}

// unimplemented answers a host function this host does not provide yet,
// so that modules importing it still load and learn so at run time.
func unimplemented(*VM, []uint64) uint32 { return stUnimplemented }

var hostFuncs = []hostFunc{
	{"proxy_log", ints(3), hLog},
	{"proxy_get_log_level", ints(1), hGetLogLevel},
	{"proxy_get_current_time_nanoseconds", ints(1), hTime},
	{"proxy_set_tick_period_milliseconds", ints(1), hSetTick},
	{"proxy_get_property", ints(4), hGetProperty},
	{"proxy_set_property", ints(4), hSetProperty},
	{"proxy_get_buffer_bytes", ints(5), hGetBuffer},
	{"proxy_get_buffer_status", ints(3), hBufferStatus},
	{"proxy_set_buffer_bytes", ints(5), hSetBuffer},
	{"proxy_get_header_map_pairs", ints(3), hGetPairs},
	{"proxy_set_header_map_pairs", ints(3), hSetPairs},
	{"proxy_get_header_map_value", ints(5), hGetValue},
	{"proxy_add_header_map_value", ints(5), hAddValue},
	{"proxy_replace_header_map_value", ints(5), hReplaceValue},
	{"proxy_remove_header_map_value", ints(3), hRemoveValue},
	{"proxy_get_header_map_size", ints(2), hMapSize},
	{"proxy_send_local_response", ints(8), hLocalResponse},
	{"proxy_continue_stream", ints(1), hContinue},
	{"proxy_close_stream", ints(1), hCloseStream},
	{"proxy_continue_request", nil, hContinue},
	{"proxy_continue_response", nil, hOK},
	{"proxy_clear_route_cache", nil, hOK},
	{"proxy_set_effective_context", ints(1), hEffectiveContext},
	{"proxy_done", nil, hOK},
	{"proxy_http_call", ints(10), hHTTPCall},
	{"proxy_define_metric", ints(4), hDefineMetric},
	{"proxy_increment_metric", []api.ValueType{i32, i64}, hIncrementMetric},
	{"proxy_record_metric", []api.ValueType{i32, i64}, hRecordMetric},
	{"proxy_get_metric", ints(2), hGetMetric},
	{"proxy_get_shared_data", ints(5), hGetShared},
	{"proxy_set_shared_data", ints(5), hSetShared},
	{"proxy_register_shared_queue", ints(3), hRegisterQueue},
	{"proxy_resolve_shared_queue", ints(5), hResolveQueue},
	{"proxy_dequeue_shared_queue", ints(3), hDequeue},
	{"proxy_enqueue_shared_queue", ints(3), hEnqueue},
	{"proxy_call_foreign_function", ints(6), hForeignCall},
	{"proxy_get_status", ints(3), hGetStatus},
	{"proxy_grpc_call", ints(12), unimplemented},
	{"proxy_grpc_stream", ints(9), unimplemented},
	{"proxy_grpc_send", ints(4), unimplemented},
	{"proxy_grpc_cancel", ints(1), unimplemented},
	{"proxy_grpc_close", ints(1), unimplemented},
}

func (p *Plugin) instantiateHost(ctx context.Context) error {
	b := p.runtime.NewHostModuleBuilder("env")
	for _, h := range hostFuncs {
		h := h
		b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
			// A callback's context carries its VM (see VM.ctx); other
			// calls find it by the module's name.
			vm, _ := ctx.Value(vmKey{}).(*VM)
			if vm == nil || vm.name != mod.Name() {
				v, ok := vms.Load(mod.Name())
				if !ok {
					stack[0] = stInternal
					return
				}
				vm = v.(*VM)
			}
			// The arguments are copied out first: a host function that
			// calls back into the guest (to allocate) runs the guest on the
			// same engine stack, which may overwrite this slice. An i32 is
			// only the low half of its slot; compiled guest code may leave
			// anything in the high half.
			args := vm.argFrame()
			defer vm.argDone()
			for i, t := range h.params {
				if t == i32 {
					args[i] = uint64(uint32(stack[i]))
				} else {
					args[i] = stack[i]
				}
			}
			stack[0] = uint64(h.fn(vm, args[:max(len(h.params), 1)]))
		}), h.params, []api.ValueType{i32}).Export(h.name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

// argFrame is a host call's copy of its arguments, from frames the VM
// keeps (host calls nest when one calls back into the guest, which may
// call the host again); deeper nesting than that gets a fresh frame. The
// VM's lock is held, so the frames are the running call's.
func (vm *VM) argFrame() *[12]uint64 {
	vm.argDepth++
	if vm.argDepth <= len(vm.argFrames) {
		return &vm.argFrames[vm.argDepth-1]
	}
	return new([12]uint64)
}

func (vm *VM) argDone() { vm.argDepth-- }

// ---- memory helpers: every guest pointer is checked, never trusted.

func (vm *VM) read(ptr, size uint64) ([]byte, bool) {
	return vm.mod.Memory().Read(uint32(ptr), uint32(size))
}

func (vm *VM) putU32(ptr uint64, v uint32) bool {
	return vm.mod.Memory().WriteUint32Le(uint32(ptr), v)
}

// give copies data into guest memory the guest allocates, and writes its
// address and size at retPtr and retSize.
func (vm *VM) give(data []byte, retPtr, retSize uint64) uint32 {
	var addr uint64
	if n := uint32(len(data)); n > 0 && vm.areaLen-vm.areaUsed >= n {
		// The guest's result area (see resultAreaName): no call back
		// into the guest to allocate.
		addr = uint64(vm.areaPtr + vm.areaUsed)
		vm.areaUsed += (n + 7) &^ 7
		if vm.areaUsed > vm.areaLen {
			vm.areaUsed = vm.areaLen
		}
		if !vm.mod.Memory().Write(uint32(addr), data) {
			return stInvalidMemory
		}
	} else if len(data) > 0 {
		// An allocator that calls a host function which returns a value
		// would re-enter the allocator's api.Function while it runs.
		// wazero keeps one stack per api.Function, and re-entering one
		// kills the process (a segmentation fault or a split stack
		// overflow, which no recover catches). The nested call is refused.
		if vm.allocating {
			return stInternal
		}
		vm.allocating = true
		res, err := vm.alloc.Call(vm.ctx, uint64(len(data)))
		vm.allocating = false
		if err != nil {
			// A trap ends a Wasm computation: the guest's allocator (and
			// runtime) state is undefined after one, so the callback that
			// asked must not carry on as if it had merely been refused.
			// The panic unwinds to the callback's call, which wazero
			// returns as its error (an exit as the exit), so that the VM
			// is broken and replaced as for a trap in the callback itself.
			vm.broken.Store(true)
			panic(fmt.Errorf("proxy_on_memory_allocate: %w", err))
		}
		if len(res) == 0 || res[0] == 0 {
			return stInternal
		}
		addr = res[0]
		if !vm.mod.Memory().Write(uint32(addr), data) {
			return stInvalidMemory
		}
	}
	if !vm.putU32(retPtr, uint32(addr)) || !vm.putU32(retSize, uint32(len(data))) {
		return stInvalidMemory
	}
	return stOK
}

func hOK(*VM, []uint64) uint32 { return stOK }

func hContinue(vm *VM, _ []uint64) uint32 {
	if vm.cur != nil {
		vm.cur.resumed = true
	}
	return stOK
}

func hLog(vm *VM, s []uint64) uint32 {
	msg, ok := vm.read(s[1], s[2])
	if !ok {
		return stInvalidMemory
	}
	log := vm.p.opts.Log
	ev := log.Info()
	switch s[0] {
	case 0, 1:
		ev = log.Debug()
	case 3:
		ev = log.Warn()
	case 4, 5:
		ev = log.Error()
	}
	line := logSafe(msg)
	if !vm.started && s[0] >= 4 {
		vm.startErr = line
	}
	ev.Str("plugin", vm.p.opts.Name).Msg(line)
	return stOK
}

// logSafe is a plugin's log message with its control characters escaped
// (a newline as \n, others as \xNN). Plugins log what clients send; in
// the console format the message is printed as it is, and a newline in
// it would let a client write a line of its own choosing into the log.
func logSafe(msg []byte) string {
	clean := true
	for _, c := range msg {
		if c < 0x20 || c == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return string(msg)
	}
	const hex = "0123456789abcdef"
	out := make([]byte, 0, len(msg)+16)
	for _, c := range msg {
		switch {
		case c == '\n':
			out = append(out, '\\', 'n')
		case c == '\r':
			out = append(out, '\\', 'r')
		case c == '\t':
			out = append(out, '\\', 't')
		case c < 0x20 || c == 0x7f:
			out = append(out, '\\', 'x', hex[c>>4], hex[c&15])
		default:
			out = append(out, c)
		}
	}
	return string(out)
}

func hGetLogLevel(vm *VM, s []uint64) uint32 {
	if !vm.putU32(s[0], uint32(vm.p.logLevel)) {
		return stInvalidMemory
	}
	return stOK
}

func hTime(vm *VM, s []uint64) uint32 {
	if !vm.mod.Memory().WriteUint64Le(uint32(s[0]), uint64(time.Now().UnixNano())) {
		return stInvalidMemory
	}
	return stOK
}

func hGetBuffer(vm *VM, s []uint64) uint32 {
	var buf []byte
	switch s[0] {
	case bufPluginConfig:
		buf = vm.p.opts.Config
	case bufVMConfig:
		buf = vm.p.opts.VMConfig
	case bufCallBody:
		if vm.cur == nil || vm.cur.callResp == nil {
			return stNotFound
		}
		buf = vm.cur.callResp.Body()
	default:
		b, ok := vm.body(s[0])
		if !ok {
			return stNotFound
		}
		buf = b
	}
	start, max := s[1], s[2]
	if start > uint64(len(buf)) {
		return stBadArgument
	}
	buf = buf[start:]
	if max < uint64(len(buf)) {
		buf = buf[:max]
	}
	return vm.give(buf, s[3], s[4])
}

func hBufferStatus(vm *VM, s []uint64) uint32 {
	var n int
	switch s[0] {
	case bufPluginConfig:
		n = len(vm.p.opts.Config)
	case bufVMConfig:
		n = len(vm.p.opts.VMConfig)
	default:
		b, ok := vm.body(s[0])
		if !ok {
			return stNotFound
		}
		n = len(b)
	}
	if !vm.putU32(s[1], uint32(n)) || !vm.putU32(s[2], 0) {
		return stInvalidMemory
	}
	return stOK
}

func hEffectiveContext(vm *VM, s []uint64) uint32 {
	// Callbacks already run for the stream they belong to; switching to
	// another context would need it to be alive in this VM.
	if vm.cur != nil && uint64(vm.cur.id) == s[0] || uint64(vm.rootID) == s[0] {
		return stOK
	}
	return stBadArgument
}

func hGetStatus(vm *VM, s []uint64) uint32 {
	if !vm.putU32(s[0], vm.status) || !vm.putU32(s[1], 0) || !vm.putU32(s[2], 0) {
		return stInvalidMemory
	}
	return stOK
}

// ---- metrics: defined per plugin, exported with its name as a label.

type metric struct {
	kind    uint64          // 0 counter, 1 gauge, 2 histogram
	counter *percpu.Counter // sharded: plugins count on every request, on every core
	gauge   *percpu.Gauge   // beside the counters of the same family on /metrics
	hist    *metrics.Histogram
}

var (
	metricsMu sync.Mutex
	metricIDs = map[string]uint32{}
	// metricSet is read on every increment without a lock: a new metric
	// publishes a longer copy.
	metricSet atomic.Pointer[[]*metric]
)

func hDefineMetric(vm *VM, s []uint64) uint32 {
	name, ok := vm.read(s[1], s[2])
	if !ok {
		return stInvalidMemory
	}
	if s[0] > 2 || len(name) == 0 {
		return stBadArgument
	}
	full := fmt.Sprintf(`wasmgate_plugin_metric{plugin=%q,name=%q}`, vm.p.opts.Name, name)
	metricsMu.Lock()
	defer metricsMu.Unlock()
	id, seen := metricIDs[full]
	if !seen {
		m := &metric{kind: s[0]}
		switch s[0] {
		case 0:
			m.counter = percpu.GetOrCreateCounter(full)
		case 1:
			m.gauge = percpu.GetOrCreateGauge(full)
		case 2:
			m.hist = metrics.GetOrCreateHistogram(full)
		}
		var set []*metric
		if old := metricSet.Load(); old != nil {
			set = *old
		}
		id = uint32(len(set))
		set = append(set[:len(set):len(set)], m)
		metricSet.Store(&set)
		metricIDs[full] = id
	}
	if !vm.putU32(s[3], id) {
		return stInvalidMemory
	}
	return stOK
}

func lookupMetric(id uint64) *metric {
	set := metricSet.Load()
	if set == nil || id >= uint64(len(*set)) {
		return nil
	}
	return (*set)[id]
}

func hIncrementMetric(_ *VM, s []uint64) uint32 {
	m, st := incrementable(s[0], int64(s[1]))
	if st == stOK {
		m.add(int64(s[1]))
	}
	return st
}

// incrementable finds the counter or gauge id that delta may be added
// to: a counter only grows.
func incrementable(id uint64, delta int64) (*metric, uint32) {
	m := lookupMetric(id)
	switch {
	case m == nil:
		return nil, stNotFound
	case m.kind == 0 && delta < 0, m.kind > 1:
		return nil, stBadArgument
	}
	return m, stOK
}

func (m *metric) add(delta int64) {
	if m.kind == 0 {
		m.counter.Add(uint64(delta))
	} else {
		m.gauge.Add(delta)
	}
}

func hRecordMetric(_ *VM, s []uint64) uint32 {
	m := lookupMetric(s[0])
	if m == nil {
		return stNotFound
	}
	v := int64(s[1])
	switch m.kind {
	case 0:
		return stBadArgument
	case 1:
		m.gauge.Set(v)
	case 2:
		m.hist.Update(float64(v))
	}
	return stOK
}

func hGetMetric(vm *VM, s []uint64) uint32 {
	m := lookupMetric(s[0])
	if m == nil {
		return stNotFound
	}
	var v int64
	switch m.kind {
	case 0:
		v = int64(m.counter.Get())
	case 1:
		v = m.gauge.Get()
	default:
		return stBadArgument
	}
	if !vm.mod.Memory().WriteUint64Le(uint32(s[1]), uint64(v)) {
		return stInvalidMemory
	}
	return stOK
}

// ---- shared data: one store for every VM of every plugin, with CAS.

type sharedValue struct {
	data []byte
	cas  uint32
}

var (
	sharedMu sync.Mutex
	shared   = map[string]*sharedValue{}
)

func hGetShared(vm *VM, s []uint64) uint32 {
	key, ok := vm.read(s[0], s[1])
	if !ok {
		return stInvalidMemory
	}
	sharedMu.Lock()
	v := shared[string(key)]
	var data []byte
	var cas uint32
	if v != nil {
		// Copied out under the lock, into a buffer the VM keeps.
		vm.propVal = append(vm.propVal[:0], v.data...)
		data, cas = vm.propVal, v.cas
	}
	sharedMu.Unlock()
	if v == nil {
		return stNotFound
	}
	if st := vm.give(data, s[2], s[3]); st != stOK {
		return st
	}
	if !vm.putU32(s[4], cas) {
		return stInvalidMemory
	}
	return stOK
}

func hSetShared(vm *VM, s []uint64) uint32 {
	key, ok := vm.read(s[0], s[1])
	if !ok {
		return stInvalidMemory
	}
	val, ok := vm.read(s[2], s[3])
	if !ok {
		return stInvalidMemory
	}
	cas := uint32(s[4])
	sharedMu.Lock()
	defer sharedMu.Unlock()
	v := shared[string(key)]
	if v == nil {
		if len(shared) >= maxSharedKeys {
			evictSharedKey()
		}
		v = &sharedValue{}
		shared[string(key)] = v
	} else if cas != 0 && cas != v.cas {
		return stCasMismatch
	}
	v.data = append(v.data[:0], val...)
	// Versions skip 0 (a cas of 0 means "whatever the version") and
	// 0xFFFFFFFF, so that cas is "only if the key does not exist yet".
	v.cas++
	if v.cas == 0 || v.cas == ^uint32(0) {
		v.cas = 1
	}
	return stOK
}

// maxSharedKeys bounds the shared-data store. The ABI has no delete and no
// expiry, so a plugin keyed on client input (a rate limit per header
// value) would otherwise grow it without end; past the bound an arbitrary
// key is dropped, which for a rate limit forgets one client's count.
const maxSharedKeys = 1 << 20

var sharedEvictions = metrics.GetOrCreateCounter("wasmgate_plugin_shared_data_evictions_total")

func init() {
	metrics.GetOrCreateGauge("wasmgate_plugin_shared_data_keys", func() float64 {
		sharedMu.Lock()
		defer sharedMu.Unlock()
		return float64(len(shared))
	})
}

// evictSharedKey drops one key, the first a map iteration yields (Go
// randomises where iteration starts). sharedMu is held.
func evictSharedKey() {
	for k := range shared {
		delete(shared, k)
		sharedEvictions.Inc()
		return
	}
}

// randReader feeds WASI random_get.
type randReader struct{}

func (randReader) Read(b []byte) (int, error) { return rand.Read(b) }
