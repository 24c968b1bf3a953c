// rate-limit limits the request rate per client, API key, consumer or
// route, with the state kept in the host's shared data so that every VM
// of the gateway (a plugin's pool, and reloads) counts against one budget.
// Config (JSON):
//
//	{
//	  "algorithm": "token_bucket",      // or "sliding_window" (default token_bucket)
//	  "limit": 100,                     // requests per window (required, > 0)
//	  "window": "1m",                   // a Go duration (required, > 0)
//	  "burst": 20,                      // token_bucket only: capacity (default limit)
//	  "key": "client_address",          // or "header:X-Api-Key", "consumer", "route"
//	  "consumer_header": "X-Consumer",  // the header "consumer" reads
//	  "ipv6_prefix": 64,                // IPv6 clients are keyed by this prefix (default 64)
//	  "trusted_proxies": 1,             // client_address behind this many proxies (default 0),
//	  "trusted_proxy_cidrs": [],        // or behind proxies at these addresses
//	  "headers": true                   // X-RateLimit-* on responses (default true)
//	}
//
// # Algorithms
//
// token_bucket: a bucket of burst tokens, refilled continuously at limit
// tokens per window (one every window/limit); a request takes a token and
// is refused when there is none. burst > limit allows short bursts above
// the average rate; burst < limit smooths traffic. The state is one
// timestamp, the instant the bucket will be full again.
//
// sliding_window: fixed windows of the given length (aligned on the Unix
// epoch) count the requests allowed in them; a request is allowed while
// prev*(window-elapsed)/window + cur + 1 <= limit, where cur counts the
// current window, prev the one before, and elapsed is the time since the
// current window began: the previous window's count weighs as much as a
// window ending now still overlaps it. Refused requests are not counted.
// The state is the window's start and the two counts.
//
// Both decide with integer arithmetic on the host's clock, so boundaries
// are exact. See plugins/internal/ratelimit for the details.
//
// # Keys
//
//   - client_address: the connection's peer address (property
//     source.address) without its port; behind proxies
//     (trusted_proxies or trusted_proxy_cidrs), the X-Forwarded-For entry
//     ip-filter would judge (without a usable entry, the peer's). An IPv6 client is keyed by its
//     ipv6_prefix-bit prefix (default /64, "2001:db8:1:2::/64"): a single
//     host usually holds a whole /64 and could otherwise take a fresh
//     budget with every address in it. 128 keys each address. An
//     IPv4-mapped address is keyed as the IPv4 address it maps.
//   - header:NAME: the value of the request header NAME. A request without
//     the header (or with it empty) is limited by its client address
//     instead, in a bucket of its own kind (a header value never shares a
//     bucket with an address). Clients choose header values: use it only
//     for headers a trusted component set or checked.
//   - consumer: the header consumer_header (default X-Consumer), set by an
//     authentication plugin earlier in the route's chain (key-auth,
//     basic-auth); without it, the client address, as for header:NAME.
//   - route: the route's name (property route_name).
//
// Values longer than 64 bytes are replaced by their SHA-256, so the key
// stays short whatever a client sends.
//
// # Shared state
//
// Each key's state is a few bytes in the host's shared data under
// "<plugin name>/<kind>:<value>" (the plugin's name is the property
// plugin_name: two instances of this plugin never share state; two routes
// using one instance do). It is updated with a compare-and-swap loop: read
// the state and its version, decide, write at that version, and on a
// mismatch (another VM wrote in between) read and decide again, up to 16
// times. A refusal writes nothing. A key's first write is made with
// proxywasm.CreateOnly, a cas no key reaches, which hosts that create
// missing keys whatever the cas (wasmgate's, Envoy's) turn into
// create-if-absent: two VMs creating a key at once cannot overwrite each
// other.
//
// The limiter fails open: when the 16 attempts all conflict, or the host's
// shared data fails, the request goes through unlimited and without
// X-RateLimit-* headers, and is counted in rate_limit_contention.
//
// The host keeps shared data for the life of the gateway process: every
// distinct key seen stays (a few dozen bytes each), up to wasmgate's bound
// on shared keys, past which it forgets arbitrary keys (for this plugin,
// one client's count).
//
// # Responses
//
// An allowed request's response gets, when headers is true,
// X-RateLimit-Limit (burst for token_bucket, limit for sliding_window),
// X-RateLimit-Remaining (requests still allowed now) and X-RateLimit-Reset
// (seconds, rounded up, until the bucket is full again or the current
// window ends). A refused one gets 429 with
// {"error":"rate_limited","message":"..."}, Retry-After (seconds, at least
// 1, until a request would be allowed) and the X-RateLimit-* headers when
// headers is true.
//
// Counters: rate_limit_allowed (every request let through, fail-open ones
// included), rate_limit_limited (429s) and rate_limit_contention
// (let through without a decision).
package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/wasmgate/wasmgate/plugins/internal/clientaddr"
	"github.com/wasmgate/wasmgate/plugins/internal/httptoken"
	"github.com/wasmgate/wasmgate/plugins/internal/ratelimit"
	"github.com/wasmgate/wasmgate/plugins/internal/strictjson"
	"github.com/wasmgate/wasmgate/plugins/internal/zerocopy"
	"github.com/wasmgate/wasmgate/sdk/go"
)

type config struct {
	Algorithm         string   `json:"algorithm"`
	Limit             int64    `json:"limit"`
	Window            string   `json:"window"`
	Burst             *int64   `json:"burst"`
	Key               string   `json:"key"`
	ConsumerHeader    string   `json:"consumer_header"`
	IPv6Prefix        *int     `json:"ipv6_prefix"`
	TrustedProxies    int      `json:"trusted_proxies"`
	TrustedProxyCIDRs []string `json:"trusted_proxy_cidrs"`
	Headers           *bool    `json:"headers"`
}

// The kinds of key, the first byte of a key after the plugin's prefix.
const (
	kindAddress  = 'a'
	kindHeader   = 'h'
	kindConsumer = 'c'
	kindRoute    = 'r'
)

type plugin struct {
	shared  ratelimit.Shared
	kind    byte
	header  string            // the header read by kindHeader and kindConsumer
	headers bool              // X-RateLimit-* on responses
	prefix  string            // "<plugin name>/"
	v6bits  int               // the prefix length an IPv6 client is keyed by
	behind  clientaddr.Behind // how the client is found behind proxies
	s       proxywasm.Stream  // the running callback's, for Peer and XFF

	// Reused by every request: a VM runs one callback at a time.
	keyBuf, numBuf, bodyBuf []byte
	xff                     [][]byte
	limitText               []byte // X-RateLimit-Limit's value, which never changes
	respHeaders             [][2]string

	allowed, limited, contention counter
}

// store is the shared data the limiter uses; tests wrap it.
var store ratelimit.Store = hostStore{}

func (p *plugin) OnConfigure(raw []byte) error {
	var c config
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := strictjson.Decode(raw, &c); err != nil {
			return errors.New("config: " + err.Error())
		}
	}
	alg := ratelimit.TokenBucket
	switch c.Algorithm {
	case "", "token_bucket":
	case "sliding_window":
		alg = ratelimit.SlidingWindow
	default:
		return errors.New("algorithm: unknown " + strconv.Quote(c.Algorithm) + " (want token_bucket or sliding_window)")
	}
	if c.Limit <= 0 {
		return errors.New("limit: must be > 0")
	}
	if c.Window == "" {
		return errors.New(`window: required, a duration such as "1m"`)
	}
	window, err := time.ParseDuration(c.Window)
	if err != nil {
		return errors.New("window: " + err.Error())
	}
	var burst int64
	if c.Burst != nil {
		if *c.Burst <= 0 {
			return errors.New("burst: must be > 0")
		}
		burst = *c.Burst
	}
	lim, err := ratelimit.New(alg, c.Limit, window, burst)
	if err != nil {
		return err
	}
	switch name, isHeader := strings.CutPrefix(c.Key, "header:"); {
	case c.Key == "" || c.Key == "client_address":
		p.kind = kindAddress
	case c.Key == "consumer":
		p.kind, p.header = kindConsumer, "x-consumer"
		if c.ConsumerHeader != "" {
			p.header = strings.ToLower(c.ConsumerHeader)
		}
	case c.Key == "route":
		p.kind = kindRoute
	case isHeader && httptoken.IsToken(name):
		p.kind, p.header = kindHeader, strings.ToLower(name)
	default:
		return errors.New("key: unknown " + strconv.Quote(c.Key) + " (want client_address, header:NAME, consumer or route)")
	}
	if c.ConsumerHeader != "" && !httptoken.IsToken(c.ConsumerHeader) {
		return errors.New("consumer_header: not a header name: " + strconv.Quote(c.ConsumerHeader))
	}
	if p.behind, err = clientaddr.Configure(c.TrustedProxies, c.TrustedProxyCIDRs); err != nil {
		return err
	}
	p.headers = c.Headers == nil || *c.Headers
	p.v6bits = 64
	if c.IPv6Prefix != nil {
		if *c.IPv6Prefix < 1 || *c.IPv6Prefix > 128 {
			return errors.New("ipv6_prefix: must be 1 to 128")
		}
		p.v6bits = *c.IPv6Prefix
	}

	name := "rate-limit"
	if v, err := proxywasm.Property("plugin_name"); err == nil && len(v) > 0 {
		name = string(v)
	}
	p.prefix = name + "/"
	p.shared = ratelimit.Shared{Limiter: lim, Store: store, Clock: hostNanos}
	p.limitText = strconv.AppendInt(nil, lim.Capacity(), 10)
	p.keyBuf = make([]byte, 0, len(p.prefix)+80)
	p.numBuf = make([]byte, 0, 4*20) // four int64s: never reallocated
	p.bodyBuf = make([]byte, 0, 128)
	p.respHeaders = make([][2]string, 0, 5)
	p.allowed = newCounter("rate_limit_allowed")
	p.limited = newCounter("rate_limit_limited")
	p.contention = newCounter("rate_limit_contention")
	return nil
}

func (p *plugin) NewHTTP() proxywasm.HTTP { return &request{p: p} }

// request handles a request. It has no response phase, so the host calls
// none: the X-RateLimit-* headers of an allowed request are response
// edits made with the decision, which the host applies to the response.
type request struct{ p *plugin }

func (r *request) Reset() {}

func (r *request) OnRequestHeaders(s proxywasm.Stream, _ bool) proxywasm.Action {
	p := r.p
	// Take reads the clock itself (Shared.Clock), after the state: a
	// time read here would go unused, and costs a host call.
	res, err := p.shared.Take(p.key(s), 0)
	switch {
	case err != nil:
		// Fail open: no decision could be made.
		p.allowed.add()
		p.contention.add()
		return proxywasm.Continue
	case !res.Allowed:
		p.limited.add()
		p.deny(s, res)
		return proxywasm.Pause
	}
	p.allowed.add()
	if p.headers {
		p.numBuf = p.numBuf[:0]
		e := s.ResponseEdits()
		_ = e.SetBytes("X-RateLimit-Limit", p.limitText)
		_ = e.SetBytes("X-RateLimit-Remaining", p.number(res.Remaining))
		_ = e.SetBytes("X-RateLimit-Reset", p.number(res.Reset))
	}
	return proxywasm.Continue
}

// deny answers 429.
func (p *plugin) deny(s proxywasm.Stream, res ratelimit.Result) {
	// The header values are strings over numBuf: Respond encodes the
	// pairs into a buffer of its own before the host sees them.
	p.numBuf = p.numBuf[:0]
	hs := append(p.respHeaders[:0],
		[2]string{"Content-Type", "application/json"},
		[2]string{"Retry-After", zerocopy.String(p.number(res.RetryAfter))})
	if p.headers {
		hs = append(hs,
			[2]string{"X-RateLimit-Limit", zerocopy.String(p.number(res.Limit))},
			[2]string{"X-RateLimit-Remaining", zerocopy.String(p.number(res.Remaining))},
			[2]string{"X-RateLimit-Reset", zerocopy.String(p.number(res.Reset))})
	}
	p.respHeaders = hs
	b := append(p.bodyBuf[:0], `{"error":"rate_limited","message":"rate limit exceeded, retry in `...)
	b = strconv.AppendInt(b, res.RetryAfter, 10)
	b = append(b, " s\"}\n"...)
	p.bodyBuf = b
	_ = s.Respond(429, hs, b)
}

// number formats n at the end of numBuf, which has room for the four
// numbers of a response without growing (so the earlier ones stay put),
// and returns its digits.
func (p *plugin) number(n int64) []byte {
	start := len(p.numBuf)
	p.numBuf = strconv.AppendInt(p.numBuf, n, 10)
	return p.numBuf[start:]
}

// key is the request's shared-data key, built in keyBuf and viewed as
// a string without a copy: the host copies the key during the call.
func (p *plugin) key(s proxywasm.Stream) string {
	b := append(p.keyBuf[:0], p.prefix...)
	switch p.kind {
	case kindRoute:
		v, _ := s.Property("route_name")
		b = appendValue(append(b, kindRoute, ':'), v)
	case kindHeader, kindConsumer:
		if v, err := s.RequestHeaders().Peek(p.header); err == nil && len(v) > 0 {
			b = appendValue(append(b, p.kind, ':'), v)
			break
		}
		fallthrough // without the header: the client's address
	default:
		b = append(b, kindAddress, ':')
		if p.behind.Hops > 0 || len(p.behind.Nets) > 0 {
			// Behind a load balancer every peer is the balancer: the
			// client is the entry its proxies wrote (see ip-filter).
			p.s = s
			if a, ok := p.behind.Client(p); ok {
				b = appendAddr(b, a, p.v6bits)
				break
			}
		}
		v, _ := s.Property("source", "address")
		b = appendAddress(b, hostOnly(v), p.v6bits)
	}
	p.keyBuf = b
	return zerocopy.String(b)
}

// maxValue is the longest value kept as is in a key; longer ones are
// replaced by '#' and the hex of their SHA-256 (65 bytes: never equal to
// a value kept as is).
const maxValue = 64

func appendValue(b, v []byte) []byte {
	if len(v) <= maxValue {
		return append(b, v...)
	}
	sum := proxywasm.SHA256(v)
	return hex.AppendEncode(append(b, '#'), sum[:])
}

// appendAddress appends a client's address as its key: an IPv4 address
// as it is, an IPv6 one as its prefix of bits (all 128: as it is).
func appendAddress(b, host []byte, bits int) []byte {
	if bits >= 128 || bytes.IndexByte(host, ':') < 0 {
		return appendValue(b, host)
	}
	a, err := netip.ParseAddr(zerocopy.String(host))
	if err != nil {
		return appendValue(b, host)
	}
	if a.Is4In6() {
		return a.Unmap().AppendTo(b)
	}
	pfx, err := a.WithZone("").Prefix(bits)
	if err != nil {
		return appendValue(b, host)
	}
	return pfx.AppendTo(b)
}

// Peer and XFF are what clientaddr reads of the running request.
func (p *plugin) Peer() []byte {
	v, _ := p.s.Property("source", "address")
	return v
}

func (p *plugin) XFF() [][]byte {
	p.xff, _ = p.s.RequestHeaders().Values("x-forwarded-for", p.xff[:0])
	return p.xff
}

// appendAddr is appendAddress for a parsed address (unmapped already).
func appendAddr(b []byte, a netip.Addr, bits int) []byte {
	if a.Is4() || bits >= 128 {
		return a.AppendTo(b)
	}
	pfx, _ := a.Prefix(bits)
	return pfx.AppendTo(b)
}

// hostOnly is an address without its port: "10.0.0.1:5000" -> "10.0.0.1",
// "[2001:db8::1]:443" -> "2001:db8::1"; an address without a port stays.
func hostOnly(a []byte) []byte {
	if len(a) > 0 && a[0] == '[' {
		if i := bytes.IndexByte(a, ']'); i > 0 {
			return a[1:i]
		}
		return a
	}
	if i := bytes.LastIndexByte(a, ':'); i >= 0 && bytes.IndexByte(a, ':') == i {
		return a[:i]
	}
	return a
}

// hostStore is the host's shared data as a ratelimit.Store.
type hostStore struct{}

func (hostStore) Get(key string) ([]byte, uint32, bool, error) {
	v, cas, err := proxywasm.SharedData(key)
	switch err {
	case nil:
		return v, cas, true, nil
	case proxywasm.ErrNotFound:
		return nil, 0, false, nil
	}
	return nil, 0, false, err
}

func (hostStore) Set(key string, value []byte, cas uint32) (bool, error) {
	switch err := proxywasm.SetSharedData(key, value, cas); err {
	case nil:
		return true, nil
	case proxywasm.ErrCASMismatch:
		return false, nil
	default:
		return false, err
	}
}

// counter is a metric that may be missing (a host without metrics): the
// plugin works without it.
type counter struct {
	c  proxywasm.Counter
	ok bool
}

func newCounter(name string) counter {
	c, err := proxywasm.NewCounter(name)
	if err != nil {
		proxywasm.LogWarn("rate-limit: no metric " + name + ": " + err.Error())
	}
	return counter{c, err == nil}
}

func (c counter) add() {
	if c.ok {
		_ = c.c.Add(1)
	}
}

func init() { proxywasm.Register(func() proxywasm.Plugin { return &plugin{} }) }

func main() {}

// hostNanos is the host's clock in Unix nanoseconds.
func hostNanos() int64 { return proxywasm.Now().UnixNano() }
