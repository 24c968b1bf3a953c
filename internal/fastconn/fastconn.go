// Package fastconn wraps the gateway's TCP connections, client and
// upstream, to cut the scheduler and timer work each message costs.
//
// Yielding after a write. A proxy alternates: write a request upstream,
// read the response; write the response to the client, read the next
// request. Read straight after the write, the answer is almost never there
// yet, so the read fails with EAGAIN and the goroutine parks, to be woken
// through the netpoller and read again: two reads, a park and a wake-up
// for each message. Yielding after the write lets every other runnable
// goroutine take its turn first, by which time the answer has usually
// arrived and the first read gets it. Under load this is the batching an
// event loop gets from epoll; when the process is idle Gosched returns at
// once.
//
// Coarse deadlines. fasthttp sets a read and a write deadline for every
// request on both sides, and each one re-arms a runtime timer under a
// lock. A deadline that moves later by less than 1/32 of the time still
// left on the current one is not re-armed: a timeout can then fire up to
// about 3% early, never late.
package fastconn

import (
	"net"
	"runtime"
	"time"
)

// Conn is a net.Conn that yields the processor after each write and
// re-arms deadlines only when they move materially.
type Conn struct {
	net.Conn
	rd, wd time.Time // deadlines last passed to Conn
}

// Wrap returns c wrapped in a Conn.
func Wrap(c net.Conn) *Conn { return &Conn{Conn: c} }

func (c *Conn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	runtime.Gosched()
	return n, err
}

func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

func (c *Conn) SetReadDeadline(t time.Time) error {
	if keep(c.rd, t) {
		return nil
	}
	c.rd = t
	return c.Conn.SetReadDeadline(t)
}

func (c *Conn) SetWriteDeadline(t time.Time) error {
	if keep(c.wd, t) {
		return nil
	}
	c.wd = t
	return c.Conn.SetWriteDeadline(t)
}

// keep reports whether the armed deadline cur may stand in for next.
func keep(cur, next time.Time) bool {
	if cur.IsZero() || next.IsZero() || next.Before(cur) {
		return false
	}
	left := time.Until(cur)
	return left > 0 && next.Sub(cur) < left/32
}

// CloseWrite half-closes the connection when the one underneath can, and
// closes it otherwise.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// Listener wraps each accepted connection in a Conn.
type Listener struct{ net.Listener }

func (l Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Wrap(c), nil
}
