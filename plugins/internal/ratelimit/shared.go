package ratelimit

import "errors"

// Store is a key-value store shared by concurrent writers, with a version
// (cas) per key: the Proxy-Wasm host's shared data.
type Store interface {
	// Get returns a key's value and version; found is false (and err
	// nil) when the key has none. The value need only stay valid until
	// the next call on the store.
	Get(key string) (value []byte, cas uint32, found bool, err error)
	// Set stores value if the key is still at version cas and returns
	// ok; ok is false (err nil) on a version mismatch. cas 0 sets
	// unconditionally.
	Set(key string, value []byte, cas uint32) (ok bool, err error)
}

// ErrContention is Shared.Take's error when every attempt met a write of
// another VM between its read and its write.
var ErrContention = errors.New("ratelimit: the shared state kept changing under every attempt")

// DefaultAttempts is how many read-compute-write rounds Take tries.
const DefaultAttempts = 16

// absentCAS is the version the first write of a key is made with. Proxy-
// Wasm hosts (wasmgate's and Envoy's) create a missing key whatever the
// cas, and refuse a cas other than 0 that differs from an existing key's
// version; wasmgate's versions skip this one, so it means "create only if
// still absent", which the ABI has no other way to say (the SDK calls it
// proxywasm.CreateOnly).
const absentCAS = 1<<32 - 1

// Shared applies a Limiter to state kept in a Store, with a
// compare-and-swap loop so that concurrent VMs never lose each other's
// updates. It reuses one buffer for the state it writes; it is not safe
// for concurrent use (a VM runs one callback at a time: one Shared per
// VM).
type Shared struct {
	Limiter  Limiter
	Store    Store
	Attempts int // DefaultAttempts when 0
	// Clock, when set, is read again after each read of the state: a
	// decision then never uses a time earlier than the one another VM's
	// decision, already in the state, was made at (which would report
	// one token fewer than there are).
	Clock func() int64

	buf []byte
}

// Take decides one request for key at now (Unix ns): read the state and
// its version, decide, and when the request is allowed write the new
// state at that version; a mismatch means another VM wrote in between, so
// read again and decide again. A refusal writes nothing (the state it was
// decided on was current when read), but the state Limiter.Take replaces
// after a reload.
//
// The error is ErrContention after Attempts mismatches, or the store's;
// the caller then decides what to do without a decision (the plugin lets
// the request through). The result is valid only when err is nil.
func (s *Shared) Take(key string, now int64) (Result, error) {
	attempts := s.Attempts
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	for range attempts {
		state, cas, found, err := s.Store.Get(key)
		if err != nil {
			return Result{}, err
		}
		if s.Clock != nil {
			now = s.Clock()
		}
		if !found {
			cas = absentCAS
		}
		next, changed, r := s.Limiter.Take(state, now, s.buf[:0])
		s.buf = next[:0]
		if !changed {
			return r, nil
		}
		ok, err := s.Store.Set(key, next, cas)
		if err != nil {
			return Result{}, err
		}
		if ok {
			return r, nil
		}
	}
	return Result{}, ErrContention
}
