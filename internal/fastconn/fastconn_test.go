package fastconn

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// TestConnRelaysAndHalfCloses: a wrapped connection carries bytes both
// ways unchanged, and CloseWrite gives the peer EOF while the peer's reply
// can still be read.
func TestConnRelaysAndHalfCloses(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := Listener{Listener: raw}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		if _, ok := c.(*Conn); !ok {
			t.Errorf("Accept returned %T, want *Conn", c)
		}
		got, err := io.ReadAll(c) // until the client's CloseWrite
		if err == nil {
			_, err = c.Write(append([]byte("echo:"), got...))
		}
		done <- err
	}()
	d, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := &Conn{Conn: d}
	defer c.Close()
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	reply, err := io.ReadAll(c)
	if err != nil || string(reply) != "echo:hello" {
		t.Fatalf("reply %q, %v", reply, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestCloseWriteWithoutHalfClose: a connection that cannot half-close is
// closed instead.
func TestCloseWriteWithoutHalfClose(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c := &Conn{Conn: a}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write([]byte("x")); err == nil {
		t.Fatal("write after CloseWrite on a pipe succeeded; want the pipe closed")
	}
}

func TestKeep(t *testing.T) {
	now := time.Now()
	cur := now.Add(32 * time.Second)
	cases := []struct {
		name      string
		cur, next time.Time
		want      bool
	}{
		{"nothing armed", time.Time{}, now.Add(time.Second), false},
		{"clearing", cur, time.Time{}, false},
		{"earlier", cur, cur.Add(-time.Millisecond), false},
		{"slightly later", cur, cur.Add(100 * time.Millisecond), true},
		{"a second later: too far", cur, cur.Add(2 * time.Second), false},
		{"armed one has passed", now.Add(-time.Second), now.Add(time.Second), false},
	}
	for _, tc := range cases {
		if got := keep(tc.cur, tc.next); got != tc.want {
			t.Errorf("%s: keep = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestDeadlineStillFires: a read past a coarse deadline times out.
func TestDeadlineStillFires(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c := Wrap(a)
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_ = c.SetReadDeadline(time.Now().Add(51 * time.Millisecond)) // kept
	var buf [1]byte
	_, err := c.Read(buf[:])
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("read returned %v, want a timeout", err)
	}
}

// tcpPair returns the two ends of a loopback TCP connection, both wrapped.
func tcpPair(t *testing.T) (client, server *Conn) {
	t.Helper()
	if !rawSupported {
		t.Skip("no raw path on this platform")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	client, server = Wrap(d), Wrap(s)
	if client.raw == nil || server.raw == nil {
		t.Fatal("Wrap of a TCP connection did not take the raw path")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// TestRawPath: on TCP, the raw reads and writes carry large messages
// whole (writes that fill the socket buffer wait for room), report EOF,
// time out like the net package's, and fail after Close with net.ErrClosed.
func TestRawPath(t *testing.T) {
	c, s := tcpPair(t)
	big := make([]byte, 8<<20) // far more than a socket buffer holds
	for i := range big {
		big[i] = byte(i)
	}
	go func() {
		_, _ = c.Write(big)
		_ = c.CloseWrite()
	}()
	got, err := io.ReadAll(s)
	if err != nil || len(got) != len(big) {
		t.Fatalf("read %d bytes, %v; want %d", len(got), err, len(big))
	}
	for i := range got {
		if got[i] != big[i] {
			t.Fatalf("byte %d differs", i)
		}
	}

	_ = c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	var buf [8]byte
	_, err = c.Read(buf[:])
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("read past the deadline returned %v, want a timeout", err)
	}
	if oe, ok := err.(*net.OpError); !ok || oe.Op != "read" {
		t.Fatalf("timeout error %#v, want a *net.OpError for read", err)
	}

	c.Close()
	if _, err := c.Read(buf[:]); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after Close returned %v, want net.ErrClosed", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after Close returned %v, want net.ErrClosed", err)
	}
}

// TestRawWriteToResetPeer: a write to a peer that has gone reports the
// system call's error, not success.
func TestRawWriteToResetPeer(t *testing.T) {
	c, s := tcpPair(t)
	// SO_LINGER 0 makes Close send a reset.
	if tc, ok := s.Conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	s.Close()
	time.Sleep(20 * time.Millisecond)
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, err = c.Write([]byte("hello"))
	}
	var se *os.SyscallError
	if !errors.As(err, &se) {
		t.Fatalf("write to a reset peer returned %v, want a system call error", err)
	}
}

// TestRawReadAllocates nothing per call.
func TestRawReadAllocates(t *testing.T) {
	c, s := tcpPair(t)
	msg := []byte("ping")
	var buf [16]byte
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(s, buf[:len(msg)]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Fatalf("a write and a read allocate %v times, want 0", allocs)
	}
}
