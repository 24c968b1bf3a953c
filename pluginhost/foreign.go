package pluginhost

import "sync"

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
