package proxy

import (
	"bufio"
	"io"
	"net"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmgate/wasmgate/proxy/upstream"
)

// proxyUpgrade passes a protocol upgrade (WebSocket) through: the request
// goes to the target on a connection of its own, and if the target
// switches protocols both connections are spliced until either side closes.
// Any other answer is relayed as an ordinary response.
func (g *Gateway) proxyUpgrade(ctx *fasthttp.RequestCtx, x *exchange, route *Route, target *upstream.Target) {
	timeout := route.Timeout
	conn, err := target.Dial(timeout)
	if err != nil {
		g.upstreamFailed(ctx, x, route, target, err)
		return
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	ctx.Request.URI().DisablePathNormalizing = true
	bw := bufio.NewWriter(conn)
	if err := ctx.Request.Write(bw); err == nil {
		err = bw.Flush()
	}
	if err != nil {
		conn.Close()
		g.upstreamFailed(ctx, x, route, target, err)
		return
	}
	br := bufio.NewReader(conn)
	resp := &ctx.Response
	resp.Reset()
	if err := resp.Header.Read(br); err != nil {
		conn.Close()
		g.upstreamFailed(ctx, x, route, target, err)
		return
	}
	if resp.StatusCode() != fasthttp.StatusSwitchingProtocols {
		// Read whole, so bounded: a client must not be able to make the
		// gateway hold any download in memory by asking for an upgrade.
		err := resp.ReadBody(br, maxRefusedUpgradeBody)
		conn.Close()
		if err != nil {
			g.upstreamFailed(ctx, x, route, target, err)
			return
		}
		stripHopByHop(x, &resp.Header)
		resp.Header.SetBytesV(hdrRequestID, x.rid)
		g.finish(ctx, x, route, target, nil)
		return
	}
	_ = conn.SetDeadline(time.Time{})
	// The switch's own headers stay; the backend's other hop-by-hop ones
	// (Proxy-*, Keep-Alive, what its Connection names) go, as on any
	// response.
	proto := append([]byte(nil), resp.Header.Peek("Upgrade")...)
	stripHopByHop(x, &resp.Header)
	resp.Header.Set("Connection", "Upgrade")
	resp.Header.SetBytesV("Upgrade", proto)
	resp.Header.SetBytesV(hdrRequestID, x.rid)
	head := append([]byte(nil), resp.Header.Header()...)
	g.finish(ctx, x, route, target, nil)
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(client net.Conn) {
		defer conn.Close()
		if _, err := client.Write(head); err != nil {
			return
		}
		done := make(chan struct{})
		go func() {
			_, _ = io.Copy(conn, client)
			closeWrite(conn)
			close(done)
		}()
		_, _ = io.Copy(client, br)
		closeWrite(client)
		<-done
	})
}

// maxRefusedUpgradeBody bounds the body of a backend's answer that is not
// a protocol switch (an error page, usually), which is read whole.
const maxRefusedUpgradeBody = 1 << 20

// closeWrite half-closes c so the peer sees EOF while replies can still
// arrive the other way.
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	_ = c.Close()
}
