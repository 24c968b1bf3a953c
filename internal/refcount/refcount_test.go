package refcount

import "testing"

// TestFreedByTheLastHolder: free runs when the last holder of a key lets
// go, not before, and a key held again starts over.
func TestFreedByTheLastHolder(t *testing.T) {
	var c Counts
	freed := 0
	free := func() { freed++ }
	c.Hold("a")
	c.Hold("a")
	c.Hold("b")
	c.Release("a", free)
	if freed != 0 {
		t.Fatal("freed while a holder is left")
	}
	c.Release("a", free)
	if freed != 1 {
		t.Fatalf("freed %d times after the last holder, want 1", freed)
	}
	c.Hold("a")
	c.Release("a", free)
	c.Release("b", free)
	if freed != 3 {
		t.Fatalf("freed %d times, want 3", freed)
	}
}
