// Package refcount counts the holders of something shared by name, such
// as the metric series that the routes or targets of several config
// snapshots export under one name: the last holder to let go frees it.
package refcount

import "sync"

// Counts is a set of counts by key; the zero value is ready to use.
type Counts struct {
	mu sync.Mutex
	n  map[string]int
}

// Hold adds a holder of key.
func (c *Counts) Hold(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[key]++
}

// Release drops a holder of key and, when it was the last, runs free
// under the lock: a Hold of the same key meanwhile would otherwise find
// the thing it shares freed under it.
func (c *Counts) Release(key string, free func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[key]--; c.n[key] > 0 {
		return
	}
	delete(c.n, key)
	free()
}
