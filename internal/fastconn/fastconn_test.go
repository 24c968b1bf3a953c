package fastconn

import (
	"io"
	"net"
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
