package proxy

import (
	"context"
	"net"
	"runtime"
	"testing"
)

// TestReusePortSharesAddress: two sockets bound with reuse_port share one
// address, which is what lets several gateway processes serve it.
func TestReusePortSharesAddress(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SO_REUSEPORT")
	}
	lc := net.ListenConfig{Control: reusePort}
	a, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := lc.Listen(context.Background(), "tcp", a.Addr().String())
	if err != nil {
		t.Fatalf("second bind with reuse_port: %v", err)
	}
	defer b.Close()
	// Without it the address stays exclusive.
	if c, err := net.Listen("tcp", a.Addr().String()); err == nil {
		c.Close()
		t.Fatal("plain bind of a reuse_port address succeeded")
	}
}
