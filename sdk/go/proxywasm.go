// Package proxywasm is a Proxy-Wasm guest SDK for standard Go: a plugin
// built with `GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared` (Go
// 1.24+ wasmexport reactors, no TinyGo) runs on wasmgate or any other
// Proxy-Wasm host, and its tests run on the developer's machine with plain
// `go test` against the emulated host in package proxytest.
//
// A plugin calls Register from an init function with a factory for its
// Plugin; the Plugin makes one HTTP object per request. HTTP needs only
// OnRequestHeaders; the other phases are optional methods (see
// RequestBodyHandler and the rest), and a phase the type does not handle is
// never called, so the host need not buffer bodies nobody reads.
//
// Byte slices the SDK returns from the host (header values from Peek,
// bodies, properties, shared data) are valid until the callback in
// progress returns: the SDK reuses their memory so that a request's hot
// path allocates nothing. Copy what must outlive the callback.
package proxywasm

import (
	"github.com/wasmgate/wasmgate/sdk/go/internal/hostcall"
)

// Action tells the host what to do after a callback.
type Action uint32

const (
	// Continue passes the request (or response) on.
	Continue Action = 0
	// Pause holds it until the plugin calls Stream.Resume, or for good
	// when the plugin answered with Stream.Respond.
	Pause Action = 1
)

// Plugin is a plugin's root: its configuration, and a factory for the
// per-request objects. A root may also implement Starter, Ticker and
// QueueReceiver.
type Plugin interface {
	// OnConfigure gets the plugin's configuration; an error refuses it
	// and the host does not start the plugin.
	OnConfigure(config []byte) error
	// NewHTTP returns the object that handles one request.
	NewHTTP() HTTP
}

// Starter is a root that wants the VM's configuration when the VM starts.
type Starter interface {
	OnStart(vmConfig []byte) error
}

// Ticker is a root called every tick period (see SetTickPeriod).
type Ticker interface {
	OnTick()
}

// QueueReceiver is a root told when a shared queue it registered has
// items.
type QueueReceiver interface {
	OnQueueReady(q Queue)
}

// HTTP handles one request.
type HTTP interface {
	OnRequestHeaders(s Stream, endOfStream bool) Action
}

// RequestBodyHandler is an HTTP that reads or changes the request body.
// wasmgate calls it once with the whole body.
type RequestBodyHandler interface {
	OnRequestBody(s Stream, size int, endOfStream bool) Action
}

// RequestTrailersHandler is an HTTP that reads or changes request trailers.
type RequestTrailersHandler interface {
	OnRequestTrailers(s Stream) Action
}

// ResponseHeadersHandler is an HTTP that reads or changes response headers.
type ResponseHeadersHandler interface {
	OnResponseHeaders(s Stream, endOfStream bool) Action
}

// ResponseBodyHandler is an HTTP that reads or changes the response body.
type ResponseBodyHandler interface {
	OnResponseBody(s Stream, size int, endOfStream bool) Action
}

// ResponseTrailersHandler is an HTTP that reads or changes response
// trailers.
type ResponseTrailersHandler interface {
	OnResponseTrailers(s Stream) Action
}

// DoneHandler is an HTTP told when its request is over (the access-log
// phase: the response as sent is readable, and on wasmgate no longer
// changes: header edits fail with ErrBadArgument).
type DoneHandler interface {
	OnDone(s Stream)
}

// Resetter is an HTTP the SDK may reuse for a later request instead of
// asking NewHTTP for a new one: Reset must return it to its new state.
// Implementing it takes the last allocation off a request's path.
type Resetter interface {
	Reset()
}

// Stream is the handle of one request: its headers, bodies and trailers,
// local responses, callouts and properties.
type Stream struct{ id uint32 }

// ID is the request's context id, unique within the VM while it lasts.
func (s Stream) ID() uint32 { return s.id }

var factory func() Plugin

// starting, when set, runs once when the VM's first root is configured:
// the wasip1 binding lends the host its result area then.
var starting func()

// Register sets the factory of the plugin's root object. Call it from init.
func Register(f func() Plugin) { factory = f }

// ---- dispatch of the host's callbacks

type root struct {
	id     uint32
	plugin Plugin
	free   []*stream // reusable streams of HTTP objects that are Resetters
	// last is the last phase the plugin's HTTP type handles: after it,
	// with the finished flag agreed, the request's context is released
	// without waiting for proxy_on_delete.
	last phase
}

// phase numbers the per-request callbacks in the order they come.
type phase uint8

const (
	phaseRequestHeaders phase = iota + 1
	phaseRequestBody
	phaseRequestTrailers
	phaseResponseHeaders
	phaseResponseBody
	phaseResponseTrailers
	phaseLog
)

// The lifecycle agreed with wasmgate when the phases were declared (see
// declarePhases): contexts created at their first callback, and released
// by the guest after their last one, each saving a call into the VM per
// request.
var (
	lazyContexts bool
	finishFlag   bool
	lazyRoot     *root
	// hostEdits: wasmgate takes header edits in batches (see
	// pendingEdits), and applies response edits itself.
	hostEdits bool
)

// finished is the bit of a callback's result that tells wasmgate the
// context is already released.
const finished = 1 << 16

// stream is a request's context: its HTTP object with, found once when
// the object was made, the optional phases it handles. On wasm an
// assertion to an interface type looks the pair up in the runtime's
// itab table every time (no per-site cache there); a stream is reused
// with its object, so a request pays none. A stream is only entered in
// the table once it must outlive its first callback (see streamOf).
type stream struct {
	h                HTTP
	root             *root
	requestBody      RequestBodyHandler
	requestTrailers  RequestTrailersHandler
	responseHeaders  ResponseHeadersHandler
	responseBody     ResponseBodyHandler
	responseTrailers ResponseTrailersHandler
	done             DoneHandler
	resetter         Resetter
	inTable          bool
	// borrowed: lent to a context from the top of its root's free list,
	// where it stays (see borrow).
	borrowed bool
	// later holds response header edits the host does not apply itself
	// (see ResponseEdits); responding is set once the response headers
	// have come.
	later      []byte
	responding bool
}

func newStreamFor(h HTTP, r *root) *stream {
	st := &stream{h: h, root: r}
	st.requestBody, _ = h.(RequestBodyHandler)
	st.requestTrailers, _ = h.(RequestTrailersHandler)
	st.responseHeaders, _ = h.(ResponseHeadersHandler)
	st.responseBody, _ = h.(ResponseBodyHandler)
	st.responseTrailers, _ = h.(ResponseTrailersHandler)
	st.done, _ = h.(DoneHandler)
	st.resetter, _ = h.(Resetter)
	return st
}

var (
	roots   = map[uint32]*root{}
	streams streamTable
	// declared is whether this VM told the host its phases.
	declared bool
)

func init() {
	hostcall.Dispatch = hostcall.Guest{
		ContextCreate:    onContextCreate,
		VMStart:          onVMStart,
		Configure:        onConfigure,
		RequestHeaders:   onRequestHeaders,
		RequestBody:      onRequestBody,
		RequestTrailers:  onRequestTrailers,
		ResponseHeaders:  onResponseHeaders,
		ResponseBody:     onResponseBody,
		ResponseTrailers: onResponseTrailers,
		Done:             func(uint32) bool { return true },
		Log:              onLog,
		Delete:           onDelete,
		Tick:             onTick,
		QueueReady:       onQueueReady,
		HTTPCallResponse: onHTTPCallResponse,
		Reset:            reset,
	}
}

// reset forgets every context: the emulator starts each test's VM anew.
func reset() {
	clear(roots)
	streams.reset()
	clear(callouts)
	declared = false
	lastRoot = nil
	lazyContexts, finishFlag, lazyRoot, hostEdits = false, false, nil, false
	pendingEdits, forStream, curStream = pendingEdits[:0], false, 0
	countable = countable[:0]
	hostSHA256 = 0
}

func onContextCreate(id, parent uint32) {
	if parent == 0 {
		if factory != nil {
			roots[id] = &root{id: id, plugin: factory()}
		}
		return
	}
	if r := rootOf(parent); r != nil {
		st := newStream(r)
		st.inTable = true
		streams.put(id, st)
	}
}

func newStream(r *root) *stream {
	if n := len(r.free); n > 0 {
		st := r.free[n-1]
		r.free[n-1] = nil
		r.free = r.free[:n-1]
		return st
	}
	return newStreamFor(r.plugin.NewHTTP(), r)
}

// streamOf finds a request's context, creating it when wasmgate agreed
// to leave that to its first callback. A new context stays out of the
// table until after sees that it outlives the callback: a headers-only
// policy's request then never touches the table.
func streamOf(id uint32) (*stream, bool) {
	st, ok := streams.get(id)
	if !ok && lazyContexts && lazyRoot != nil {
		st, ok = lazyRoot.borrow(), true
	}
	return st, ok
}

// borrow gives a context created at its first callback a stream: the top
// of the free list, left where it is, or a new one. A headers-only
// policy's context ends in that callback, and its stream is then back
// without being moved; only one that outlives the callback is taken off
// the list (see after). Each callback creates one context at most, so the
// top is still the borrowed stream then.
func (r *root) borrow() *stream {
	if n := len(r.free); n > 0 {
		st := r.free[n-1]
		st.borrowed = true
		return st
	}
	return newStreamFor(r.plugin.NewHTTP(), r)
}

// unfree takes a borrowed stream off the free list: its context outlives
// the callback that created it.
func (r *root) unfree(st *stream) {
	st.borrowed = false
	for i := len(r.free) - 1; i >= 0; i-- { // at the top, as borrow left it
		if r.free[i] == st {
			last := len(r.free) - 1
			copy(r.free[i:], r.free[i+1:])
			r.free[last] = nil
			r.free = r.free[:last]
			return
		}
	}
}

// enter is the Stream a request's callback gets; from here until the
// callback ends (endEdits), edits and counts are batched.
func enter(id uint32) Stream {
	forStream, curStream = true, id
	return Stream{id}
}

// after ends callback p of a request: when it was the last part (a body
// may come in several) of the plugin's last phase and nothing is pending
// (a callout would come back to the context), the context is released now
// and wasmgate told so.
func after(id uint32, st *stream, p phase, last bool, action Action) uint32 {
	endEdits()
	if !finishFlag || !last || p < st.root.last || len(callouts) > 0 && waiting(id) {
		if !st.inTable {
			if st.borrowed {
				st.root.unfree(st)
			}
			st.inTable = true
			streams.put(id, st)
		}
		return uint32(action)
	}
	releaseStream(id, st)
	return uint32(action) | finished
}

// rootOf finds a root context; the last one found is kept at hand, as a
// plugin has one root and every request asks for it.
func rootOf(id uint32) *root {
	if id == lastRootID && lastRoot != nil {
		return lastRoot
	}
	r := roots[id]
	if r != nil {
		lastRootID, lastRoot = id, r
	}
	return r
}

var (
	lastRootID uint32
	lastRoot   *root
)

func onVMStart(id, size uint32) bool {
	r := roots[id]
	if r == nil {
		return true
	}
	s, ok := r.plugin.(Starter)
	if !ok {
		return true
	}
	cfg, err := copyBuffer(bufVMConfig, size)
	if err == nil {
		err = s.OnStart(cfg)
	}
	if err != nil {
		LogError("vm start refused: " + err.Error())
		return false
	}
	return true
}

func onConfigure(id, size uint32) bool {
	r := roots[id]
	if r == nil {
		return true
	}
	cfg, err := copyBuffer(bufPluginConfig, size)
	if err == nil {
		err = r.plugin.OnConfigure(cfg)
	}
	if err != nil {
		LogError("configuration refused: " + err.Error())
		return false
	}
	if !declared {
		declared = true
		declarePhases(r)
		if starting != nil {
			starting()
		}
	}
	return true
}

func copyBuffer(t, size uint32) ([]byte, error) {
	if size == 0 {
		return nil, nil
	}
	b, st := hostcall.Current.GetBuffer(t, 0, size)
	if err := check(st); err != nil {
		return nil, err
	}
	return append([]byte(nil), b...), nil
}

// declarePhases tells wasmgate which callbacks the plugin's HTTP type
// handles, through a foreign function other hosts do not have (they
// answer NotFound, and call every callback as before). wasmgate then
// skips the others: no body buffering for plugins that never read one,
// and no call into the VM for phases with nothing to do.
func declarePhases(r *root) {
	h := r.plugin.NewHTTP()
	if h == nil {
		return
	}
	list := ""
	for _, ph := range phases {
		if ph.has(h) {
			list += "," + ph.name
			r.last = ph.p
		}
	}
	list = list[1:]
	// The lifecycle and the response header edits first; a wasmgate that
	// does not know them refuses the whole list, and gets the phases
	// alone, with response_headers always: that is where the SDK then
	// applies the edits.
	_, st := hostcall.Current.CallForeign("wasmgate.declare_phases",
		[]byte(list+",context_on_first_call,finished_flag,edits"))
	if st == 0 {
		lazyContexts, finishFlag, lazyRoot, hostEdits = true, true, r, true
	} else if Status(st) == ErrBadArgument {
		if !phases[phaseResponseHeaders-1].has(h) {
			list += ",response_headers"
			r.last = max(r.last, phaseResponseHeaders)
		}
		_, _ = hostcall.Current.CallForeign("wasmgate.declare_phases", []byte(list))
	}
	if st := newStreamFor(h, r); st.resetter != nil {
		st.resetter.Reset()
		r.free = append(r.free, st)
	}
}

// phases are the per-request callbacks in the order they come, with the
// names wasmgate knows them by and whether an HTTP type handles each.
var phases = []struct {
	p    phase
	name string
	has  func(HTTP) bool
}{
	{phaseRequestHeaders, "request_headers", func(HTTP) bool { return true }},
	{phaseRequestBody, "request_body", is[RequestBodyHandler]},
	{phaseRequestTrailers, "request_trailers", is[RequestTrailersHandler]},
	{phaseResponseHeaders, "response_headers", is[ResponseHeadersHandler]},
	{phaseResponseBody, "response_body", is[ResponseBodyHandler]},
	{phaseResponseTrailers, "response_trailers", is[ResponseTrailersHandler]},
	{phaseLog, "log", is[DoneHandler]},
}

func is[T any](h HTTP) bool { _, ok := h.(T); return ok }

func onRequestHeaders(id, n uint32, eos bool) uint32 {
	if st, ok := streamOf(id); ok {
		return after(id, st, phaseRequestHeaders, true, st.h.OnRequestHeaders(enter(id), eos))
	}
	return 0
}

func onRequestBody(id, size uint32, eos bool) uint32 {
	if st, ok := streamOf(id); ok {
		if h := st.requestBody; h != nil {
			return after(id, st, phaseRequestBody, eos, h.OnRequestBody(enter(id), int(size), eos))
		}
	}
	return 0
}

func onRequestTrailers(id, n uint32) uint32 {
	if st, ok := streamOf(id); ok {
		if h := st.requestTrailers; h != nil {
			return after(id, st, phaseRequestTrailers, true, h.OnRequestTrailers(enter(id)))
		}
	}
	return 0
}

func onResponseHeaders(id, n uint32, eos bool) uint32 {
	if st, ok := streamOf(id); ok {
		if !st.responding {
			applyLater(st)
		}
		if h := st.responseHeaders; h != nil {
			return after(id, st, phaseResponseHeaders, true, h.OnResponseHeaders(enter(id), eos))
		}
	}
	return 0
}

func onResponseBody(id, size uint32, eos bool) uint32 {
	if st, ok := streamOf(id); ok {
		if h := st.responseBody; h != nil {
			return after(id, st, phaseResponseBody, eos, h.OnResponseBody(enter(id), int(size), eos))
		}
	}
	return 0
}

func onResponseTrailers(id, n uint32) uint32 {
	if st, ok := streamOf(id); ok {
		if h := st.responseTrailers; h != nil {
			return after(id, st, phaseResponseTrailers, true, h.OnResponseTrailers(enter(id)))
		}
	}
	return 0
}

func onLog(id uint32) {
	if st, ok := streams.get(id); ok && st.done != nil {
		// Not entered: nothing is batched. The request is over, and
		// wasmgate refuses header edits now, each with its own error.
		st.done.OnDone(Stream{id})
	}
}

func onDelete(id uint32) {
	st, ok := streams.get(id)
	if !ok {
		delete(roots, id)
		if id == lastRootID {
			lastRoot = nil
		}
		if r := lazyRoot; r != nil && r.id == id {
			lazyRoot = nil
		}
		return
	}
	releaseStream(id, st)
}

// waiting reports whether a callout of the request is outstanding.
func waiting(id uint32) bool {
	for _, c := range callouts {
		if c.stream == id {
			return true
		}
	}
	return false
}

// releaseStream forgets a request's context and keeps its HTTP object for the
// next request when it can be reset.
func releaseStream(id uint32, st *stream) {
	if st.inTable {
		streams.del(id)
		st.inTable = false
	}
	st.later, st.responding = st.later[:0], false
	if len(callouts) > 0 {
		for token, c := range callouts {
			if c.stream == id {
				delete(callouts, token)
			}
		}
	}
	if st.borrowed {
		st.borrowed = false // still on the free list
		st.resetter.Reset()
		return
	}
	if st.resetter != nil && len(st.root.free) < maxFree {
		st.resetter.Reset()
		st.root.free = append(st.root.free, st)
	}
}

// maxFree bounds the reusable HTTP objects kept: a burst of concurrent
// requests should not pin its peak memory forever.
const maxFree = 64

func onTick(id uint32) {
	if r := roots[id]; r != nil {
		if t, ok := r.plugin.(Ticker); ok {
			t.OnTick()
			endEdits()
		}
	}
}

func onQueueReady(id, q uint32) {
	if r := roots[id]; r != nil {
		if qr, ok := r.plugin.(QueueReceiver); ok {
			qr.OnQueueReady(Queue(q))
			endEdits()
		}
	}
}
