package pluginhost

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"
)

// Tests of guests that misbehave on purpose, or by a bug a hostile guest
// could exploit: none of them may take the gateway down, pin host memory
// beyond bounds, or leave a VM whose state is undefined in service.

// reentrantAllocWAT's allocator, the first time it runs, calls a host
// function that returns a value, so the host calls the allocator again
// while it runs; the status that inner call got is kept at 3000.
const reentrantAllocWAT = `(module
  (import "env" "proxy_get_buffer_bytes" (func $getbuf (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 4096))
  (global $depth (mut i32) (i32.const 0))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
    (local $p i32)
    (if (i32.eqz (global.get $depth))
      (then
        (global.set $depth (i32.const 1))
        ;; plugin configuration: the host allocates for it, re-entering us
        (i32.store (i32.const 3000)
          (call $getbuf (i32.const 7) (i32.const 0) (i32.const 100) (i32.const 2000) (i32.const 2004)))
        (global.set $depth (i32.const 0))))
    (if (i32.gt_u (i32.add (global.get $heap) (local.get $n)) (i32.const 131072))
      (then (global.set $heap (i32.const 4096))))
    (local.set $p (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (global.get $heap) (local.get $n)) (i32.const 7)) (i32.const -8)))
    (local.get $p))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $getbuf (i32.const 7) (i32.const 0) (i32.const 100) (i32.const 1000) (i32.const 1004)))
    (i32.const 0))
)`

// TestReentrantAllocatorDoesNotCrashTheProcess: a guest whose allocator
// calls back into the host must not take the gateway down (re-entering
// the allocator's function is a fatal stack overflow in wazero, which no
// recover catches). The nested allocation is refused with
// InternalFailure; the outer one, and the request, go on. The scenario
// runs in a child process so that a crash is reported as a failure
// instead of killing the test binary.
func TestReentrantAllocatorDoesNotCrashTheProcess(t *testing.T) {
	if os.Getenv("WASMGATE_REENTRY_CHILD") == "1" {
		p := loadWAT(t, "reentrant", reentrantAllocWAT, Options{Config: []byte("some config")})
		for i := 0; i < 50; i++ {
			r, _ := Chain{NewSlot(p)}.Begin(reqCtx(), "r", "u")
			_, err := r.RequestHeaders()
			vm := r.streams[0].vm
			r.End()
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			vm.mu.Lock()
			inner, _ := vm.mod.Memory().ReadUint32Le(3000)
			vm.mu.Unlock()
			if inner != stInternal {
				t.Fatalf("request %d: the nested allocation answered %d, want InternalFailure (%d)", i, inner, stInternal)
			}
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestReentrantAllocatorDoesNotCrashTheProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "WASMGATE_REENTRY_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the gateway process died, or the child failed, serving a guest whose allocator re-enters the host: %v\n%.3000s", err, out)
	}
}

// trappingAllocWAT's allocator traps (a Rust or Go guest aborting
// mid-allocation) when the request callback asks the host for a value.
const trappingAllocWAT = `(module
  (import "env" "proxy_get_buffer_bytes" (func $getbuf (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
    unreachable)
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $getbuf (i32.const 7) (i32.const 0) (i32.const 100) (i32.const 1000) (i32.const 1004)))
    (i32.const 0))
)`

// TestTrapInAllocatorRetiresTheVM: a trap ends a Wasm computation, and
// the guest's state (its allocator's, its runtime's) is undefined after
// one; a trap in the allocator the host called ends the callback that
// asked as a Fault of kind trap, and the VM is replaced, as for a trap in
// the callback itself.
func TestTrapInAllocatorRetiresTheVM(t *testing.T) {
	p := loadWAT(t, "alloctrap", trappingAllocWAT, Options{Config: []byte("cfg")})
	r, _ := Chain{NewSlot(p)}.Begin(reqCtx(), "r", "u")
	act, err := r.RequestHeaders()
	vm := r.storage[0].vm // a failed stream leaves the chain
	r.End()
	var fault *Fault
	if !errors.As(err, &fault) || fault.Kind != faultTrap || !vm.broken.Load() || p.Stats().Errors != 1 {
		t.Fatalf("the guest's allocator trapped, yet the callback ended with (%v, %v), the VM is broken=%v and %d faults are counted",
			act, err, vm.broken.Load(), p.Stats().Errors)
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.Stats().Replaced == 0 || p.Stats().Live != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("VM not replaced: %+v", p.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// queueBombWAT's request callback enqueues its 1 MiB of memory 1024 times
// on a queue no one reads.
const queueBombWAT = `(module
  (import "env" "proxy_register_shared_queue" (func $register (param i32 i32 i32) (result i32)))
  (import "env" "proxy_enqueue_shared_queue" (func $enqueue (param i32 i32 i32) (result i32)))
  (memory (export "memory") 17)
  (data (i32.const 16) "sink")
` + bumpGuest + `
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $register (i32.const 16) (i32.const 4) (i32.const 100)))
    (i32.const 1))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (local $i i32)
    (loop $l
      (drop (call $enqueue (i32.load (i32.const 100)) (i32.const 65536) (i32.const 1048576)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 1024))))
    (i32.const 0))
)`

// TestGuestCannotPinUnboundedHostMemory: memory_limit bounds a VM's own
// memory (here 2 MiB); one request must not leave the host holding a
// thousand times that in shared queue items after it ended.
func TestGuestCannotPinUnboundedHostMemory(t *testing.T) {
	p := loadWAT(t, "bomb", queueBombWAT, Options{MemoryPages: 32})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r, _ := Chain{NewSlot(p)}.Begin(reqCtx(), "r", "u")
	_, _ = r.RequestHeaders()
	r.End()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 4*maxQueueBytes {
		t.Fatalf("one request of a plugin limited to 2 MiB left %d MiB on the host's heap (shared queue items)", grew>>20)
	}
}

// queueReadyWAT has a queue-ready callback (that reads nothing), so that
// the host has notices to deliver for its queues.
const queueReadyWAT = `(module
  (memory (export "memory") 2)
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 8192))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_queue_ready") (param i32 i32))
)`

// TestSharedQueueBounds: a queue takes maxQueueItems items and
// maxQueueBytes bytes; past either, enqueue answers InternalFailure and
// drops the item, and a dequeue makes room again. However many items are
// enqueued while the owner's VM is busy, one goroutine waits to notify
// it, not one per item, and the items still get their notices.
func TestSharedQueueBounds(t *testing.T) {
	// Queues are process-wide: a name of its own keeps a repeated run
	// (-count) from finding the last run's items.
	p := loadWAT(t, fmt.Sprintf("queue-bounds-%d", time.Now().UnixNano()), queueReadyWAT, Options{})
	vm := p.pick()
	mem := vm.mod.Memory()
	vm.mu.Lock() // the owner's VM is busy: notices wait
	mem.Write(16, []byte("q"))
	if st := hRegisterQueue(vm, []uint64{16, 1, 100}); st != stOK {
		vm.mu.Unlock()
		t.Fatalf("register: %d", st)
	}
	id, _ := mem.ReadUint32Le(100)
	goroutines := runtime.NumGoroutine()
	var refused int
	for i := 0; i < maxQueueItems+10; i++ {
		if hEnqueue(vm, []uint64{uint64(id), 1024, 8}) == stInternal {
			refused++
		}
	}
	waiting := runtime.NumGoroutine() - goroutines
	bigRefused := hEnqueue(vm, []uint64{uint64(id), 1024, 1}) // full by count
	st := hDequeue(vm, []uint64{uint64(id), 200, 204})
	afterDequeue := hEnqueue(vm, []uint64{uint64(id), 1024, 8})
	vm.mu.Unlock()
	if refused != 10 || bigRefused != stInternal || st != stOK || afterDequeue != stOK {
		t.Fatalf("%d of %d enqueues refused (want 10), one more %d (want %d), dequeue %d, then enqueue %d (want OK)",
			refused, maxQueueItems+10, bigRefused, stInternal, st, afterDequeue)
	}
	// One notifier; the slack is for goroutines of earlier tests ending
	// or starting (a VM's replacement), not for one per item.
	if waiting > 8 {
		t.Fatalf("%d goroutines wait to notify the owner of one queue", waiting)
	}

	// By bytes: a second queue, items of 64 KiB (the guest's memory holds
	// two pages).
	vm.mu.Lock()
	mem.Write(16, []byte("b"))
	hRegisterQueue(vm, []uint64{16, 1, 100})
	id, _ = mem.ReadUint32Le(100)
	var taken int
	for i := 0; i < 32; i++ {
		if hEnqueue(vm, []uint64{uint64(id), 0, 64 << 10}) == stOK {
			taken++
		}
	}
	vm.mu.Unlock()
	if taken != maxQueueBytes/(64<<10) {
		t.Fatalf("a queue took %d items of 64 KiB, want %d (1 MiB)", taken, maxQueueBytes/(64<<10))
	}

	// The accepted items are notified, up to maxQueueItems owed at once
	// per queue: 1024 (of 1025, one dequeued without waiting for its
	// notice) on the first queue, 16 on the second.
	want := uint64(maxQueueItems + taken)
	deadline := time.Now().Add(10 * time.Second)
	for p.durations[phQueueReady].Count() < want {
		if time.Now().After(deadline) {
			t.Fatalf("%d queue-ready calls, want %d", p.durations[phQueueReady].Count(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const bigMemoryWAT = `(module
  (memory (export "memory") 1024)
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 0))
  (func (export "proxy_on_context_create") (param i32 i32))
)`

// TestBogusPairCountDoesNotAllocate: a header map whose count claims as
// many pairs as the buffer has room for sizes (and no room for their
// data) is refused before the host allocates for that count: the count
// is the guest's word, the bytes are what it can back it with.
func TestBogusPairCountDoesNotAllocate(t *testing.T) {
	p := loadWAT(t, "bigmem", bigMemoryWAT, Options{})
	vm := p.pick()
	size := uint32(64 << 20)
	n := (size - 4) / 8
	var cnt [4]byte
	binary.LittleEndian.PutUint32(cnt[:], n)
	vm.mu.Lock()
	defer vm.mu.Unlock()
	vm.mod.Memory().Write(0, cnt[:])
	vm.cur = &Stream{vm: vm, id: 7, req: &Request{Ctx: reqCtx()}}
	defer func() { vm.cur = nil }()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	st := hSetPairs(vm, []uint64{mapRequestHeads, 0, uint64(size)})
	runtime.ReadMemStats(&after)
	if st != stBadArgument {
		t.Fatalf("status %d", st)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Fatalf("refusing a %d MiB map allocated %d MiB on the host", size>>20, got>>20)
	}
}

// TestParsePairsCountBound: the count check refuses exactly the counts
// the bytes cannot hold; a map at the bound (empty keys and values)
// still parses.
func TestParsePairsCountBound(t *testing.T) {
	const n = 3
	b := binary.LittleEndian.AppendUint32(nil, n)
	b = append(b, make([]byte, 8*n+2*n)...) // sizes all 0, then n pairs of NULs
	if pairs, ok := parsePairs(b); !ok || len(pairs) != n {
		t.Fatalf("a map of %d empty pairs: %d pairs, ok %v", n, len(pairs), ok)
	}
	if _, ok := parsePairs(b[:len(b)-1]); ok {
		t.Fatal("a map a byte short of its count parsed")
	}
}

// TestContextIDsSkipZeroAndRootAfterWrap: a VM numbers request contexts
// with a uint32; after 2^32 requests (half a day at 100k req/s on a pool
// of one) it must not hand out 0 (no context) or the root's id.
func TestContextIDsSkipZeroAndRootAfterWrap(t *testing.T) {
	p := load(t, "noop", Options{Name: "ids"})
	vm := p.pick()
	vm.mu.Lock()
	vm.nextID = ^uint32(0) - 1
	vm.mu.Unlock()
	var got []uint32
	for i := 0; i < 5; i++ {
		r, err := Chain{NewSlot(p)}.Begin(reqCtx(), "r", "u")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r.streams[0].id)
		r.End()
	}
	want := []uint32{^uint32(0) - 1, ^uint32(0), 2, 3, 4}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("context ids %v across the wrap, want %v (root is %d)", got, want, vm.rootID)
	}
}
