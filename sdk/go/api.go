package proxywasm

import (
	"crypto/sha256"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/wasmgate/wasmgate/sdk/go/internal/hostcall"
)

func host() hostcall.Host { return hostcall.Current }

// ---- headers and trailers

// HeaderMap is one of a request's header maps. Names are lower case; the
// request headers include the pseudo-headers :method, :path, :authority
// and :scheme, the response headers :status.
//
// A map is its request's: used after its callback has returned (from a
// timer, a goroutine, a later request's callback), it acts on its own
// request, which a host may refuse, never on the request being called
// back at the time.
type HeaderMap struct {
	kind uint32
	id   uint32 // the request's context; 0 for a callout response's
}

// The Proxy-Wasm map types.
const (
	mapRequestHeaders   uint32 = 0
	mapRequestTrailers  uint32 = 1
	mapResponseHeaders  uint32 = 2
	mapResponseTrailers uint32 = 3
	mapCalloutHeaders   uint32 = 6
	mapCalloutTrailers  uint32 = 7
)

// RequestHeaders, ResponseHeaders, RequestTrailers and ResponseTrailers
// are the request's maps.
func (s Stream) RequestHeaders() HeaderMap   { return HeaderMap{mapRequestHeaders, s.id} }
func (s Stream) ResponseHeaders() HeaderMap  { return HeaderMap{mapResponseHeaders, s.id} }
func (s Stream) RequestTrailers() HeaderMap  { return HeaderMap{mapRequestTrailers, s.id} }
func (s Stream) ResponseTrailers() HeaderMap { return HeaderMap{mapResponseTrailers, s.id} }

// elsewhere reports a handle of a request other than the one whose
// callback is running (kept past its own callback): its calls must go to
// its request's context, not the running one's.
func elsewhere(id uint32) bool { return id != 0 && (!forStream || id != curStream) }

// inOther runs f in request id's context, for a handle used elsewhere
// (the running callback's edits are sent first), and comes back. A host
// may refuse, as wasmgate does for any request but the one being called
// back: the call then fails. Apart from the handles' methods, so that
// their usual path has no deferred call (one costs instructions in Go
// compiled to Wasm, and keeps them from being inlined).
func inOther[T any](id uint32, f func() (T, error)) (T, error) {
	sync()
	if err := other(id); err != nil {
		var zero T
		return zero, err
	}
	defer back()
	return f()
}

func inOtherErr(id uint32, f func() error) error {
	_, err := inOther(id, func() (struct{}, error) { return struct{}{}, f() })
	return err
}

// Peek returns a header's value without copying it: valid until the
// callback returns. ErrNotFound when the header is absent.
func (h HeaderMap) Peek(name string) ([]byte, error) {
	if elsewhere(h.id) {
		return inOther(h.id, func() ([]byte, error) { return HeaderMap{kind: h.kind}.Peek(name) })
	}
	sync()
	v, st := host().GetMapValue(h.kind, name)
	return v, check(st)
}

// Get returns a copy of a header's value.
func (h HeaderMap) Get(name string) (string, error) {
	v, err := h.Peek(name)
	return string(v), err
}

// Has reports whether the header is present.
func (h HeaderMap) Has(name string) bool {
	_, err := h.Peek(name)
	return err == nil
}

// Add adds a value, keeping those the header has.
func (h HeaderMap) Add(name, value string) error {
	if elsewhere(h.id) {
		return inOtherErr(h.id, func() error { return HeaderMap{kind: h.kind}.Add(name, value) })
	}
	if h.deferred(name) {
		return queueEdit('q', 'a', name, value)
	}
	sync()
	return check(host().AddMapValue(h.kind, name, value))
}

// Set replaces the header's values with value.
func (h HeaderMap) Set(name, value string) error {
	if elsewhere(h.id) {
		return inOtherErr(h.id, func() error { return HeaderMap{kind: h.kind}.Set(name, value) })
	}
	if h.deferred(name) {
		return queueEdit('q', 'r', name, value)
	}
	sync()
	return check(host().ReplaceMapValue(h.kind, name, value))
}

// deferred reports whether an edit of the map goes into the batch of
// header edits: on wasmgate, the request's headers but its pseudo-headers
// (the request line), during a callback for a request.
func (h HeaderMap) deferred(name string) bool {
	return h.kind == mapRequestHeaders && hostEdits && forStream && (name == "" || name[0] != ':')
}

// SetBytes is Set with a value in bytes, without converting it to a
// string (which would copy it): the host copies it at once.
func (h HeaderMap) SetBytes(name string, value []byte) error {
	return h.Set(name, bytesToString(value))
}

// AddBytes is Add with a value in bytes.
func (h HeaderMap) AddBytes(name string, value []byte) error {
	return h.Add(name, bytesToString(value))
}

func bytesToString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// Remove deletes the header.
func (h HeaderMap) Remove(name string) error {
	if elsewhere(h.id) {
		return inOtherErr(h.id, func() error { return HeaderMap{kind: h.kind}.Remove(name) })
	}
	if h.deferred(name) {
		return queueEdit('q', 'd', name, "")
	}
	sync()
	return check(host().RemoveMapValue(h.kind, name))
}

// ResponseEdits changes the response's headers before the response
// exists: from OnRequestHeaders, say, a policy that only sets response
// headers needs no OnResponseHeaders. The edits apply when the response
// headers come, where the plugin's OnResponseHeaders would run, in the
// order made, and to a gateway error or a later plugin's local response
// when the client gets one of those instead (not to the plugin's own
// local response); made once the response headers have come, they apply
// at once. On wasmgate the host applies them (see
// wasmgate.edits below), and the request costs the plugin one call
// fewer; on other hosts the SDK keeps them and applies them in the
// response-headers callback. Names may not be pseudo-headers, and
// neither names nor values may hold a NUL. Edits are for their own
// request: made from another request's callback or a root callback (a
// tick), they fail on wasmgate, which runs a callback for its own
// request only, and never land on the running request's response.
type ResponseEdits struct{ id uint32 }

// ResponseEdits returns the request's response header edits.
func (s Stream) ResponseEdits() ResponseEdits { return ResponseEdits{s.id} }

// Set replaces the header's values with value.
func (e ResponseEdits) Set(name, value string) error { return e.edit('r', name, value) }

// SetBytes is Set with a value in bytes.
func (e ResponseEdits) SetBytes(name string, value []byte) error {
	return e.edit('r', name, bytesToString(value))
}

// Add adds a value, keeping those the header has.
func (e ResponseEdits) Add(name, value string) error { return e.edit('a', name, value) }

// Remove deletes the header.
func (e ResponseEdits) Remove(name string) error { return e.edit('d', name, "") }

// On wasmgate, a request callback's edits of the request's headers, its
// response edits and its counter and gauge increments are batched
// (pendingEdits): each a kind ('q' request, 's' response, 'm' metric), an
// op, the name (a metric's id), a NUL and the value (a metric's delta),
// separated by NULs. The batch goes to the host when the callback
// returns, in one call of wasmgate.edits or, when the plugin lent an edit
// area, in no call at all (see abi_wasip1.go). Before anything that could
// show the edits (reading a header back, a property, a metric's value, a
// body change, a local response, another context) sync sends them first,
// so a plugin sees its own edits in order. A policy setting three headers
// and counting the request then makes one host call or none, not four.
var (
	pendingEdits []byte
	// forStream: the running callback is a request's (its root's
	// callbacks have no headers to edit), curStream's.
	forStream bool
	curStream uint32
)

func (e ResponseEdits) edit(op byte, name, value string) error {
	running := !elsewhere(e.id)
	if hostEdits && running {
		return queueEdit('s', op, name, value)
	}
	if !validEdit(name, value) {
		return ErrBadArgument
	}
	if hostEdits {
		// Another request's edits, or edits from a root callback: the
		// batch is the running callback's request's, so this edit goes
		// alone, in its own request's context (which wasmgate refuses
		// unless it is the running callback's).
		return inOtherErr(e.id, func() error { return sendEdits(appendEdit([]byte{'s'}, op, name, value)) })
	}
	// Without wasmgate's extensions every context is created up front,
	// so the stream is in the table.
	st, ok := streams.get(e.id)
	if !ok {
		return ErrNotFound
	}
	if !st.responding {
		st.later = append(appendEdit(st.later, op, name, value), 0)
		return nil
	}
	if !running {
		return inOtherErr(e.id, func() error { return applyEdit(op, name, value) })
	}
	return applyEdit(op, name, value)
}

// other makes request id's context the one the host's calls are for.
func other(id uint32) error { return check(host().SetEffectiveContext(id)) }

// back makes the running callback's request's context the host's again
// after other, so that what the callback does next is for its own.
func back() {
	if forStream {
		_ = host().SetEffectiveContext(curStream)
	}
}

// validEdit is what wasmgate takes in a header edit: a name that is not
// a pseudo-header, and no NUL in the name or the value.
func validEdit(name, value string) bool {
	return name != "" && name[0] != ':' && strings.IndexByte(name, 0) < 0 && strings.IndexByte(value, 0) < 0
}

// queueEdit checks an edit as wasmgate would, so that a bad one is an
// error now rather than a refused batch later, and adds it to the batch.
func queueEdit(kind, op byte, name, value string) error {
	if !validEdit(name, value) {
		return ErrBadArgument
	}
	if !startEdit(1 + 1 + len(name) + 1 + len(value)) {
		// Too large for the lent area: alone.
		return sendEdits(appendEdit(append([]byte(nil), kind), op, name, value))
	}
	pendingEdits = appendEdit(append(pendingEdits, kind), op, name, value)
	return nil
}

// startEdit makes room in the batch for an edit of need bytes and its
// separator (when the lent area cannot take it, what it holds goes now),
// and puts the separator. It is false for an edit larger than the area.
func startEdit(need int) bool {
	if editArea != nil && len(pendingEdits)+need+1 > cap(pendingEdits) {
		_ = flushEdits()
		if need > cap(pendingEdits) {
			return false
		}
	}
	if len(pendingEdits) > 0 {
		pendingEdits = append(pendingEdits, 0)
	}
	return true
}

// appendEdit encodes an edit: op, name, NUL, value.
func appendEdit(b []byte, op byte, name, value string) []byte {
	return append(append(append(append(b, op), name...), 0), value...)
}

// sync sends the pending edits before the plugin asks the host anything
// that could show them.
func sync() {
	if len(pendingEdits) > 0 {
		_ = flushEdits()
	}
}

// editArea, when set, is the memory lent to wasmgate for the batch
// (wasmgate.edit_area): its length, then pendingEdits, whose capacity it
// bounds.
var editArea []byte

// endEdits ends a callback's edits: they are sent, or, in the lent area,
// left for the host to take as the callback returns.
func endEdits() {
	if editArea == nil {
		_ = flushEdits()
	}
	forStream = false
}

// flushEdits sends the pending edits to wasmgate, which applies them to
// the stream its callback (or the last SetEffectiveContext) is for.
func flushEdits() error {
	if len(pendingEdits) == 0 {
		return nil
	}
	err := sendEdits(pendingEdits)
	pendingEdits = pendingEdits[:0]
	return err
}

// sendEdits is one call of wasmgate.edits. The SDK has checked
// each edit, so a refusal is unexpected: it is logged.
func sendEdits(b []byte) error {
	_, st := host().CallForeign("wasmgate.edits", b)
	if err := check(st); err != nil {
		LogWarn("wasmgate refused edits: " + err.Error())
		return err
	}
	return nil
}

// applyEdit makes one edit to the response headers.
func applyEdit(op byte, name, value string) error {
	switch op {
	case 'a':
		return HeaderMap{kind: mapResponseHeaders}.Add(name, value)
	case 'r':
		return HeaderMap{kind: mapResponseHeaders}.Set(name, value)
	}
	return HeaderMap{kind: mapResponseHeaders}.Remove(name)
}

// applyLater makes the edits a stream kept, when its response headers
// come on a host without wasmgate.edits.
func applyLater(st *stream) {
	st.responding = true
	for b := bytesToString(st.later); len(b) > 0; {
		// Each edit: op, name, NUL, value, NUL.
		name, rest, _ := strings.Cut(b[1:], "\x00")
		value, rest, _ := strings.Cut(rest, "\x00")
		_ = applyEdit(b[0], name, value)
		b = rest
	}
	st.later = st.later[:0]
}

// Values appends every value of the header to dst, in order, without
// copying (valid until the callback returns): a header sent on several
// lines, as X-Forwarded-For may be behind some proxies, has several
// values, where Peek and Get give the first. Pass a slice kept from
// request to request and it allocates nothing.
func (h HeaderMap) Values(name string, dst [][]byte) ([][]byte, error) {
	if elsewhere(h.id) {
		return inOther(h.id, func() ([][]byte, error) { return HeaderMap{kind: h.kind}.Values(name, dst) })
	}
	sync()
	b, st := host().GetMapPairs(h.kind)
	if err := check(st); err != nil {
		return dst, err
	}
	err := walkPairs(b, func(k, v []byte) {
		if strings.EqualFold(bytesToString(k), name) {
			dst = append(dst, v)
		}
	})
	return dst, err
}

// All returns a copy of every pair, in order.
func (h HeaderMap) All() ([][2]string, error) {
	if elsewhere(h.id) {
		return inOther(h.id, HeaderMap{kind: h.kind}.All)
	}
	sync()
	b, st := host().GetMapPairs(h.kind)
	if err := check(st); err != nil {
		return nil, err
	}
	return decodePairs(b)
}

// SetAll replaces the whole map.
func (h HeaderMap) SetAll(pairs [][2]string) error {
	if elsewhere(h.id) {
		return inOtherErr(h.id, func() error { return HeaderMap{kind: h.kind}.SetAll(pairs) })
	}
	sync()
	return check(host().SetMapPairs(h.kind, encodePairs(pairs)))
}

// ---- bodies

// Body is a message body: the request's, the response's, or a callout
// response's. Like a HeaderMap, it is its request's.
type Body struct {
	kind uint32
	id   uint32 // the request's context; 0 for a callout response's
}

// The Proxy-Wasm buffer types.
const (
	bufRequestBody  uint32 = 0
	bufResponseBody uint32 = 1
	bufCalloutBody  uint32 = 4
	bufVMConfig     uint32 = 6
	bufPluginConfig uint32 = 7
)

// RequestBody and ResponseBody are the request's bodies, readable in the
// body phases (OnRequestBody, OnResponseBody) and after them.
func (s Stream) RequestBody() Body  { return Body{bufRequestBody, s.id} }
func (s Stream) ResponseBody() Body { return Body{bufResponseBody, s.id} }

// maxBuffer asks the host for everything a buffer has.
const maxBuffer = 1<<31 - 1

// Bytes returns the body without copying it: valid until the callback
// returns.
func (b Body) Bytes() ([]byte, error) { return b.Range(0, maxBuffer) }

// Range returns up to max bytes from start, without copying.
func (b Body) Range(start, max int) ([]byte, error) {
	if elsewhere(b.id) {
		return inOther(b.id, func() ([]byte, error) { return Body{kind: b.kind}.Range(start, max) })
	}
	v, st := host().GetBuffer(b.kind, uint32(start), uint32(max))
	if st == uint32(ErrNotFound) && start == 0 {
		return nil, nil // an empty body has no buffer on some hosts
	}
	return v, check(st)
}

// Len is the body's length.
func (b Body) Len() (int, error) {
	if elsewhere(b.id) {
		return inOther(b.id, Body{kind: b.kind}.Len)
	}
	n, st := host().BufferStatus(b.kind)
	return int(n), check(st)
}

// Replace sets the whole body; the host keeps Content-Length right.
func (b Body) Replace(data []byte) error {
	if elsewhere(b.id) {
		return inOtherErr(b.id, func() error { return Body{kind: b.kind}.Replace(data) })
	}
	sync() // the host sets Content-Length, after the edits made before
	return check(host().SetBuffer(b.kind, 0, maxBuffer, data))
}

// Append adds data at the body's end.
func (b Body) Append(data []byte) error {
	if elsewhere(b.id) {
		return inOtherErr(b.id, func() error { return Body{kind: b.kind}.Append(data) })
	}
	n, err := b.Len()
	if err != nil {
		return err
	}
	sync()
	return check(host().SetBuffer(b.kind, uint32(n), 0, data))
}

// Prepend adds data at the body's start.
func (b Body) Prepend(data []byte) error {
	if elsewhere(b.id) {
		return inOtherErr(b.id, func() error { return Body{kind: b.kind}.Prepend(data) })
	}
	sync()
	return check(host().SetBuffer(b.kind, 0, 0, data))
}

// ---- the stream

// Respond answers the request from the plugin: the upstream is not asked
// (or, from a response phase, its response is replaced). The callback
// should then return Pause.
func (s Stream) Respond(status int, headers [][2]string, body []byte) error {
	if elsewhere(s.id) {
		return inOtherErr(s.id, func() error { return Stream{}.Respond(status, headers, body) })
	}
	sync()
	return check(host().SendLocalResponse(uint32(status), "", body, encodePairs(headers), -1))
}

// Resume continues a request paused by a callback that returned Pause,
// typically from a callout's done function.
func (s Stream) Resume() error {
	sync() // they are the running callback's stream's
	if err := check(host().SetEffectiveContext(s.id)); err != nil {
		return err
	}
	return check(host().ContinueStream(0))
}

// Close ends the request abruptly: the client's connection is closed
// without a response.
func (s Stream) Close() error {
	sync()
	if err := check(host().SetEffectiveContext(s.id)); err != nil {
		return err
	}
	return check(host().CloseStream(0))
}

// Property reads a property by its path parts, e.g. ("source",
// "address") or ("request", "path"), without copying: valid until the
// callback returns.
func (s Stream) Property(path ...string) ([]byte, error) {
	if elsewhere(s.id) {
		return inOther(s.id, func() ([]byte, error) { return Property(path...) })
	}
	return Property(path...)
}

// SetProperty sets a property (those the host lets plugins write).
func (s Stream) SetProperty(value []byte, path ...string) error {
	if elsewhere(s.id) {
		return inOtherErr(s.id, func() error { return Stream{}.SetProperty(value, path...) })
	}
	sync()
	return check(host().SetProperty(joinPath(path), value))
}

// Property reads a property outside a request (root context), e.g.
// ("plugin_name"). See Stream.Property.
func Property(path ...string) ([]byte, error) {
	sync()
	v, st := host().GetProperty(joinPath(path))
	return v, check(st)
}

var pathBuf []byte

// joinPath encodes a property path (parts separated by NUL) in a buffer
// reused across calls: a VM runs one callback at a time.
func joinPath(parts []string) []byte {
	pathBuf = pathBuf[:0]
	for i, p := range parts {
		if i > 0 {
			pathBuf = append(pathBuf, 0)
		}
		pathBuf = append(pathBuf, p...)
	}
	return pathBuf
}

// ---- callouts

// CalloutResponse is the answer to a callout, readable in its done
// function only: the SDK reuses it for the next answer, so done must not
// keep it. A callout that failed (no connection, timeout) has Status 0.
type CalloutResponse struct {
	headers  int
	bodySize int
}

// Status is the response's status code, or 0 when the callout failed.
func (r *CalloutResponse) Status() int {
	if r.headers == 0 {
		return 0
	}
	v, err := HeaderMap{kind: mapCalloutHeaders}.Peek(":status")
	if err != nil {
		return 0
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// Headers is the response's header map (read only).
func (r *CalloutResponse) Headers() HeaderMap { return HeaderMap{kind: mapCalloutHeaders} }

// Trailers is the response's trailer map (read only).
func (r *CalloutResponse) Trailers() HeaderMap { return HeaderMap{kind: mapCalloutTrailers} }

// Body is the response's body without copying: valid until the done
// function returns.
func (r *CalloutResponse) Body() []byte {
	if r.bodySize == 0 {
		return nil
	}
	b, _ := Body{kind: bufCalloutBody}.Range(0, r.bodySize)
	return b
}

type pendingCallout struct {
	stream uint32 // 0 for RootCallout's
	done   func(Stream, *CalloutResponse)
	// rootDone is RootCallout's done.
	rootDone func(*CalloutResponse)
}

var callouts = map[uint32]pendingCallout{}

// Callout sends an HTTP request to one of the gateway's upstreams; done
// runs with the response, in the request's context. headers must include
// :method, :path and :authority. The callback that made the callout
// usually returns Pause, and done calls Resume (or Respond).
func (s Stream) Callout(upstream string, headers [][2]string, body []byte, timeout time.Duration, done func(Stream, *CalloutResponse)) error {
	token, st := host().HTTPCall(upstream, encodePairs(headers), body, nil, uint32(timeout/time.Millisecond))
	if err := check(st); err != nil {
		return err
	}
	callouts[token] = pendingCallout{stream: s.id, done: done}
	return nil
}

// RootCallout sends an HTTP request to one of the gateway's upstreams
// from the plugin's root context, for work no request waits on (a key
// set refreshed on a timer): call it from OnTick, OnQueueReady or another
// RootCallout's done, which runs with the response in the root context.
// wasmgate refuses it with ErrBadArgument while the plugin starts (OnStart,
// OnConfigure) and for an upstream it does not have.
func RootCallout(upstream string, headers [][2]string, body []byte, timeout time.Duration, done func(*CalloutResponse)) error {
	token, st := host().HTTPCall(upstream, encodePairs(headers), body, nil, uint32(timeout/time.Millisecond))
	if err := check(st); err != nil {
		return err
	}
	callouts[token] = pendingCallout{rootDone: done}
	return nil
}

func onHTTPCallResponse(_, token, headers, bodySize, _ uint32) {
	c, ok := callouts[token]
	if !ok {
		return
	}
	delete(callouts, token)
	if c.rootDone != nil {
		calloutResp = CalloutResponse{headers: int(headers), bodySize: int(bodySize)}
		c.rootDone(&calloutResp)
		endEdits()
		return
	}
	if _, alive := streams.get(c.stream); !alive {
		return
	}
	sync()
	_ = host().SetEffectiveContext(c.stream)
	calloutResp = CalloutResponse{headers: int(headers), bodySize: int(bodySize)}
	c.done(enter(c.stream), &calloutResp)
	endEdits()
}

// calloutResp is the response done gets: one for all, since it is valid
// only while done runs (an allocation in a Go-built module costs
// microseconds, and auth plugins call out on every request).
var calloutResp CalloutResponse

// ---- shared data and queues, shared by every VM of the plugin's host

// SharedData returns a key's value and its version (cas), without
// copying the value: valid until the callback returns. ErrNotFound when
// the key has no value.
func SharedData(key string) (value []byte, cas uint32, err error) {
	v, cas, st := host().GetSharedData(key)
	return v, cas, check(st)
}

// CreateOnly is the cas that writes a shared-data key only if it does
// not exist yet: a missing key is created whatever the cas (as on Envoy),
// and no existing key is ever at version 0 or 0xFFFFFFFF.
const CreateOnly uint32 = 0xFFFFFFFF

// SetSharedData sets a key's value. With cas other than 0 it succeeds
// only if the key is still at that version (ErrCASMismatch otherwise):
// read, compute, write with the version read, retry on mismatch. See
// CreateOnly for a key that may not exist yet.
func SetSharedData(key string, value []byte, cas uint32) error {
	return check(host().SetSharedData(key, value, cas))
}

// Queue is a shared queue.
type Queue uint32

// RegisterQueue creates (or finds) a queue this VM reads; the root's
// OnQueueReady hears of new items.
func RegisterQueue(name string) (Queue, error) {
	id, st := host().RegisterQueue(name)
	return Queue(id), check(st)
}

// ResolveQueue finds a queue another VM registered.
func ResolveQueue(vmID, name string) (Queue, error) {
	id, st := host().ResolveQueue(vmID, name)
	return Queue(id), check(st)
}

// Enqueue adds an item.
func (q Queue) Enqueue(data []byte) error { return check(host().Enqueue(uint32(q), data)) }

// Dequeue takes the oldest item (ErrEmpty when there is none), without
// copying: valid until the callback returns.
func (q Queue) Dequeue() ([]byte, error) {
	v, st := host().Dequeue(uint32(q))
	return v, check(st)
}

// ---- timers and time

// SetTickPeriod makes the host call the root's OnTick every d (0 stops).
func SetTickPeriod(d time.Duration) error {
	return check(host().SetTickPeriod(uint32(d / time.Millisecond)))
}

// Now is the host's clock (the emulator's in tests).
func Now() time.Time {
	ns, st := host().CurrentTimeNanos()
	if st != 0 {
		return time.Now()
	}
	return time.Unix(0, ns)
}

// ---- metrics, kept by the host and exported with its own

// Counter only goes up; Gauge is set; Histogram records observations.
type (
	Counter   uint32
	Gauge     uint32
	Histogram uint32
)

// NewCounter defines (or finds) a counter.
func NewCounter(name string) (Counter, error) {
	id, st := host().DefineMetric(0, name)
	if st == 0 {
		defined(id, false)
	}
	return Counter(id), check(st)
}

// NewGauge defines (or finds) a gauge.
func NewGauge(name string) (Gauge, error) {
	id, st := host().DefineMetric(1, name)
	if st == 0 {
		defined(id, true)
	}
	return Gauge(id), check(st)
}

// countable holds the counters and gauges this plugin defined: only their
// increments go in a batch. The host refuses a batch whole when one edit
// in it is bad, so an increment it would refuse (a histogram's id, one
// never defined, a counter's negative delta, all reachable by converting
// ids) must go alone and fail alone, as it does without the batch. A
// plugin defines a handful, so a list is the quickest lookup.
var countable []countMetric

type countMetric struct {
	id    uint32
	gauge bool
}

func defined(id uint32, gauge bool) {
	for _, m := range countable {
		if m.id == id {
			return
		}
	}
	countable = append(countable, countMetric{id, gauge})
}

// batchable reports whether the host takes delta for metric id.
func batchable(id uint32, delta int64) bool {
	for _, m := range countable {
		if m.id == id {
			return m.gauge || delta >= 0
		}
	}
	return false
}

// NewHistogram defines (or finds) a histogram.
func NewHistogram(name string) (Histogram, error) {
	id, st := host().DefineMetric(2, name)
	return Histogram(id), check(st)
}

// Add increments the counter. On wasmgate the increment goes with the
// callback's batch of edits (see pendingEdits): counting every request
// costs no host call.
func (c Counter) Add(n uint64) error {
	if int64(n) < 0 {
		return ErrBadArgument // a counter's delta beyond int64: the host's refusal
	}
	return increment(uint32(c), int64(n))
}

// Value is the counter's value.
func (c Counter) Value() (uint64, error) { return metricValue(uint32(c)) }

// Set sets the gauge; Add moves it by delta, as Counter.Add does.
func (g Gauge) Set(v uint64) error {
	sync()
	return check(host().RecordMetric(uint32(g), v))
}
func (g Gauge) Add(delta int64) error     { return increment(uint32(g), delta) }
func (g Gauge) Value() (uint64, error)    { return metricValue(uint32(g)) }
func (h Histogram) Record(v uint64) error { return check(host().RecordMetric(uint32(h), v)) }

// increment adds delta to a counter or gauge: in the batch on wasmgate,
// during a request's callback.
func increment(id uint32, delta int64) error {
	if !hostEdits || !forStream || !batchable(id, delta) {
		return check(host().IncrementMetric(id, delta))
	}
	if !startEdit(2 + 10 + 1 + 20) {
		return check(host().IncrementMetric(id, delta))
	}
	pendingEdits = strconv.AppendUint(append(pendingEdits, 'm', 'a'), uint64(id), 10)
	pendingEdits = strconv.AppendInt(append(pendingEdits, 0), delta, 10)
	return nil
}

func metricValue(id uint32) (uint64, error) {
	sync()
	v, st := host().GetMetric(id)
	return v, check(st)
}

// ---- log

// LogLevel orders the log's levels.
type LogLevel uint32

const (
	LevelTrace LogLevel = iota
	LevelDebug
	LevelInfo
	LevelWarn
	LevelError
	LevelCritical
)

// Logging at a level: the host drops lines below its own level.
func LogDebug(msg string) { logAt(LevelDebug, msg) }
func Log(msg string)      { logAt(LevelInfo, msg) }
func LogWarn(msg string)  { logAt(LevelWarn, msg) }
func LogError(msg string) { logAt(LevelError, msg) }

// Enabled reports whether the host keeps lines at level, so a plugin can
// skip building a message nobody reads.
func Enabled(level LogLevel) bool {
	l, st := host().LogLevel()
	return st != 0 || level >= LogLevel(l)
}

func logAt(level LogLevel, msg string) { host().Log(uint32(level), msg) }

// ---- foreign functions

// CallForeign calls a host extension by name (ErrNotFound when the host
// has none of that name); the result is valid until the callback returns.
func CallForeign(name string, arg []byte) ([]byte, error) {
	sync() // another host extension might read the headers
	v, st := host().CallForeign(name, arg)
	return v, check(st)
}

// SHA256 is the SHA-256 of data, computed by the host when it offers
// that (wasmgate's foreign function wasmgate.sha256: native code, a
// fraction of a microsecond where Go's code inside Wasm takes several),
// and by crypto/sha256 here otherwise. A policy that hashes a credential
// on every request should use it.
func SHA256(data []byte) [sha256.Size]byte {
	if hostSHA256 >= 0 {
		v, st := host().CallForeign("wasmgate.sha256", data)
		if st == 0 && len(v) == sha256.Size {
			hostSHA256 = 1
			return [sha256.Size]byte(v)
		}
		if hostSHA256 == 0 {
			hostSHA256 = -1 // not this host's: ask no more
		}
	}
	return sha256.Sum256(data)
}

// hostSHA256 is whether the host computes SHA256: 0 until it is asked,
// then 1 or -1.
var hostSHA256 int8

// ---- the ABI's map encoding

var pairsBuf []byte

// encodePairs encodes a map the ABI's way (count, then each name and
// value length, then each name and value NUL-terminated) in a buffer
// reused across calls.
func encodePairs(pairs [][2]string) []byte {
	b := put32(pairsBuf[:0], uint32(len(pairs)))
	for _, p := range pairs {
		b = put32(put32(b, uint32(len(p[0]))), uint32(len(p[1])))
	}
	for _, p := range pairs {
		b = append(append(append(append(b, p[0]...), 0), p[1]...), 0)
	}
	pairsBuf = b
	return b
}

func put32(b []byte, v uint32) []byte {
	return append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
}

func get32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func decodePairs(b []byte) ([][2]string, error) {
	var out [][2]string
	err := walkPairs(b, func(k, v []byte) { out = append(out, [2]string{string(k), string(v)}) })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// walkPairs calls f with each pair of a serialized map, in order, without
// copying.
func walkPairs(b []byte, f func(k, v []byte)) error {
	if len(b) < 4 {
		if len(b) == 0 {
			return nil
		}
		return ErrSerialization
	}
	n := int(get32(b))
	if n > (len(b)-4)/8 {
		return ErrSerialization
	}
	sizes, data := b[4:4+8*n], b[4+8*n:]
	for i := 0; i < n; i++ {
		kl, vl := int(get32(sizes[8*i:])), int(get32(sizes[8*i+4:]))
		if kl+vl+2 > len(data) {
			return ErrSerialization
		}
		f(data[:kl], data[kl+1:kl+1+vl])
		data = data[kl+vl+2:]
	}
	return nil
}
