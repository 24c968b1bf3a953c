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
// the right (plugins run before the gateway adds its own entry). Entries
// further left are written by the client and are never trusted. Deny wins
// over allow. A refused request gets 403 with a JSON error.
package main

import (
	"encoding/json"
	"errors"
	"net/netip"
	"strings"

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
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, errors.New("not an address or CIDR: " + s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func (p *plugin) OnConfigure(raw []byte) error {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
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

type request struct{ p *plugin }

func (r *request) Reset() {}

// client finds the address to judge; false when there is none to trust.
func (r *request) client(s proxywasm.Stream) (netip.Addr, bool) {
	if r.p.trusted > 0 {
		xff, err := s.RequestHeaders().Get("x-forwarded-for")
		if err != nil {
			return netip.Addr{}, false
		}
		hops := strings.Split(xff, ",")
		i := len(hops) - r.p.trusted
		if i < 0 {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		return a.Unmap(), err == nil
	}
	raw, err := s.Property("source", "address")
	if err != nil {
		return netip.Addr{}, false
	}
	ap, err := netip.ParseAddrPort(string(raw))
	if err != nil {
		a, aerr := netip.ParseAddr(string(raw))
		return a.Unmap(), aerr == nil
	}
	return ap.Addr().Unmap(), true
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
