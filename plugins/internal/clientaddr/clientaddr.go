// Package clientaddr finds a request's client address for the policies
// that judge or count by it (ip-filter, rate-limit): the connection's
// peer, or behind trusted proxies an entry of X-Forwarded-For.
package clientaddr

import (
	"bytes"
	"net/netip"

	"github.com/wasmgate/wasmgate/plugins/internal/zerocopy"
)

// Forwarded is the client address X-Forwarded-For gives behind n trusted
// proxies: the n-th entry from the end of its lines taken as one list.
func Forwarded(lines [][]byte, n int) (netip.Addr, bool) {
	for i := len(lines) - 1; i >= 0; i-- {
		hop, ok := FromRight(lines[i], n)
		if !ok {
			n -= entries(lines[i])
			continue
		}
		return hopAddr(bytes.TrimSpace(hop))
	}
	return netip.Addr{}, false
}

// hopAddr is an X-Forwarded-For entry's address: most are bare, some
// proxies write the port too ("10.1.2.3:5555", "[::1]:80"). The bare
// form is tried first: a failed parse allocates its error.
func hopAddr(hop []byte) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(zerocopy.String(hop)); err == nil {
		return a.Unmap().WithZone(""), true
	}
	ap, err := netip.ParseAddrPort(zerocopy.String(hop))
	return ap.Addr().Unmap().WithZone(""), err == nil
}

// entries is how many entries a comma-separated list has.
func entries(list []byte) int { return bytes.Count(list, []byte{','}) + 1 }

// Peer is the address of the source.address property: host and port, or
// a bare address.
func Peer(raw []byte) (netip.Addr, bool) {
	// Parsed through a view: a conversion would copy on every request
	// (the parser's error keeps its input), and no string made here
	// outlives the callback (errors are dropped).
	ap, err := netip.ParseAddrPort(zerocopy.String(raw))
	if err != nil {
		a, aerr := netip.ParseAddr(zerocopy.String(raw))
		return a.Unmap().WithZone(""), aerr == nil
	}
	return ap.Addr().Unmap().WithZone(""), true
}

// FromRight is the n-th element of a comma-separated list counted from
// its end (1 is the last); false when the list has fewer.
func FromRight(list []byte, n int) ([]byte, bool) {
	for ; n > 1; n-- {
		i := bytes.LastIndexByte(list, ',')
		if i < 0 {
			return nil, false
		}
		list = list[:i]
	}
	if i := bytes.LastIndexByte(list, ','); i >= 0 {
		list = list[i+1:]
	}
	return list, true
}
