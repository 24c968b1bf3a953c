//go:build wasip1

// Package proxywasm is a Proxy-Wasm guest SDK for standard Go: a plugin
// built with `GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared` (Go
// 1.24+ wasmexport reactors, no TinyGo) runs on wasmgate or any other
// Proxy-Wasm host.
//
// A plugin calls Register from an init function with a factory for its
// plugin object; the host's callbacks are routed to it and to the HTTP
// objects it creates per request. This first version covers request and
// response headers, local responses, configuration, properties and the
// log; the rest of the ABI follows.
package proxywasm

import (
	"unsafe"
)

// Action tells the host what to do after a callback.
type Action uint32

const (
	Continue Action = 0
	Pause    Action = 1
)

// Plugin is a plugin's root: its configuration, and a factory for the
// per-request objects.
type Plugin interface {
	// OnConfigure gets the plugin's configuration; an error refuses it.
	OnConfigure(config []byte) error
	// NewHTTP returns the object that handles one request.
	NewHTTP() HTTP
}

// HTTP handles one request. Embed DefaultHTTP to implement only what a
// plugin needs.
type HTTP interface {
	OnRequestHeaders() Action
	OnResponseHeaders() Action
	OnDone()
}

// DefaultHTTP continues every phase.
type DefaultHTTP struct{}

func (DefaultHTTP) OnRequestHeaders() Action  { return Continue }
func (DefaultHTTP) OnResponseHeaders() Action { return Continue }
func (DefaultHTTP) OnDone()                   {}

var (
	factory func() Plugin
	roots   = map[uint32]Plugin{}
	streams = map[uint32]HTTP{}
)

// Register sets the factory of the plugin's root object. Call it from init.
func Register(f func() Plugin) { factory = f }

// Status is a host status other than OK.
type Status uint32

const (
	StatusNotFound      Status = 1
	StatusBadArgument   Status = 2
	StatusInvalidMemory Status = 6
	StatusUnimplemented Status = 12
)

func (s Status) Error() string {
	switch s {
	case StatusNotFound:
		return "proxy-wasm: not found"
	case StatusBadArgument:
		return "proxy-wasm: bad argument"
	case StatusInvalidMemory:
		return "proxy-wasm: invalid memory access"
	case StatusUnimplemented:
		return "proxy-wasm: unimplemented"
	}
	return "proxy-wasm: status " + itoa(int(s))
}

// ErrNotFound is returned for a missing header or property.
var ErrNotFound error = StatusNotFound

func check(st uint32) error {
	if st == 0 {
		return nil
	}
	return Status(st)
}

// ---- memory the host writes into

// pinned keeps what the host was given until the callback that asked for
// it returns: the host writes, the plugin reads, within one callback.
var pinned [][]byte

func unpin() {
	for i := range pinned {
		pinned[i] = nil
	}
	pinned = pinned[:0]
}

//go:wasmexport proxy_on_memory_allocate
func onMemoryAllocate(size uint32) unsafe.Pointer {
	if size == 0 {
		return nil
	}
	b := make([]byte, size)
	pinned = append(pinned, b)
	return unsafe.Pointer(&b[0])
}

// bytesAt is the n bytes at a linear-memory address the host returned.
// The host only returns memory it had the plugin allocate, so the address
// is the start of a pinned buffer: finding it there keeps the code free of
// integer-to-pointer conversions the garbage collector cannot follow.
func bytesAt(addr uint32, n uint32) []byte {
	if addr == 0 || n == 0 {
		return nil
	}
	for _, b := range pinned {
		if len(b) > 0 && uint32(uintptr(unsafe.Pointer(&b[0]))) == addr && uint32(len(b)) >= n {
			return b[:n]
		}
	}
	return nil
}

func ptrOf(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// ---- lifecycle

//go:wasmexport proxy_abi_version_0_2_1
func abiVersion() {}

//go:wasmexport proxy_on_context_create
func onContextCreate(id, parent uint32) {
	defer unpin()
	if parent == 0 {
		if factory != nil {
			roots[id] = factory()
		}
		return
	}
	if root := roots[parent]; root != nil {
		streams[id] = root.NewHTTP()
	}
}

//go:wasmexport proxy_on_vm_start
func onVMStart(root, size uint32) uint32 { return 1 }

//go:wasmexport proxy_on_configure
func onConfigure(root, size uint32) uint32 {
	defer unpin()
	p := roots[root]
	if p == nil {
		return 0
	}
	var cfg []byte
	if size > 0 {
		var addr, n uint32
		if check(getBufferBytes(7, 0, size, &addr, &n)) != nil {
			return 0
		}
		cfg = append([]byte(nil), bytesAt(addr, n)...)
	}
	if err := p.OnConfigure(cfg); err != nil {
		LogError("configuration refused: " + err.Error())
		return 0
	}
	return 1
}

//go:wasmexport proxy_on_request_headers
func onRequestHeaders(id, n, eos uint32) uint32 {
	defer unpin()
	if h := streams[id]; h != nil {
		return uint32(h.OnRequestHeaders())
	}
	return 0
}

//go:wasmexport proxy_on_response_headers
func onResponseHeaders(id, n, eos uint32) uint32 {
	defer unpin()
	if h := streams[id]; h != nil {
		return uint32(h.OnResponseHeaders())
	}
	return 0
}

//go:wasmexport proxy_on_done
func onDone(id uint32) uint32 {
	defer unpin()
	if h := streams[id]; h != nil {
		h.OnDone()
	}
	return 1
}

//go:wasmexport proxy_on_delete
func onDelete(id uint32) { delete(streams, id) }

// ---- host functions

//go:wasmimport env proxy_log
func proxyLog(level uint32, msg unsafe.Pointer, n uint32) uint32

//go:wasmimport env proxy_get_buffer_bytes
func getBufferBytes(t, start, max uint32, addr *uint32, n *uint32) uint32

//go:wasmimport env proxy_get_header_map_value
func getHeaderMapValue(m uint32, k unsafe.Pointer, kl uint32, addr *uint32, n *uint32) uint32

//go:wasmimport env proxy_add_header_map_value
func addHeaderMapValue(m uint32, k unsafe.Pointer, kl uint32, v unsafe.Pointer, vl uint32) uint32

//go:wasmimport env proxy_replace_header_map_value
func replaceHeaderMapValue(m uint32, k unsafe.Pointer, kl uint32, v unsafe.Pointer, vl uint32) uint32

//go:wasmimport env proxy_remove_header_map_value
func removeHeaderMapValue(m uint32, k unsafe.Pointer, kl uint32) uint32

//go:wasmimport env proxy_send_local_response
func sendLocalResponse(status uint32, d unsafe.Pointer, dl uint32, b unsafe.Pointer, bl uint32, h unsafe.Pointer, hl uint32, grpc int32) uint32

//go:wasmimport env proxy_get_property
func getProperty(p unsafe.Pointer, pl uint32, addr *uint32, n *uint32) uint32

// Log writes to the host's log at info level; LogError at error level.
func Log(msg string)      { logAt(2, msg) }
func LogError(msg string) { logAt(4, msg) }

func logAt(level uint32, msg string) {
	b := []byte(msg)
	proxyLog(level, ptrOf(b), uint32(len(b)))
}

// Headers is a header map: RequestHeaders or ResponseHeaders.
type Headers uint32

const (
	RequestHeaders  Headers = 0
	ResponseHeaders Headers = 2
)

// Get returns a header's value (pseudo-headers such as :path included).
func (h Headers) Get(name string) (string, error) {
	k := []byte(name)
	var addr, n uint32
	if err := check(getHeaderMapValue(uint32(h), ptrOf(k), uint32(len(k)), &addr, &n)); err != nil {
		return "", err
	}
	return string(bytesAt(addr, n)), nil
}

// Add adds a value; Set replaces all values; Remove deletes the header.
func (h Headers) Add(name, value string) error { return h.change(addHeaderMapValue, name, value) }
func (h Headers) Set(name, value string) error { return h.change(replaceHeaderMapValue, name, value) }
func (h Headers) Remove(name string) error {
	k := []byte(name)
	return check(removeHeaderMapValue(uint32(h), ptrOf(k), uint32(len(k))))
}

func (h Headers) change(f func(uint32, unsafe.Pointer, uint32, unsafe.Pointer, uint32) uint32, name, value string) error {
	k, v := []byte(name), []byte(value)
	return check(f(uint32(h), ptrOf(k), uint32(len(k)), ptrOf(v), uint32(len(v))))
}

// SendResponse answers the request from the plugin; the callback should
// then return Pause.
func SendResponse(status int, headers [][2]string, body []byte) error {
	m := encodePairs(headers)
	return check(sendLocalResponse(uint32(status), nil, 0, ptrOf(body), uint32(len(body)), ptrOf(m), uint32(len(m)), -1))
}

// Property reads a property by its path parts, e.g. Property("source",
// "address").
func Property(path ...string) ([]byte, error) {
	var p []byte
	for i, part := range path {
		if i > 0 {
			p = append(p, 0)
		}
		p = append(p, part...)
	}
	var addr, n uint32
	if err := check(getProperty(ptrOf(p), uint32(len(p)), &addr, &n)); err != nil {
		return nil, err
	}
	return append([]byte(nil), bytesAt(addr, n)...), nil
}

func encodePairs(pairs [][2]string) []byte {
	b := make([]byte, 4, 64)
	put := func(v uint32) { b = append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24)) }
	b[0], b[1], b[2], b[3] = byte(len(pairs)), byte(len(pairs)>>8), byte(len(pairs)>>16), byte(len(pairs)>>24)
	for _, p := range pairs {
		put(uint32(len(p[0])))
		put(uint32(len(p[1])))
	}
	for _, p := range pairs {
		b = append(append(append(append(b, p[0]...), 0), p[1]...), 0)
	}
	return b
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
