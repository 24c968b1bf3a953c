// Package zerocopy views bytes as a string without copying them, for the
// built-in policies' hot paths: a string conversion that escapes (into a
// host call's argument, or a parser's error) allocates on every request,
// and in a Go-built plugin that garbage grows the guest's heap until its
// slow collector runs.
package zerocopy

import "unsafe"

// String is b as a string, sharing b's memory. The caller must not
// change b while the string is in use, nor keep the string past the
// life of b (for bytes the host returned, the callback).
func String(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
