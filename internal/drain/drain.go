// Package drain reads and drops what a client still sends before a
// server closes the connection on it. Closing a socket with unread data
// resets the connection, and the client may then lose the answer it was
// sent (a 413 for a body too large, say).
package drain

import (
	"io"
	"net"
	"time"
)

// Idle is how long Body waits for more data before giving up.
const Idle = 250 * time.Millisecond

// Body reads up to n bytes from r, the rest of a body arriving on c, and
// drops them; it gives up when c stays idle for Idle or r fails.
func Body(c net.Conn, r io.Reader, n int64) {
	buf := make([]byte, 32<<10)
	for n > 0 {
		_ = c.SetReadDeadline(time.Now().Add(Idle))
		m, err := r.Read(buf[:min(int64(len(buf)), n)])
		n -= int64(m)
		if err != nil {
			return
		}
	}
}
