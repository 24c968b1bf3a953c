package upstream

import (
	"testing"
	"time"
)

func TestBackoffFullJitterWithinBounds(t *testing.T) {
	p := RetryPolicy{BackoffBase: 10 * time.Millisecond, BackoffMax: 40 * time.Millisecond}
	for n, ceil := range map[int]time.Duration{1: 10 * time.Millisecond, 2: 20 * time.Millisecond, 3: 40 * time.Millisecond, 9: 40 * time.Millisecond} {
		var top time.Duration
		for i := 0; i < 2000; i++ {
			d := p.Backoff(n)
			if d < 0 || d > ceil {
				t.Fatalf("retry %d: backoff %v outside [0, %v]", n, d, ceil)
			}
			top = max(top, d)
		}
		if top < ceil/2 {
			t.Errorf("retry %d: largest of 2000 backoffs %v; jitter should reach toward %v", n, top, ceil)
		}
	}
	if (&RetryPolicy{}).Backoff(3) != 0 {
		t.Error("no base should mean no backoff")
	}
}

func TestRetriesStatus(t *testing.T) {
	p := RetryPolicy{On: RetryStatus, Statuses: []int{502, 503}}
	if !p.RetriesStatus(503) || p.RetriesStatus(500) {
		t.Error("statuses not honoured")
	}
	p.On = RetryConnectFailure
	if p.RetriesStatus(503) {
		t.Error("status retried without RetryStatus in On")
	}
}

// TestRetryBudget: retries are capped at Ratio of requests in flight, with
// a floor of MinConcurrent.
func TestRetryBudget(t *testing.T) {
	b := &RetryBudget{Ratio: 0.2, MinConcurrent: 2}
	for i := 0; i < 20; i++ {
		b.Begin()
	}
	granted := 0
	for i := 0; i < 10; i++ {
		if b.Acquire() {
			granted++
		}
	}
	if granted != 4 {
		t.Fatalf("granted %d retries with 20 in flight at 20%%, want 4", granted)
	}
	for i := 0; i < granted; i++ {
		b.Release()
	}
	for i := 0; i < 20; i++ {
		b.End()
	}
	granted = 0
	for i := 0; i < 5; i++ {
		if b.Acquire() {
			granted++
		}
	}
	if granted != 2 {
		t.Fatalf("granted %d retries with nothing in flight, want the floor of 2", granted)
	}
}
