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
// by the client and are never trusted. With trusted_proxy_cidrs instead,
// the header counts only from a peer in those networks, and the client is
// its rightmost entry outside them (see clientaddr.Behind). An entry may
// carry a port. Addresses are compared without an IPv6 zone and with
// IPv4-mapped IPv6 as IPv4, in the lists as in requests. Deny wins over
// allow. A refused request gets 403 with a JSON error.
package main

import (
	"net/netip"

	"github.com/wasmgate/wasmgate/plugins/internal/clientaddr"
	"github.com/wasmgate/wasmgate/plugins/internal/strictjson"
	"github.com/wasmgate/wasmgate/sdk/go"
)

type config struct {
	Allow             []string `json:"allow"`
	Deny              []string `json:"deny"`
	TrustedProxies    int      `json:"trusted_proxies"`
	TrustedProxyCIDRs []string `json:"trusted_proxy_cidrs"`
}

type plugin struct {
	allow, deny []netip.Prefix
	behind      clientaddr.Behind
}

func (p *plugin) OnConfigure(raw []byte) error {
	var c config
	if err := strictjson.Decode(raw, &c); err != nil {
		return err
	}
	var err error
	if p.allow, err = clientaddr.Prefixes(c.Allow); err != nil {
		return err
	}
	if p.deny, err = clientaddr.Prefixes(c.Deny); err != nil {
		return err
	}
	p.behind, err = clientaddr.Configure(c.TrustedProxies, c.TrustedProxyCIDRs)
	return err
}

func (p *plugin) NewHTTP() proxywasm.HTTP { return &request{p: p} }

type request struct {
	p   *plugin
	s   proxywasm.Stream // the running callback's, for Peer and XFF
	xff [][]byte         // the X-Forwarded-For lines, reused
}

func (r *request) Reset() {}

// Peer and XFF are what clientaddr reads of the request.
func (r *request) Peer() []byte {
	raw, _ := r.s.Property("source", "address")
	return raw
}

func (r *request) XFF() [][]byte {
	r.xff, _ = r.s.RequestHeaders().Values("x-forwarded-for", r.xff[:0])
	return r.xff
}

func (r *request) OnRequestHeaders(s proxywasm.Stream, _ bool) proxywasm.Action {
	r.s = s
	a, ok := r.p.behind.Client(r)
	if ok && !clientaddr.Contains(r.p.deny, a) && (len(r.p.allow) == 0 || clientaddr.Contains(r.p.allow, a)) {
		return proxywasm.Continue
	}
	_ = s.Respond(403, [][2]string{{"content-type", "application/json"}},
		[]byte(`{"error":"ip_denied","message":"this client address may not use this route"}`+"\n"))
	return proxywasm.Pause
}

func init() { proxywasm.Register(func() proxywasm.Plugin { return &plugin{} }) }

func main() {}
