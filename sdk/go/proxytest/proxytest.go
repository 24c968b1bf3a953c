// Package proxytest runs a plugin written with package proxywasm inside
// an emulated Proxy-Wasm host, so a plugin's unit tests run with plain
// `go test` on the developer's machine: no gateway, no Wasm build.
//
// The emulator keeps what a host keeps (header maps, bodies, properties,
// shared data, queues, metrics, the log, pending callouts) and calls the
// plugin's callbacks as a host would. A plugin's package holds one VM's
// state, so one Host runs at a time; New starts it afresh.
//
//	h, err := proxytest.New(proxytest.Options{Config: []byte(`{...}`)})
//	s := h.NewStream()
//	act := s.RequestHeaders([][2]string{{":method", "GET"}, {":path", "/"}}, true)
//	if s.Local == nil || s.Local.Status != 401 { ... }
//
// The end-to-end check of a plugin stays the real gateway; this is the
// fast loop.
package proxytest

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	proxywasm "github.com/wasmgate/wasmgate/sdk/go"
	"github.com/wasmgate/wasmgate/sdk/go/internal/hostcall"
)

const (
	stOK            = 0
	stNotFound      = 1
	stBadArgument   = 2
	stSerialization = 3
	stEmpty         = 7
	stCASMismatch   = 8

	// finishedFlag: see the SDK's and wasmgate's lifecycle agreement.
	finishedFlag = 1 << 16
)

// allPhases are the per-request callbacks wasmgate knows, in its order.
var allPhases = []string{"request_headers", "request_body", "request_trailers", "response_headers",
	"response_body", "response_trailers", "done", "log"}

// Options set up a Host.
type Options struct {
	Config   []byte // the plugin's configuration
	VMConfig []byte
	// Properties by dotted path ("source.address"); a stream may add its
	// own (Stream.Properties).
	Properties map[string]string
	// Now is the host's clock; time.Now when nil. Tests of time-based
	// policies set it.
	Now func() time.Time
	// LogLevel is the lowest level the host keeps (default trace).
	LogLevel proxywasm.LogLevel
	// RefuseLifecycle answers the wasmgate names of the phase
	// declaration (the lifecycle, header_edits) as a wasmgate that does
	// not know them would: the whole list refused. The emulator then has
	// no wasmgate.edits either.
	RefuseLifecycle bool
	// NoSHA256 leaves out wasmgate.sha256, as a host other than wasmgate
	// would: proxywasm.SHA256 then hashes in the plugin.
	NoSHA256 bool
	// Upstreams, when set, are the gateway's upstream names: a callout to
	// another one fails at once with ErrBadArgument, as on wasmgate and
	// Envoy. Nil takes every name.
	Upstreams []string
}

// LogEntry is one line the plugin logged.
type LogEntry struct {
	Level   proxywasm.LogLevel
	Message string
}

// Host is the emulated host with the plugin's VM in it.
type Host struct {
	opts   Options
	rootID uint32
	nextID uint32
	cur    uint32
	// entered is the context the running callback was called for: like
	// wasmgate, the emulator lets a plugin switch only to it or the root.
	entered uint32

	streams map[uint32]*Stream
	// lent are the values host calls handed the running callback, which
	// are overwritten when it returns (see lend).
	lent [][]byte
	// Phases are the per-request callbacks the plugin declared; all of
	// them when it declared none.
	Phases []string
	// Lifecycle lists what the plugin agreed with the host besides its
	// phases (context_on_first_call, finished_flag, header_edits),
	// as wasmgate takes them: see the gateway's pluginhost package.
	Lifecycle []string

	Logs       []LogEntry
	TickPeriod time.Duration
	// Foreign counts the plugin's calls of each foreign function the
	// emulator has (wasmgate.declare_phases, wasmgate.sha256 and
	// wasmgate.edits, which takes a callback's header edits at
	// once).
	Foreign map[string]int

	shared    map[string]sharedValue
	queues    map[string]uint32
	queueData map[uint32][][]byte
	ready     []uint32 // own queues enqueued to, to notify after the callback
	metrics   map[string]uint32
	metricIDs map[uint32]*Metric
	callouts  []*Callout
	nextToken uint32
	started   bool // VMStart and Configure are over

	// the callout response being delivered
	calloutResp *Callout
	digest      [sha256.Size]byte
}

// Metric is a metric the plugin defined.
type Metric struct {
	Name  string
	Kind  uint32 // 0 counter, 1 gauge, 2 histogram
	Value uint64
	// Records are a histogram's observations.
	Records []uint64
}

type sharedValue struct {
	data []byte
	cas  uint32
}

var running sync.Mutex

// New starts the plugin (root context, proxy_on_vm_start,
// proxy_on_configure); the error says when the plugin refused its
// configuration, with what it logged.
func New(opts Options) (*Host, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	h := &Host{opts: opts, rootID: 1, nextID: 2, streams: map[uint32]*Stream{},
		shared: map[string]sharedValue{}, queues: map[string]uint32{}, queueData: map[uint32][][]byte{},
		metrics: map[string]uint32{}, metricIDs: map[uint32]*Metric{}, Foreign: map[string]int{}}
	running.Lock()
	defer running.Unlock()
	hostcall.Dispatch.Reset()
	hostcall.Current = (*impl)(h)
	d := hostcall.Dispatch
	h.cur = h.rootID
	d.ContextCreate(h.rootID, 0)
	if !d.VMStart(h.rootID, uint32(len(opts.VMConfig))) {
		return nil, fmt.Errorf("proxytest: the plugin refused its VM configuration: %s", h.logText())
	}
	if !d.Configure(h.rootID, uint32(len(opts.Config))) {
		return nil, fmt.Errorf("proxytest: the plugin refused its configuration: %s", h.logText())
	}
	if h.Phases == nil {
		h.Phases = slices.Clone(allPhases)
	}
	h.started = true
	return h, nil
}

func (h *Host) logText() string {
	var b strings.Builder
	for _, l := range h.Logs {
		b.WriteString(l.Message)
		b.WriteString("; ")
	}
	return strings.TrimSuffix(b.String(), "; ")
}

// Handles reports whether the plugin declared the per-request phase.
func (h *Host) Handles(phase string) bool {
	for _, p := range h.Phases {
		if p == phase {
			return true
		}
	}
	return false
}

// Stream is one request through the plugin. The maps and bodies are the
// host's: the plugin's changes show in them.
type Stream struct {
	h  *Host
	ID uint32

	Request, Response                 [][2]string
	RequestTrailers, ResponseTrailers [][2]string
	RequestBody, ResponseBody         []byte
	// Properties seen by this request in addition to the host's; the
	// plugin's SetProperty lands here too.
	Properties map[string]string
	// setByPlugin are the Properties the plugin set: as on wasmgate,
	// they do not hide what the host derives (request.path, …).
	setByPlugin map[string]bool

	// Local is the response the plugin sent itself, if it did.
	Local *LocalResponse
	// Resumed counts the plugin's Resume calls; Closed is a Close.
	Resumed int
	Closed  bool
	// Finished is set when the plugin released the context after its
	// last callback (the finished flag): no more callbacks reach it.
	Finished bool
	// Stalled is set when a callback paused the request with nothing that
	// could resume it: no local response, no Resume or Close, no callout
	// pending. wasmgate fails such a request as a plugin fault of kind
	// stalled (500 plugin_error, or the plugin skipped with on_error =
	// fail_open).
	Stalled bool
	paused  bool // the last callback paused the request, and it waits
	touched bool // the plugin has been called for this context
	// edits are the plugin's response header edits made before the
	// response came (wasmgate.edits), applied as wasmgate does.
	edits      []responseEdit
	responding bool
	over       bool // done and log: header maps are read-only, as on wasmgate
}

// responseEdit is a response header edit waiting for the response.
type responseEdit struct {
	op          byte
	name, value string
}

// LocalResponse is what the plugin answered with.
type LocalResponse struct {
	Status  int
	Headers [][2]string
	Body    []byte
}

// Header is the local response's header value ("" when absent).
func (l *LocalResponse) Header(name string) string { return get(l.Headers, name) }

// NewStream starts a request (proxy_on_context_create).
func (h *Host) NewStream() *Stream {
	s := &Stream{h: h, ID: h.nextID, Properties: map[string]string{}}
	h.nextID++
	h.streams[s.ID] = s
	if !h.agreed("context_on_first_call") {
		s.touched = true
		h.enter(s.ID, func() { hostcall.Dispatch.ContextCreate(s.ID, h.rootID) })
	}
	return s
}

func (h *Host) agreed(name string) bool { return slices.Contains(h.Lifecycle, name) }

func (h *Host) enter(id uint32, f func()) {
	h.run(id, f)
	// What the plugin enqueued to a queue of its own reaches it after the
	// callback, one proxy_on_queue_ready per item, as on wasmgate.
	for len(h.ready) > 0 {
		q := h.ready[0]
		h.ready = h.ready[1:]
		h.run(h.rootID, func() { hostcall.Dispatch.QueueReady(h.rootID, q) })
	}
}

func (h *Host) run(id uint32, f func()) {
	running.Lock()
	defer running.Unlock()
	hostcall.Current = (*impl)(h)
	h.cur, h.entered = id, id
	f()
	h.poison()
}

// lend hands a value to the plugin as wasmgate does: valid until the
// callback returns. wasmgate reuses that memory for later callbacks (for
// other clients' requests too), so a plugin keeping such a slice reads
// someone else's bytes there; here they become 0xAA, so that a test
// sees the slip.
func (h *impl) lend(v []byte) []byte {
	c := append([]byte(nil), v...)
	h.lent = append(h.lent, c)
	return c
}

func (h *Host) poison() {
	for _, b := range h.lent {
		for i := range b {
			b[i] = 0xAA
		}
	}
	clear(h.lent)
	h.lent = h.lent[:0]
}

// RequestHeaders delivers the request's headers (pseudo-headers
// included) and returns the plugin's action. A Host header becomes
// :authority (unless one is given) and leaves the map: wasmgate, like
// Envoy, shows the host only as :authority.
func (s *Stream) RequestHeaders(headers [][2]string, endOfStream bool) proxywasm.Action {
	s.Request = authorityFromHost(lowerPairs(headers))
	return s.phase("request_headers", func(d hostcall.Guest) uint32 {
		return d.RequestHeaders(s.ID, uint32(len(s.Request)), endOfStream)
	})
}

// SendRequestBody delivers the whole request body.
func (s *Stream) SendRequestBody(body []byte) proxywasm.Action {
	s.RequestBody = append([]byte(nil), body...)
	return s.phase("request_body", func(d hostcall.Guest) uint32 {
		return d.RequestBody(s.ID, uint32(len(body)), true)
	})
}

// SendRequestTrailers delivers request trailers.
func (s *Stream) SendRequestTrailers(trailers [][2]string) proxywasm.Action {
	s.RequestTrailers = lowerPairs(trailers)
	return s.phase("request_trailers", func(d hostcall.Guest) uint32 {
		return d.RequestTrailers(s.ID, uint32(len(trailers)))
	})
}

// ResponseHeaders delivers the upstream's response headers (with
// :status).
func (s *Stream) ResponseHeaders(headers [][2]string, endOfStream bool) proxywasm.Action {
	s.Response = lowerPairs(headers)
	s.responding = true
	for _, e := range s.edits {
		editPairs(&s.Response, e.op, e.name, e.value)
	}
	s.edits = nil
	return s.phase("response_headers", func(d hostcall.Guest) uint32 {
		return d.ResponseHeaders(s.ID, uint32(len(s.Response)), endOfStream)
	})
}

// SendResponseBody delivers the whole response body.
func (s *Stream) SendResponseBody(body []byte) proxywasm.Action {
	s.ResponseBody = append([]byte(nil), body...)
	return s.phase("response_body", func(d hostcall.Guest) uint32 {
		return d.ResponseBody(s.ID, uint32(len(body)), true)
	})
}

// SendResponseTrailers delivers response trailers.
func (s *Stream) SendResponseTrailers(trailers [][2]string) proxywasm.Action {
	s.ResponseTrailers = lowerPairs(trailers)
	return s.phase("response_trailers", func(d hostcall.Guest) uint32 {
		return d.ResponseTrailers(s.ID, uint32(len(trailers)))
	})
}

// Complete ends the request: proxy_on_done, proxy_on_log,
// proxy_on_delete.
func (s *Stream) Complete() {
	d := hostcall.Dispatch
	if !s.touched || s.Finished {
		delete(s.h.streams, s.ID)
		return // wasmgate calls nothing for such a context
	}
	s.over = true
	s.h.enter(s.ID, func() {
		d.Done(s.ID)
		if s.h.Handles("log") {
			d.Log(s.ID)
		}
		d.Delete(s.ID)
	})
	delete(s.h.streams, s.ID)
}

// phase calls a per-request callback as wasmgate would: not at all when
// the plugin declared it does not handle the phase.
func (s *Stream) phase(name string, call func(hostcall.Guest) uint32) proxywasm.Action {
	if !s.h.Handles(name) || s.Finished {
		return proxywasm.Continue
	}
	var act uint32
	s.touched = true
	resumed := s.Resumed
	s.h.enter(s.ID, func() { act = call(hostcall.Dispatch) })
	if act&finishedFlag != 0 && s.h.agreed("finished_flag") {
		s.Finished = true
		act &^= finishedFlag
	}
	s.paused = proxywasm.Action(act) == proxywasm.Pause && s.Local == nil && !s.Closed && s.Resumed == resumed
	if s.paused && !s.waiting() {
		s.Stalled = true
	}
	return proxywasm.Action(act)
}

// waiting reports whether a callout of the stream is still unanswered.
func (s *Stream) waiting() bool {
	for _, c := range s.h.callouts {
		if c.stream == s.ID {
			return true
		}
	}
	return false
}

// Header is a request header's value after the plugin ran ("" when
// absent); ResponseHeader the same for the response.
func (s *Stream) Header(name string) string         { return get(s.Request, name) }
func (s *Stream) ResponseHeader(name string) string { return get(s.Response, name) }

// HasHeader reports whether the request has the header.
func (s *Stream) HasHeader(name string) bool { _, ok := find(s.Request, name); return ok }

// ---- callouts

// Callout is an HTTP callout the plugin made and the test answers.
type Callout struct {
	h        *Host
	Token    uint32
	stream   uint32
	Upstream string
	Headers  [][2]string
	Body     []byte
	Timeout  time.Duration

	respHeaders, respTrailers [][2]string
	respBody                  []byte
}

// Header is a request header of the callout.
func (c *Callout) Header(name string) string { return get(c.Headers, name) }

// Callouts are the callouts made and not yet answered, oldest first.
func (h *Host) Callouts() []*Callout { return append([]*Callout(nil), h.callouts...) }

// Respond answers the callout; the plugin's done function runs.
func (c *Callout) Respond(status int, headers [][2]string, body []byte) {
	c.respHeaders = append([][2]string{{":status", fmt.Sprint(status)}}, lowerPairs(headers)...)
	c.respBody = body
	c.deliver(len(c.respHeaders))
}

// Fail answers the callout as failed (no connection, timeout): the done
// function sees status 0.
func (c *Callout) Fail() { c.deliver(0) }

func (c *Callout) deliver(headers int) {
	h := c.h
	for i, p := range h.callouts {
		if p == c {
			h.callouts = append(h.callouts[:i], h.callouts[i+1:]...)
			break
		}
	}
	s := h.streams[c.stream]
	resumed := 0
	if s != nil {
		resumed = s.Resumed
	}
	// As on wasmgate, the answer is delivered in the context of the
	// request that made the callout.
	h.enter(c.stream, func() {
		h.calloutResp = c
		defer func() { h.calloutResp = nil }()
		hostcall.Dispatch.HTTPCallResponse(h.rootID, c.Token, uint32(headers), uint32(len(c.respBody)), 0)
	})
	// A request paused for the callout that its done function neither
	// resumed nor answered, with no other callout left to do it, is
	// stalled, as wasmgate finds it.
	if s != nil && s.paused {
		s.paused = s.Local == nil && !s.Closed && s.Resumed == resumed
		if s.paused && !s.waiting() {
			s.Stalled = true
		}
	}
}

// ---- timers, queues, shared data, metrics

// Tick runs the root's OnTick once, as the timer would.
func (h *Host) Tick() { h.enter(h.rootID, func() { hostcall.Dispatch.Tick(h.rootID) }) }

// SharedData is a shared-data key's value and version.
func (h *Host) SharedData(key string) ([]byte, uint32, bool) {
	v, ok := h.shared[key]
	return v.data, v.cas, ok
}

// PutSharedData sets a key as another VM would, bumping its version.
func (h *Host) PutSharedData(key string, value []byte) {
	v := h.shared[key]
	h.shared[strings.Clone(key)] = sharedValue{data: append([]byte(nil), value...), cas: nextCAS(v.cas)}
}

// EnqueueFrom adds to a queue as another VM would, and tells the plugin.
func (h *Host) EnqueueFrom(name string, data []byte) error {
	id, ok := h.queues[name]
	if !ok {
		return errors.New("proxytest: no queue " + name)
	}
	h.queueData[id] = append(h.queueData[id], append([]byte(nil), data...))
	h.enter(h.rootID, func() { hostcall.Dispatch.QueueReady(h.rootID, id) })
	return nil
}

// Queue is what a queue holds, oldest first.
func (h *Host) Queue(name string) [][]byte { return h.queueData[h.queues[name]] }

// Metric is a metric the plugin defined, by name.
func (h *Host) Metric(name string) (*Metric, bool) {
	id, ok := h.metrics[name]
	if !ok {
		return nil, false
	}
	return h.metricIDs[id], true
}

// LogsAt are the messages logged at level or above.
func (h *Host) LogsAt(level proxywasm.LogLevel) []string {
	var out []string
	for _, l := range h.Logs {
		if l.Level >= level {
			out = append(out, l.Message)
		}
	}
	return out
}

// ---- hostcall.Host

// impl is the Host seen by the SDK: the ABI's functions stay out of the
// test-facing API.
type impl Host

func (h *impl) stream() *Stream { return h.streams[h.cur] }

func (h *impl) Log(level uint32, msg string) uint32 {
	if proxywasm.LogLevel(level) >= h.opts.LogLevel {
		h.Logs = append(h.Logs, LogEntry{proxywasm.LogLevel(level), msg})
	}
	return stOK
}

func (h *impl) LogLevel() (uint32, uint32) { return uint32(h.opts.LogLevel), stOK }

func (h *impl) CurrentTimeNanos() (int64, uint32) { return h.opts.Now().UnixNano(), stOK }

func (h *impl) body(t uint32) (*[]byte, uint32) {
	switch t {
	case 0, 1:
		s := h.stream()
		if s == nil {
			return nil, stNotFound
		}
		if t == 0 {
			return &s.RequestBody, stOK
		}
		return &s.ResponseBody, stOK
	case 4:
		if h.calloutResp == nil {
			return nil, stNotFound
		}
		return &h.calloutResp.respBody, stOK
	case 6:
		return &h.opts.VMConfig, stOK
	case 7:
		return &h.opts.Config, stOK
	}
	return nil, stBadArgument
}

func (h *impl) GetBuffer(t, start, max uint32) ([]byte, uint32) {
	b, st := h.body(t)
	if st != stOK {
		return nil, st
	}
	if int(start) > len(*b) {
		return nil, stBadArgument
	}
	end := min(uint64(start)+uint64(max), uint64(len(*b)))
	return h.lend((*b)[start:end]), stOK
}

func (h *impl) SetBuffer(t, start, size uint32, data []byte) uint32 {
	if t > 1 {
		return stBadArgument
	}
	b, st := h.body(t)
	if st != stOK {
		return st
	}
	old := *b
	if int(start) > len(old) {
		return stBadArgument
	}
	end := min(uint64(start)+uint64(size), uint64(len(old)))
	next := append(append(append([]byte(nil), old[:start]...), data...), old[end:]...)
	*b = next
	return stOK
}

func (h *impl) BufferStatus(t uint32) (uint32, uint32) {
	b, st := h.body(t)
	if st != stOK {
		return 0, st
	}
	return uint32(len(*b)), stOK
}

func (h *impl) headerMap(m uint32) (*[][2]string, bool, uint32) {
	if m == 6 || m == 7 {
		if h.calloutResp == nil {
			return nil, false, stNotFound
		}
		if m == 6 {
			return &h.calloutResp.respHeaders, false, stOK
		}
		return &h.calloutResp.respTrailers, false, stOK
	}
	s := h.stream()
	if s == nil {
		return nil, false, stNotFound
	}
	switch m {
	case 0:
		return &s.Request, !s.over, stOK
	case 1:
		return &s.RequestTrailers, !s.over, stOK
	case 2:
		return &s.Response, !s.over, stOK
	case 3:
		return &s.ResponseTrailers, !s.over, stOK
	}
	return nil, false, stBadArgument
}

func (h *impl) GetMapPairs(m uint32) ([]byte, uint32) {
	p, _, st := h.headerMap(m)
	if st != stOK {
		return nil, st
	}
	return h.lend(encode(*p)), stOK
}

func (h *impl) SetMapPairs(m uint32, pairs []byte) uint32 {
	p, writable, st := h.headerMap(m)
	if st != stOK {
		return st
	}
	if !writable {
		return stBadArgument
	}
	d, err := decode(pairs)
	if err != nil {
		return stSerialization
	}
	*p = lowerPairs(d)
	return stOK
}

func (h *impl) GetMapValue(m uint32, key string) ([]byte, uint32) {
	p, _, st := h.headerMap(m)
	if st != stOK {
		return nil, st
	}
	v, ok := find(*p, key)
	if !ok {
		return nil, stNotFound
	}
	return h.lend([]byte(v)), stOK
}

func (h *impl) AddMapValue(m uint32, key, value string) uint32 {
	p, writable, st := h.headerMap(m)
	if st != stOK {
		return st
	}
	if !writable {
		return stBadArgument
	}
	editPairs(p, 'a', key, value)
	return stOK
}

// ReplaceMapValue keeps the header where it was, as wasmgate does.
func (h *impl) ReplaceMapValue(m uint32, key, value string) uint32 {
	p, writable, st := h.headerMap(m)
	if st != stOK {
		return st
	}
	if !writable {
		return stBadArgument
	}
	editPairs(p, 'r', key, value)
	return stOK
}

func (h *impl) RemoveMapValue(m uint32, key string) uint32 {
	p, writable, st := h.headerMap(m)
	if st != stOK {
		return st
	}
	if !writable {
		return stBadArgument
	}
	editPairs(p, 'd', key, "")
	return stOK
}

// editPairs adds ('a'), replaces ('r': every value becomes one, where the
// first was) or removes ('d') a header, as wasmgate does.
func editPairs(p *[][2]string, op byte, key, value string) {
	if op == 'a' {
		*p = append(*p, [2]string{strings.ToLower(key), strings.Clone(value)})
		return
	}
	out, placed := (*p)[:0], false
	for _, kv := range *p {
		if !strings.EqualFold(kv[0], key) {
			out = append(out, kv)
		} else if op == 'r' && !placed {
			out, placed = append(out, [2]string{kv[0], strings.Clone(value)}), true
		}
	}
	if op == 'r' && !placed {
		out = append(out, [2]string{strings.ToLower(key), strings.Clone(value)})
	}
	*p = out
}

func (h *impl) GetProperty(path []byte) ([]byte, uint32) {
	key := strings.ReplaceAll(string(path), "\x00", ".")
	s := h.stream()
	if s != nil && !s.setByPlugin[key] {
		if v, ok := s.Properties[key]; ok {
			return h.lend([]byte(v)), stOK
		}
	}
	if v, ok := h.opts.Properties[key]; ok {
		return h.lend([]byte(v)), stOK
	}
	if v, ok := h.derived(key); ok {
		return h.lend(v), stOK
	}
	if s != nil {
		if v, ok := s.Properties[key]; ok {
			return h.lend([]byte(v)), stOK
		}
	}
	return nil, stNotFound
}

// derived is a property wasmgate derives from the request or the
// response, when the test set none by that path: a plugin reading
// request.path or request.headers.x-user finds it in its unit test as it
// will through the gateway. Numbers are 8-byte little-endian, as there.
func (h *impl) derived(key string) ([]byte, bool) {
	s := h.stream()
	if s == nil {
		return nil, false
	}
	req := func(name string) ([]byte, bool) {
		v, ok := find(s.Request, name)
		return []byte(v), ok
	}
	switch key {
	case "request.path":
		return req(":path")
	case "request.url_path":
		p, ok := find(s.Request, ":path")
		p, _, _ = strings.Cut(p, "?")
		return []byte(p), ok
	case "request.query":
		p, ok := find(s.Request, ":path")
		_, q, _ := strings.Cut(p, "?")
		return []byte(q), ok && q != ""
	case "request.method":
		return req(":method")
	case "request.host":
		return req(":authority")
	case "request.scheme":
		return req(":scheme")
	case "request.useragent":
		return req("user-agent")
	case "request.referer":
		return req("referer")
	case "request.id":
		return req("x-request-id")
	case "response.code":
		st, ok := find(s.Response, ":status")
		n, err := strconv.Atoi(st)
		if !ok || err != nil {
			return nil, false
		}
		return binary.LittleEndian.AppendUint64(nil, uint64(n)), true
	}
	if name, ok := strings.CutPrefix(key, "request.headers."); ok {
		return req(strings.ToLower(name))
	}
	if name, ok := strings.CutPrefix(key, "response.headers."); ok {
		v, found := find(s.Response, strings.ToLower(name))
		return []byte(v), found
	}
	return nil, false
}

func (h *impl) SetProperty(path, value []byte) uint32 {
	s := h.stream()
	if s == nil {
		return stNotFound // as on wasmgate: properties are a request's
	}
	key := strings.ReplaceAll(string(path), "\x00", ".")
	s.Properties[key] = string(value)
	if s.setByPlugin == nil {
		s.setByPlugin = map[string]bool{}
	}
	s.setByPlugin[key] = true
	return stOK
}

func (h *impl) SendLocalResponse(status uint32, _ string, body, headers []byte, _ int32) uint32 {
	s := h.stream()
	if s == nil {
		return stBadArgument
	}
	if status < 100 || status > 599 {
		return stBadArgument // as on wasmgate
	}
	hs, err := decode(headers)
	if err != nil {
		return stSerialization
	}
	// wasmgate leaves pseudo-headers out of a local response.
	hs = slices.DeleteFunc(hs, func(p [2]string) bool { return strings.HasPrefix(p[0], ":") })
	s.Local = &LocalResponse{Status: int(status), Headers: lowerPairs(hs), Body: append([]byte(nil), body...)}
	return stOK
}

func (h *impl) ContinueStream(uint32) uint32 {
	s := h.stream()
	if s == nil {
		return stBadArgument
	}
	s.Resumed++
	return stOK
}

func (h *impl) CloseStream(uint32) uint32 {
	s := h.stream()
	if s == nil {
		return stBadArgument
	}
	s.Closed = true
	return stOK
}

func (h *impl) SetEffectiveContext(id uint32) uint32 {
	if id != h.entered && id != h.rootID {
		return stBadArgument
	}
	h.cur = id
	return stOK
}

func (h *impl) HTTPCall(upstream string, headers, body, _ []byte, timeout uint32) (uint32, uint32) {
	if h.cur == h.rootID {
		// As on wasmgate: from the root context once the plugin has
		// started (a tick, a queue notice, a root callout's answer).
		if !h.started {
			return 0, stBadArgument
		}
	} else if s := h.stream(); s == nil || s.over {
		// As on wasmgate: a call from done or log would never run.
		return 0, stBadArgument
	}
	hs, err := decode(headers)
	if err != nil {
		return 0, stSerialization
	}
	for _, need := range []string{":method", ":path", ":authority"} {
		if _, ok := find(hs, need); !ok {
			return 0, stBadArgument
		}
	}
	if h.opts.Upstreams != nil && !slices.Contains(h.opts.Upstreams, upstream) {
		return 0, stBadArgument
	}
	h.nextToken++
	h.callouts = append(h.callouts, &Callout{h: (*Host)(h), Token: h.nextToken, stream: h.cur, Upstream: upstream,
		Headers: hs, Body: append([]byte(nil), body...), Timeout: time.Duration(timeout) * time.Millisecond})
	return h.nextToken, stOK
}

func (h *impl) GetSharedData(key string) ([]byte, uint32, uint32) {
	v, ok := h.shared[key]
	if !ok {
		return nil, 0, stNotFound
	}
	return h.lend(v.data), v.cas, stOK
}

// SetSharedData behaves as wasmgate's (and Envoy's) does: a missing key
// is created whatever the cas, so a cas no key can have (0xFFFFFFFF)
// means "create only if absent"; versions skip 0, which means "any".
func (h *impl) SetSharedData(key string, value []byte, cas uint32) uint32 {
	v, ok := h.shared[key]
	if ok && cas != 0 && cas != v.cas {
		return stCASMismatch
	}
	h.shared[strings.Clone(key)] = sharedValue{data: append([]byte(nil), value...), cas: nextCAS(v.cas)}
	return stOK
}

func nextCAS(c uint32) uint32 {
	if c+1 == 0 || c+1 == ^uint32(0) {
		return 1
	}
	return c + 1
}

func (h *impl) RegisterQueue(name string) (uint32, uint32) {
	if id, ok := h.queues[name]; ok {
		return id, stOK
	}
	id := uint32(len(h.queues) + 1)
	h.queues[name] = id
	return id, stOK
}

func (h *impl) ResolveQueue(_, name string) (uint32, uint32) {
	if id, ok := h.queues[name]; ok {
		return id, stOK
	}
	return 0, stNotFound
}

func (h *impl) Enqueue(id uint32, data []byte) uint32 {
	if _, ok := h.queueData[id]; !ok && !h.hasQueue(id) {
		return stNotFound
	}
	h.queueData[id] = append(h.queueData[id], append([]byte(nil), data...))
	if h.hasQueue(id) {
		h.ready = append(h.ready, id)
	}
	return stOK
}

func (h *impl) hasQueue(id uint32) bool {
	for _, q := range h.queues {
		if q == id {
			return true
		}
	}
	return false
}

func (h *impl) Dequeue(id uint32) ([]byte, uint32) {
	if !h.hasQueue(id) {
		return nil, stNotFound
	}
	q := h.queueData[id]
	if len(q) == 0 {
		return nil, stEmpty
	}
	h.queueData[id] = q[1:]
	return q[0], stOK
}

func (h *impl) SetTickPeriod(ms uint32) uint32 {
	h.TickPeriod = time.Duration(ms) * time.Millisecond
	return stOK
}

func (h *impl) DefineMetric(kind uint32, name string) (uint32, uint32) {
	if kind > 2 {
		return 0, stBadArgument
	}
	if id, ok := h.metrics[name]; ok {
		return id, stOK
	}
	id := uint32(len(h.metrics) + 1)
	h.metrics[name] = id
	h.metricIDs[id] = &Metric{Name: name, Kind: kind}
	return id, stOK
}

// The metric calls answer as wasmgate's do: NotFound for an id never
// defined, BadArgument for the wrong kind or a counter going down.
func (h *impl) IncrementMetric(id uint32, delta int64) uint32 {
	m, ok := h.metricIDs[id]
	switch {
	case !ok:
		return stNotFound
	case m.Kind == 2, m.Kind == 0 && delta < 0:
		return stBadArgument
	}
	m.Value = uint64(int64(m.Value) + delta)
	return stOK
}

func (h *impl) RecordMetric(id uint32, v uint64) uint32 {
	m, ok := h.metricIDs[id]
	switch {
	case !ok:
		return stNotFound
	case m.Kind == 0:
		return stBadArgument
	}
	m.Value = v
	if m.Kind == 2 {
		m.Records = append(m.Records, v)
	}
	return stOK
}

func (h *impl) GetMetric(id uint32) (uint64, uint32) {
	m, ok := h.metricIDs[id]
	if !ok {
		return 0, stNotFound
	}
	return m.Value, stOK
}

func (h *impl) CallForeign(name string, arg []byte) ([]byte, uint32) {
	if name == "wasmgate.edits" && !h.opts.RefuseLifecycle {
		return nil, h.edits(arg)
	}
	if name == "wasmgate.sha256" && !h.opts.NoSHA256 {
		h.Foreign[name]++
		h.digest = sha256.Sum256(arg) // not a local: it would allocate
		return h.digest[:], stOK
	}
	if name == "wasmgate.declare_phases" {
		h.Foreign[name]++
		var phases, lifecycle []string
		for _, p := range strings.Split(string(arg), ",") {
			switch p {
			case "context_on_first_call", "finished_flag", "edits":
				if h.opts.RefuseLifecycle {
					return nil, stBadArgument
				}
				lifecycle = append(lifecycle, p)
			default:
				if !slices.Contains(allPhases, p) {
					return nil, stBadArgument // as wasmgate answers
				}
				phases = append(phases, p)
			}
		}
		sort.Strings(phases)
		h.Phases, h.Lifecycle = phases, lifecycle
		return nil, stOK
	}
	return nil, stNotFound
}

// edits takes a batch of edits as wasmgate does: each a kind ('q'
// request headers, 's' response headers, 'm' a metric), an op, a name (a
// metric's id), a NUL and the value (a metric's delta), separated by NULs;
// a batch with a bad edit is refused whole. Request edits and metrics
// apply at once; response edits wait for the response.
func (h *impl) edits(arg []byte) uint32 {
	s := h.stream()
	parts := strings.Split(string(arg), "\x00")
	if len(arg) < 3 || len(parts)%2 != 0 {
		return stBadArgument
	}
	for i := 0; i < len(parts); i += 2 {
		k, v := parts[i], parts[i+1]
		if len(k) < 3 || !strings.Contains("qsm", k[:1]) || !strings.Contains("ard", k[1:2]) || k[2] == ':' {
			return stBadArgument
		}
		if k[0] != 'm' && (s == nil || s.over) || k[0] == 'm' && (k[1] != 'a' || !h.incrementable(k[2:], v)) {
			return stBadArgument
		}
	}
	h.Foreign["wasmgate.edits"]++
	for i := 0; i < len(parts); i += 2 {
		kind, op, k, v := parts[i][0], parts[i][1], parts[i][2:], parts[i+1]
		switch {
		case kind == 'm':
			id, _ := strconv.ParseUint(k, 10, 32)
			delta, _ := strconv.ParseInt(v, 10, 64)
			h.IncrementMetric(uint32(id), delta)
		case kind == 'q':
			editPairs(&s.Request, op, k, v)
		case s.responding:
			editPairs(&s.Response, op, k, v)
		default:
			s.edits = append(s.edits, responseEdit{op, k, v})
		}
	}
	return stOK
}

// incrementable reports whether a batch's metric increment is one
// proxy_increment_metric would take.
func (h *impl) incrementable(id, delta string) bool {
	n, err := strconv.ParseUint(id, 10, 32)
	d, err2 := strconv.ParseInt(delta, 10, 64)
	m, ok := h.metricIDs[uint32(n)]
	return err == nil && err2 == nil && ok && m.Kind != 2 && (m.Kind != 0 || d >= 0)
}

// ---- helpers

// authorityFromHost moves a request's host header to :authority.
func authorityFromHost(pairs [][2]string) [][2]string {
	i := slices.IndexFunc(pairs, func(kv [2]string) bool { return kv[0] == "host" })
	if i < 0 {
		return pairs
	}
	host := pairs[i][1]
	pairs = slices.Delete(pairs, i, i+1)
	if _, ok := find(pairs, ":authority"); !ok {
		pairs = append([][2]string{{":authority", host}}, pairs...)
	}
	return slices.DeleteFunc(pairs, func(kv [2]string) bool { return kv[0] == "host" })
}

func lowerPairs(in [][2]string) [][2]string {
	out := make([][2]string, len(in))
	for i, kv := range in {
		out[i] = [2]string{strings.ToLower(kv[0]), kv[1]}
	}
	return out
}

func find(pairs [][2]string, name string) (string, bool) {
	for _, kv := range pairs {
		if strings.EqualFold(kv[0], name) {
			return kv[1], true
		}
	}
	return "", false
}

func get(pairs [][2]string, name string) string { v, _ := find(pairs, name); return v }

func encode(pairs [][2]string) []byte {
	var b []byte
	put := func(v int) { b = append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24)) }
	put(len(pairs))
	for _, p := range pairs {
		put(len(p[0]))
		put(len(p[1]))
	}
	for _, p := range pairs {
		b = append(append(append(append(b, p[0]...), 0), p[1]...), 0)
	}
	return b
}

func decode(b []byte) ([][2]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	u32 := func(b []byte) int { return int(b[0]) | int(b[1])<<8 | int(b[2])<<16 | int(b[3])<<24 }
	if len(b) < 4 {
		return nil, errors.New("short map")
	}
	n := u32(b)
	if n > (len(b)-4)/8 {
		return nil, errors.New("bad map count")
	}
	sizes, data := b[4:4+8*n], b[4+8*n:]
	out := make([][2]string, n)
	for i := range out {
		kl, vl := u32(sizes[8*i:]), u32(sizes[8*i+4:])
		if kl+vl+2 > len(data) {
			return nil, errors.New("short map data")
		}
		out[i] = [2]string{string(data[:kl]), string(data[kl+1 : kl+1+vl])}
		data = data[kl+vl+2:]
	}
	return out, nil
}
