//go:build race

package router

// The race detector makes sync.Pool drop items at random, so regexp's pooled
// matchers get reallocated and allocation counts mean nothing.
const raceEnabled = true
