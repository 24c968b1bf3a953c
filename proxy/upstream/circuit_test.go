package upstream

import (
	"sync"
	"testing"
	"time"
)

func TestBreakerNilAdmitsEverything(t *testing.T) {
	var b *Breaker
	if NewBreaker(BreakerOptions{}) != nil {
		t.Fatal("NewBreaker with no options should return nil")
	}
	if b.Allow(time.Now(), time.Second) != Admitted || b.State() != CircuitClosed {
		t.Fatal("nil breaker refused")
	}
	b.Done(time.Now(), true)
}

// TestBreakerConsecutiveTrip: N failures in a row open the circuit, an
// open circuit refuses, and after OpenFor trial requests close it again.
func TestBreakerConsecutiveTrip(t *testing.T) {
	b := NewBreaker(BreakerOptions{ConsecutiveFailures: 3, OpenFor: time.Second, HalfOpenRequests: 2})
	now := time.Unix(1000, 0)
	for i := 0; i < 2; i++ {
		b.Allow(now, 0)
		b.Done(now, true)
	}
	b.Allow(now, 0)
	b.Done(now, false) // a success resets the run
	for i := 0; i < 3; i++ {
		if r := b.Allow(now, 0); r != Admitted {
			t.Fatalf("failure %d refused: %v", i, r)
		}
		b.Done(now, true)
	}
	if b.State() != CircuitOpen {
		t.Fatalf("state %v after 3 failures, want open", b.State())
	}
	if r := b.Allow(now.Add(500*time.Millisecond), 0); r != RefusedOpen {
		t.Fatalf("open circuit admitted a request: %v", r)
	}
	later := now.Add(1100 * time.Millisecond)
	if r := b.Allow(later, 0); r != Admitted || b.State() != CircuitHalfOpen {
		t.Fatalf("after OpenFor: %v, state %v; want a half-open trial", r, b.State())
	}
	if r := b.Allow(later, 0); r != Admitted {
		t.Fatalf("second trial refused: %v", r)
	}
	if r := b.Allow(later, 0); r != RefusedOpen {
		t.Fatalf("third request during two trials admitted: %v", r)
	}
	b.Done(later, false)
	if b.State() != CircuitHalfOpen {
		t.Fatalf("closed after one of two trials")
	}
	b.Done(later, false)
	if b.State() != CircuitClosed {
		t.Fatalf("state %v after two good trials, want closed", b.State())
	}
}

func TestBreakerHalfOpenFailureReopens(t *testing.T) {
	b := NewBreaker(BreakerOptions{ConsecutiveFailures: 1, OpenFor: time.Second, HalfOpenRequests: 1})
	now := time.Unix(1000, 0)
	b.Allow(now, 0)
	b.Done(now, true)
	later := now.Add(2 * time.Second)
	if b.Allow(later, 0) != Admitted {
		t.Fatal("trial refused")
	}
	b.Done(later, true)
	if b.State() != CircuitOpen {
		t.Fatalf("state %v after a failed trial, want open", b.State())
	}
	if b.Allow(later.Add(500*time.Millisecond), 0) != RefusedOpen {
		t.Fatal("reopened circuit admitted at once; OpenFor should start again")
	}
}

// TestBreakerErrorRate: the rate trip needs MinRequests in the window and
// forgets failures older than the window.
func TestBreakerErrorRate(t *testing.T) {
	b := NewBreaker(BreakerOptions{ErrorRate: 0.5, MinRequests: 10, Window: 10 * time.Second, OpenFor: time.Second})
	now := time.Unix(1000, 0)
	for i := 0; i < 4; i++ {
		b.Allow(now, 0)
		b.Done(now, true)
	}
	if b.State() != CircuitClosed {
		t.Fatal("opened below MinRequests")
	}
	// Twenty seconds on, those failures have left the window.
	now = now.Add(20 * time.Second)
	for i := 0; i < 10; i++ {
		b.Allow(now, 0)
		b.Done(now, i%3 == 0) // 4 of 10 fail: under the rate
	}
	if b.State() != CircuitClosed {
		t.Fatal("opened at a 40% error rate with a 50% trip")
	}
	for i := 0; i < 4; i++ {
		b.Allow(now, 0)
		b.Done(now, true) // now 8 of 14
	}
	if b.State() != CircuitOpen {
		t.Fatalf("state %v at 8 failures of 14, want open", b.State())
	}
}

// TestBreakerConcurrencyLimit: MaxRequests in flight, MaxPending waiting,
// the rest refused at once; a waiter gets in when a slot frees.
func TestBreakerConcurrencyLimit(t *testing.T) {
	b := NewBreaker(BreakerOptions{MaxRequests: 2, MaxPending: 1})
	now := time.Now()
	for i := 0; i < 2; i++ {
		if b.Allow(now, 0) != Admitted {
			t.Fatal("under the limit refused")
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	got := make(chan Refusal, 1)
	go func() {
		defer wg.Done()
		got <- b.Allow(now, 5*time.Second) // waits: pending
	}()
	// Wait until the goroutine is pending before testing the overflow.
	deadline := time.Now().Add(5 * time.Second)
	for b.pending.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if r := b.Allow(now, time.Second); r != RefusedFull {
		t.Fatalf("request beyond MaxPending: %v, want RefusedFull", r)
	}
	b.Done(now, false)
	wg.Wait()
	if r := <-got; r != Admitted {
		t.Fatalf("pending request: %v, want admitted once a slot freed", r)
	}
	if n := b.Inflight(); n != 2 {
		t.Fatalf("inflight %d, want 2", n)
	}
	if r := b.Allow(now, 10*time.Millisecond); r != RefusedFull {
		t.Fatalf("wait timed out: %v, want RefusedFull", r)
	}
}

// TestBreakerAbandonedTrialGoesBack: a half-open trial whose request was
// abandoned (the client's body failed), or refused for want of a slot
// once admitted, gives its trial back; the breaker is never left
// half-open waiting for a result no request will bring.
func TestBreakerAbandonedTrialGoesBack(t *testing.T) {
	b := NewBreaker(BreakerOptions{ConsecutiveFailures: 1, OpenFor: 10 * time.Millisecond, HalfOpenRequests: 1})
	now := time.Now()
	b.Allow(now, 0)
	b.Done(now, true) // opens
	later := now.Add(20 * time.Millisecond)
	if r := b.Allow(later, 0); r != Admitted {
		t.Fatalf("first trial: %v", r)
	}
	b.Abandon()
	if r := b.Allow(later.Add(time.Millisecond), 0); r != Admitted || b.State() != CircuitHalfOpen {
		t.Fatalf("after an abandoned trial: %v, state %s; want another trial", r, b.State())
	}
	b.Done(later, false)
	if b.State() != CircuitClosed {
		t.Fatalf("after a good trial: %s, want closed", b.State())
	}

	// Admitted as a trial, then refused for want of a slot.
	b = NewBreaker(BreakerOptions{ConsecutiveFailures: 1, OpenFor: 10 * time.Millisecond, HalfOpenRequests: 1,
		MaxRequests: 1, MaxPending: 0})
	b.Allow(now, 0)
	b.Done(now, true)
	b.slots <- struct{}{} // another request holds the only slot
	if r := b.Allow(later, 0); r != RefusedFull {
		t.Fatalf("with no slot free: %v, want RefusedFull", r)
	}
	<-b.slots
	if r := b.Allow(later, 0); r != Admitted {
		t.Fatalf("once the slot is free: %v, want the trial admitted", r)
	}
}

// TestBreakerTrialThatNeverReports: trials all out and none reporting
// for open_for (their requests stuck), the half-open period starts over.
func TestBreakerTrialThatNeverReports(t *testing.T) {
	b := NewBreaker(BreakerOptions{ConsecutiveFailures: 1, OpenFor: 2 * time.Second, HalfOpenRequests: 1})
	now := time.Now()
	b.Allow(now, 0)
	b.Done(now, true)
	later := now.Add(3 * time.Second)
	if r := b.Allow(later, 0); r != Admitted {
		t.Fatalf("first trial: %v", r)
	}
	if r := b.Allow(later.Add(time.Second), 0); r != RefusedOpen {
		t.Fatalf("while the trial is out: %v, want RefusedOpen", r)
	}
	if r := b.Allow(later.Add(3*time.Second), 0); r != Admitted {
		t.Fatalf("open_for after a trial that never reported: %v, want a new trial", r)
	}
}
