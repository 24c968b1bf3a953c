package pluginhost

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"strings"
	"sync"
)

// ForeignFunc is a host extension a plugin reaches through
// proxy_call_foreign_function: it gets the argument bytes and returns the
// result bytes.
type ForeignFunc func(args []byte) ([]byte, error)

var (
	foreignMu sync.RWMutex
	foreign   = map[string]ForeignFunc{}
)

// RegisterForeign makes f callable by name from every plugin. Unknown
// names answer NotFound; an error from f answers InternalFailure.
func RegisterForeign(name string, f ForeignFunc) {
	foreignMu.Lock()
	foreign[name] = f
	foreignMu.Unlock()
}

func init() {
	// wasmgate.echo returns its arguments: a way for a plugin (and the
	// conformance tests) to check that foreign calls work at all.
	RegisterForeign("wasmgate.echo", func(args []byte) ([]byte, error) { return args, nil })
}

func hForeignCall(vm *VM, s []uint64) uint32 {
	name, ok := vm.read(s[0], s[1])
	if !ok {
		return stInvalidMemory
	}
	args, ok := vm.read(s[2], s[3])
	if !ok {
		return stInvalidMemory
	}
	switch string(name) {
	case declarePhasesName:
		return vm.declarePhases(args)
	case resultAreaName:
		return vm.setResultArea(args)
	case editsName:
		return vm.edits(args)
	case editAreaName:
		return vm.setEditArea(args)
	case sha256Name:
		sum := sha256.Sum256(args)
		// Through the VM's value buffer: sum itself would escape to the
		// heap by way of Memory.Write.
		vm.propVal = append(vm.propVal[:0], sum[:]...)
		return vm.give(vm.propVal, s[4], s[5])
	}
	foreignMu.RLock()
	f := foreign[string(name)]
	foreignMu.RUnlock()
	if f == nil {
		return stNotFound
	}
	out, err := f(append([]byte(nil), args...))
	if err != nil {
		return stInternal
	}
	return vm.give(out, s[4], s[5])
}

// sha256Name is the foreign function that returns the SHA-256 of its
// argument. A guest hashing an API key or password per request pays
// microseconds for it in Wasm (no SHA instructions, and Go's generic
// code compiled twice); the host's native code takes a tenth of one, plus
// the call. sdk/go's SHA256 uses it where the host has it.
const sha256Name = "wasmgate.sha256"

// declarePhasesName is the foreign function a plugin calls while it
// starts to list the per-request callbacks it handles (comma-separated:
// request_headers, request_body, request_trailers, response_headers,
// response_body, response_trailers, done, log). An SDK exports every
// callback whatever the plugin uses; without this, the gateway would
// buffer bodies for plugins that never read them and call into the VM
// for phases with nothing to do.
//
// Two more names in the list change the request lifecycle, to save two
// calls into the guest per request that a headers-only policy does not
// need:
//   - context_on_first_call: proxy_on_context_create is not called for
//     requests; the guest creates a request's context, under its root, at
//     the first callback naming it. A context the guest never heard of
//     gets no proxy_on_done, proxy_on_log or proxy_on_delete either.
//   - finished_flag: a per-request callback may add finishedFlag to the
//     action it returns to say it has already released the context, as
//     proxy_on_delete would: it has no later callback and nothing pending.
//     The host then calls nothing more for that context.
//
// The name edits asks whether the host has editsName and
// editAreaName; it changes nothing. A host without these names
// answers BadArgument to the whole list, and the SDK declares again
// without them.
const declarePhasesName = "wasmgate.declare_phases"

// finishedFlag is the bit of a callback's result that says the guest has
// released the request's context (see declarePhasesName).
const finishedFlag = 1 << 16

func (vm *VM) declarePhases(args []byte) uint32 {
	if vm.started || vm.cur == nil || !vm.cur.root {
		return stBadArgument
	}
	var keep [len(declarable)]bool
	var lazy, flag bool
	for _, name := range strings.Split(string(args), ",") {
		name = strings.TrimSpace(name)
		switch name {
		case "context_on_first_call":
			lazy = true
			continue
		case "finished_flag":
			flag = true
			continue
		case "edits":
			continue // a question: the host has wasmgate.edits
		}
		i := slices.IndexFunc(declarable[:], func(ph int) bool { return phases[ph].label == name })
		if i < 0 {
			return stBadArgument
		}
		keep[i] = true
	}
	vm.lazyContext, vm.finishedFlag = lazy, flag
	for i, ph := range declarable {
		if !keep[i] {
			vm.callbacks[ph] = nil
		}
	}
	return stOK
}

// declarable are the per-request callbacks a plugin may declare, by
// their labels, in the order GET /plugins lists them.
var declarable = [...]int{phRequestHeaders, phRequestBody, phRequestTrailers, phResponseHeaders,
	phResponseBody, phResponseTrailers, phDone, phLog}

// phaseNames lists the per-request callbacks the VM is called for. The
// functions are fixed once the VM has started.
func (vm *VM) phaseNames() []string {
	var out []string
	for _, ph := range declarable {
		if vm.callbacks[ph] != nil {
			out = append(out, phases[ph].label)
		}
	}
	return out
}

// resultAreaName is the foreign function with which a starting plugin
// lends the host a buffer of its memory (8 bytes of arguments: address
// and length, little-endian). The host then writes what its functions
// return there, from the start of the buffer at each callback, instead of
// calling proxy_on_memory_allocate for every value: a call into the guest
// saved per value returned (a microsecond or several each). What the host
// wrote is the guest's until the callback returns, as allocated memory
// would be; what does not fit is allocated the usual way.
const resultAreaName = "wasmgate.result_area"

func (vm *VM) setResultArea(args []byte) uint32 {
	ptr, n, ok := vm.lentArea(args, 256)
	if !ok {
		return stBadArgument
	}
	vm.areaPtr, vm.areaLen, vm.areaUsed = ptr, n, 0
	return stOK
}

// lentArea reads the address and length of a buffer a starting plugin
// lends the host (wasmgate.result_area, wasmgate.edit_area): at least
// least bytes, inside the guest's memory.
func (vm *VM) lentArea(args []byte, least uint32) (ptr, n uint32, ok bool) {
	if vm.started || vm.cur == nil || !vm.cur.root || len(args) != 8 {
		return 0, 0, false
	}
	ptr, n = binary.LittleEndian.Uint32(args), binary.LittleEndian.Uint32(args[4:])
	if ptr == 0 || n < least || uint64(ptr)+uint64(n) > uint64(vm.mod.Memory().Size()) {
		return 0, 0, false
	}
	return ptr, n, true
}
