package proxy

import (
	"bytes"
	"errors"
	"io"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/wasmgate/wasmgate/proxy/upstream"
)

// exchange is the per-request scratch space: buffers reused across
// requests so the hot path does not allocate. It is taken from a pool at
// the start of a request and returned when the handler returns; nothing in
// it may be referenced after that (fasthttp copies header values it is
// given).
type exchange struct {
	rid       []byte
	xff       []byte
	host      []byte
	path      []byte
	origPath  []byte
	body      []byte
	ip        []byte
	del       [][]byte // header names to delete after a VisitAll
	names     [][]byte // header names seen, for repeatedName
	kept      [][]byte // header lines dropRequestTrailers puts back
	seen      uint64   // repeatedName's filter
	apart     [][]byte // the names the current header keeps apart
	collision bool
	delBuf    []byte
	upgrade   []byte
	limit     limitReader
	elig      upstream.Eligible
	visitFn   func(key, value []byte)
	nameFn    func(key, value []byte)
	pairFn    func(key, value []byte)
}

var exchanges = sync.Pool{New: func() any {
	x := &exchange{}
	// Bound once here: a method value made per request would allocate.
	x.visitFn = x.collectHopHeader
	x.nameFn = x.collectName
	x.pairFn = x.collectPair
	return x
}}

func getExchange() *exchange { return exchanges.Get().(*exchange) }

func putExchange(x *exchange) {
	x.limit = limitReader{}
	x.del = x.del[:0]
	exchanges.Put(x)
}

// collectHopHeader records the names of headers meant for this hop only:
// the fixed hop-by-hop set, Proxy-* headers and every field a Connection
// header lists. A message may carry Connection more than once, so all of
// them are read here rather than with Peek, which sees only the first.
// Only names actually present are recorded: each delete scans the whole
// header, and most messages carry none of them.
func (x *exchange) collectHopHeader(key, value []byte) {
	switch {
	case len(key) > 6 && asciiEqualFold(key[:6], strProxyDash):
		x.markDelete(key)
	case asciiEqualFold(key, strConnection):
		x.markDelete(key)
		for len(value) > 0 {
			tok := value
			if i := bytes.IndexByte(value, ','); i >= 0 {
				tok, value = value[:i], value[i+1:]
			} else {
				value = nil
			}
			if tok = bytes.TrimSpace(tok); len(tok) > 0 && !oneOf(tok, keptHeaders) {
				x.markDelete(tok)
			}
		}
	case oneOf(key, hopByHop):
		x.markDelete(key)
	}
}

// keptHeaders are never removed for being named in Connection: the
// message's framing and target, which a removal would break (the upstream
// request would fail, and its target be blamed), and the request id the
// gateway itself sets.
var keptHeaders = [][]byte{[]byte("Content-Length"), []byte("Host"), []byte(hdrRequestID)}

func (x *exchange) markDelete(name []byte) {
	start := len(x.delBuf)
	x.delBuf = append(x.delBuf, name...)
	x.del = append(x.del, x.delBuf[start:])
}

var errBodyTooLarge = errors.New("request body exceeds the listener's max_body_bytes")

// limitReader stops a streamed (chunked) request body at the listener's
// limit; Content-Length bodies are checked before forwarding.
type limitReader struct {
	r    io.Reader
	left int64
	read int64
	want int64 // the declared length, or -1 (chunked)
	eof  bool  // the whole body has been read
	// fault is set when the client's side failed: the body was too
	// large or did not parse (a bad chunk). Such a try says nothing about
	// the upstream, which must not be blamed for it.
	fault error
	// x and hdr are the exchange and the request whose trailer fields
	// go when the body ends (see dropRequestTrailers).
	x   *exchange
	hdr *fasthttp.RequestHeader
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// Whether the body has ended exactly at the limit is only known by
		// reading one more byte.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			l.fault = errBodyTooLarge
			return 0, errBodyTooLarge
		}
		return 0, l.failed(err)
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	l.read += int64(n)
	if err == nil && l.want >= 0 && l.read >= l.want {
		l.eof = true
	}
	return n, l.failed(err)
}

// failed records a read error of the client's body (not its end), and a
// body that ended before its declared length.
func (l *limitReader) failed(err error) error {
	switch {
	case err == io.EOF && l.want >= 0 && l.read < l.want:
		err = io.ErrUnexpectedEOF
		l.fault = err
	case err == io.EOF:
		l.eof = true
		// A chunked body's trailer fields are parsed as it ends, and the
		// client sends them after it: here is the moment to drop them.
		if l.hdr != nil {
			dropRequestTrailers(l.x, l.hdr)
		}
	case err != nil:
		l.fault = err
	}
	return err
}

// unfinished reports whether a streamed body was being read from the
// client, begun and not ended: a try that failed then may have failed for
// the client's sake (it stalled or went away), so it is not held against
// the target. A try that failed before reading any of it (no connection)
// is the target's.
func (l *limitReader) unfinished() bool { return l.r != nil && !l.eof && l.read > 0 }

var _ io.Reader = (*limitReader)(nil)

func asciiEqualFold(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		ca, cb := a[i], b[i]
		if 'A' <= ca && ca <= 'Z' {
			ca += 'a' - 'A'
		}
		if 'A' <= cb && cb <= 'Z' {
			cb += 'a' - 'A'
		}
		if ca != cb {
			return false
		}
	}
	return true
}

var (
	strProxyDash  = []byte("proxy-")
	strConnection = []byte("connection")
)
