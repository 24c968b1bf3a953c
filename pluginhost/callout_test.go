package pluginhost

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// retryCalloutWAT is an auth plugin that retries its callout until it
// gets an answer: on request headers it calls "auth" and pauses; on a
// failed response (no headers) it calls again.
const retryCalloutWAT = `(module
  (import "env" "proxy_http_call" (func $call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 16) "auth")
  ;; an empty header map: count 0
  (data (i32.const 32) "\00\00\00\00")
` + bumpGuest + `
  (func $callout
    (drop (call $call (i32.const 16) (i32.const 4) (i32.const 32) (i32.const 4)
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1000) (i32.const 900))))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (call $callout)
    (i32.const 1))
  (func (export "proxy_on_http_call_response") (param i32 i32 i32 i32 i32)
    (if (i32.eqz (local.get 2)) (then (call $callout))))
)`

// TestCalloutRetryLoopIsBounded: a plugin retrying a failing callout must
// not pin its request (and a CPU) forever. After maxCallouts calls the
// request fails as the plugin's fault of kind stalled (500, or skipped
// with fail_open), counted like any other.
func TestCalloutRetryLoopIsBounded(t *testing.T) {
	var calls atomic.Int64
	p := loadWAT(t, "retry", retryCalloutWAT, Options{
		Callout: func(string, *fasthttp.Request, *fasthttp.Response, time.Duration) error {
			calls.Add(1)
			return errors.New("connection refused") // the auth service is down
		},
	})
	r, _ := Chain{NewSlot(p)}.Begin(reqCtx(), "r", "u")
	done := make(chan error)
	go func() { _, err := r.RequestHeaders(); done <- err }()
	select {
	case err := <-done:
		r.End()
		var fault *Fault
		if !errors.As(err, &fault) || fault.Kind != faultStalled || !errors.Is(err, errTooManyCallouts) {
			t.Fatalf("the request ended with %v, want a fault of kind stalled for too many callouts", err)
		}
		if n := calls.Load(); n != maxCallouts {
			t.Fatalf("%d callouts sent, want %d", n, maxCallouts)
		}
		if n := p.Stats().Errors; n != 1 {
			t.Fatalf("%d faults counted, want 1", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the request never finished: %d callouts in 10s and counting", calls.Load())
	}
}

// badUpstreamWAT calls an upstream that does not exist and keeps what
// proxy_http_call answered at 800; its response callback keeps the
// number of headers it got at 804 and marks 808. It does not pause.
const badUpstreamWAT = `(module
  (import "env" "proxy_http_call" (func $call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 16) "no-such-upstream")
  (data (i32.const 48) "\00\00\00\00")
` + bumpGuest + `
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (i32.store (i32.const 804) (i32.const -1))
    (i32.store (i32.const 800) (call $call (i32.const 16) (i32.const 16) (i32.const 48) (i32.const 4)
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1000) (i32.const 900)))
    (i32.const 0))
  (func (export "proxy_on_http_call_response") (param i32 i32 i32 i32 i32)
    (i32.store (i32.const 804) (local.get 2))
    (i32.store (i32.const 808) (i32.const 1)))
)`

// TestHTTPCallToUnknownUpstreamIsRefused: with the gateway's upstream
// names at hand, proxy_http_call refuses an unknown one at once with
// BadArgument, as Envoy does for an unknown cluster, and sends nothing.
func TestHTTPCallToUnknownUpstreamIsRefused(t *testing.T) {
	var sent atomic.Int64
	p := loadWAT(t, "badup", badUpstreamWAT, Options{
		Callout: func(string, *fasthttp.Request, *fasthttp.Response, time.Duration) error {
			sent.Add(1)
			return nil
		},
		HasUpstream: func(name string) bool { return name == "auth" },
	})
	vm := headersThrough(t, p)
	if st, delivered := guestWord(vm, 800), guestWord(vm, 808); st != stBadArgument || delivered != 0 || sent.Load() != 0 {
		t.Fatalf("proxy_http_call answered %d (want BadArgument), a response was delivered: %v, calls sent: %d",
			st, delivered == 1, sent.Load())
	}
}

// TestHTTPCallToUnknownUpstreamFailsTheCall: an upstream that is gone
// when the call is sent, after the callback (a reload removed it), fails
// the call: proxy_http_call has answered Ok (see ErrNoUpstream) and the
// guest learns of it as of any failed call, from a response with no
// headers.
func TestHTTPCallToUnknownUpstreamFailsTheCall(t *testing.T) {
	p := loadWAT(t, "badup", badUpstreamWAT, Options{
		Callout: func(name string, _ *fasthttp.Request, _ *fasthttp.Response, _ time.Duration) error {
			return fmt.Errorf("%w %q", ErrNoUpstream, name)
		},
	})
	vm := headersThrough(t, p)
	st, headers, delivered := guestWord(vm, 800), guestWord(vm, 804), guestWord(vm, 808)
	if st != stOK || delivered != 1 || headers != 0 {
		t.Fatalf("proxy_http_call answered %d (want Ok), the response was delivered: %v, with %d headers (want 0)",
			st, delivered == 1, headers)
	}
}

// calloutOnDoneWAT makes a callout from proxy_on_done and keeps the status
// at 800.
const calloutOnDoneWAT = `(module
  (import "env" "proxy_http_call" (func $call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 16) "audit")
  (data (i32.const 48) "\00\00\00\00")
` + bumpGuest + `
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_done") (param i32) (result i32)
    (i32.store (i32.const 800) (call $call (i32.const 16) (i32.const 5) (i32.const 48) (i32.const 4)
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1000) (i32.const 900)))
    (i32.const 1))
  (func (export "proxy_on_http_call_response") (param i32 i32 i32 i32 i32))
)`

// TestCalloutOnceOverIsRefused: a callout made once the request is over
// (proxy_on_done, proxy_on_log) would never be sent nor answered, so it is
// refused with BadArgument rather than accepted and dropped.
func TestCalloutOnceOverIsRefused(t *testing.T) {
	var sent atomic.Int64
	p := loadWAT(t, "audit", calloutOnDoneWAT, Options{
		Callout: func(string, *fasthttp.Request, *fasthttp.Response, time.Duration) error {
			sent.Add(1)
			return nil
		},
	})
	st := guestWord(headersThrough(t, p), 800)
	if st != stBadArgument || sent.Load() != 0 {
		t.Fatalf("proxy_http_call from proxy_on_done answered %d (want BadArgument), %d sent", st, sent.Load())
	}
}

// headersThrough runs a request's headers phase through p and ends the
// request, and returns the VM that served it.
func headersThrough(t *testing.T, p *Plugin) *VM {
	t.Helper()
	r, _ := Chain{NewSlot(p)}.Begin(reqCtx(), "r", "u")
	if _, err := r.RequestHeaders(); err != nil {
		t.Fatal(err)
	}
	vm := r.streams[0].vm
	r.End()
	return vm
}

// guestWord is the little-endian uint32 at addr in vm's memory.
func guestWord(vm *VM, addr uint32) uint32 {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	w, _ := vm.mod.Memory().ReadUint32Le(addr)
	return w
}
