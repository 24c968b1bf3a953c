// Package hostcall is the seam between the SDK and whatever runs it: the
// Proxy-Wasm host when the plugin is built for wasip1, or the emulator in
// package proxytest when a plugin's tests run with plain `go test`. The
// SDK calls Current for everything it asks of the host, and the host's
// callbacks reach the SDK through Guest.
//
// Byte slices a Host returns may alias memory that is reused once the
// callback in progress returns; the SDK documents that to plugin authors.
package hostcall

// Host is the Proxy-Wasm ABI's host functions at the level of Go values.
// Every method returns the ABI's status code (0 is OK).
type Host interface {
	Log(level uint32, msg string) uint32
	LogLevel() (uint32, uint32)
	CurrentTimeNanos() (int64, uint32)

	GetBuffer(t, start, max uint32) ([]byte, uint32)
	SetBuffer(t, start, size uint32, data []byte) uint32
	BufferStatus(t uint32) (length uint32, status uint32)
	GetMapPairs(m uint32) ([]byte, uint32)
	SetMapPairs(m uint32, pairs []byte) uint32
	GetMapValue(m uint32, key string) ([]byte, uint32)
	AddMapValue(m uint32, key, value string) uint32
	ReplaceMapValue(m uint32, key, value string) uint32
	RemoveMapValue(m uint32, key string) uint32

	GetProperty(path []byte) ([]byte, uint32)
	SetProperty(path, value []byte) uint32

	SendLocalResponse(status uint32, details string, body, headers []byte, grpc int32) uint32
	ContinueStream(t uint32) uint32
	CloseStream(t uint32) uint32
	SetEffectiveContext(id uint32) uint32

	HTTPCall(upstream string, headers, body, trailers []byte, timeoutMillis uint32) (uint32, uint32)

	GetSharedData(key string) ([]byte, uint32, uint32)
	SetSharedData(key string, value []byte, cas uint32) uint32
	RegisterQueue(name string) (uint32, uint32)
	ResolveQueue(vm, name string) (uint32, uint32)
	Enqueue(id uint32, data []byte) uint32
	Dequeue(id uint32) ([]byte, uint32)

	SetTickPeriod(millis uint32) uint32

	DefineMetric(kind uint32, name string) (uint32, uint32)
	IncrementMetric(id uint32, delta int64) uint32
	RecordMetric(id uint32, value uint64) uint32
	GetMetric(id uint32) (uint64, uint32)

	CallForeign(name string, arg []byte) ([]byte, uint32)
}

// Current is the host the SDK talks to.
var Current Host

// Guest is the SDK's side of the ABI: the host's callbacks, by name.
type Guest struct {
	ContextCreate    func(id, parent uint32)
	VMStart          func(root, size uint32) bool
	Configure        func(root, size uint32) bool
	RequestHeaders   func(id, n uint32, eos bool) uint32
	RequestBody      func(id, size uint32, eos bool) uint32
	RequestTrailers  func(id, n uint32) uint32
	ResponseHeaders  func(id, n uint32, eos bool) uint32
	ResponseBody     func(id, size uint32, eos bool) uint32
	ResponseTrailers func(id, n uint32) uint32
	Done             func(id uint32) bool
	Log              func(id uint32)
	Delete           func(id uint32)
	Tick             func(root uint32)
	QueueReady       func(root, queue uint32)
	HTTPCallResponse func(root, token, headers, bodySize, trailers uint32)
	// Reset forgets every context (the emulator starts each VM anew).
	Reset func()
}

// Dispatch is set by the SDK's init.
var Dispatch Guest
