package proxy

import (
	"bytes"
	"errors"
	"io"
	"iter"
	"net"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmgate/wasmgate/internal/drain"
	"github.com/wasmgate/wasmgate/pluginhost"
	"github.com/wasmgate/wasmgate/proxy/upstream"
)

const (
	hdrRequestID      = "X-Request-Id"
	hdrForwardedFor   = "X-Forwarded-For"
	hdrForwardedProto = "X-Forwarded-Proto"
	hdrForwardedHost  = "X-Forwarded-Host"
)

// hopByHop are the headers that describe one connection, not the message,
// and so are never forwarded (RFC 9110 section 7.6.1). Transfer-Encoding
// and Content-Length are not listed: fasthttp owns message framing and
// re-frames the body on each side.
// Connection and Proxy-Connection are found by collectHopHeader's own
// cases.
var hopByHop = [][]byte{[]byte("Keep-Alive"), []byte("Te"), []byte("Trailer"), []byte("Upgrade")}

// serve handles one request on listener l.
func (g *Gateway) serve(ctx *fasthttp.RequestCtx, l *listener) {
	snap := g.snap.Load()
	x := getExchange()
	defer putExchange(x)
	req := &ctx.Request
	x.ip = appendIP(x.ip[:0], ctx.RemoteAddr())
	x.origPath = x.origPath[:0]

	g.requestID(x, req)

	if ambiguousFraming(req) {
		// Two framings mean two parties may disagree on where this
		// request ends: the classic request-smuggling setup. Refuse it and
		// drop the connection, whose remaining bytes cannot be trusted.
		ctx.SetConnectionClose()
		g.reject(ctx, x, snap, nil, fasthttp.StatusBadRequest, "bad_request",
			"ambiguous message framing: both Content-Length and Transfer-Encoding")
		return
	}
	// CONNECT asks for a tunnel to the named host, which a reverse proxy
	// does not open. Forwarded, it could make a target that is a forward
	// proxy turn a pooled connection into a tunnel that later requests
	// of other clients would go through.
	if req.Header.IsConnect() {
		ctx.SetConnectionClose()
		g.reject(ctx, x, snap, nil, fasthttp.StatusMethodNotAllowed, "method_not_allowed",
			"CONNECT is not proxied")
		return
	}
	// A target answering TRACE echoes the request as it got it: with the
	// headers the gateway and its policies added (the consumer, forwarded
	// claims, internal names) for the client to read. nginx, and so Kong,
	// refuse it too.
	if req.Header.IsTrace() {
		g.reject(ctx, x, snap, nil, fasthttp.StatusMethodNotAllowed, "method_not_allowed",
			"TRACE is not proxied")
		return
	}
	// fasthttp lets a header name with a space inside pass; RFC 9112
	// makes a name a token, and a backend might read "Transfer Encoding"
	// as a framing header the gateway did not see. An underscore is
	// valid, but CGI-style backends read X_User as X-User: a client's
	// X_User would sit beside the X-User a policy set (nginx drops such
	// names by default, Envoy can).
	switch spaced, underscored := oddNames(req.Header.All()); {
	case spaced:
		ctx.SetConnectionClose()
		g.reject(ctx, x, snap, nil, fasthttp.StatusBadRequest, "bad_request",
			"a header name contains a space")
		return
	case !underscored || l.underscores == "allow":
	case l.underscores == "reject":
		g.reject(ctx, x, snap, nil, fasthttp.StatusBadRequest, "bad_request",
			"a header name contains an underscore")
		return
	default:
		dropUnderscored(x, &req.Header)
	}
	if hasDotSegment(req.Header.RequestURI()) {
		// Routes match the normalized path, where /admin/%2e%2e/public
		// is /public; the target gets the path as sent, and one that
		// routes on it raw (by prefix) would take it for /admin/...,
		// past whatever guards the /admin/ route. Clients resolve dot
		// segments before sending (RFC 3986 5.2), so only a crafted
		// request carries one.
		g.reject(ctx, x, snap, nil, fasthttp.StatusBadRequest, "bad_request",
			"the path has a dot segment (. or .., maybe percent-encoded)")
		return
	}
	// An absolute-form target (GET http://b.test/x) names its host
	// itself, and RFC 9112 3.2.2 has it win over the Host header, as a
	// proxy in front may read it: routing and the target see that host.
	if rt := req.Header.RequestURI(); len(rt) > 0 && rt[0] != '/' && rt[0] != '*' {
		if h := req.URI().Host(); len(h) > 0 {
			req.Header.SetHostBytes(h)
		}
	}
	// The host routes the request, goes to the target and into redirects'
	// Location; a value that is no host[:port] (RFC 9112 3.2 wants a 400)
	// could mean one thing here and another there: "a@b", "a/b", "a\b".
	if !validHost(req.Header.Host()) {
		ctx.SetConnectionClose()
		g.reject(ctx, x, snap, nil, fasthttp.StatusBadRequest, "bad_request",
			"the Host header is not a host[:port]")
		return
	}
	if l.redirectHTTPS {
		g.redirect(ctx, x, l, snap)
		return
	}

	idx := snap.Router.Match(req)
	if idx < 0 {
		g.reject(ctx, x, snap, nil, fasthttp.StatusNotFound, "no_route", "no route matches this request")
		return
	}
	route := snap.Routes[idx]
	if len(route.Chain) > 0 {
		g.serveWithPlugins(ctx, x, l, snap, route)
		return
	}
	g.serveRoute(ctx, x, l, snap, route, nil)
}

// requestID takes the client's request id, or gives the request one.
func (g *Gateway) requestID(x *exchange, req *fasthttp.Request) {
	if rid := req.Header.Peek(hdrRequestID); len(rid) > 0 {
		x.rid = append(x.rid[:0], rid...)
	} else {
		x.rid = g.ids.append(x.rid[:0])
		req.Header.SetBytesV(hdrRequestID, x.rid)
	}
}

// serveWithPlugins runs the route's plugin chain around serveRoute.
func (g *Gateway) serveWithPlugins(ctx *fasthttp.RequestCtx, x *exchange, l *listener, snap *Snapshot, route *Route) {
	upstreamName := ""
	if route.Upstream != nil {
		upstreamName = route.Upstream.Name
	}
	pr, err := route.Chain.Begin(ctx, route.Name, upstreamName)
	defer pr.End()
	// The request phases in order. A body phase, and a trailers phase
	// (trailers follow the body), need the body read in whole first.
	for _, ph := range []struct {
		wants     func() bool
		needsBody bool
		run       func() (pluginhost.Action, error)
	}{
		{func() bool { return true }, false, pr.RequestHeaders},
		{pr.WantsRequestBody, true, pr.RequestBody},
		{pr.WantsRequestTrailers, true, pr.RequestTrailers},
	} {
		if err != nil || !ph.wants() {
			continue
		}
		if ph.needsBody && !bufferRequestBody(&ctx.Request, l.maxBody) {
			ctx.SetConnectionClose()
			g.reject(ctx, x, snap, route, fasthttp.StatusRequestEntityTooLarge, "body_too_large",
				"request body exceeds the listener's max_body_bytes")
			return
		}
		var act pluginhost.Action
		if act, err = ph.run(); err == nil && act == pluginhost.Respond {
			g.localResponse(ctx, x, route, pr.Local)
			return
		}
	}
	if err != nil {
		g.pluginFailed(ctx, x, route, err)
		return
	}
	g.serveRoute(ctx, x, l, snap, route, pr)
}

// bufferRequestBody reads a streamed request body into memory, up to max
// bytes; false when it is larger.
func bufferRequestBody(req *fasthttp.Request, max int64) bool {
	if !req.IsBodyStream() {
		return int64(len(req.Body())) <= max
	}
	body, err := io.ReadAll(io.LimitReader(req.BodyStream(), max+1))
	if err != nil || int64(len(body)) > max {
		return false
	}
	req.SetBodyRaw(body)
	return true
}

// bufferResponseBody is bufferRequestBody for a response streaming from
// the target.
func bufferResponseBody(resp *fasthttp.Response, max int64) bool {
	if !resp.IsBodyStream() {
		return true
	}
	body, err := io.ReadAll(io.LimitReader(resp.BodyStream(), max+1))
	if err != nil || int64(len(body)) > max {
		return false
	}
	resp.SetBodyRaw(body)
	return true
}

// respondPhase runs the chain's response phase on the response about to
// be sent; false means it replaced the response (local answer or fault).
func (g *Gateway) respondPhase(ctx *fasthttp.RequestCtx, x *exchange, route *Route, pr *pluginhost.Request) bool {
	act, err := pr.ResponseHeaders()
	for _, ph := range []struct {
		wants func() bool
		run   func() (pluginhost.Action, error)
	}{
		{pr.WantsResponseBody, pr.ResponseBody},
		{pr.WantsResponseTrailers, pr.ResponseTrailers},
	} {
		if err != nil || act != pluginhost.Continue || !ph.wants() {
			continue
		}
		if !bufferResponseBody(&ctx.Response, maxPluginResponseBody) {
			g.writeError(ctx, x, fasthttp.StatusBadGateway, "body_too_large",
				"the upstream response is larger than plugins may buffer")
			g.finish(ctx, x, route, nil, nil)
			return false
		}
		act, err = ph.run()
	}
	switch {
	case err != nil:
		g.pluginFailed(ctx, x, route, err)
		return false
	case act == pluginhost.Respond:
		g.localResponse(ctx, x, route, pr.Local)
		return false
	}
	return true
}

// maxPluginResponseBody bounds a response body buffered for a plugin.
const maxPluginResponseBody = 16 << 20

// localResponse sends the answer a plugin made itself. A nil answer is a
// stream the plugin closed: the client gets a 502 and loses the
// connection, the nearest HTTP/1.1 has to a reset.
func (g *Gateway) localResponse(ctx *fasthttp.RequestCtx, x *exchange, route *Route, lr *pluginhost.LocalResponse) {
	if lr == nil {
		g.writeError(ctx, x, fasthttp.StatusBadGateway, "stream_closed", "a policy plugin closed the stream")
		ctx.SetConnectionClose()
		g.finish(ctx, x, route, nil, nil)
		return
	}
	ctx.Response.Reset()
	ctx.SetStatusCode(lr.Status)
	for _, h := range lr.Headers {
		ctx.Response.Header.Add(h[0], h[1])
	}
	ctx.Response.Header.SetBytesV(hdrRequestID, x.rid)
	ctx.Response.SetBody(lr.Body)
	g.finish(ctx, x, route, nil, nil)
}

// pluginFailed answers a request whose plugin failed and does not fail
// open: 500, with the plugin named in the log, not in the body.
func (g *Gateway) pluginFailed(ctx *fasthttp.RequestCtx, x *exchange, route *Route, err error) {
	g.writeError(ctx, x, fasthttp.StatusInternalServerError, "plugin_error",
		"a policy plugin failed while handling this request")
	g.finish(ctx, x, route, nil, err)
}

// Before a 413 for a declared body over the limit, the body is read and
// dropped while the client keeps sending (at most maxDrain bytes, giving
// up after drain.Idle without data): closing a socket with unread data
// resets the connection, and the client may then lose the 413 it was sent.
const maxDrain = 16 << 20

// serveRoute handles a request once its route is known and any plugin
// chain has let it through; pr is the chain's request, nil without one.
func (g *Gateway) serveRoute(ctx *fasthttp.RequestCtx, x *exchange, l *listener, snap *Snapshot, route *Route, pr *pluginhost.Request) {
	req := &ctx.Request
	if route.direct != nil {
		route.direct.write(ctx, x.rid)
		if pr != nil && !g.respondPhase(ctx, x, route, pr) {
			return
		}
		g.finish(ctx, x, route, nil, nil)
		return
	}

	if cl := req.Header.ContentLength(); cl > 0 && int64(cl) > l.maxBody {
		ctx.SetConnectionClose()
		if b := ctx.RequestBodyStream(); b != nil && cl <= maxDrain {
			drain.Body(ctx.Conn(), b, int64(cl))
		}
		g.reject(ctx, x, snap, route, fasthttp.StatusRequestEntityTooLarge, "body_too_large",
			"request body exceeds the listener's max_body_bytes")
		return
	}

	x.elig.Reset(ctx.Time().UnixNano())
	if isUpgrade(req) {
		target := route.Upstream.Pick(ctx, &x.elig)
		if target == nil {
			g.noTarget(ctx, x, snap, route)
			return
		}
		g.prepareRequest(ctx, x, l, route, true)
		aimAt(ctx, x, route, target)
		g.proxyUpgrade(ctx, x, l, route, target)
		return
	}

	// Read before prepareRequest, whose removal of the Connection header
	// also clears this flag.
	clientClose := req.Header.ConnectionClose()
	http10 := !req.Header.IsHTTP11() // prepareRequest makes it HTTP/1.1
	g.prepareRequest(ctx, x, l, route, false)
	// The upstream connection is pooled whatever the client does with its
	// own; the client's Connection: close is restored for the reply.
	req.Header.ResetConnectionClose()
	switch cl := req.Header.ContentLength(); {
	case !req.IsBodyStream() || cl == 0 || cl == -2:
		// No body.
	case route.retry != nil && cl > 0 && cl <= streamThreshold:
		// fasthttp presents every body as a stream, even one it has
		// already read whole; a retry needs it as bytes it can send again.
		req.Body()
	default:
		// Read through limitReader, which bounds a chunked body and tells
		// the client's failures (a bad chunk, a short body, a hang-up)
		// from the target's.
		x.limit = limitReader{r: req.BodyStream(), left: l.maxBody, want: int64(cl), x: x, hdr: &req.Header}
		req.SetBodyStream(&x.limit, cl)
	}

	target, err := g.forward(ctx, x, route, clientClose)
	if err != nil {
		if target == nil && errors.Is(err, errNoTarget) {
			g.noTarget(ctx, x, snap, route)
		} else {
			g.upstreamFailed(ctx, x, route, target, err)
		}
		if clientClose {
			ctx.SetConnectionClose()
		}
		return
	}
	if err := unrelayable(&ctx.Response); err != nil {
		g.upstreamFailed(ctx, x, route, target, err)
		if clientClose {
			ctx.SetConnectionClose()
		}
		return
	}
	resp := &ctx.Response.Header
	stripTargetResponse(x, resp)
	resp.ResetConnectionClose()
	// The status line is the gateway's: HTTP/1.1, whatever version the
	// target answered in (an HTTP/1.0 one would otherwise go to the
	// client with a chunked body it may not read as such).
	resp.SetProtocol(nil)
	if clientClose {
		resp.SetConnectionClose()
	}
	if pr != nil && !g.respondPhase(ctx, x, route, pr) {
		if clientClose {
			ctx.SetConnectionClose()
		}
		return
	}
	if http10 && ctx.Response.IsBodyStream() && ctx.Response.Header.ContentLength() < 0 &&
		!bufferResponseBody(&ctx.Response, maxPluginResponseBody) {
		// fasthttp frames a body of unknown length as chunked whatever the
		// client speaks, and an HTTP/1.0 client cannot read chunks: such a
		// body goes to it whole, with its length.
		g.writeError(ctx, x, fasthttp.StatusBadGateway, "body_too_large",
			"the upstream response has no length and is too large to buffer for an HTTP/1.0 client")
		ctx.SetConnectionClose()
		g.finish(ctx, x, route, target, nil)
		return
	}
	g.finish(ctx, x, route, target, nil)
}

// unrelayable reports why a target's answer must not reach the client:
// a switch of protocols, which only an upgrade may get (RFC 9110 15.2.2)
// and upgrades take the tunnel path, so relayed it would leave the client
// expecting another protocol on its connection; or a header name with a
// space, as refused on requests, which is no header to a client that
// follows RFC 9112 (Go's refuses the whole response; nginx answers 502).
func unrelayable(resp *fasthttp.Response) error {
	switch {
	case resp.StatusCode() == fasthttp.StatusSwitchingProtocols:
		return errUnaskedSwitch
	case spacedName(resp.Header.All()):
		return errSpacedName
	}
	return nil
}

var (
	errSpacedName    = errors.New("the target's response has a header name with a space in it")
	errUnaskedSwitch = errors.New("the target switched protocols on a request that asked for no upgrade")
	errNoTarget      = errors.New("no available target")
	errCircuitOpen   = errors.New("the upstream's circuit breaker is open")
	errUpstreamFull  = errors.New("the upstream is at its concurrent request limit")
	errRouteTimeout  = errors.New("the route's timeout passed before a try could start")
)

// forward sends the request to the route's upstream, retrying as the
// route's policy allows, and leaves the last response in ctx.Response. It
// returns the target that answered (or failed last) and that try's error.
func (g *Gateway) forward(ctx *fasthttp.RequestCtx, x *exchange, route *Route, clientClose bool) (*upstream.Target, error) {
	up := route.Upstream
	req := &ctx.Request
	pol := route.retry
	deadline := ctx.Time().Add(route.Timeout)
	// A streamed body has been consumed by the first try and cannot be
	// sent again; a non-idempotent request may be retried only where the
	// route says the backend tolerates duplicates.
	canRetry := pol != nil && !req.IsBodyStream() &&
		(pol.NonIdempotent || upstream.IsIdempotent(req))
	budget := up.Budget
	budget.Begin()
	defer budget.End()
	retrying := false
	defer func() {
		if retrying {
			budget.Release()
		}
	}()

	// admit picks the target of a try and gets the breaker's admission.
	admit := func(attempt int) (*upstream.Target, time.Duration, error) {
		target := up.Pick(ctx, &x.elig)
		if target == nil && attempt > 0 {
			// Every eligible target has been tried: try one again rather
			// than give up while the policy allows another attempt.
			x.elig.ForgetTried()
			target = up.Pick(ctx, &x.elig)
		}
		if target == nil {
			return nil, 0, errNoTarget
		}
		now := time.Now()
		left := deadline.Sub(now)
		if left <= 0 {
			return target, 0, errRouteTimeout
		}
		switch up.Breaker.Allow(now, left) {
		case upstream.RefusedOpen:
			return target, 0, errCircuitOpen
		case upstream.RefusedFull:
			return target, 0, errUpstreamFull
		}
		return target, left, nil
	}

	target, left, err := admit(0)
	if err != nil {
		return target, err
	}
	for attempt := 0; ; attempt++ {
		x.elig.Tried(target)
		aimAt(ctx, x, route, target)
		try := left
		if pol != nil && pol.PerTryTimeout > 0 {
			try = min(try, pol.PerTryTimeout)
		}
		ctx.Response.Header.SetNoDefaultContentType(true)
		if clientClose {
			err = g.doDetached(ctx, target, try)
		} else {
			err = target.Do(req, &ctx.Response, try)
		}
		status := 0
		if err == nil {
			status = ctx.Response.StatusCode()
		}
		if x.limit.fault != nil {
			// The client's body failed, not the target: the try neither
			// counts against it nor may be retried.
			up.Breaker.Abandon()
			return target, x.limit.fault
		}
		if err != nil && x.limit.unfinished() {
			// The try failed while the client was still sending: a
			// stalled or vanished uploader is as likely as the target,
			// and must not eject it or open its circuit. (A streamed body
			// is never retried.)
			up.Breaker.Abandon()
			return target, err
		}
		failed := err != nil || status >= 500
		up.Breaker.Done(time.Now(), failed)
		target.Outcome(status, err)

		if !canRetry || attempt >= pol.Retries || !retryable(pol, err, status) {
			return target, err
		}
		if !retrying {
			if !budget.Acquire() {
				return target, err
			}
			retrying = true
		}
		wait := pol.Backoff(attempt + 1)
		if time.Until(deadline) <= wait {
			return target, err
		}
		if wait > 0 {
			time.Sleep(wait)
		}
		// The next try must be able to go before this one's answer is
		// dropped: with no target left (this try's failure may have
		// ejected the last) or the circuit now open, the client gets the
		// last answer, not a gateway error in its place.
		next, nextLeft, admitErr := admit(attempt + 1)
		if admitErr != nil {
			return target, err
		}
		// Closing the dropped answer's streamed body gives up its
		// connection, which is cheaper than draining it.
		ctx.Response.Reset()
		up.CountRetry()
		target, left = next, nextLeft
	}
}

// retryable reports whether a try that ended with err or status may be
// retried under pol.
func retryable(pol *upstream.RetryPolicy, err error, status int) bool {
	if err == nil {
		return pol.RetriesStatus(status)
	}
	switch {
	case isConnectFailure(err):
		return pol.On&upstream.RetryConnectFailure != 0
	case errors.Is(err, fasthttp.ErrTimeout), isTimeout(err):
		return pol.On&upstream.RetryTimeout != 0
	case errors.Is(err, errBodyTooLarge):
		return false
	}
	return pol.On&upstream.RetryReset != 0
}

func isConnectFailure(err error) bool {
	if errors.Is(err, fasthttp.ErrDialTimeout) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func (g *Gateway) noTarget(ctx *fasthttp.RequestCtx, x *exchange, snap *Snapshot, route *Route) {
	up := route.Upstream
	msg := "upstream " + up.Name + " has no healthy targets"
	if len(up.Targets()) == 0 {
		msg = "upstream " + up.Name + " has no targets"
	}
	g.reject(ctx, x, snap, route, fasthttp.StatusServiceUnavailable, "no_healthy_targets", msg)
}

// doDetached is Do for a client that closes its connection after this
// response. fasthttp decides whether to pool the upstream connection of a
// streamed body when the stream is closed, by looking at the Response it
// streams into; were that the client's response, now marked Connection:
// close, every such request would cost an upstream connection. So the
// upstream response is read into a Response of its own and its body is
// relayed from there.
func (g *Gateway) doDetached(ctx *fasthttp.RequestCtx, target *upstream.Target, timeout time.Duration) error {
	up := fasthttp.AcquireResponse()
	up.Header.SetNoDefaultContentType(true)
	if err := target.Do(&ctx.Request, up, timeout); err != nil {
		fasthttp.ReleaseResponse(up)
		return err
	}
	up.Header.CopyTo(&ctx.Response.Header)
	if !up.IsBodyStream() {
		ctx.Response.SetBody(up.Body())
		fasthttp.ReleaseResponse(up)
		return nil
	}
	ctx.Response.SetBodyStream(&detachedBody{up: up}, up.Header.ContentLength())
	return nil
}

// detachedBody relays the streamed body of a detached upstream response
// and hands the response back to fasthttp once the client has it.
type detachedBody struct{ up *fasthttp.Response }

func (d *detachedBody) Read(p []byte) (int, error) { return d.up.BodyStream().Read(p) }

func (d *detachedBody) CloseWithError(err error) error {
	bs, ok := d.up.BodyStream().(fasthttp.ReadCloserWithError)
	if ok && err != nil {
		_ = bs.CloseWithError(err)
	}
	cerr := d.up.CloseBodyStream()
	fasthttp.ReleaseResponse(d.up)
	return cerr
}

// prepareRequest turns the client's request into the one sent upstream.
func (g *Gateway) prepareRequest(ctx *fasthttp.RequestCtx, x *exchange, l *listener, route *Route, upgrade bool) {
	h := &ctx.Request.Header
	// Upstream requests are HTTP/1.1 whatever the client speaks: sent as
	// HTTP/1.0, the target would close the pooled connection after
	// answering.
	if !h.IsHTTP11() {
		h.SetProtocolBytes(strHTTP11)
	}
	// fasthttp gives a body without Content-Type one of its own
	// (application/octet-stream); a proxy adds none.
	h.SetNoDefaultContentType(true)
	x.host = append(x.host[:0], h.Host()...)
	if upgrade {
		// The upgrade itself is the one hop-by-hop exchange that must reach
		// the target; everything else meant for this hop still stops here.
		x.upgrade = append(x.upgrade[:0], h.Peek("Upgrade")...)
	}
	// A body a plugin had read whole came with its trailer fields, which
	// the removal of Trailer below would move into the header section.
	dropRequestTrailers(x, h)
	markHopByHop(x, h)

	// Set replaces a header's first line only, and a client may send
	// these on several: every X-Forwarded-For line is joined into one
	// list with our hop last (a backend reading the last line must find
	// it), and the client's X-Forwarded-Proto and -Host go. All go in one
	// deleteMarked with the hop-by-hop headers.
	x.xff = x.xff[:0]
	if len(h.Peek(hdrForwardedFor)) > 0 {
		for k, v := range h.All() {
			if len(v) > 0 && bytes.EqualFold(k, strForwardedFor) {
				x.xff = append(append(x.xff, v...), ", "...)
			}
		}
	}
	x.xff = append(x.xff, x.ip...)
	x.del = append(x.del, strForwardedFor, strForwardedProto, strForwardedHost)
	deleteMarked(x, h, requestApart)
	if upgrade {
		h.Set("Connection", "Upgrade")
		h.SetBytesV("Upgrade", x.upgrade)
	}
	// After the deletes, Add appends without looking for the header again.
	h.AddBytesV(hdrForwardedFor, x.xff)
	if l.tls {
		h.Add(hdrForwardedProto, "https")
	} else {
		h.Add(hdrForwardedProto, "http")
	}
	if len(x.host) > 0 {
		h.AddBytesV(hdrForwardedHost, x.host)
	}

	if route.hostRewrite != nil {
		h.SetHostBytes(route.hostRewrite)
	}
	// Without this fasthttp would put the URI's host back on the wire.
	ctx.Request.UseHostHeader = true

	if route.stripPrefix != nil || route.rewrite != nil {
		rewritePath(ctx, x, route)
	}
}

// aimAt makes the request fit target: its Host when the route does not
// keep the client's, and its scheme. It runs again for each retry, which
// may go to another target.
func aimAt(ctx *fasthttp.RequestCtx, x *exchange, route *Route, target *upstream.Target) {
	// An HTTP/1.0 client may send no Host (x.host is the client's); the
	// target gets its own address then, as without preserve_host. Sent
	// without one, the try would fail in the client before reaching the
	// target and count as the target's failure: any client could eject
	// healthy targets.
	if route.hostRewrite == nil && (!route.preserveHost || len(x.host) == 0) {
		ctx.Request.Header.SetHostBytes(target.HostHeader())
	}
	// The URI keeps the scheme of the client's connection; fasthttp refuses
	// to send it to a target that speaks the other one.
	if uri := ctx.Request.URI(); target.TLS() != bytes.Equal(uri.Scheme(), strHTTPS) {
		if target.TLS() {
			uri.SetSchemeBytes(strHTTPS)
		} else {
			uri.SetSchemeBytes(strHTTP)
		}
	}
}

func rewritePath(ctx *fasthttp.RequestCtx, x *exchange, route *Route) {
	uri := ctx.Request.URI()
	orig := uri.PathOriginal()
	x.origPath = append(x.origPath[:0], uri.Path()...)
	if route.stripPrefix != nil {
		// Strip from the path as sent when it carries the prefix verbatim,
		// so its encoding reaches the target unchanged; otherwise (the
		// client encoded the prefix) use the normalized path the router
		// matched and re-encode it.
		rest, ok := bytes.CutPrefix(orig, route.stripPrefix)
		if !ok {
			rest = appendEscapedPath(x.body[:0], uri.Path()[len(route.stripPrefix):])
		}
		x.path = x.path[:0]
		if len(rest) == 0 || rest[0] != '/' {
			x.path = append(x.path, '/')
		}
		x.path = append(x.path, rest...)
	} else {
		// The router matched the normalized path. A client that encoded
		// or doubled what the pattern looks for (/%70ublic/, //public/)
		// must not get past the rewrite: when the path as sent does not
		// match, the normalized one, re-encoded, is rewritten instead.
		src := orig
		if !route.rewrite.Match(orig) {
			if norm := appendEscapedPath(x.body[:0], uri.Path()); route.rewrite.Match(norm) {
				src = norm
			}
		}
		x.path = route.rewrite.ReplaceAll(src, route.replacement)
		if len(x.path) == 0 || x.path[0] != '/' {
			x.path = append([]byte{'/'}, x.path...)
		}
	}
	uri.SetPathBytes(x.path)
}

// appendEscapedPath percent-encodes what may not appear raw in a path.
func appendEscapedPath(dst, p []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, c := range p {
		if c <= ' ' || c >= 0x7f || c == '%' || c == '?' || c == '#' {
			dst = append(dst, '%', hex[c>>4], hex[c&15])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

// ambiguousFraming reports a request that carries both Transfer-Encoding
// and Content-Length. fasthttp reads such a body as chunked and already
// refuses duplicate Content-Length headers; this finds the pair in the
// raw header bytes, since fasthttp drops the Content-Length it ignored.
func ambiguousFraming(req *fasthttp.Request) bool {
	switch cl := req.Header.ContentLength(); {
	case cl == -1: // chunked, with a Content-Length line too
		return rawHas(req, strContentLength)
	case cl > 0: // a length, with a Transfer-Encoding fasthttp let pass (identity)
		return rawHas(req, strTransferEncoding)
	}
	return false
}

// hostByte holds the bytes of RFC 3986's host and port: reg-name's
// unreserved, sub-delims and percent-encoding, ':' and an IP literal's
// brackets.
var hostByte = func() (t [256]bool) {
	for _, c := range []byte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=%:[]") {
		t[c] = true
	}
	return t
}()

// validHost reports a Host value made only of host[:port] bytes; empty is
// valid here (HTTP/1.0 may omit Host, and fasthttp refuses HTTP/1.1
// without one).
func validHost(h []byte) bool {
	for _, c := range h {
		if !hostByte[c] {
			return false
		}
	}
	return true
}

// oddNames reports header names with a space, and with an underscore.
func oddNames(all iter.Seq2[[]byte, []byte]) (spaced, underscored bool) {
	for k := range all {
		spaced = spaced || bytes.IndexByte(k, ' ') >= 0
		underscored = underscored || bytes.IndexByte(k, '_') >= 0
	}
	return spaced, underscored
}

// spacedName is oddNames' first answer alone, for a response (whose
// names with an underscore pass): one scan of each name, not two.
func spacedName(all iter.Seq2[[]byte, []byte]) bool {
	for k := range all {
		if bytes.IndexByte(k, ' ') >= 0 {
			return true
		}
	}
	return false
}

// dropUnderscored removes the request headers whose names hold an
// underscore.
func dropUnderscored(x *exchange, h *fasthttp.RequestHeader) {
	x.del, x.delBuf = x.del[:0], x.delBuf[:0]
	for k := range h.All() {
		if bytes.IndexByte(k, '_') >= 0 {
			x.markDelete(k)
		}
	}
	deleteMarked(x, h, requestApart)
}

// rawHas reports whether the request came with a header line name, as
// the client sent it.
func rawHas(req *fasthttp.Request, name []byte) bool {
	raw := req.Header.RawHeaders()
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		if len(line) > len(name) && asciiEqualFold(line[:len(name)], name) {
			rest := bytes.TrimLeft(line[len(name):], " \t")
			if len(rest) > 0 && rest[0] == ':' {
				return true
			}
		}
	}
	return false
}

var (
	strForwardedFor     = []byte(hdrForwardedFor)
	strForwardedProto   = []byte(hdrForwardedProto)
	strForwardedHost    = []byte(hdrForwardedHost)
	strRequestID        = []byte(hdrRequestID)
	strTrailer          = []byte("Trailer")
	strContentLength    = []byte("content-length")
	strTransferEncoding = []byte("transfer-encoding")
	strHTTP11           = []byte("HTTP/1.1")
	strHTTP             = []byte("http")
	strHTTPS            = []byte("https")
)

// isUpgrade reports a protocol upgrade the gateway passes through: a GET
// without a body (a WebSocket handshake is one) that asks for one. Any
// other request asking is proxied as an ordinary request, its Upgrade
// stripped as hop-by-hop: the tunnel path reads no body through the
// listener's limit and skips the upstream's pool and breaker.
func isUpgrade(req *fasthttp.Request) bool {
	return req.Header.ConnectionUpgrade() && len(req.Header.Peek("Upgrade")) > 0 &&
		req.Header.IsGet() && noBody(req)
}

// noBody reports a request without a body: no Content-Length (fasthttp's
// -2) or a zero one, and not chunked.
func noBody(req *fasthttp.Request) bool {
	cl := req.Header.ContentLength()
	return cl == 0 || cl == -2
}

func (g *Gateway) upstreamFailed(ctx *fasthttp.RequestCtx, x *exchange, route *Route, target *upstream.Target, err error) {
	status, code, msg := fasthttp.StatusBadGateway, "upstream_error", "the upstream target failed to answer"
	var op *net.OpError
	switch {
	case errors.Is(err, errBodyTooLarge):
		status, code, msg = fasthttp.StatusRequestEntityTooLarge, "body_too_large", errBodyTooLarge.Error()
		ctx.SetConnectionClose()
	case x.limit.fault != nil:
		// The client's streamed body broke off or did not parse.
		status, code, msg = fasthttp.StatusBadRequest, "bad_request", "the request body is malformed or incomplete"
		ctx.SetConnectionClose()
	case errors.Is(err, errCircuitOpen):
		status, code, msg = fasthttp.StatusServiceUnavailable, "circuit_open", "upstream "+route.Upstream.Name+" is failing; its circuit breaker is open"
	case errors.Is(err, errUpstreamFull):
		status, code, msg = fasthttp.StatusServiceUnavailable, "upstream_overloaded", "upstream "+route.Upstream.Name+" is at its concurrent request limit"
	case errors.Is(err, errRouteTimeout):
		status, code, msg = fasthttp.StatusGatewayTimeout, "upstream_timeout", "the upstream target did not answer in time"
	case errors.Is(err, fasthttp.ErrDialTimeout):
		status, code, msg = fasthttp.StatusGatewayTimeout, "upstream_connect_timeout", "timed out connecting to the upstream target"
	case errors.Is(err, fasthttp.ErrTimeout), isTimeout(err):
		status, code, msg = fasthttp.StatusGatewayTimeout, "upstream_timeout", "the upstream target did not answer in time"
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		status, code, msg = fasthttp.StatusServiceUnavailable, "upstream_busy", "no free connection to the upstream target"
	case errors.As(err, &op) && op.Op == "dial":
		code, msg = "upstream_connect_failed", "could not connect to the upstream target"
	}
	g.writeError(ctx, x, status, code, msg)
	g.finish(ctx, x, route, target, err)
}

// isTimeout finds the deadline errors of connections the gateway dials
// itself (upgrades), which fasthttp does not translate into ErrTimeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// reject answers a request the gateway refuses itself.
func (g *Gateway) reject(ctx *fasthttp.RequestCtx, x *exchange, snap *Snapshot, route *Route, status int, code, msg string) {
	g.writeError(ctx, x, status, code, msg)
	if route == nil {
		g.finishUnmatched(ctx, x, snap)
		return
	}
	g.finish(ctx, x, route, nil, nil)
}

func (g *Gateway) redirect(ctx *fasthttp.RequestCtx, x *exchange, l *listener, snap *Snapshot) {
	// URI() takes the host from an absolute-form request target, which
	// overrides the Host header (RFC 9112 section 3.2.2).
	uri := ctx.Request.URI()
	host := uri.Host()
	if h, _, err := net.SplitHostPort(string(host)); err == nil {
		host = []byte(h)
	}
	b := append(x.body[:0], "https://"...)
	b = append(b, host...)
	if l.httpsPort != 443 {
		b = append(b, ':')
		b = appendInt(b, l.httpsPort)
	}
	b = append(b, uri.PathOriginal()...)
	if q := uri.QueryString(); len(q) > 0 {
		b = append(b, '?')
		b = append(b, q...)
	}
	x.body = b
	ctx.Response.Header.SetBytesV("Location", b)
	ctx.Response.Header.SetBytesV(hdrRequestID, x.rid)
	ctx.SetStatusCode(fasthttp.StatusPermanentRedirect)
	g.finishUnmatched(ctx, x, snap)
}

func (d *directResponse) write(ctx *fasthttp.RequestCtx, rid []byte) {
	ctx.SetStatusCode(d.status)
	ctx.Response.Header.SetContentTypeBytes(d.contentType)
	for _, h := range d.headers {
		ctx.Response.Header.Set(h[0], h[1])
	}
	ctx.Response.Header.SetBytesV(hdrRequestID, rid)
	ctx.Response.SetBodyRaw(d.body)
}

func appendInt(b []byte, n int) []byte {
	var tmp [20]byte
	i := len(tmp)
	if n == 0 {
		return append(b, '0')
	}
	for n > 0 {
		i--
		tmp[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, tmp[i:]...)
}

// appendIP writes the client's IP without the allocation of IP.String().
func appendIP(b []byte, addr net.Addr) []byte {
	if tcp, ok := addr.(*net.TCPAddr); ok {
		if ip4 := tcp.IP.To4(); ip4 != nil {
			for i, o := range ip4 {
				if i > 0 {
					b = append(b, '.')
				}
				b = appendInt(b, int(o))
			}
			return b
		}
		return append(b, tcp.IP.String()...)
	}
	if addr == nil {
		return b
	}
	return append(b, addr.String()...)
}

// hasDotSegment reports whether a request target's path has a "." or ".."
// segment once percent-decoded (%2e is a dot and %2f a slash to the
// router's normalization, so they are here too). Most paths have neither
// a dot nor a percent sign and are passed at once.
func hasDotSegment(uri []byte) bool {
	if q := bytes.IndexByte(uri, '?'); q >= 0 {
		uri = uri[:q]
	}
	if bytes.IndexByte(uri, '.') < 0 && bytes.IndexByte(uri, '%') < 0 {
		return false
	}
	if i := bytes.Index(uri, strSchemeSep); i >= 0 {
		// Absolute form: the path starts after the authority.
		rest := uri[i+len(strSchemeSep):]
		j := bytes.IndexByte(rest, '/')
		if j < 0 {
			return false
		}
		uri = rest[j:]
	}
	// Walk the decoded path segment by segment, counting the dots of the
	// current segment; -1 once it has anything else.
	dots := 0
	for i := 0; i <= len(uri); i++ {
		c := byte('/')
		if i < len(uri) {
			c = uri[i]
			if c == '%' && i+2 < len(uri) {
				if h, ok := unhex2(uri[i+1], uri[i+2]); ok {
					c = h
					i += 2
				}
			}
		}
		switch {
		case c == '/':
			if dots == 1 || dots == 2 {
				return true
			}
			dots = 0
		case c == '.' && dots >= 0:
			dots++
		default:
			dots = -1
		}
	}
	return false
}

var strSchemeSep = []byte("://")

func unhex2(a, b byte) (byte, bool) {
	x, ok1 := unhex(a)
	y, ok2 := unhex(b)
	return x<<4 | y, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
