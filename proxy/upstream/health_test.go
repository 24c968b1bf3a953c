package upstream

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/wasmgate/wasmgate/proxy/config"
)

func targetFor(t *testing.T, addr string, h HealthOptions) *Target {
	t.Helper()
	tg := newTarget(config.Upstream{Name: "u" + t.Name(), ConnectTimeout: config.Duration(time.Second),
		Timeout: config.Duration(time.Second), IdleTimeout: config.Duration(time.Second), MaxConnsPerTarget: 4},
		config.Target{Address: addr, Weight: 1}, addr)
	tg.startHealth(h)
	t.Cleanup(tg.Close)
	return tg
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPassiveEjectionBacksOff: failures in a row eject a target; it comes
// back only once a probe reaches it, and a second ejection lasts longer.
func TestPassiveEjectionBacksOff(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // down: probes (TCP connects) fail
	tg := targetFor(t, addr, HealthOptions{Passive: PassiveCheck{
		ConsecutiveFailures: 3, BaseEjection: 50 * time.Millisecond, MaxEjection: 10 * time.Second}})

	now := time.Now().UnixNano()
	tg.Outcome(502, nil)
	tg.Outcome(0, net.ErrClosed)
	tg.Outcome(200, nil) // a success breaks the run
	tg.Outcome(500, nil)
	tg.Outcome(503, nil)
	if !tg.Available(now) {
		t.Fatal("ejected after two failures in a row; the threshold is three")
	}
	tg.Outcome(504, nil)
	if tg.Available(time.Now().UnixNano()) || !tg.Ejected() {
		t.Fatal("not ejected after three failures in a row")
	}
	// Well past the backoff, the target is still out: no probe reached it.
	time.Sleep(300 * time.Millisecond)
	if !tg.Ejected() {
		t.Fatal("returned without a successful probe")
	}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("could not listen on %s again: %v", addr, err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	eventually(t, "the target to return after a good probe", func() bool { return !tg.Ejected() })

	// The second ejection is twice the first.
	start := time.Now()
	for i := 0; i < 3; i++ {
		tg.Outcome(500, nil)
	}
	eventually(t, "the target to return again", func() bool { return !tg.Ejected() })
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("second ejection lasted %v; it should double the first's 50ms", d)
	}
}

// TestActiveChecksThresholds: the active check takes a target out after
// unhealthy_threshold failed probes and back after healthy_threshold good
// ones, probing the configured path with the configured Host.
func TestActiveChecksThresholds(t *testing.T) {
	var healthy = make(chan bool, 1)
	healthy <- true
	hosts := make(chan string, 100)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/hc" {
			http.NotFound(w, r)
			return
		}
		select {
		case hosts <- r.Host:
		default:
		}
		ok := <-healthy
		healthy <- ok
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	tg := targetFor(t, ln.Addr().String(), HealthOptions{Active: &ActiveCheck{
		Path: "/hc", Host: "probe.test", Interval: 10 * time.Millisecond, Timeout: time.Second,
		HealthyThreshold: 2, UnhealthyThreshold: 2, Jitter: 0.1}})
	if got := <-hosts; got != "probe.test" {
		t.Fatalf("probe Host %q, want probe.test", got)
	}
	<-healthy
	healthy <- false
	eventually(t, "unhealthy", func() bool { return !tg.Healthy() })
	<-healthy
	healthy <- true
	eventually(t, "healthy again", func() bool { return tg.Healthy() })
}

func TestJitterStaysInBounds(t *testing.T) {
	for i := 0; i < 1000; i++ {
		d := jitter(time.Second, 0.1)
		if d < 900*time.Millisecond || d > 1100*time.Millisecond {
			t.Fatalf("jitter(1s, 0.1) = %v", d)
		}
	}
	if jitter(time.Second, 0) != time.Second {
		t.Fatal("no jitter requested, some applied")
	}
}
