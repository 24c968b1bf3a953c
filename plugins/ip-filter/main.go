// ip-filter allows or denies requests by client address. Config (JSON):
//
//	{
//	  "allow": ["10.0.0.0/8", "192.168.1.7"],  // if set, only these pass
//	  "deny":  ["10.9.0.0/16"],                // these never pass
//	  "trusted_proxies": 1                     // see below
//	}
//
// The client address is the connection's peer. With trusted_proxies = N
// (N > 0) the gateway sits behind N proxies of its own, each appending the
// address it saw to X-Forwarded-For, so the client is the Nth entry from
// the right (plugins run before the gateway adds its own entry), counting
// across every X-Forwarded-For line in order (a proxy may add a line of
// its own rather than extend the last). Entries further left are written
// by the client and are never trusted. Addresses are compared without an
// IPv6 zone and with IPv4-mapped IPv6 as IPv4, in the lists as in
// requests. Deny wins over allow. A refused request gets 403 with a JSON
// error.
package main

import (
	"bytes"
	"errors"
	"net/netip"

	"github.com/wasmgate/wasmgate/plugins/internal/strictjson"
	"github.com/wasmgate/wasmgate/plugins/internal/zerocopy"
	"github.com/wasmgate/wasmgate/sdk/go"
)

type config struct {
	Allow          []string `json:"allow"`
	Deny           []string `json:"deny"`
	TrustedProxies int      `json:"trusted_proxies"`
}

type plugin struct {
	allow, deny []netip.Prefix
	trusted     int
}

func prefixes(list []string) ([]netip.Prefix, error) {
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

func (p *plugin) OnConfigure(raw []byte) error {
	var c config
	if err := strictjson.Decode(raw, &c); err != nil {
		return err
	}
	var err error
	if p.allow, err = prefixes(c.Allow); err != nil {
		return err
	}
	if p.deny, err = prefixes(c.Deny); err != nil {
		return err
	}
	if c.TrustedProxies < 0 {
		return errors.New("trusted_proxies: must not be negative")
	}
	p.trusted = c.TrustedProxies
	return nil
}

func (p *plugin) NewHTTP() proxywasm.HTTP { return &request{p: p} }

type request struct {
	p   *plugin
	xff [][]byte // the X-Forwarded-For lines, reused
}

func (r *request) Reset() {}

// client finds the address to judge; false when there is none to trust.
func (r *request) client(s proxywasm.Stream) (netip.Addr, bool) {
	if r.p.trusted > 0 {
		var err error
		r.xff, err = s.RequestHeaders().Values("x-forwarded-for", r.xff[:0])
		if err != nil {
			return netip.Addr{}, false
		}
		return forwarded(r.xff, r.p.trusted)
	}
	raw, err := s.Property("source", "address")
	if err != nil {
		return netip.Addr{}, false
	}
	return peer(raw)
}

// forwarded is the client address X-Forwarded-For gives behind n trusted
// proxies: the n-th entry from the end of its lines taken as one list.
func forwarded(lines [][]byte, n int) (netip.Addr, bool) {
	for i := len(lines) - 1; i >= 0; i-- {
		hop, ok := fromRight(lines[i], n)
		if !ok {
			n -= entries(lines[i])
			continue
		}
		a, err := netip.ParseAddr(zerocopy.String(bytes.TrimSpace(hop)))
		return a.Unmap().WithZone(""), err == nil
	}
	return netip.Addr{}, false
}

// entries is how many entries a comma-separated list has.
func entries(list []byte) int { return bytes.Count(list, []byte{','}) + 1 }

// peer is the address of the source.address property: host and port, or
// a bare address.
func peer(raw []byte) (netip.Addr, bool) {
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

// fromRight is the n-th element of a comma-separated list counted from
// its end (1 is the last); false when the list has fewer.
func fromRight(list []byte, n int) ([]byte, bool) {
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

func contains(list []netip.Prefix, a netip.Addr) bool {
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (r *request) OnRequestHeaders(s proxywasm.Stream, _ bool) proxywasm.Action {
	a, ok := r.client(s)
	if ok && !contains(r.p.deny, a) && (len(r.p.allow) == 0 || contains(r.p.allow, a)) {
		return proxywasm.Continue
	}
	_ = s.Respond(403, [][2]string{{"content-type", "application/json"}},
		[]byte(`{"error":"ip_denied","message":"this client address may not use this route"}`+"\n"))
	return proxywasm.Pause
}

func init() { proxywasm.Register(func() proxywasm.Plugin { return &plugin{} }) }

func main() {}
