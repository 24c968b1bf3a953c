// Package clientaddr finds a request's client address for the policies
// that judge or count by it (ip-filter, rate-limit): the connection's
// peer, or behind trusted proxies an entry of X-Forwarded-For.
package clientaddr

import (
	"bytes"
	"errors"
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

// Prefixes parses a list of CIDRs and addresses, unmapped as requests' addresses are.
func Prefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil || a.Zone() != "" {
				return nil, errors.New("not an address or CIDR: " + s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		// Requests' addresses are judged unmapped: so are the lists'.
		if a := p.Addr(); a.Is4In6() {
			if p.Bits() < 96 {
				return nil, errors.New("an IPv4-mapped prefix shorter than /96: " + s)
			}
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Contains reports whether a is in one of the prefixes.
func Contains(list []netip.Prefix, a netip.Addr) bool {
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Behind says how a policy finds the client behind proxies of the
// operator's: Hops entries from the right of X-Forwarded-For believed
// from any peer (Envoy's xff_num_trusted_hops), or the proxies' own
// addresses, Nets (nginx's set_real_ip_from with real_ip_recursive): the
// header is believed only from such a peer, and the client is its
// rightmost entry that is not one of them. Neither: the peer.
type Behind struct {
	Hops int
	Nets []netip.Prefix
}

// Request is what Client reads of a request, each only when it counts:
// the connection's peer (source.address) and the X-Forwarded-For lines.
type Request interface {
	Peer() []byte
	XFF() [][]byte
}

// Client is the request's client address. ok is false when the address
// to judge is not there or does not parse.
func (b Behind) Client(r Request) (netip.Addr, bool) {
	switch {
	case b.Hops > 0:
		return Forwarded(r.XFF(), b.Hops)
	case len(b.Nets) > 0:
		a, ok := Peer(r.Peer())
		if !ok || !Contains(b.Nets, a) {
			return a, ok
		}
		if c, found, ok := recursive(r.XFF(), b.Nets); found {
			return c, ok
		}
		return a, true // a proxy of ours asking on its own behalf
	}
	return Peer(r.Peer())
}

// Configure reads a policy's trusted_proxies and trusted_proxy_cidrs.
func Configure(hops int, nets []string) (Behind, error) {
	if hops < 0 {
		return Behind{}, errors.New("trusted_proxies: must not be negative")
	}
	p, err := Prefixes(nets)
	if err != nil {
		return Behind{}, errors.New("trusted_proxy_cidrs: " + err.Error())
	}
	if hops > 0 && len(p) > 0 {
		return Behind{}, errors.New("trusted_proxies and trusted_proxy_cidrs: set one (a hop count, or the proxies' addresses)")
	}
	return Behind{Hops: hops, Nets: p}, nil
}

// recursive walks X-Forwarded-For from the right, past the entries that
// are trusted proxies, to the client: the first that is not one, or the
// leftmost. found is false without any entry; ok false for one that
// does not parse (no guess is made past it).
func recursive(lines [][]byte, nets []netip.Prefix) (client netip.Addr, found, ok bool) {
	for i := len(lines) - 1; i >= 0; i-- {
		list := lines[i]
		for len(list) > 0 {
			hop := list
			if j := bytes.LastIndexByte(list, ','); j >= 0 {
				hop, list = list[j+1:], list[:j]
			} else {
				list = nil
			}
			a, good := hopAddr(bytes.TrimSpace(hop))
			if !good {
				return netip.Addr{}, true, false
			}
			client, found = a, true
			if !Contains(nets, a) {
				return client, true, true
			}
		}
	}
	return client, found, found
}
