//go:build !linux

package fastconn

// Elsewhere Conn reads and writes through the wrapped connection.
const rawSupported = false

func (c *Conn) readRaw(fd uintptr) bool  { panic("fastconn: no raw path on this platform") }
func (c *Conn) writeRaw(fd uintptr) bool { panic("fastconn: no raw path on this platform") }
