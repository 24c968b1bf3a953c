package proxy

import (
	"bufio"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmgate/wasmgate/proxy/upstream"
)

// proxyUpgrade passes a protocol upgrade (WebSocket) through: the request
// goes to the target on a connection of its own, and if the target
// switches protocols both connections are spliced until either side closes.
// Any other answer is relayed as an ordinary response.
func (g *Gateway) proxyUpgrade(ctx *fasthttp.RequestCtx, x *exchange, l *listener, route *Route, target *upstream.Target) {
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
		stripTargetResponse(x, &resp.Header)
		g.finish(ctx, x, route, target, nil)
		return
	}
	_ = conn.SetDeadline(time.Time{})
	// The switch's own headers stay; the backend's other hop-by-hop ones
	// (Proxy-*, Keep-Alive, what its Connection names) go, as on any
	// response.
	proto := append([]byte(nil), resp.Header.Peek("Upgrade")...)
	stripTargetResponse(x, &resp.Header)
	resp.Header.Set("Connection", "Upgrade")
	resp.Header.SetBytesV("Upgrade", proto)
	head := append([]byte(nil), resp.Header.Header()...)
	g.finish(ctx, x, route, target, nil)
	ctx.HijackSetNoResponse(true)
	idle := l.cfg.TunnelIdleTimeout.D()
	ctx.Hijack(func(client net.Conn) {
		defer conn.Close()
		t := &tunnel{client: client, clientConn: client, backend: conn, idle: idle}
		if u, ok := client.(interface{ UnsafeConn() net.Conn }); ok {
			// fasthttp's wrapper reads what it buffered first, but
			// neither closes nor half-closes: those go to the socket.
			t.clientConn = u.UnsafeConn()
		}
		defer l.endTunnel(t)
		if !l.addTunnel(t) {
			return // the gateway is stopping
		}
		_ = client.SetWriteDeadline(time.Now().Add(idle))
		if _, err := client.Write(head); err != nil {
			return
		}
		t.splice(br)
	})
}

// splice copies bytes both ways, backend's through fromBackend (which
// holds what was read past the 101), until each way has ended, half-
// closing the far side as its way ends, so either side may finish
// sending and still read the replies. A tunnel that carried nothing
// either way for idle is closed whole: half-closed or silent, it would
// otherwise hold two sockets and two goroutines forever.
func (t *tunnel) splice(fromBackend io.Reader) {
	client, backend := t.client, t.backend
	t.last.Store(time.Now().UnixNano())
	done := make(chan struct{})
	go func() {
		t.pipe(backend, client, client)
		closeWrite(backend)
		close(done)
	}()
	t.pipe(client, fromBackend, backend)
	closeWrite(t.clientConn)
	<-done
}

type tunnel struct {
	client, backend net.Conn
	clientConn      net.Conn // the socket under client
	idle            time.Duration
	last            atomic.Int64 // when the last bytes went either way, Unix ns
}

// pipe copies src (read from srcConn) to dst until src ends, a write
// fails, or the tunnel is idle.
func (t *tunnel) pipe(dst net.Conn, src io.Reader, srcConn net.Conn) {
	bp := tunnelBufs.Get().(*[]byte)
	defer tunnelBufs.Put(bp)
	buf := *bp
	for {
		_ = srcConn.SetReadDeadline(time.Now().Add(t.idle))
		n, err := src.Read(buf)
		if n > 0 {
			now := time.Now()
			t.last.Store(now.UnixNano())
			// A write that makes no progress for idle ends the tunnel:
			// the far side stopped reading.
			_ = dst.SetWriteDeadline(now.Add(t.idle))
			if _, werr := dst.Write(buf[:n]); werr != nil {
				t.close()
				return
			}
		}
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() && time.Since(time.Unix(0, t.last.Load())) < t.idle {
			continue // the other way is busy
		}
		if err != io.EOF {
			// Idle, reset or closed: nothing more will pass either way.
			t.close()
		}
		return
	}
}

// close ends both ways at once (the other pipe's read fails).
func (t *tunnel) close() {
	_ = t.clientConn.Close()
	_ = t.backend.Close()
}

var tunnelBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

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
