// Package fastconn wraps the gateway's TCP connections, client and
// upstream, to cut the scheduler and timer work each message costs.
//
// Yielding after a write. A proxy alternates: write a request upstream,
// read the response; write the response to the client, read the next
// request. Read straight after the write, the answer is almost never there
// yet, so the read fails with EAGAIN and the goroutine parks, to be woken
// through the netpoller and read again: two reads, a park and a wake-up
// for each message. Yielding after the write lets every other runnable
// goroutine take its turn first, by which time the answer may have
// arrived and the first read gets it (it halved the failed reads when it
// came; under wrk with 64 connections most reads still fail first, 1.7
// per request of two). Under load this is the batching an
// event loop gets from epoll; when the process is idle the yield returns at
// once.
//
// Coarse deadlines. fasthttp sets a read and a write deadline for every
// request on both sides, and each one re-arms a runtime timer under a
// lock. A deadline that moves later by less than 1/32 of the time still
// left on the current one is not re-armed: a timeout can then fire up to
// about 3% early, never late.
package fastconn

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"
	_ "unsafe" // go:linkname
)

// Conn is a net.Conn that yields the processor after each write and
// re-arms deadlines only when they move materially.
//
// On a TCP socket it reads and writes with raw system calls. Reads and
// writes on a non-blocking socket never block, but through the net
// package the runtime still treats each as a blocking call: it marks the
// processor as in a system call, and the runtime's monitor thread, seeing
// one there at its next tick, hands the processor and its queued
// goroutines to another thread, which must be woken for them. On loopback
// a write delivers the segment to the peer inline and easily lasts past
// that tick, so a proxy paid thread hand-offs and wake-ups all the time.
// Raw calls keep the goroutine, and those queued behind it, on their
// thread; waiting for readiness still goes through the netpoller, so
// deadlines and Close behave as on the wrapped connection.
//
// As with bufio, a Conn's Read may be called by one goroutine at a time,
// and so may its Write (a reader and a writer may run concurrently).
type Conn struct {
	net.Conn
	rd, wd time.Time // deadlines last passed to Conn

	raw syscall.RawConn // nil: not a socket, use Conn's own Read and Write
	// State of the Read and Write in progress, for readFn and writeFn,
	// which are bound once so that no call allocates a closure.
	rbuf, wbuf []byte
	rn, wn     int
	rerr, werr syscall.Errno
	readFn     func(fd uintptr) bool
	writeFn    func(fd uintptr) bool
}

// Wrap returns c wrapped in a Conn.
func Wrap(c net.Conn) *Conn {
	fc := &Conn{Conn: c}
	if tc, ok := c.(*net.TCPConn); ok && rawSupported {
		if raw, err := tc.SyscallConn(); err == nil {
			fc.raw = raw
			fc.readFn = fc.readRaw
			fc.writeFn = fc.writeRaw
		}
	}
	return fc
}

func (c *Conn) Read(p []byte) (int, error) {
	if c.raw == nil || len(p) == 0 {
		return c.Conn.Read(p)
	}
	c.rbuf, c.rn, c.rerr = p, 0, 0
	err := c.raw.Read(c.readFn)
	n, errno := c.rn, c.rerr
	c.rbuf = nil
	switch {
	case err != nil:
		return n, c.opError("read", err)
	case errno != 0:
		return n, c.opError("read", os.NewSyscallError("read", errno))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (c *Conn) Write(p []byte) (int, error) {
	var n int
	var err error
	if c.raw == nil || len(p) == 0 {
		n, err = c.Conn.Write(p)
	} else {
		c.wbuf, c.wn, c.werr = p, 0, 0
		err = c.raw.Write(c.writeFn)
		n = c.wn
		c.wbuf = nil
		switch {
		case err != nil:
			err = c.opError("write", err)
		case c.werr != 0:
			err = c.opError("write", os.NewSyscallError("write", c.werr))
		}
	}
	goyield()
	return n, err
}

// opError gives errors the shape the net package's own Read and Write
// return, so callers that inspect them (timeouts, closed connections)
// see no difference.
func (c *Conn) opError(op string, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		err = oe.Err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
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

// goyield is runtime.Gosched without the trip through the global run
// queue: the goroutine goes to the back of its own P's queue, so it stays
// on the CPU it ran on instead of being picked up by another one.
// The runtime keeps this symbol linkable on purpose (go.dev/issue/67401).
//
//go:linkname goyield runtime.goyield
func goyield()

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
