//go:build wasip1

package proxywasm

import (
	"unsafe"

	"github.com/wasmgate/wasmgate/sdk/go/internal/hostcall"
)

// This file binds the SDK to a real Proxy-Wasm host: the ABI's exports
// and imports, and the memory the host writes results into.

func init() {
	hostcall.Current = wasmHost{}
	starting = lendAreas
}

// resultArea is lent to the host (wasmgate's foreign function
// wasmgate.result_area) to write what its functions return into, so that
// returning a value needs no call back into the plugin to allocate.
var resultArea = make([]byte, 32<<10)

// lentEditArea is lent to the host (wasmgate.edit_area) for the batch of
// edits a callback makes (see pendingEdits), which the host takes from
// there when the callback returns: a callback that only edits headers and
// counts calls no host function.
var lentEditArea = make([]byte, 8<<10)

func lendAreas() {
	_ = lend("wasmgate.result_area", resultArea)
	if lend("wasmgate.edit_area", lentEditArea) == 0 {
		editArea = lentEditArea
		pendingEdits = editArea[4:4]
	}
}

// lend tells the host where b is, by the foreign function name.
func lend(name string, b []byte) uint32 {
	var arg [8]byte
	p := uint32(uintptr(unsafe.Pointer(&b[0])))
	n := uint32(len(b))
	arg[0], arg[1], arg[2], arg[3] = byte(p), byte(p>>8), byte(p>>16), byte(p>>24)
	arg[4], arg[5], arg[6], arg[7] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
	_, st := hostcall.Current.CallForeign(name, arg[:])
	return st
}

// ---- memory the host writes into

// arena holds what the host returns during one callback: the host asks
// for memory with proxy_on_memory_allocate, writes, and the plugin reads
// it as a slice of the arena. Reusing it from callback to callback is
// what keeps header reads from allocating; what does not fit spills to
// fresh slices kept until the callback returns.
var (
	arena     = make([]byte, 64<<10)
	arenaUsed int
	spill     [][]byte
)

//go:wasmexport proxy_on_memory_allocate
func onMemoryAllocate(size uint32) unsafe.Pointer {
	if size == 0 {
		return nil
	}
	n := (int(size) + 7) &^ 7
	if arenaUsed+n <= len(arena) {
		p := unsafe.Pointer(&arena[arenaUsed])
		arenaUsed += n
		return p
	}
	b := make([]byte, size)
	spill = append(spill, b)
	return unsafe.Pointer(&b[0])
}

// release makes the arena reusable once a callback returns, and leaves
// the callback's batch of edits, if any, for the host to take: the
// batch's length goes before it in the lent area.
func release() {
	if editArea != nil {
		n := len(pendingEdits)
		editArea[0], editArea[1], editArea[2], editArea[3] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
		pendingEdits = pendingEdits[:0]
	}
	arenaUsed = 0
	if len(spill) > 0 {
		clear(spill)
		spill = spill[:0]
	}
}

// bytesAt is the n bytes at a linear-memory address the host returned:
// always memory the plugin allocated, so it is found in the arena or a
// spill, which keeps the code free of integer-to-pointer conversions the
// garbage collector cannot follow.
func bytesAt(addr, n uint32) []byte {
	if addr == 0 || n == 0 {
		return nil
	}
	// The result area first: wasmgate returns values there.
	if b, ok := within(resultArea, addr, n); ok {
		return b
	}
	if b, ok := within(arena, addr, n); ok {
		return b
	}
	for _, b := range spill {
		if uint32(uintptr(unsafe.Pointer(&b[0]))) == addr && uint32(len(b)) >= n {
			return b[:n:n]
		}
	}
	return nil
}

func within(region []byte, addr, n uint32) ([]byte, bool) {
	base := uint32(uintptr(unsafe.Pointer(&region[0])))
	if addr < base || uint64(addr)+uint64(n) > uint64(base)+uint64(len(region)) {
		return nil, false
	}
	off := addr - base
	return region[off : off+n : off+n], true
}

func bptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

func sptr(s string) unsafe.Pointer { return unsafe.Pointer(unsafe.StringData(s)) }

// Results of host calls land here rather than in locals whose address
// would escape: the VM runs one call at a time.
var (
	retAddr, retLen, retAux uint32
	ret64                   uint64
)

// ---- exports: the host's callbacks
//
// The per-request ones call the SDK directly and release after, without
// a defer: they run on every request, and in Go compiled to Wasm an
// indirect call (hostcall.Dispatch, which the emulator needs) and a
// deferred call each cost instructions there. A panicking plugin ends
// its VM, so there is nothing for a defer to clean up.

//go:wasmexport proxy_abi_version_0_2_1
func abiVersion() {}

//go:wasmexport proxy_on_context_create
func exportContextCreate(id, parent uint32) {
	defer release()
	hostcall.Dispatch.ContextCreate(id, parent)
}

//go:wasmexport proxy_on_vm_start
func exportVMStart(root, size uint32) uint32 {
	defer release()
	return b2u(hostcall.Dispatch.VMStart(root, size))
}

//go:wasmexport proxy_on_configure
func exportConfigure(root, size uint32) uint32 {
	defer release()
	return b2u(hostcall.Dispatch.Configure(root, size))
}

//go:wasmexport proxy_on_request_headers
func exportRequestHeaders(id, n, eos uint32) uint32 {
	r := onRequestHeaders(id, n, eos != 0)
	release()
	return r
}

//go:wasmexport proxy_on_request_body
func exportRequestBody(id, size, eos uint32) uint32 {
	r := onRequestBody(id, size, eos != 0)
	release()
	return r
}

//go:wasmexport proxy_on_request_trailers
func exportRequestTrailers(id, n uint32) uint32 {
	r := onRequestTrailers(id, n)
	release()
	return r
}

//go:wasmexport proxy_on_response_headers
func exportResponseHeaders(id, n, eos uint32) uint32 {
	r := onResponseHeaders(id, n, eos != 0)
	release()
	return r
}

//go:wasmexport proxy_on_response_body
func exportResponseBody(id, size, eos uint32) uint32 {
	r := onResponseBody(id, size, eos != 0)
	release()
	return r
}

//go:wasmexport proxy_on_response_trailers
func exportResponseTrailers(id, n uint32) uint32 {
	r := onResponseTrailers(id, n)
	release()
	return r
}

//go:wasmexport proxy_on_done
func exportDone(id uint32) uint32 {
	defer release()
	return b2u(hostcall.Dispatch.Done(id))
}

//go:wasmexport proxy_on_log
func exportLog(id uint32) {
	defer release()
	hostcall.Dispatch.Log(id)
}

//go:wasmexport proxy_on_delete
func exportDelete(id uint32) {
	defer release()
	hostcall.Dispatch.Delete(id)
}

//go:wasmexport proxy_on_tick
func exportTick(root uint32) {
	defer release()
	hostcall.Dispatch.Tick(root)
}

//go:wasmexport proxy_on_queue_ready
func exportQueueReady(root, queue uint32) {
	defer release()
	hostcall.Dispatch.QueueReady(root, queue)
}

//go:wasmexport proxy_on_http_call_response
func exportHTTPCallResponse(root, token, headers, bodySize, trailers uint32) {
	defer release()
	hostcall.Dispatch.HTTPCallResponse(root, token, headers, bodySize, trailers)
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// ---- imports: the host's functions

//go:wasmimport env proxy_log
func proxyLog(level uint32, msg unsafe.Pointer, n uint32) uint32

//go:wasmimport env proxy_get_log_level
func proxyGetLogLevel(level *uint32) uint32

//go:wasmimport env proxy_get_current_time_nanoseconds
func proxyGetCurrentTime(t *uint64) uint32

//go:wasmimport env proxy_get_buffer_bytes
func proxyGetBufferBytes(t, start, max uint32, addr, n *uint32) uint32

//go:wasmimport env proxy_set_buffer_bytes
func proxySetBufferBytes(t, start, size uint32, data unsafe.Pointer, n uint32) uint32

//go:wasmimport env proxy_get_buffer_status
func proxyGetBufferStatus(t uint32, length, flags *uint32) uint32

//go:wasmimport env proxy_get_header_map_pairs
func proxyGetHeaderMapPairs(m uint32, addr, n *uint32) uint32

//go:wasmimport env proxy_set_header_map_pairs
func proxySetHeaderMapPairs(m uint32, data unsafe.Pointer, n uint32) uint32

//go:wasmimport env proxy_get_header_map_value
func proxyGetHeaderMapValue(m uint32, k unsafe.Pointer, kl uint32, addr, n *uint32) uint32

//go:wasmimport env proxy_add_header_map_value
func proxyAddHeaderMapValue(m uint32, k unsafe.Pointer, kl uint32, v unsafe.Pointer, vl uint32) uint32

//go:wasmimport env proxy_replace_header_map_value
func proxyReplaceHeaderMapValue(m uint32, k unsafe.Pointer, kl uint32, v unsafe.Pointer, vl uint32) uint32

//go:wasmimport env proxy_remove_header_map_value
func proxyRemoveHeaderMapValue(m uint32, k unsafe.Pointer, kl uint32) uint32

//go:wasmimport env proxy_get_property
func proxyGetProperty(p unsafe.Pointer, pl uint32, addr, n *uint32) uint32

//go:wasmimport env proxy_set_property
func proxySetProperty(p unsafe.Pointer, pl uint32, v unsafe.Pointer, vl uint32) uint32

//go:wasmimport env proxy_send_local_response
func proxySendLocalResponse(status uint32, d unsafe.Pointer, dl uint32, b unsafe.Pointer, bl uint32, h unsafe.Pointer, hl uint32, grpc int32) uint32

//go:wasmimport env proxy_continue_stream
func proxyContinueStream(t uint32) uint32

//go:wasmimport env proxy_close_stream
func proxyCloseStream(t uint32) uint32

//go:wasmimport env proxy_set_effective_context
func proxySetEffectiveContext(id uint32) uint32

//go:wasmimport env proxy_http_call
func proxyHTTPCall(up unsafe.Pointer, ul uint32, h unsafe.Pointer, hl uint32, b unsafe.Pointer, bl uint32, t unsafe.Pointer, tl uint32, timeout uint32, token *uint32) uint32

//go:wasmimport env proxy_get_shared_data
func proxyGetSharedData(k unsafe.Pointer, kl uint32, addr, n, cas *uint32) uint32

//go:wasmimport env proxy_set_shared_data
func proxySetSharedData(k unsafe.Pointer, kl uint32, v unsafe.Pointer, vl uint32, cas uint32) uint32

//go:wasmimport env proxy_register_shared_queue
func proxyRegisterSharedQueue(name unsafe.Pointer, nl uint32, id *uint32) uint32

//go:wasmimport env proxy_resolve_shared_queue
func proxyResolveSharedQueue(vm unsafe.Pointer, vl uint32, name unsafe.Pointer, nl uint32, id *uint32) uint32

//go:wasmimport env proxy_enqueue_shared_queue
func proxyEnqueueSharedQueue(id uint32, v unsafe.Pointer, vl uint32) uint32

//go:wasmimport env proxy_dequeue_shared_queue
func proxyDequeueSharedQueue(id uint32, addr, n *uint32) uint32

//go:wasmimport env proxy_set_tick_period_milliseconds
func proxySetTickPeriod(ms uint32) uint32

//go:wasmimport env proxy_define_metric
func proxyDefineMetric(kind uint32, name unsafe.Pointer, nl uint32, id *uint32) uint32

//go:wasmimport env proxy_increment_metric
func proxyIncrementMetric(id uint32, delta int64) uint32

//go:wasmimport env proxy_record_metric
func proxyRecordMetric(id uint32, v uint64) uint32

//go:wasmimport env proxy_get_metric
func proxyGetMetric(id uint32, v *uint64) uint32

//go:wasmimport env proxy_call_foreign_function
func proxyCallForeignFunction(name unsafe.Pointer, nl uint32, arg unsafe.Pointer, al uint32, addr, n *uint32) uint32

// wasmHost is hostcall.Host over the imports.
type wasmHost struct{}

func (wasmHost) Log(level uint32, msg string) uint32 {
	return proxyLog(level, sptr(msg), uint32(len(msg)))
}

func (wasmHost) LogLevel() (uint32, uint32) {
	st := proxyGetLogLevel(&retAux)
	return retAux, st
}

func (wasmHost) CurrentTimeNanos() (int64, uint32) {
	st := proxyGetCurrentTime(&ret64)
	return int64(ret64), st
}

// result is the bytes a host call just returned, by address and length.
func result(st uint32) ([]byte, uint32) {
	if st != 0 {
		return nil, st
	}
	return bytesAt(retAddr, retLen), 0
}

func (wasmHost) GetBuffer(t, start, max uint32) ([]byte, uint32) {
	retAddr, retLen = 0, 0
	return result(proxyGetBufferBytes(t, start, max, &retAddr, &retLen))
}

func (wasmHost) SetBuffer(t, start, size uint32, data []byte) uint32 {
	return proxySetBufferBytes(t, start, size, bptr(data), uint32(len(data)))
}

func (wasmHost) BufferStatus(t uint32) (uint32, uint32) {
	st := proxyGetBufferStatus(t, &retLen, &retAux)
	return retLen, st
}

func (wasmHost) GetMapPairs(m uint32) ([]byte, uint32) {
	retAddr, retLen = 0, 0
	return result(proxyGetHeaderMapPairs(m, &retAddr, &retLen))
}

func (wasmHost) SetMapPairs(m uint32, pairs []byte) uint32 {
	return proxySetHeaderMapPairs(m, bptr(pairs), uint32(len(pairs)))
}

func (wasmHost) GetMapValue(m uint32, key string) ([]byte, uint32) {
	retAddr, retLen = 0, 0
	return result(proxyGetHeaderMapValue(m, sptr(key), uint32(len(key)), &retAddr, &retLen))
}

func (wasmHost) AddMapValue(m uint32, key, value string) uint32 {
	return proxyAddHeaderMapValue(m, sptr(key), uint32(len(key)), sptr(value), uint32(len(value)))
}

func (wasmHost) ReplaceMapValue(m uint32, key, value string) uint32 {
	return proxyReplaceHeaderMapValue(m, sptr(key), uint32(len(key)), sptr(value), uint32(len(value)))
}

func (wasmHost) RemoveMapValue(m uint32, key string) uint32 {
	return proxyRemoveHeaderMapValue(m, sptr(key), uint32(len(key)))
}

func (wasmHost) GetProperty(path []byte) ([]byte, uint32) {
	retAddr, retLen = 0, 0
	return result(proxyGetProperty(bptr(path), uint32(len(path)), &retAddr, &retLen))
}

func (wasmHost) SetProperty(path, value []byte) uint32 {
	return proxySetProperty(bptr(path), uint32(len(path)), bptr(value), uint32(len(value)))
}

func (wasmHost) SendLocalResponse(status uint32, details string, body, headers []byte, grpc int32) uint32 {
	return proxySendLocalResponse(status, sptr(details), uint32(len(details)), bptr(body), uint32(len(body)),
		bptr(headers), uint32(len(headers)), grpc)
}

func (wasmHost) ContinueStream(t uint32) uint32       { return proxyContinueStream(t) }
func (wasmHost) CloseStream(t uint32) uint32          { return proxyCloseStream(t) }
func (wasmHost) SetEffectiveContext(id uint32) uint32 { return proxySetEffectiveContext(id) }

func (wasmHost) HTTPCall(upstream string, headers, body, trailers []byte, timeout uint32) (uint32, uint32) {
	st := proxyHTTPCall(sptr(upstream), uint32(len(upstream)), bptr(headers), uint32(len(headers)),
		bptr(body), uint32(len(body)), bptr(trailers), uint32(len(trailers)), timeout, &retAux)
	return retAux, st
}

func (wasmHost) GetSharedData(key string) ([]byte, uint32, uint32) {
	retAddr, retLen, retAux = 0, 0, 0
	st := proxyGetSharedData(sptr(key), uint32(len(key)), &retAddr, &retLen, &retAux)
	v, st := result(st)
	return v, retAux, st
}

func (wasmHost) SetSharedData(key string, value []byte, cas uint32) uint32 {
	return proxySetSharedData(sptr(key), uint32(len(key)), bptr(value), uint32(len(value)), cas)
}

func (wasmHost) RegisterQueue(name string) (uint32, uint32) {
	st := proxyRegisterSharedQueue(sptr(name), uint32(len(name)), &retAux)
	return retAux, st
}

func (wasmHost) ResolveQueue(vm, name string) (uint32, uint32) {
	st := proxyResolveSharedQueue(sptr(vm), uint32(len(vm)), sptr(name), uint32(len(name)), &retAux)
	return retAux, st
}

func (wasmHost) Enqueue(id uint32, data []byte) uint32 {
	return proxyEnqueueSharedQueue(id, bptr(data), uint32(len(data)))
}

func (wasmHost) Dequeue(id uint32) ([]byte, uint32) {
	retAddr, retLen = 0, 0
	return result(proxyDequeueSharedQueue(id, &retAddr, &retLen))
}

func (wasmHost) SetTickPeriod(ms uint32) uint32 { return proxySetTickPeriod(ms) }

func (wasmHost) DefineMetric(kind uint32, name string) (uint32, uint32) {
	st := proxyDefineMetric(kind, sptr(name), uint32(len(name)), &retAux)
	return retAux, st
}

func (wasmHost) IncrementMetric(id uint32, delta int64) uint32 {
	return proxyIncrementMetric(id, delta)
}
func (wasmHost) RecordMetric(id uint32, v uint64) uint32 { return proxyRecordMetric(id, v) }

func (wasmHost) GetMetric(id uint32) (uint64, uint32) {
	st := proxyGetMetric(id, &ret64)
	return ret64, st
}

func (wasmHost) CallForeign(name string, arg []byte) ([]byte, uint32) {
	retAddr, retLen = 0, 0
	return result(proxyCallForeignFunction(sptr(name), uint32(len(name)), bptr(arg), uint32(len(arg)), &retAddr, &retLen))
}
