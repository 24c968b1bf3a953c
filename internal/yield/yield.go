// Package yield wraps connections so that a goroutine which has just
// written lets the others run before it reads again.
//
// A proxy alternates: write a request upstream, read the response; write
// the response to the client, read the next request. Read straight after
// the write, the answer is almost never there yet, so the read fails with
// EAGAIN and the goroutine parks, to be woken through the netpoller and
// read again: two reads, a park and a wake-up for each message. Yielding
// after the write lets every other runnable goroutine take its turn first,
// by which time the answer has usually arrived and the first read gets it.
// Under load this is the batching an event loop gets from epoll; when the
// process is idle Gosched returns at once.
package yield

import (
	"net"
	"runtime"
)

// Conn is a net.Conn that yields the processor after each write.
type Conn struct{ net.Conn }

func (c *Conn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	runtime.Gosched()
	return n, err
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
	return &Conn{Conn: c}, nil
}
