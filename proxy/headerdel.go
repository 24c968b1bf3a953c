package proxy

import "github.com/valyala/fasthttp"

// headerList is a request's or a response's header. Its headers are
// visited with VisitAll and functions bound once per exchange: ranging
// over All through the interface would allocate its closures on every
// request.
type headerList interface {
	DelBytes(key []byte)
	AddBytesKV(key, value []byte)
	VisitAll(func(key, value []byte))
}

// The headers fasthttp keeps outside its ordered list: a Del of one of
// them moves nothing, and they are never re-added by deleteMarked.
var (
	requestApart = [][]byte{[]byte("Host"), []byte("Content-Length"), []byte("Content-Type"),
		[]byte("User-Agent"), []byte("Trailer"), []byte("Cookie"), []byte("Connection"), []byte("Transfer-Encoding")}
	responseApart = [][]byte{[]byte("Content-Length"), []byte("Content-Type"), []byte("Content-Encoding"),
		[]byte("Server"), []byte("Set-Cookie"), []byte("Trailer"), []byte("Connection"), []byte("Transfer-Encoding"), []byte("Date")}
)

// deleteMarked removes every header named in x.del from h, keeping the
// order of the other headers' lines. fasthttp's Del fills each gap with
// the list's last header, so with a name sent on several lines after the
// gap their order would change: a client sending "Keep-Alive: 5" before
// its own X-Forwarded-For line could get it moved after the line a proxy
// in front appended, and pass for the proxy's client. Only then (some
// name repeats) is the list rebuilt; otherwise the deletes are plain.
func deleteMarked(x *exchange, h headerList, apart [][]byte) {
	if len(x.del) == 0 {
		return
	}
	if !repeatedName(x, h, apart) {
		for _, name := range x.del {
			h.DelBytes(name)
		}
		return
	}
	marked := len(x.del)
	x.apart = apart
	h.VisitAll(x.pairFn) // after the marked names: name, value, name, value, …
	pairs := x.del[marked:]
	for i := 0; i < len(pairs); i += 2 {
		h.DelBytes(pairs[i])
	}
	// What is left in fasthttp's list now has only names kept apart.
	for _, name := range x.del[:marked] {
		h.DelBytes(name)
	}
	for i := 0; i < len(pairs); i += 2 {
		if !oneOf(pairs[i], x.del[:marked]) {
			h.AddBytesKV(pairs[i], pairs[i+1])
		}
	}
	x.del = x.del[:marked]
}

// repeatedName reports a name on more than one line of h's ordered list
// (case-insensitively). Most messages have none; a length and first-byte
// filter keeps the pairwise check off their path.
func repeatedName(x *exchange, h headerList, apart [][]byte) bool {
	x.names, x.seen, x.collision, x.apart = x.names[:0], 0, false, apart
	h.VisitAll(x.nameFn)
	names := x.names
	x.names = x.names[:0]
	if !x.collision {
		return false
	}
	for i, a := range names {
		for _, b := range names[i+1:] {
			if len(a) == len(b) && a[0]|0x20 == b[0]|0x20 && asciiEqualFold(a, b) {
				return true
			}
		}
	}
	return false
}

// collectName is repeatedName's visitor: the names of the ordered list,
// and whether two fall in one slot of a 64-bit filter.
func (x *exchange) collectName(k, _ []byte) {
	if len(k) == 0 || oneOf(k, x.apart) {
		return
	}
	bit := uint64(1) << ((uint(len(k)) + 7*uint(k[0]|0x20)) & 63)
	x.collision = x.collision || x.seen&bit != 0
	x.seen |= bit
	x.names = append(x.names, k)
}

// collectPair is deleteMarked's visitor: it copies the ordered list.
func (x *exchange) collectPair(k, v []byte) {
	if !oneOf(k, x.apart) {
		x.markDelete(k)
		x.markDelete(v)
	}
}

func oneOf(name []byte, list [][]byte) bool {
	for _, n := range list {
		if len(n) == len(name) && asciiEqualFold(name, n) {
			return true
		}
	}
	return false
}

// markHopByHop records in x.del the hop-by-hop headers of a request or
// response header: those of hopByHop, every Proxy-* header
// (Proxy-Connection among them) and every header a Connection header
// names.
func markHopByHop(x *exchange, h headerList) {
	x.del = x.del[:0]
	x.delBuf = x.delBuf[:0]
	h.VisitAll(x.visitFn)
}

// stripHopByHop removes the hop-by-hop headers (see markHopByHop).
func stripHopByHop(x *exchange, h headerList, apart [][]byte) {
	markHopByHop(x, h)
	deleteMarked(x, h, apart)
}

// stripTargetResponse removes from a target's response head its
// hop-by-hop headers and every X-Request-Id line it sent, and adds the
// gateway's id: the client gets one id, the one in the access log. (A
// Set would replace the first of the target's lines only.)
func stripTargetResponse(x *exchange, h *fasthttp.ResponseHeader) {
	markHopByHop(x, h)
	x.del = append(x.del, strRequestID)
	deleteMarked(x, h, responseApart)
	h.AddBytesV(hdrRequestID, x.rid)
}

// dropRequestTrailers removes the client's trailer fields from a request
// that is forwarded. A target may merge them into the headers (fasthttp's
// PeekAll does), where an X-Consumer sent after the body would sit beside
// the one key-auth set, unseen by every policy; Envoy drops request
// trailers by default on HTTP/1, and nginx does not forward them. Plugins
// have seen them by then (on_request_trailers). Lines of those names in
// the header section stay, after the others.
func dropRequestTrailers(x *exchange, h *fasthttp.RequestHeader) {
	names := h.PeekTrailerKeys()
	if len(names) == 0 {
		return
	}
	x.del, x.delBuf = x.del[:0], x.delBuf[:0]
	for _, n := range names {
		x.markDelete(n)
	}
	marked := len(x.del)
	for k, v := range h.All() { // the header section only
		if oneOf(k, x.del[:marked]) {
			x.markDelete(k)
			x.markDelete(v)
		}
	}
	// deleteMarked appends to x.del: the kept lines move out of its way.
	x.kept = append(x.kept[:0], x.del[marked:]...)
	x.del = x.del[:marked]
	// Deleting a name takes it from both sections.
	deleteMarked(x, h, requestApart)
	for i := 0; i+1 < len(x.kept); i += 2 {
		h.AddBytesKV(x.kept[i], x.kept[i+1])
	}
	clear(x.kept)
	h.DelBytes(strTrailer) // the names announced or received
}
