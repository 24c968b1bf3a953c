// allocprobe is a plugin that measures the SDK's own allocations: it
// does what a typical header policy does (reads a header and a property,
// sets request and response headers) and reports, in the response header
// X-Mallocs, how many heap allocations the guest made since the previous
// request reached it — everything in between, the SDK's dispatch
// included. A request with X-Probe-Callout first makes a callout to the
// upstream "backend" and resumes when it answers, as an authentication
// policy asking another service would. The gateway's end-to-end tests
// build it and expect 0 once the VM is warm.
//
// It also misuses a handle, as a plugin keeping one for a timer would: a
// request with X-Probe-Keep has its Stream kept, and a later request with
// X-Probe-Stale uses it to set x-stale on the kept request's headers,
// reporting in X-Stale-Refused whether the SDK refused (it must: the kept
// request is over, and the edit must not land on the running one).
//
// A request with X-Probe-Tick starts a timer whose first tick fetches
// GET /tick from "backend" with a RootCallout, as a key refresher would;
// a request with X-Probe-Ticked gets that body in X-Tick-Body.
package main

import (
	"runtime"
	"strconv"
	"time"

	proxywasm "github.com/wasmgate/wasmgate/sdk/go"
)

type probe struct{}

func (probe) OnConfigure([]byte) error { return nil }

var (
	tickSent bool
	tickBody string
)

func (probe) OnTick() {
	if tickSent {
		return
	}
	tickSent = true
	err := proxywasm.RootCallout("backend", [][2]string{{":method", "GET"}, {":path", "/tick"}, {":authority", "backend"}}, nil, time.Second,
		func(c *proxywasm.CalloutResponse) {
			tickBody = strconv.Itoa(c.Status()) + " " + string(c.Body())
			_ = proxywasm.SetTickPeriod(0)
		})
	if err != nil {
		tickBody = "refused: " + err.Error()
	}
}
func (probe) NewHTTP() proxywasm.HTTP {
	r := &request{}
	r.resume = r.answered
	return r
}

var calloutHeaders = [][2]string{{":method", "GET"}, {":path", "/callout"}, {":authority", "backend"}}

func (r *request) answered(s proxywasm.Stream, c *proxywasm.CalloutResponse) {
	if c.Status() != 200 {
		_ = s.Respond(502, nil, nil)
		return
	}
	_ = s.Resume()
}

// kept is the handle X-Probe-Keep keeps.
var (
	kept    proxywasm.Stream
	hasKept bool
)

type request struct {
	stale   string // X-Stale-Refused's value; "" without X-Probe-Stale
	ticked  bool   // X-Probe-Ticked
	mallocs uint64
	buf     [20]byte
	resume  func(proxywasm.Stream, *proxywasm.CalloutResponse) // bound once
}

func (r *request) Reset() { r.mallocs, r.stale, r.ticked = 0, "", false }

var (
	stats runtime.MemStats
	last  uint64
)

func (r *request) OnRequestHeaders(s proxywasm.Stream, _ bool) proxywasm.Action {
	runtime.ReadMemStats(&stats)
	r.mallocs, last = stats.Mallocs-last, stats.Mallocs
	h := s.RequestHeaders()
	if v, err := h.Peek("x-probe-in"); err == nil {
		_ = h.SetBytes("x-probe-seen", v)
	}
	if _, err := s.Property("source", "address"); err != nil {
		proxywasm.LogError("no source address")
	}
	if h.Has("x-probe-keep") {
		kept, hasKept = s, true
	}
	if h.Has("x-probe-stale") && hasKept {
		r.stale = "false"
		if kept.RequestHeaders().Set("x-stale", "1") != nil {
			r.stale = "true"
		}
	}
	if h.Has("x-probe-tick") {
		_ = proxywasm.SetTickPeriod(10 * time.Millisecond)
	}
	r.ticked = h.Has("x-probe-ticked")
	if h.Has("x-probe-callout") {
		if err := s.Callout("backend", calloutHeaders, nil, time.Second, r.resume); err != nil {
			return proxywasm.Continue
		}
		return proxywasm.Pause
	}
	return proxywasm.Continue
}

func (r *request) OnResponseHeaders(s proxywasm.Stream, _ bool) proxywasm.Action {
	_ = s.ResponseHeaders().SetBytes("x-mallocs", strconv.AppendUint(r.buf[:0], r.mallocs, 10))
	if r.stale != "" {
		_ = s.ResponseHeaders().Set("x-stale-refused", r.stale)
	}
	if r.ticked {
		_ = s.ResponseHeaders().Set("x-tick-body", tickBody)
	}
	return proxywasm.Continue
}

func init() { proxywasm.Register(func() proxywasm.Plugin { return probe{} }) }

func main() {}
