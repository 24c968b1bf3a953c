package proxy

import (
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/wasmgate/wasmgate/proxy/upstream"
)

// writeError replaces whatever response was started with a JSON error:
// {"error":"<code>","message":"<text>","request_id":"<id>"}. Codes are
// stable identifiers clients may branch on; messages are for people.
func (g *Gateway) writeError(ctx *fasthttp.RequestCtx, x *exchange, status int, code, msg string) {
	// The reset would drop a close already decided (the request's bytes
	// cannot be trusted, or its body was not read).
	closeConn := ctx.Response.ConnectionClose()
	ctx.Response.Reset()
	if closeConn {
		ctx.SetConnectionClose()
	}
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetContentType("application/json")
	ctx.Response.Header.SetBytesV(hdrRequestID, x.rid)
	b := append(x.body[:0], `{"error":`...)
	b = appendJSONString(b, code)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, msg)
	b = append(b, `,"request_id":`...)
	b = appendJSONString(b, string(x.rid))
	b = append(b, "}\n"...)
	x.body = b
	ctx.Response.SetBody(b)
}

// appendJSONString appends s as a JSON string literal.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// finish records the request in metrics and the access log, once.
func (g *Gateway) finish(ctx *fasthttp.RequestCtx, x *exchange, route *Route, target *upstream.Target, err error) {
	status := ctx.Response.StatusCode()
	route.metrics.observe(status, ctx.Time())
	g.accessLog(ctx, x, route.Name, target, status, err)
}

func (g *Gateway) finishUnmatched(ctx *fasthttp.RequestCtx, x *exchange, snap *Snapshot) {
	status := ctx.Response.StatusCode()
	snap.unmatched.observe(status, ctx.Time())
	g.accessLog(ctx, x, unmatchedRoute, nil, status, nil)
}

func (g *Gateway) accessLog(ctx *fasthttp.RequestCtx, x *exchange, route string, target *upstream.Target, status int, err error) {
	l := g.logs.access.Load()
	if l == nil {
		if err != nil {
			// With the access log off, failures still deserve a line.
			g.logs.app().Warn().Bytes("request_id", x.rid).Str("route", route).
				Str("target", targetAddr(target)).Err(err).Msg("upstream request failed")
		}
		return
	}
	var level = l.Info()
	if err != nil {
		level = l.Warn().Err(err)
	}
	path := x.origPath
	if len(path) == 0 {
		path = ctx.Path()
	}
	bytesIn := ctx.Request.Header.ContentLength()
	if bytesIn < 0 {
		bytesIn = int(x.limit.read)
	}
	// A streamed body is still being relayed, and Body() would read it
	// whole into memory: its length is the declared one, or -1 when the
	// target sent it chunked.
	bytesOut := ctx.Response.Header.ContentLength()
	if !ctx.Response.IsBodyStream() {
		bytesOut = len(ctx.Response.Body())
	}
	level.
		Bytes("request_id", x.rid).
		Str("route", route).
		Str("target", targetAddr(target)).
		Bytes("method", ctx.Method()).
		Bytes("path", path).
		Int("status", status).
		Int("bytes_in", bytesIn).
		Int("bytes_out", bytesOut).
		Dur("duration_ms", time.Since(ctx.Time())).
		Bytes("client", x.ip).
		Send()
}

func targetAddr(t *upstream.Target) string {
	if t == nil {
		return ""
	}
	return t.Addr
}
