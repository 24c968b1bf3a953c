package pluginhost

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/valyala/fasthttp"
)

// Callout sends an HTTP request a plugin made with proxy_http_call to the
// gateway upstream it named. The gateway provides it; the response's body
// must be complete in resp when it returns.
type Callout func(upstream string, req *fasthttp.Request, resp *fasthttp.Response, timeout time.Duration) error

// ErrNoUpstream is what a Callout returns for an upstream name the
// gateway does not have. proxy_http_call refuses such a name at once
// (Options.HasUpstream); this is for one that a reload removed between
// the call and its sending, after the callback: proxy_http_call has then
// answered Ok, and the guest learns of it as of any failed call, from
// proxy_on_http_call_response with no headers and no body.
var ErrNoUpstream = errors.New("no such upstream")

// pendingCall is a proxy_http_call made during a callback, sent once the
// callback has returned (the VM is not re-entered while it waits).
type pendingCall struct {
	token    uint32
	upstream string
	req      *fasthttp.Request
	timeout  time.Duration
}

const mapCallHeaders, mapCallTrailers, bufCallBody = 6, 7, 4

// maxCalloutBody bounds the body of a callout response kept for the guest.
const maxCalloutBody = 1 << 20

func hHTTPCall(vm *VM, s []uint64) uint32 {
	st := vm.cur
	switch {
	case st == nil:
		return stBadArgument
	case st.root:
		// From a timer, a queue notice or a root callout's response (a
		// key set refreshed on a tick): sent when the callback returns,
		// the response delivered to the root context. During start-up
		// nothing would send it (validate starts plugins too).
		if !vm.started {
			return stBadArgument
		}
		// No request bounds a root context's calls: past maxCallouts in
		// a row (each answer calling again) they are refused here, so
		// that every call answered Ok gets its answer.
		if int(st.callouts)+len(st.calls) >= maxCallouts {
			st.capped = true
			return stBadArgument
		}
	case st.req == nil || st.req.over:
		// Once the request is over (done and log) nothing would run the
		// call and deliver its response: refused rather than dropped.
		return stBadArgument
	}
	if vm.p.opts.Callout == nil {
		return stUnimplemented
	}
	name, ok := vm.read(s[0], s[1])
	if !ok {
		return stInvalidMemory
	}
	if has := vm.p.opts.HasUpstream; has != nil && !has(string(name)) {
		return stBadArgument
	}
	rawHeaders, ok := vm.read(s[2], s[3])
	if !ok {
		return stInvalidMemory
	}
	body, ok := vm.read(s[4], s[5])
	if !ok {
		return stInvalidMemory
	}
	if _, ok := vm.read(s[6], s[7]); !ok {
		return stInvalidMemory
	}
	headers, ok := parsePairs(rawHeaders)
	if !ok {
		return stBadArgument
	}
	req := fasthttp.AcquireRequest()
	req.Header.SetMethod(fasthttp.MethodGet)
	req.SetRequestURI("/")
	for _, h := range headers {
		switch string(h[0]) {
		case ":method":
			req.Header.SetMethodBytes(h[1])
		case ":path":
			req.SetRequestURIBytes(h[1])
		case ":authority":
			req.Header.SetHostBytes(h[1])
		case ":scheme":
		default:
			if isPseudo(h[0]) {
				continue // not a header line: see unknownPseudo
			}
			req.Header.AddBytesKV(h[0], h[1])
		}
	}
	req.SetBody(body)
	timeout := time.Duration(uint32(s[8])) * time.Millisecond
	if timeout <= 0 {
		timeout = time.Second
	}
	if st.root {
		// Sent by the goroutine of a timer or a queue's notices, which
		// waits for it: a guest's timeout of days would hold them.
		timeout = min(timeout, maxRootCallTimeout)
	}
	vm.nextToken++
	token := vm.nextToken
	st.calls = append(st.calls, pendingCall{token: token, upstream: string(name), req: req, timeout: timeout})
	if !vm.putU32(s[9], token) {
		return stInvalidMemory
	}
	return stOK
}

// maxCallouts bounds the calls one plugin may make for one request, in
// all its phases. A response may make more calls, so a plugin that
// retries a failing call from proxy_on_http_call_response would otherwise
// hold its request, and a CPU, for as long as the service is down: for
// ever when the calls fail at once. Policies make one or two (a token
// introspection, a user lookup) and a fan-out a handful; 64 leaves room
// for retries and stops a loop within 64 call timeouts.
const maxCallouts = 64

var errTooManyCallouts = fmt.Errorf("the plugin made more than %d callouts for one request", maxCallouts)

// runCallouts sends the calls stream s made and delivers each response
// to the VM with proxy_on_http_call_response. A response may itself make
// calls; they are sent in turn, up to maxCallouts, past which the
// request fails as stalled: the plugin cannot decide it.
func (s *Stream) runCallouts() error {
	vm := s.vm
	for len(s.calls) > 0 {
		if s.callouts >= maxCallouts {
			s.dropCalls()
			vm.p.fault(faultStalled)
			return &Fault{Plugin: vm.p.opts.Name, Kind: faultStalled, Err: errTooManyCallouts}
		}
		s.callouts++
		call := s.calls[0]
		s.calls = s.calls[1:]
		resp := fasthttp.AcquireResponse()
		err := vm.p.opts.Callout(call.upstream, call.req, resp, call.timeout)
		fasthttp.ReleaseRequest(call.req)
		if err == nil && resp.IsBodyStream() {
			body, rerr := io.ReadAll(io.LimitReader(resp.BodyStream(), maxCalloutBody))
			_ = resp.CloseBodyStream()
			if rerr != nil {
				err = rerr
			} else {
				resp.SetBody(body)
			}
		}
		if err != nil {
			// As hosts do for a failed call: a response with no headers
			// and no body.
			resp.Reset()
			s.callFailed = true
		} else {
			s.callFailed = false
		}
		s.callResp = resp
		nHeaders := uint64(0)
		if !s.callFailed {
			nHeaders = uint64(resp.Header.Len() + 1)
		}
		_, cerr := vm.call(s, phCallResponse, uint64(vm.rootID), uint64(call.token),
			nHeaders, uint64(len(resp.Body())), 0)
		s.callResp = nil
		fasthttp.ReleaseResponse(resp)
		if cerr != nil {
			s.dropCalls()
			return cerr
		}
	}
	return nil
}

// dropCalls releases the calls not sent.
func (s *Stream) dropCalls() {
	for _, c := range s.calls {
		fasthttp.ReleaseRequest(c.req)
	}
	s.calls = s.calls[:0]
}

// maxRootCallTimeout bounds the timeout of a call from the root context.
const maxRootCallTimeout = time.Minute

// runRootCallouts sends the calls a root callback made (root is the
// root context's stream), and those their responses make in turn, up to
// maxCallouts (see hHTTPCall). No request waits for them, so a plugin
// that calls again at once from every response cannot hold a CPU for
// ever. A callback's fault is logged where it happens. The caller resets
// root.callouts for each timer tick or queue notice.
func (root *Stream) runRootCallouts() {
	if len(root.calls) > 0 {
		_ = root.runCallouts()
	}
	if root.capped {
		root.capped = false
		root.vm.p.opts.Log.Warn().Str("plugin", root.vm.p.opts.Name).
			Msgf("the plugin made %d callouts in a row from its root context; later ones were refused", maxCallouts)
	}
}

// callPairs is the callout response's headers as a Proxy-Wasm map.
func (s *Stream) callPairs() ([][2][]byte, bool) {
	if s.callResp == nil || s.callFailed {
		return nil, s.callResp != nil
	}
	h := &s.callResp.Header
	out := [][2][]byte{{[]byte(":status"), []byte(itoa(h.StatusCode()))}}
	for k, v := range h.All() {
		out = append(out, [2][]byte{lower(k), v})
	}
	return out, true
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	if n == 0 {
		return "0"
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
