package pluginhost

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"iter"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// Stream is one request's HTTP context inside one VM of one plugin.
type Stream struct {
	vm   *VM
	id   uint32
	root bool
	req  *Request

	calls      []pendingCall      // proxy_http_call requests not yet sent
	callResp   *fasthttp.Response // the callout response being delivered
	callFailed bool
	resumed    bool // proxy_continue_stream since the last Pause
	// touched: the guest has been called for this context (it knows of
	// it); finished: the guest has released it (see finishedFlag).
	touched, finished bool
	// idx is the stream's place in the chain; edits says whether it left
	// response header edits in its request's (see editsName).
	idx   uint8
	edits bool
	// callouts are the calls sent for this request (see maxCallouts).
	callouts uint32
	// capped: a root context's call was refused at maxCallouts.
	capped bool
}

// Request is what the chain sees of one request: the messages and the
// properties plugins may read, and the local response one may send.
type Request struct {
	Ctx      *fasthttp.RequestCtx
	Route    string
	Upstream string
	Local    *LocalResponse // set when a plugin answered the request itself
	// Closed is set when a plugin closed the stream (proxy_close_stream):
	// the gateway drops the request with its connection.
	Closed bool
	// props are values plugins set with proxy_set_property for this
	// request (Envoy's filter state): later plugins and callbacks read them.
	props map[string][]byte

	streams [maxChain]*Stream
	storage [maxChain]Stream // what streams point into: no allocation per plugin
	n       int

	// edits are response header edits plugins made before the response
	// came (see editsName), kept with the request so that their
	// memory is reused: records of stream index, op, name and value.
	edits []byte
	// responding: the response phase has begun, so edits apply at once.
	responding bool
	// answeredBy is the index of the stream that answered the request
	// itself (a local response or a closed stream); maxChain if none did.
	answeredBy int
	// over: the done and log phases have begun. The response is built
	// (fasthttp sends it when the handler returns), so header maps are
	// read-only: an edit now would change what the client gets after
	// every phase that may change it has run.
	over bool
}

// LocalResponse is a response a plugin sent with proxy_send_local_response.
type LocalResponse struct {
	Status  int
	Details string
	Body    []byte
	Headers [][2]string
	Plugin  string
}

const maxChain = 16

// Chain is a route's ordered list of plugins, by slot.
type Chain []*Slot

var requests = sync.Pool{New: func() any { return &Request{} }}

// Begin opens an HTTP context in one VM of each plugin of the chain. It
// returns nil for an empty chain, which then costs nothing more.
func (c Chain) Begin(ctx *fasthttp.RequestCtx, route, upstream string) (*Request, error) {
	if len(c) == 0 {
		return nil, nil
	}
	r := requests.Get().(*Request)
	r.Ctx, r.Route, r.Upstream, r.Local, r.n, r.Closed, r.props = ctx, route, upstream, nil, 0, false, nil
	r.edits, r.responding, r.over, r.answeredBy = r.edits[:0], false, false, maxChain
	for _, slot := range c[:min(len(c), maxChain)] {
		p := slot.Plugin()
		vm := p.pick()
		if vm == nil {
			r.streams[r.n] = nil
			r.n++
			if p.FailOpen() {
				continue
			}
			return r, &Fault{Plugin: p.opts.Name, Kind: "unavailable", Err: errVMGone}
		}
		vm.mu.Lock()
		id := vm.newContextID()
		vm.mu.Unlock()
		vm.active.Add(1)
		s := &r.storage[r.n]
		*s = Stream{vm: vm, id: id, req: r, idx: uint8(r.n)}
		r.streams[r.n] = s
		r.n++
		if vm.lazyContext {
			continue // created by the guest at its first callback
		}
		if _, err := vm.call(s, phContextCreate, uint64(id), uint64(vm.rootID)); err != nil {
			r.streams[r.n-1] = nil
			if p.FailOpen() {
				continue
			}
			return r, err
		}
	}
	return r, nil
}

// newContextID numbers a request's context; vm.mu is held. The counter
// wraps after 2^32 requests (half a day at 100k requests a second on one
// VM): 0 means no context to the guest, and the root's id would hand the
// request the root context's state.
func (vm *VM) newContextID() uint32 {
	for {
		id := vm.nextID
		vm.nextID++
		if id != 0 && id != vm.rootID {
			return id
		}
	}
}

// Action is what the chain decided after a phase.
type Action int

const (
	Continue Action = iota
	// Respond: a plugin sent a local response, in r.Local.
	Respond
)

// RequestHeaders runs proxy_on_request_headers through the chain in order.
// A plugin failure is returned as a *Fault unless the plugin fails open.
// end_of_stream is set for a request without a body, as Envoy sets it:
// there is no body phase then.
func (r *Request) RequestHeaders() (Action, error) {
	n := uint64(r.Ctx.Request.Header.Len())
	eos := b2u64(!r.requestHasBody())
	return r.phase(func(s *Stream) (uint64, error) {
		return s.vm.call(s, phRequestHeaders, uint64(s.id), n, eos)
	}, false)
}

// requestHasBody reports a request that declares a body: a length above
// 0, or chunked.
func (r *Request) requestHasBody() bool {
	cl := r.Ctx.Request.Header.ContentLength()
	return cl > 0 || cl == -1
}

// responseHasBody reports a response that may carry a body: not one to a
// HEAD request, not 1xx, 204 or 304, and not a declared length of 0.
func (r *Request) responseHasBody() bool {
	resp := &r.Ctx.Response
	switch st := resp.StatusCode(); {
	case r.Ctx.Request.Header.IsHead(), st < 200, st == 204, st == 304:
		return false
	}
	return resp.Header.ContentLength() != 0
}

func b2u64(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// ResponseHeaders runs proxy_on_response_headers in reverse order. A
// plugin's response header edits apply just before its callback would
// run, whether it has one or not.
func (r *Request) ResponseHeaders() (Action, error) {
	var eos uint64
	if r != nil {
		r.responding = true
		eos = b2u64(!r.responseHasBody())
	}
	return r.phase(func(s *Stream) (uint64, error) {
		if s.edits {
			s.applyEdits()
		}
		n := uint64(r.Ctx.Response.Header.Len())
		return s.vm.call(s, phResponseHeaders, uint64(s.id), n, eos)
	}, true)
}

// editsName is the foreign function with which a plugin sends the
// changes it would otherwise make one host call each for, in a batch: one
// host call for several, or none when the plugin lent an edit area (see
// editAreaName). An edit is a kind, an op, a name, a NUL and a value;
// edits are separated by NULs (headers hold no NUL, so this is
// unambiguous). A batch with any bad edit is refused whole. The kinds:
//
//   - 'q', the request's headers, and 's', the response's: op 'a' add,
//     'r' replace every value or 'd' remove, then the header's name and
//     value. Pseudo-headers (the request line, the status) are not edited
//     in batches. Request edits apply at once, in order, as
//     proxy_replace_header_map_value and its kin would.
//   - 'm', a metric: op 'a', the id proxy_define_metric gave, and the
//     delta to add to that counter or gauge, both in decimal: what
//     proxy_increment_metric does. A policy counting every request then
//     counts with no host call.
//
// Response edits may come before the response exists, from a request
// phase: they apply where the plugin's proxy_on_response_headers would be
// called on an upstream's or a direct response, in the order made, and to
// a gateway error or a later plugin's local response when the request
// ends (see applyPendingEdits); once the response phase has begun they
// apply at once. A policy that only sets response
// headers (rate-limit's X-RateLimit-*, transform's fixed ones) then needs
// no response callback, and its request costs one call into the VM, not
// two: the second is the dearer, as the guest's code and data have gone
// cold by then. Kong's PDK does the same with kong.response.set_header in
// the access phase. A plugin that declares "edits" in
// wasmgate.declare_phases learns whether the host has this and the edit
// area.
const editsName = "wasmgate.edits"

// editAreaName is the foreign function with which a starting plugin lends
// the host a buffer of its memory for edits (8 bytes of arguments:
// address and length, little-endian). The buffer starts with the length,
// a little-endian u32, of the batch that follows it, in wasmgate.edits'
// form. When a callback returns, the host applies the batch there and
// sets the length to 0: a policy that only edits headers and counts then
// makes no host call at all. A plugin that must observe its edits before
// the callback ends (reading a header back, say) sends them with
// wasmgate.edits first, and sets the length to 0 itself.
const editAreaName = "wasmgate.edit_area"

func (vm *VM) setEditArea(args []byte) uint32 {
	ptr, n, ok := vm.lentArea(args, 64)
	if !ok {
		return stBadArgument
	}
	vm.editPtr, vm.editLen = ptr, n
	return stOK
}

// takeEdits applies the batch a callback left in the VM's edit area. A
// batch the host cannot read or refuses is the plugin's bug: it is
// logged and dropped, and the request goes on.
func (vm *VM) takeEdits() {
	mem := vm.mod.Memory()
	n, ok := mem.ReadUint32Le(vm.editPtr)
	if !ok || n == 0 {
		return
	}
	st := uint32(stInvalidMemory)
	if n <= vm.editLen-4 {
		if b, ok := mem.Read(vm.editPtr+4, n); ok {
			st = vm.edits(b)
		}
	}
	mem.WriteUint32Le(vm.editPtr, 0)
	if st != stOK {
		vm.p.refusedEdits(st)
	}
}

// refusedEdits counts a batch refused from an edit area, and logs it at
// most every editsLogEvery: a plugin that gets every request's batch
// wrong would otherwise write a log line per request.
func (p *Plugin) refusedEdits(st uint32) {
	p.editsRefused.Inc()
	now, last := time.Now().UnixNano(), p.editsLogged.Load()
	if now-last < int64(editsLogEvery) || !p.editsLogged.CompareAndSwap(last, now) {
		return
	}
	p.opts.Log.Warn().Str("plugin", p.opts.Name).Uint32("status", st).
		Uint64("refused_total", p.editsRefused.Get()).
		Msg("plugin left edits the host refused; dropped (logged at most every 10s)")
}

const editsLogEvery = 10 * time.Second

func (vm *VM) edits(arg []byte) uint32 {
	s := vm.cur
	stream := s != nil && !s.root && s.req != nil && !s.req.over
	if len(arg) < 3 {
		return stBadArgument
	}
	for rest := arg; rest != nil; {
		kind, _, name, value, next, ok := nextEdit(rest)
		if !ok || kind != 'm' && !stream {
			return stBadArgument
		}
		if kind == 'm' {
			if _, _, ok := metricEdit(name, value); !ok {
				return stBadArgument
			}
		}
		rest = next
	}
	for rest := arg; rest != nil; {
		kind, op, name, value, next, _ := nextEdit(rest)
		rest = next
		switch {
		case kind == 'm':
			m, delta, _ := metricEdit(name, value)
			m.add(delta)
		case kind == 'q':
			s.setHeader(mapRequestHeads, name, value, op)
		case s.req.responding:
			s.setHeader(mapResponseHeads, name, value, op)
		default:
			r := s.req
			r.edits = append(r.edits, s.idx, op, byte(len(name)), byte(len(name)>>8))
			r.edits = binary.LittleEndian.AppendUint32(r.edits, uint32(len(value)))
			r.edits = append(append(r.edits, name...), value...)
			s.edits = true
		}
	}
	return stOK
}

// metricEdit reads a metric increment of a batch: the metric's id and
// the delta, in decimal, as proxy_increment_metric takes them.
func metricEdit(name, value []byte) (*metric, int64, bool) {
	id, err := strconv.ParseUint(b2s(name), 10, 32)
	if err != nil {
		return nil, 0, false
	}
	delta, err := strconv.ParseInt(b2s(value), 10, 64)
	if err != nil {
		return nil, 0, false
	}
	m, st := incrementable(id, delta)
	return m, delta, st == stOK
}

// nextEdit splits the first edit off a batch; rest is nil after the last.
// ok is false for a malformed edit: an unknown kind or op (a metric's is
// 'a'), a missing NUL, an empty, pseudo- or overlong name, or an empty
// edit after a separator.
func nextEdit(b []byte) (kind, op byte, name, value, rest []byte, ok bool) {
	if len(b) < 3 {
		return 0, 0, nil, nil, nil, false
	}
	kind, op = b[0], b[1]
	name, after, found := bytes.Cut(b[2:], []byte{0})
	if kind != 'q' && kind != 's' && kind != 'm' || op != 'a' && (kind == 'm' || op != 'r' && op != 'd') ||
		!found || len(name) == 0 || name[0] == ':' || len(name) > 0xffff {
		return 0, 0, nil, nil, nil, false
	}
	value, rest, more := bytes.Cut(after, []byte{0})
	if !more {
		rest = nil
	} else if len(rest) == 0 {
		return 0, 0, nil, nil, nil, false
	}
	return kind, op, name, value, rest, true
}

// applyEdits makes the stream's response header edits. The VM's lock
// guards the header scratch buffers editHeader uses.
func (s *Stream) applyEdits() {
	vm, b := s.vm, s.req.edits
	vm.mu.Lock()
	defer vm.mu.Unlock()
	for len(b) >= 8 {
		idx, op := b[0], b[1]
		nl, vl := int(b[2])|int(b[3])<<8, int(binary.LittleEndian.Uint32(b[4:]))
		name, value := b[8:8+nl], b[8+nl:8+nl+vl]
		b = b[8+nl+vl:]
		if idx == s.idx {
			vm.editHeader(&s.req.Ctx.Response.Header, responseSpecial, name, value, op)
		}
	}
	s.edits = false
}

func (r *Request) phase(run func(*Stream) (uint64, error), reverse bool) (Action, error) {
	if r == nil {
		return Continue, nil
	}
	for k := 0; k < r.n; k++ {
		i := k
		if reverse {
			i = r.n - 1 - k
		}
		s := r.streams[i]
		if s == nil {
			continue
		}
		s.resumed = false
		act, err := run(s)
		if err == nil && s.vm.finishedFlag && act&finishedFlag != 0 {
			s.finished = true
			act &^= finishedFlag
		}
		if err == nil && len(s.calls) > 0 {
			// The stream waits for its callouts; their responses decide
			// whether it resumes (proxy_continue_stream) or is answered
			// (proxy_send_local_response).
			err = s.runCallouts()
		}
		if err == nil && r.Local == nil && !r.Closed && act == guestPause && !s.resumed {
			// Paused, and nothing left that could resume it: letting
			// the request through would skip what the plugin was
			// waiting to decide (an authentication, say), so it is a
			// failure of the plugin.
			s.vm.p.fault(faultStalled)
			err = &Fault{Plugin: s.vm.p.opts.Name, Kind: faultStalled, Err: errStalled}
		}
		if err != nil {
			r.streams[i] = nil
			if s.vm.p.FailOpen() {
				continue
			}
			return Continue, err
		}
		if r.Local != nil || r.Closed {
			r.answeredBy = i
			return Respond, nil
		}
	}
	return Continue, nil
}

// applyPendingEdits gives the answer the client gets instead of the
// upstream's (a later plugin's local response, a gateway error) the
// response edits that plugins made in a request phase and that no
// response phase has applied: a browser must see CORS headers on a 401
// or a 429, and a client X-RateLimit-* on a 502. The plugin that answered
// built its own response whole, so its edits, and those of the plugins
// after it, are left out: Envoy, too, passes a local reply only through
// the filters before the one that sent it. After a full response phase
// nothing is pending.
func (r *Request) applyPendingEdits() {
	for i := min(r.answeredBy, r.n) - 1; i >= 0; i-- {
		if s := r.streams[i]; s != nil && s.edits {
			r.responding = true
			s.applyEdits()
		}
	}
}

// guestPause is the Proxy-Wasm action a callback returns to stop
// iteration (Continue is 0).
const guestPause = 1

var errStalled = errors.New("the plugin paused the request with nothing pending that could resume it")

// End runs proxy_on_done, proxy_on_log and proxy_on_delete for every
// context and releases the request. r must not be used afterwards.
func (r *Request) End() {
	if r == nil {
		return
	}
	r.applyPendingEdits()
	r.over = true
	// Every context the guest knows of ends, also one whose plugin failed
	// this request and left the chain (r.streams): a stalled request
	// leaves its VM healthy, and the guest would keep its state for ever.
	// A broken VM answers errVMGone at once.
	for i := r.n - 1; i >= 0; i-- {
		s := &r.storage[i]
		if s.vm == nil || !s.touched || s.finished {
			continue
		}
		vm := s.vm
		if _, err := vm.call(s, phDone, uint64(s.id)); err != nil {
			continue
		}
		if _, err := vm.call(s, phLog, uint64(s.id)); err != nil {
			continue
		}
		_, _ = vm.call(s, phDelete, uint64(s.id))
	}
	for i := 0; i < r.n; i++ {
		if vm := r.storage[i].vm; vm != nil {
			vm.active.Add(-1) // the plugin may close once none is left
		}
	}
	r.Ctx, r.Local, r.n = nil, nil, 0
	r.streams = [maxChain]*Stream{}
	r.storage = [maxChain]Stream{}
	requests.Put(r)
}

// ---- header maps

// headerMap is the request or response header seen as a Proxy-Wasm map,
// with the HTTP/2-style pseudo-headers SDKs expect.
func (s *Stream) pairs(mapType uint64) ([][2][]byte, bool) {
	if s == nil {
		return nil, false
	}
	// A callout's response is also the root context's, which has no
	// request.
	switch mapType {
	case mapCallHeaders:
		return s.callPairs()
	case mapCallTrailers:
		return nil, s.callResp != nil
	}
	if s.req == nil {
		return nil, false
	}
	ctx := s.req.Ctx
	var out [][2][]byte
	switch mapType {
	case mapRequestHeads:
		h := &ctx.Request.Header
		out = append(out,
			[2][]byte{[]byte(":method"), h.Method()},
			// The origin form even for an absolute-form request target.
			[2][]byte{[]byte(":path"), ctx.Request.URI().RequestURI()},
			[2][]byte{[]byte(":authority"), h.Host()},
			[2][]byte{[]byte(":scheme"), ctx.Request.URI().Scheme()})
		for k, v := range h.All() {
			if bytes.EqualFold(k, []byte("Host")) {
				continue
			}
			out = append(out, [2][]byte{lower(k), v})
		}
	case mapResponseHeads:
		h := &ctx.Response.Header
		out = append(out, [2][]byte{[]byte(":status"), []byte(strconv.Itoa(h.StatusCode()))})
		for k, v := range h.All() {
			out = append(out, [2][]byte{lower(k), v})
		}
	case mapRequestTrailers:
		out = trailerPairs(&ctx.Request.Header)
	case mapResponseTrailers:
		out = trailerPairs(&ctx.Response.Header)
	default:
		return nil, false
	}
	return out, true
}

func lower(b []byte) []byte { return bytes.ToLower(b) }

// value looks one header up in the request or response map without
// building the whole map (a plugin reading a header is the common case);
// known is false for the other maps, which the caller reads in full. It
// agrees with pairs: the pseudo-headers, no Host in the request map, the
// first of several values.
func (s *Stream) value(mapType uint64, key, scratch []byte) (v []byte, found, known bool) {
	if s == nil || s.req == nil {
		return nil, false, false
	}
	ctx := s.req.Ctx
	switch mapType {
	case mapRequestHeads:
		h := &ctx.Request.Header
		switch string(key) {
		case ":method":
			return h.Method(), true, true
		case ":path":
			return ctx.Request.URI().RequestURI(), true, true
		case ":authority":
			return h.Host(), true, true
		case ":scheme":
			return ctx.Request.URI().Scheme(), true, true
		}
		if len(key) == 0 || key[0] == ':' || bytes.EqualFold(key, []byte("Host")) {
			return nil, false, true
		}
		v = h.PeekBytes(key)
		return v, v != nil, true
	case mapResponseHeads:
		h := &ctx.Response.Header
		if string(key) == ":status" {
			return strconv.AppendInt(scratch, int64(h.StatusCode()), 10), true, true
		}
		if len(key) == 0 || key[0] == ':' {
			return nil, false, true
		}
		v = h.PeekBytes(key)
		return v, v != nil, true
	}
	return nil, false, false
}

// trailerPairs are the trailers a message declared and received.
func trailerPairs(h interface {
	PeekTrailerKeys() [][]byte
	PeekBytes([]byte) []byte
}) [][2][]byte {
	var out [][2][]byte
	for _, k := range h.PeekTrailerKeys() {
		if v := h.PeekBytes(k); v != nil {
			out = append(out, [2][]byte{lower(k), v})
		}
	}
	return out
}

// serializePairs writes the ABI's map encoding: count, then a key and
// value length per pair, then each key and value NUL-terminated.
func serializePairs(pairs [][2][]byte) []byte {
	size := 4 + 8*len(pairs)
	for _, p := range pairs {
		size += len(p[0]) + len(p[1]) + 2
	}
	b := make([]byte, 0, size)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(pairs)))
	for _, p := range pairs {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p[0])))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p[1])))
	}
	for _, p := range pairs {
		b = append(append(append(append(b, p[0]...), 0), p[1]...), 0)
	}
	return b
}

// parsePairs reads the map encoding from the guest, refusing anything
// whose lengths do not add up.
func parsePairs(b []byte) ([][2][]byte, bool) {
	if len(b) < 4 {
		return nil, len(b) == 0
	}
	n := binary.LittleEndian.Uint32(b)
	// The count is the guest's word, and the result is allocated for it:
	// every pair takes at least its two sizes and two NULs, so a count the
	// bytes cannot hold is refused before the host allocates for it.
	if uint64(n)*minPairBytes+4 > uint64(len(b)) {
		return nil, false
	}
	sizes := b[4 : 4+8*n]
	data := b[4+8*n:]
	out := make([][2][]byte, 0, n)
	for i := uint32(0); i < n; i++ {
		kl := binary.LittleEndian.Uint32(sizes[8*i:])
		vl := binary.LittleEndian.Uint32(sizes[8*i+4:])
		if uint64(kl)+uint64(vl)+2 > uint64(len(data)) {
			return nil, false
		}
		k := data[:kl]
		v := data[kl+1 : kl+1+vl]
		data = data[kl+vl+2:]
		out = append(out, [2][]byte{k, v})
	}
	return out, true
}

// minPairBytes is the least a pair takes in the map encoding: a key and a
// value length, and two NULs.
const minPairBytes = 8 + 2

// setHeader applies one change to the request or response header;
// pseudo-headers map to the request line and status.
func (s *Stream) setHeader(mapType uint64, key, value []byte, op byte) uint32 {
	if s == nil || s.req == nil {
		return stNotFound
	}
	if s.req.over {
		return stBadArgument
	}
	ctx := s.req.Ctx
	switch mapType {
	case mapRequestHeads:
		h := &ctx.Request.Header
		switch string(key) {
		case ":method":
			h.SetMethodBytes(value)
			return stOK
		case ":path":
			h.SetRequestURIBytes(value)
			ctx.Request.URI().Update(string(value))
			return stOK
		case ":authority":
			h.SetHostBytes(value)
			return stOK
		case ":scheme":
			// The scheme towards the upstream is the upstream's (its
			// URL), not something a plugin can change. Setting the scheme
			// the request has is accepted and changes nothing, so that
			// writing back the map proxy_get_header_map_pairs returned
			// (the SDKs' get, edit, set) works; any other value, or a
			// removal, cannot be honoured.
			if op != 'd' && s.sameScheme(value) {
				return stOK
			}
			return stBadArgument
		}
		if isPseudo(key) {
			return unknownPseudo(op)
		}
		s.vm.editHeader(h, requestSpecial, key, value, op)
	case mapResponseHeads:
		h := &ctx.Response.Header
		if string(key) == ":status" {
			n, ok := statusCode(value)
			if !ok {
				return stBadArgument
			}
			h.SetStatusCode(n)
			return stOK
		}
		if isPseudo(key) {
			return unknownPseudo(op)
		}
		s.vm.editHeader(h, responseSpecial, key, value, op)
	case mapRequestTrailers, mapResponseTrailers:
		type trailerHeader interface {
			AddBytesKV(k, v []byte)
			SetBytesKV(k, v []byte)
			DelBytes(k []byte)
			AddTrailerBytes(k []byte) error
		}
		var h trailerHeader = &ctx.Request.Header
		if mapType == mapResponseTrailers {
			h = &ctx.Response.Header
		}
		switch op {
		case 'a', 'r':
			if err := h.AddTrailerBytes(key); err != nil {
				return stBadArgument
			}
			if op == 'a' {
				h.AddBytesKV(key, value)
			} else {
				h.SetBytesKV(key, value)
			}
		case 'd':
			h.DelBytes(key)
		}
	default:
		return stNotFound
	}
	return stOK
}

func isPseudo(key []byte) bool { return len(key) > 0 && key[0] == ':' }

func (s *Stream) sameScheme(value []byte) bool {
	return bytes.EqualFold(value, s.req.Ctx.Request.URI().Scheme())
}

func statusCode(value []byte) (int, bool) {
	n, err := strconv.Atoi(b2s(value))
	return n, err == nil && n >= 100 && n <= 599
}

func validStatus(value []byte) bool {
	_, ok := statusCode(value)
	return ok
}

// knownPseudo reports whether the host maps pseudo-header key of map
// mapType to the message (its request line, scheme or status).
func knownPseudo(mapType uint64, key []byte) bool {
	switch mapType {
	case mapRequestHeads:
		switch string(key) {
		case ":method", ":path", ":authority", ":scheme":
			return true
		}
	case mapResponseHeads:
		return string(key) == ":status"
	}
	return false
}

// unknownPseudo answers an edit of a pseudo-header the host does not
// know. Added as a header, it would go out as a header line named
// ":...", which no peer accepts; removing one removes what is not there.
func unknownPseudo(op byte) uint32 {
	if op == 'd' {
		return stOK
	}
	return stBadArgument
}

func hGetPairs(vm *VM, s []uint64) uint32 {
	pairs, ok := vm.cur.pairs(s[0])
	if !ok {
		return stNotFound
	}
	return vm.give(serializePairs(pairs), s[1], s[2])
}

func hSetPairs(vm *VM, s []uint64) uint32 {
	raw, ok := vm.read(s[1], s[2])
	if !ok {
		return stInvalidMemory
	}
	pairs, ok := parsePairs(raw)
	if !ok {
		return stBadArgument
	}
	old, ok := vm.cur.pairs(s[0])
	if !ok {
		return stNotFound
	}
	// A value the host refuses refuses the map before anything changes:
	// the old headers are removed first, and a map refused half-way would
	// leave the message with neither.
	for _, p := range pairs {
		switch {
		case s[0] == mapRequestHeads && string(p[0]) == ":scheme" && !vm.cur.sameScheme(p[1]),
			s[0] == mapResponseHeads && string(p[0]) == ":status" && !validStatus(p[1]):
			return stBadArgument
		}
	}
	for _, p := range old {
		if len(p[0]) > 0 && p[0][0] != ':' {
			vm.cur.setHeader(s[0], p[0], nil, 'd')
		}
	}
	for _, p := range pairs {
		// A whole map may carry what a get returned and the host cannot
		// set (another host's pseudo-headers); they are left out, not
		// sent as header lines, and do not refuse the rest of the map.
		if isPseudo(p[0]) && !knownPseudo(s[0], p[0]) {
			continue
		}
		if st := vm.cur.setHeader(s[0], p[0], p[1], 'a'); st != stOK {
			return st
		}
	}
	return stOK
}

func hGetValue(vm *VM, s []uint64) uint32 {
	key, ok := vm.read(s[1], s[2])
	if !ok {
		return stInvalidMemory
	}
	if v, found, known := vm.cur.value(s[0], key, vm.hdrBuf[:0]); known {
		if !found {
			return stNotFound
		}
		return vm.give(v, s[3], s[4])
	}
	pairs, ok := vm.cur.pairs(s[0])
	if !ok {
		return stNotFound
	}
	for _, p := range pairs {
		if bytes.EqualFold(p[0], key) {
			return vm.give(p[1], s[3], s[4])
		}
	}
	return stNotFound
}

func hChange(op byte) func(*VM, []uint64) uint32 {
	return func(vm *VM, s []uint64) uint32 {
		key, ok := vm.read(s[1], s[2])
		if !ok {
			return stInvalidMemory
		}
		var value []byte
		if op != 'd' {
			if value, ok = vm.read(s[3], s[4]); !ok {
				return stInvalidMemory
			}
		}
		return vm.cur.setHeader(s[0], key, value, op)
	}
}

var (
	hAddValue     = hChange('a')
	hReplaceValue = hChange('r')
	hRemoveValue  = hChange('d')
)

func hMapSize(vm *VM, s []uint64) uint32 {
	pairs, ok := vm.cur.pairs(s[0])
	if !ok {
		return stNotFound
	}
	if !vm.putU32(s[1], uint32(len(serializePairs(pairs)))) {
		return stInvalidMemory
	}
	return stOK
}

func hLocalResponse(vm *VM, s []uint64) uint32 {
	if vm.cur == nil || vm.cur.req == nil {
		return stBadArgument
	}
	details, ok := vm.read(s[1], s[2])
	if !ok {
		return stInvalidMemory
	}
	body, ok := vm.read(s[3], s[4])
	if !ok {
		return stInvalidMemory
	}
	raw, ok := vm.read(s[5], s[6])
	if !ok {
		return stInvalidMemory
	}
	pairs, ok := parsePairs(raw)
	if !ok {
		return stBadArgument
	}
	status := int(uint32(s[0]))
	if status < 100 || status > 599 {
		return stBadArgument
	}
	lr := &LocalResponse{Status: status, Details: string(details), Body: append([]byte(nil), body...), Plugin: vm.p.opts.Name}
	for _, p := range pairs {
		if isPseudo(p[0]) {
			continue // the status is the argument; see unknownPseudo
		}
		lr.Headers = append(lr.Headers, [2]string{string(p[0]), string(p[1])})
	}
	vm.cur.req.Local = lr
	return stOK
}

// ---- properties

func hGetProperty(vm *VM, s []uint64) uint32 {
	raw, ok := vm.read(s[0], s[1])
	if !ok {
		return stInvalidMemory
	}
	// The path's parts are NUL-separated: "request\x00path". The dotted
	// form is built in a buffer the VM keeps, and values that must be
	// made go to another: a property read allocates nothing.
	raw = bytes.TrimRight(raw, "\x00")
	pb := append(vm.propPath[:0], raw...)
	for i, c := range pb {
		if c == 0 {
			pb[i] = '.'
		}
	}
	vm.propPath = pb
	path := b2s(pb)
	num := func(n uint64) []byte {
		vm.propVal = binary.LittleEndian.AppendUint64(vm.propVal[:0], n)
		return vm.propVal
	}
	var val []byte
	switch path {
	case "plugin_name":
		val = []byte(vm.p.opts.Name)
	case "plugin_root_id":
		val = []byte(vm.p.opts.Name)
	case "plugin_vm_id":
		val = []byte(vm.name)
	}
	if val == nil && vm.cur != nil && vm.cur.req != nil {
		r := vm.cur.req
		ctx := r.Ctx
		switch path {
		case "request.path":
			val = ctx.Request.URI().RequestURI()
		case "request.url_path":
			val = ctx.Path()
		case "request.method":
			val = ctx.Method()
		case "request.host":
			val = ctx.Host()
		case "request.scheme":
			val = ctx.Request.URI().Scheme()
		case "request.protocol":
			val = ctx.Request.Header.Protocol()
		case "request.id":
			val = ctx.Request.Header.Peek("X-Request-Id")
		case "request.query":
			val = ctx.URI().QueryString()
		case "request.time":
			val = num(uint64(ctx.Time().UnixNano()))
		case "request.size":
			val = num(uint64(max(ctx.Request.Header.ContentLength(), 0)))
		case "source.address":
			val = vm.appendAddr(ctx.RemoteAddr())
		case "source.port":
			val = num(uint64(portOf(ctx.RemoteAddr())))
		case "destination.address":
			val = vm.appendAddr(ctx.LocalAddr())
		case "response.code":
			val = num(uint64(ctx.Response.StatusCode()))
		case "response.size":
			// The declared length, or the buffered body's; a body still
			// streaming is not read for it (see VM.body).
			if n := ctx.Response.Header.ContentLength(); n >= 0 {
				val = num(uint64(n))
			} else if !ctx.Response.IsBodyStream() {
				val = num(uint64(len(ctx.Response.Body())))
			}
		case "request.useragent":
			val = ctx.Request.Header.UserAgent()
		case "request.referer":
			val = ctx.Request.Header.Referer()
		case "request.duration":
			val = num(uint64(time.Since(ctx.Time())))
		case "destination.port":
			val = num(uint64(portOf(ctx.LocalAddr())))
		case "connection.id":
			val = num(ctx.ConnID())
		case "connection.mtls":
			val = []byte{0}
			if ctx.IsTLS() && len(ctx.TLSConnectionState().PeerCertificates) > 0 {
				val = []byte{1}
			}
		case "connection.tls_version":
			if ctx.IsTLS() {
				val = []byte(tls.VersionName(ctx.TLSConnectionState().Version))
			}
		case "route_name", "wasmgate.route":
			val = []byte(r.Route)
		case "cluster_name", "wasmgate.upstream":
			val = []byte(r.Upstream)
		}
		if name, ok := strings.CutPrefix(path, "request.headers."); ok && val == nil {
			val = ctx.Request.Header.Peek(name)
		}
		if name, ok := strings.CutPrefix(path, "response.headers."); ok && val == nil {
			val = ctx.Response.Header.Peek(name)
		}
	}
	if val == nil && vm.cur != nil && vm.cur.req != nil && vm.cur.req.props != nil {
		val = vm.cur.req.props[path]
	}
	if val == nil {
		return stNotFound
	}
	return vm.give(val, s[2], s[3])
}

// portOf is an address's port, 0 if it has none.
func portOf(a net.Addr) int {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.Port
	}
	_, port := splitPort(a.String())
	return port
}

// appendAddr is an address as its String method writes it, in the VM's
// value buffer when it is a TCP address (the usual case), without the
// allocations of String.
func (vm *VM) appendAddr(a net.Addr) []byte {
	t, ok := a.(*net.TCPAddr)
	if !ok {
		return []byte(a.String())
	}
	ap := t.AddrPort()
	vm.propVal = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).AppendTo(vm.propVal[:0])
	return vm.propVal
}

func hSetProperty(vm *VM, s []uint64) uint32 {
	if vm.cur == nil || vm.cur.req == nil {
		return stNotFound
	}
	raw, ok := vm.read(s[0], s[1])
	if !ok {
		return stInvalidMemory
	}
	val, ok := vm.read(s[2], s[3])
	if !ok {
		return stInvalidMemory
	}
	path := string(bytes.ReplaceAll(bytes.TrimRight(raw, "\x00"), []byte{0}, []byte{'.'}))
	r := vm.cur.req
	if r.props == nil {
		r.props = map[string][]byte{}
	}
	r.props[path] = append([]byte(nil), val...)
	return stOK
}

func hCloseStream(vm *VM, _ []uint64) uint32 {
	if vm.cur == nil || vm.cur.req == nil {
		return stNotFound
	}
	vm.cur.req.Closed = true
	return stOK
}

func splitPort(addr string) (string, int) {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			n, _ := strconv.Atoi(addr[i+1:])
			return addr[:i], n
		}
	}
	return addr, 0
}

// headerList is what editHeader needs of a fasthttp request or response
// header.
type headerList interface {
	All() iter.Seq2[[]byte, []byte]
	VisitAll(f func(k, v []byte))
	PeekAll(key string) [][]byte
	AddBytesKV(k, v []byte)
	SetBytesKV(k, v []byte)
	DelBytes(k []byte)
}

// The headers fasthttp keeps in fields of their own rather than in its
// ordered list: deleting or setting them moves nothing.
var (
	requestSpecial  = byteNames("Host", "Content-Type", "Content-Length", "User-Agent", "Cookie", "Connection", "Transfer-Encoding", "Trailer")
	responseSpecial = byteNames("Content-Type", "Content-Length", "Content-Encoding", "Server", "Set-Cookie", "Connection", "Transfer-Encoding", "Trailer")
)

var strCookie, strSetCookie = []byte("Cookie"), []byte("Set-Cookie")

func byteNames(names ...string) [][]byte {
	out := make([][]byte, len(names))
	for i, n := range names {
		out[i] = []byte(n)
	}
	return out
}

func isSpecial(list [][]byte, key []byte) bool {
	for _, name := range list {
		if len(name) == len(key) && bytes.EqualFold(name, key) {
			return true
		}
	}
	return false
}

// editHeader adds (op 'a'), replaces ('r': every value becomes one, where
// the first was) or removes ('d') a header, keeping the order of every
// other header's values. fasthttp's Set replaces only the first of several
// values — a client's second X-Consumer would survive a plugin's Set — and
// its Del moves the last header into the gap, so both are used only where
// they cannot do harm; otherwise the list is rebuilt in order.
func (vm *VM) editHeader(h headerList, special [][]byte, key, value []byte, op byte) {
	if op == 'a' {
		h.AddBytesKV(key, value)
		return
	}
	if isSpecial(special, key) {
		// fasthttp's Set of Cookie parses the value into the cookies it
		// has (and Set-Cookie replaces only a cookie of the same name): a
		// replace must start from none, or jwt's hide_token would send
		// the token on, and every other cookie twice.
		if op != 'r' || bytes.EqualFold(key, strCookie) || bytes.EqualFold(key, strSetCookie) {
			h.DelBytes(key)
		}
		if op == 'r' {
			h.SetBytesKV(key, value)
		}
		return
	}
	switch n := len(h.PeekAll(b2s(key))); {
	case n == 0 && op == 'r':
		h.AddBytesKV(key, value)
		return
	case n == 0:
		return
	case n == 1 && op == 'r':
		h.SetBytesKV(key, value) // in place
		return
	case n == 1:
		// fasthttp's Del moves the list's last header into the gap. That
		// changes only the order of differently named headers, which
		// means nothing in HTTP, unless the moved header's name has other
		// values too: then their order would change, and the list is
		// rebuilt.
		last := vm.lastKey(h, special)
		if bytes.EqualFold(last, key) || len(h.PeekAll(b2s(last))) == 1 {
			h.DelBytes(key)
			return
		}
	}
	// Copy the ordered list, without key's values (with the replacement
	// where the first was), empty it and add it back.
	buf, ends := vm.hdrBuf[:0], vm.hdrEnds[:0]
	placed := false
	for k, v := range h.All() {
		if isSpecial(special, k) {
			continue
		}
		if bytes.EqualFold(k, key) {
			if op != 'r' || placed {
				continue
			}
			placed, v = true, value
		}
		buf = append(buf, k...)
		ends = append(ends, len(buf))
		buf = append(buf, v...)
		ends = append(ends, len(buf))
	}
	start := 0
	for i := 0; i < len(ends); i += 2 {
		h.DelBytes(buf[start:ends[i]])
		start = ends[i+1]
	}
	h.DelBytes(key)
	start = 0
	for i := 0; i < len(ends); i += 2 {
		h.AddBytesKV(buf[start:ends[i]], buf[ends[i]:ends[i+1]])
		start = ends[i+1]
	}
	vm.hdrBuf, vm.hdrEnds = buf, ends
}

// lastKey is the name of the last header in fasthttp's ordered list.
// Ranging over All, or handing VisitAll a new closure, would allocate on
// every request; the visitor is a method value the VM makes at start.
func (vm *VM) lastKey(h headerList, special [][]byte) []byte {
	vm.last, vm.lastSpecial = nil, special
	h.VisitAll(vm.visitLast)
	last := vm.last
	vm.last, vm.lastSpecial = nil, nil
	return last
}

func (vm *VM) noteLast(k, _ []byte) {
	if !isSpecial(vm.lastSpecial, k) {
		vm.last = k
	}
}

// b2s views b as a string without copying, for fasthttp calls that only
// read their argument.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
