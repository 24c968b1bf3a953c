// allocprobe is a plugin that measures the SDK's own allocations: it
// does what a typical header policy does (reads a header and a property,
// sets request and response headers) and reports, in the response header
// X-Mallocs, how many heap allocations the guest made since the previous
// request reached it — everything in between, the SDK's dispatch
// included. The gateway's end-to-end tests build it and expect 0 once
// the VM is warm.
package main

import (
	"runtime"
	"strconv"

	proxywasm "github.com/wasmgate/wasmgate/sdk/go"
)

type probe struct{}

func (probe) OnConfigure([]byte) error { return nil }
func (probe) NewHTTP() proxywasm.HTTP  { return &request{} }

type request struct {
	mallocs uint64
	buf     [20]byte
}

func (r *request) Reset() { r.mallocs = 0 }

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
	return proxywasm.Continue
}

func (r *request) OnResponseHeaders(s proxywasm.Stream, _ bool) proxywasm.Action {
	_ = s.ResponseHeaders().SetBytes("x-mallocs", strconv.AppendUint(r.buf[:0], r.mallocs, 10))
	return proxywasm.Continue
}

func init() { proxywasm.Register(func() proxywasm.Plugin { return probe{} }) }

func main() {}
