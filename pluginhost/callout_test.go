package pluginhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"

	"github.com/wasmgate/wasmgate/internal/watfixture"
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

// rootCalloutWAT calls upstream "idp" from its first tick (what
// proxy_http_call answered at 800) and keeps, from the response it gets
// on the root context: the number of headers at 804, the number of
// responses at 808, where the host put the body at 820/824 and the
// :status value at 828/832.
const rootCalloutWAT = `(module
  (import "env" "proxy_http_call" (func $call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_tick_period_milliseconds" (func $tick (param i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $buf (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $hv (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 16) "idp")
  (data (i32.const 48) "\00\00\00\00")
  (data (i32.const 64) ":status")
` + bumpGuest + `
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $tick (i32.const 5)))
    (i32.const 1))
  (func (export "proxy_on_tick") (param i32)
    (if (i32.eqz (i32.load (i32.const 812)))
      (then
        (i32.store (i32.const 812) (i32.const 1))
        (i32.store (i32.const 800) (call $call (i32.const 16) (i32.const 3) (i32.const 48) (i32.const 4)
          (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1000) (i32.const 900))))))
  (func (export "proxy_on_http_call_response") (param i32 i32 i32 i32 i32)
    (i32.store (i32.const 804) (local.get 2))
    (drop (call $buf (i32.const 4) (i32.const 0) (local.get 3) (i32.const 820) (i32.const 824)))
    (drop (call $hv (i32.const 6) (i32.const 64) (i32.const 7) (i32.const 828) (i32.const 832)))
    (i32.store (i32.const 808) (i32.add (i32.load (i32.const 808)) (i32.const 1))))
)`

// TestCalloutFromRootContext: a call made from proxy_on_tick, which has
// no request (a key set refreshed on a timer), is sent once the tick
// returns and its response, headers and body, delivered to the root
// context, as Envoy does.
func TestCalloutFromRootContext(t *testing.T) {
	var sent atomic.Int64
	p := loadWAT(t, "ticker", rootCalloutWAT, Options{
		Pool: 1,
		Callout: func(name string, req *fasthttp.Request, resp *fasthttp.Response, _ time.Duration) error {
			sent.Add(1)
			if name != "idp" {
				return fmt.Errorf("%w %q", ErrNoUpstream, name)
			}
			resp.SetStatusCode(203)
			resp.Header.Set("X-Keys", "1")
			resp.SetBodyString("keyset")
			return nil
		},
		HasUpstream: func(name string) bool { return name == "idp" },
	})
	p.mu.RLock()
	vm := p.vms[0]
	p.mu.RUnlock()
	deadline := time.Now().Add(5 * time.Second)
	for guestWord(vm, 808) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no response delivered: proxy_http_call answered %d, %d calls sent", guestWord(vm, 800), sent.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	read := func(ptrAt, sizeAt uint32) string {
		vm.mu.Lock()
		defer vm.mu.Unlock()
		b, _ := vm.mod.Memory().Read(guestWord0(vm, ptrAt), guestWord0(vm, sizeAt))
		return string(b)
	}
	if st := guestWord(vm, 800); st != stOK || guestWord(vm, 804) == 0 || sent.Load() != 1 {
		t.Fatalf("proxy_http_call answered %d, response had %d headers, %d calls sent", st, guestWord(vm, 804), sent.Load())
	}
	if body, status := read(820, 824), read(828, 832); body != "keyset" || status != "203" {
		t.Fatalf("the root context read body %q and :status %q", body, status)
	}
}

// guestWord0 is guestWord for a caller that holds the VM's lock.
func guestWord0(vm *VM, addr uint32) uint32 {
	w, _ := vm.mod.Memory().ReadUint32Le(addr)
	return w
}

// rootLoopWAT calls "idp" from its first tick and again from every
// response: a plugin retrying at once, with no request to bound it. It
// counts the calls answered Ok at 820 and the responses it got at 824.
const rootLoopWAT = `(module
  (import "env" "proxy_http_call" (func $call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_tick_period_milliseconds" (func $tick (param i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 16) "idp")
  (data (i32.const 48) "\00\00\00\00")
` + bumpGuest + `
  (func $again
    (if (i32.eqz (call $call (i32.const 16) (i32.const 3) (i32.const 48) (i32.const 4)
          (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1000) (i32.const 900)))
      (then (i32.store (i32.const 820) (i32.add (i32.load (i32.const 820)) (i32.const 1))))))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $tick (i32.const 5)))
    (i32.const 1))
  (func (export "proxy_on_tick") (param i32)
    (if (i32.eqz (i32.load (i32.const 812)))
      (then (i32.store (i32.const 812) (i32.const 1)) (call $again))))
  (func (export "proxy_on_http_call_response") (param i32 i32 i32 i32 i32)
    (i32.store (i32.const 824) (i32.add (i32.load (i32.const 824)) (i32.const 1)))
    (call $again))
)`

// lockedWriter lets a test read what another goroutine logs.
type lockedWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestRootCalloutLoopIsBounded: calls that root-context responses make
// in turn stop at maxCallouts, with a warning: the next one is refused,
// so every call answered Ok got its response. The plugin keeps its VM,
// and no fault is counted.
func TestRootCalloutLoopIsBounded(t *testing.T) {
	var sent atomic.Int64
	var log lockedWriter
	p, err := Load(context.Background(), Options{
		Name: "looper", Module: watfixture.Assemble(t, rootLoopWAT), Pool: 1,
		Log: zerolog.New(&log),
		Callout: func(string, *fasthttp.Request, *fasthttp.Response, time.Duration) error {
			sent.Add(1)
			return errors.New("refused")
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(log.String(), "callouts in a row") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning after %d calls; log: %s", sent.Load(), log.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // ten more ticks: none calls again
	if n := sent.Load(); n != maxCallouts {
		t.Fatalf("%d calls sent, want %d", n, maxCallouts)
	}
	p.mu.RLock()
	vm := p.vms[0]
	p.mu.RUnlock()
	if ok, answered := guestWord(vm, 820), guestWord(vm, 824); ok != maxCallouts || answered != maxCallouts {
		t.Fatalf("%d calls answered Ok, %d responses delivered; want %d each", ok, answered, maxCallouts)
	}
	if vm.broken.Load() || p.errs.Load() != 0 {
		t.Fatalf("the VM was given up, or %d faults counted", p.errs.Load())
	}
}

// TestRootCalloutAnsweredAfterClose: a root call still out when its
// plugin is retired gets its answer into no VM, and counts no fault: the
// closed module would otherwise fail as if the plugin had broken.
func TestRootCalloutAnsweredAfterClose(t *testing.T) {
	var log lockedWriter
	inCall, release := make(chan struct{}), make(chan struct{})
	p, err := Load(context.Background(), Options{
		Name: "closing", Module: watfixture.Assemble(t, rootCalloutWAT), Pool: 1,
		Log: zerolog.New(&log),
		Callout: func(_ string, _ *fasthttp.Request, resp *fasthttp.Response, _ time.Duration) error {
			close(inCall)
			<-release
			resp.SetBodyString("late")
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-inCall:
	case <-time.After(5 * time.Second):
		t.Fatal("the tick made no call")
	}
	p.Close()
	close(release)
	time.Sleep(50 * time.Millisecond) // the tick goroutine delivers, or not
	if n := p.errs.Load(); n != 0 || strings.Contains(log.String(), "failed") {
		t.Fatalf("%d faults counted; log: %s", n, log.String())
	}
}
