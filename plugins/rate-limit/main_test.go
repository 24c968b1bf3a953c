package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmgate/wasmgate/plugins/internal/ratelimit"
	"github.com/wasmgate/wasmgate/plugins/internal/zerocopy"
	proxywasm "github.com/wasmgate/wasmgate/sdk/go"
	"github.com/wasmgate/wasmgate/sdk/go/proxytest"
)

// t0 is on a minute boundary, so sliding windows start on it.
var t0 = time.Unix(1_700_000_040, 0)

type env struct {
	h   *proxytest.Host
	now time.Time
}

func start(t *testing.T, config string) *env {
	t.Helper()
	e, err := tryStart(config, map[string]string{"plugin_name": "rl"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func tryStart(config string, props map[string]string) (*env, error) {
	e := &env{now: t0}
	props["source.address"] = "192.0.2.1:40000"
	props["route_name"] = "api"
	h, err := proxytest.New(proxytest.Options{
		Config:     []byte(config),
		Properties: props,
		Now:        func() time.Time { return e.now },
	})
	e.h = h
	return e, err
}

// do sends one request with extra headers (a pair {"prop:NAME", v} sets
// the stream's property NAME instead), and a response when the plugin let
// it through.
func (e *env) do(headers ...[2]string) *proxytest.Stream {
	s := e.h.NewStream()
	req := [][2]string{{":method", "GET"}, {":path", "/"}, {":authority", "api"}}
	for _, h := range headers {
		if name, ok := strings.CutPrefix(h[0], "prop:"); ok {
			s.Properties[name] = h[1]
			continue
		}
		req = append(req, h)
	}
	if s.RequestHeaders(req, true) == proxywasm.Continue {
		s.ResponseHeaders([][2]string{{":status", "200"}}, false)
	}
	s.Complete()
	return s
}

func (e *env) advance(d time.Duration) { e.now = e.now.Add(d) }

// allowed checks an allowed request and its X-RateLimit-* headers.
func allowed(t *testing.T, s *proxytest.Stream, limit, remaining, reset int) {
	t.Helper()
	if s.Local != nil {
		t.Fatalf("refused: %d %v %s", s.Local.Status, s.Local.Headers, s.Local.Body)
	}
	got := [3]string{s.ResponseHeader("x-ratelimit-limit"), s.ResponseHeader("x-ratelimit-remaining"), s.ResponseHeader("x-ratelimit-reset")}
	want := [3]string{strconv.Itoa(limit), strconv.Itoa(remaining), strconv.Itoa(reset)}
	if got != want {
		t.Fatalf("limit, remaining, reset = %q, want %q", got, want)
	}
}

// limited checks a 429 and its headers.
func limited(t *testing.T, s *proxytest.Stream, limit, reset, retryAfter int) {
	t.Helper()
	l := s.Local
	if l == nil || l.Status != 429 {
		t.Fatalf("not refused: %+v, response %v", l, s.Response)
	}
	var body struct{ Error, Message string }
	if err := json.Unmarshal(l.Body, &body); err != nil || body.Error != "rate_limited" || body.Message == "" {
		t.Fatalf("body %q: %v", l.Body, err)
	}
	got := [5]string{l.Header("content-type"), l.Header("retry-after"), l.Header("x-ratelimit-limit"),
		l.Header("x-ratelimit-remaining"), l.Header("x-ratelimit-reset")}
	want := [5]string{"application/json", strconv.Itoa(retryAfter), strconv.Itoa(limit), "0", strconv.Itoa(reset)}
	if got != want {
		t.Fatalf("content-type, retry-after, limit, remaining, reset = %q, want %q", got, want)
	}
}

func (e *env) metrics(t *testing.T, allowed, limited, contention uint64) {
	t.Helper()
	var got [3]uint64
	for i, name := range []string{"rate_limit_allowed", "rate_limit_limited", "rate_limit_contention"} {
		if m, ok := e.h.Metric(name); ok {
			got[i] = m.Value
		}
	}
	if want := [3]uint64{allowed, limited, contention}; got != want {
		t.Fatalf("allowed, limited, contention = %v, want %v", got, want)
	}
}

func TestTokenBucket(t *testing.T) {
	e := start(t, `{"algorithm": "token_bucket", "limit": 5, "window": "1m"}`)
	e.advance(7 * time.Second) // the bucket does not care about the clock's phase
	for i := 1; i <= 5; i++ {
		allowed(t, e.do(), 5, 5-i, 12*i) // a token every 12s
	}
	limited(t, e.do(), 5, 60, 12)
	e.advance(12*time.Second - time.Millisecond)
	limited(t, e.do(), 5, 49, 1)
	e.advance(time.Millisecond)
	allowed(t, e.do(), 5, 0, 60)
	limited(t, e.do(), 5, 60, 12)
	e.advance(time.Hour)
	allowed(t, e.do(), 5, 4, 12) // full again, never more than burst
	e.metrics(t, 7, 3, 0)
}

func TestTokenBucketBurst(t *testing.T) {
	e := start(t, `{"limit": 60, "window": "1m", "burst": 3}`) // token_bucket by default
	for i := 1; i <= 3; i++ {
		allowed(t, e.do(), 3, 3-i, i)
	}
	limited(t, e.do(), 3, 3, 1)
	e.advance(time.Second)
	allowed(t, e.do(), 3, 0, 3)
}

func TestSlidingWindow(t *testing.T) {
	e := start(t, `{"algorithm": "sliding_window", "limit": 5, "window": "1m"}`)
	e.advance(10 * time.Second)
	for i := 1; i <= 5; i++ {
		allowed(t, e.do(), 5, 5-i, 50)
	}
	// In the next window the 5 weigh 5*(60-e)/60, which is <= 4 from
	// e = 12s: 72s after t0, 62s from now.
	limited(t, e.do(), 5, 50, 62)
	e.advance(62*time.Second - time.Millisecond)
	limited(t, e.do(), 5, 49, 1)
	e.advance(time.Millisecond)
	allowed(t, e.do(), 5, 0, 48)
	limited(t, e.do(), 5, 48, 12)
	e.advance(2 * time.Minute)
	allowed(t, e.do(), 5, 4, 48) // two windows later: nothing weighs

	e.metrics(t, 7, 3, 0)
}

func TestClientAddressKey(t *testing.T) {
	e := start(t, `{"limit": 1, "window": "1h"}`)
	allowed(t, e.do([2]string{"prop:source.address", "192.0.2.1:1"}), 1, 0, 3600)
	// Another port of the same address: the same budget.
	limited(t, e.do([2]string{"prop:source.address", "192.0.2.1:2"}), 1, 3600, 3600)
	allowed(t, e.do([2]string{"prop:source.address", "192.0.2.2:1"}), 1, 0, 3600)
	allowed(t, e.do([2]string{"prop:source.address", "[2001:db8::1]:443"}), 1, 0, 3600)
	limited(t, e.do([2]string{"prop:source.address", "[2001:db8::1]:444"}), 1, 3600, 3600)
	// Another address of the same /64 (one host can use them all): the
	// same budget; another /64, another.
	limited(t, e.do([2]string{"prop:source.address", "[2001:db8::ffff:1234]:443"}), 1, 3600, 3600)
	limited(t, e.do([2]string{"prop:source.address", "[2001:db8::1%eth0]:443"}), 1, 3600, 3600)
	allowed(t, e.do([2]string{"prop:source.address", "[2001:db8:0:1::1]:443"}), 1, 0, 3600)
	// An IPv4-mapped address is its IPv4 client.
	limited(t, e.do([2]string{"prop:source.address", "[::ffff:192.0.2.2]:5"}), 1, 3600, 3600)
	for _, k := range []string{"rl/a:192.0.2.1", "rl/a:192.0.2.2", "rl/a:2001:db8::/64", "rl/a:2001:db8:0:1::/64"} {
		if _, _, ok := e.h.SharedData(k); !ok {
			t.Errorf("no shared data %q", k)
		}
	}

	// ipv6_prefix 128: each address its own budget.
	e = start(t, `{"limit": 1, "window": "1h", "ipv6_prefix": 128}`)
	allowed(t, e.do([2]string{"prop:source.address", "[2001:db8::1]:443"}), 1, 0, 3600)
	allowed(t, e.do([2]string{"prop:source.address", "[2001:db8::2]:443"}), 1, 0, 3600)
	limited(t, e.do([2]string{"prop:source.address", "[2001:db8::2]:444"}), 1, 3600, 3600)
	// ipv6_prefix 48, and a header key falling back to the address.
	e = start(t, `{"limit": 1, "window": "1h", "ipv6_prefix": 48, "key": "header:X-Api-Key"}`)
	allowed(t, e.do([2]string{"prop:source.address", "[2001:db8:1:2::1]:443"}), 1, 0, 3600)
	limited(t, e.do([2]string{"prop:source.address", "[2001:db8:1:ffff::1]:443"}), 1, 3600, 3600)
	if _, _, ok := e.h.SharedData("rl/a:2001:db8:1::/48"); !ok {
		t.Error("no shared data for the /48")
	}
}

// TestClientAddressBehindProxies: with trusted_proxies the client is the
// X-Forwarded-For entry the proxies wrote, not the balancer every request
// comes from; entries further left are the client's own and change
// nothing, and without a usable entry the peer is the key.
func TestClientAddressBehindProxies(t *testing.T) {
	e := start(t, `{"limit": 1, "window": "1h", "trusted_proxies": 1}`)
	lb := [2]string{"prop:source.address", "10.0.0.1:40000"}
	allowed(t, e.do(lb, [2]string{"X-Forwarded-For", "198.51.100.7"}), 1, 0, 3600)
	allowed(t, e.do(lb, [2]string{"X-Forwarded-For", "198.51.100.8"}), 1, 0, 3600)
	// A spoofed entry before the balancer's: the same client.
	limited(t, e.do(lb, [2]string{"X-Forwarded-For", "203.0.113.1, 198.51.100.7"}), 1, 3600, 3600)
	limited(t, e.do(lb, [2]string{"X-Forwarded-For", "198.51.100.8:5555"}), 1, 3600, 3600)
	allowed(t, e.do(lb, [2]string{"X-Forwarded-For", "[2001:db8::1]:443"}), 1, 0, 3600)
	limited(t, e.do(lb, [2]string{"X-Forwarded-For", "2001:db8::2"}), 1, 3600, 3600) // same /64
	allowed(t, e.do(lb), 1, 0, 3600)
	limited(t, e.do(lb, [2]string{"X-Forwarded-For", "garbage"}), 1, 3600, 3600) // the peer's budget
	for _, k := range []string{"rl/a:198.51.100.7", "rl/a:198.51.100.8", "rl/a:2001:db8::/64", "rl/a:10.0.0.1"} {
		if _, _, ok := e.h.SharedData(k); !ok {
			t.Errorf("no shared data %q", k)
		}
	}
	if _, err := proxytest.New(proxytest.Options{Config: []byte(`{"limit": 1, "window": "1h", "trusted_proxies": -1}`)}); err == nil {
		t.Error("negative trusted_proxies accepted")
	}
}

func TestHeaderKey(t *testing.T) {
	e := start(t, `{"limit": 1, "window": "1h", "key": "header:X-Api-Key"}`)
	allowed(t, e.do([2]string{"X-Api-Key", "k1"}), 1, 0, 3600)
	limited(t, e.do([2]string{"x-api-key", "k1"}), 1, 3600, 3600)
	allowed(t, e.do([2]string{"X-Api-Key", "k2"}), 1, 0, 3600)
	// Without the header (or empty): the client address, which a header
	// holding the same text does not share.
	allowed(t, e.do(), 1, 0, 3600)
	limited(t, e.do([2]string{"X-Api-Key", ""}), 1, 3600, 3600)
	allowed(t, e.do([2]string{"X-Api-Key", "192.0.2.1"}), 1, 0, 3600)
	long := strings.Repeat("x", 100)
	allowed(t, e.do([2]string{"X-Api-Key", long}), 1, 0, 3600)
	limited(t, e.do([2]string{"X-Api-Key", long}), 1, 3600, 3600)
	for _, k := range []string{"rl/h:k1", "rl/h:k2", "rl/a:192.0.2.1", "rl/h:192.0.2.1"} {
		if _, _, ok := e.h.SharedData(k); !ok {
			t.Errorf("no shared data %q", k)
		}
	}
	// A long value is keyed by its hash.
	hashed := "rl/h:#" + fmt.Sprintf("%x", sha256.Sum256([]byte(long)))
	if _, _, ok := e.h.SharedData(hashed); !ok {
		t.Errorf("no shared data %q", hashed)
	}
}

func TestConsumerKey(t *testing.T) {
	e := start(t, `{"limit": 1, "window": "1h", "key": "consumer", "consumer_header": "X-User"}`)
	allowed(t, e.do([2]string{"X-User", "alice"}), 1, 0, 3600)
	allowed(t, e.do([2]string{"X-User", "bob"}), 1, 0, 3600)
	limited(t, e.do([2]string{"X-User", "alice"}), 1, 3600, 3600)
	allowed(t, e.do([2]string{"X-Consumer", "alice"}), 1, 0, 3600) // not the header: the address
	if _, _, ok := e.h.SharedData("rl/c:alice"); !ok {
		t.Error("no rl/c:alice")
	}
	e = start(t, `{"limit": 1, "window": "1h", "key": "consumer"}`)
	allowed(t, e.do([2]string{"X-Consumer", "alice"}), 1, 0, 3600)
	limited(t, e.do([2]string{"X-Consumer", "alice"}), 1, 3600, 3600)
}

func TestRouteKey(t *testing.T) {
	e := start(t, `{"algorithm": "sliding_window", "limit": 2, "window": "1s", "key": "route"}`)
	allowed(t, e.do(), 2, 1, 1)                                                   // route "api", from the host's properties
	allowed(t, e.do([2]string{"prop:source.address", "198.51.100.9:1"}), 2, 0, 1) // any client
	limited(t, e.do(), 2, 1, 2)
	allowed(t, e.do([2]string{"prop:route_name", "admin"}), 2, 1, 1)
	if _, _, ok := e.h.SharedData("rl/r:admin"); !ok {
		t.Error("no rl/r:admin")
	}
}

func TestPluginNamePrefix(t *testing.T) {
	e, err := tryStart(`{"limit": 1, "window": "1h"}`, map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	e.do()
	if _, _, ok := e.h.SharedData("rate-limit/a:192.0.2.1"); !ok {
		t.Error("without plugin_name the prefix is rate-limit/")
	}
}

// hookStore watches and interferes with the plugin's shared-data writes.
type hookStore struct {
	ratelimit.Store
	cas       []uint32
	beforeSet func(key string)
}

func (s *hookStore) Set(key string, value []byte, cas uint32) (bool, error) {
	s.cas = append(s.cas, cas)
	if s.beforeSet != nil {
		s.beforeSet(key)
	}
	return s.Store.Set(key, value, cas)
}

func withStore(t *testing.T, s ratelimit.Store) {
	old := store
	store = s
	t.Cleanup(func() { store = old })
}

// TestCASConflict: another VM writes between the plugin's read and its
// write; the plugin reads again and counts the other VM's requests.
func TestCASConflict(t *testing.T) {
	hs := &hookStore{Store: store}
	withStore(t, hs)
	e := start(t, `{"limit": 5, "window": "1m"}`)
	const key = "rl/a:192.0.2.1"
	allowed(t, e.do(), 5, 4, 12)
	// The key was missing: created with the create-if-absent cas.
	if len(hs.cas) != 1 || hs.cas[0] != proxywasm.CreateOnly {
		t.Fatalf("first write's cas: %v", hs.cas)
	}
	lim, _ := ratelimit.New(ratelimit.TokenBucket, 5, time.Minute, 0)
	nowNS := e.now.UnixNano()
	hs.cas = nil
	hs.beforeSet = func(key string) {
		hs.beforeSet = nil
		// Another VM takes 3 tokens.
		v, _, _ := e.h.SharedData(key)
		for range 3 {
			v, _, _ = lim.Take(v, nowNS, nil)
		}
		e.h.PutSharedData(key, v)
	}
	allowed(t, e.do(), 5, 0, 60) // 1 + 3 + this one
	if len(hs.cas) != 2 || hs.cas[0] != 1 || hs.cas[1] != 2 {
		t.Fatalf("cas of the writes: %v", hs.cas)
	}
	limited(t, e.do(), 5, 60, 12)
	// The stored state is that of 5 tokens taken at once.
	var want []byte
	for range 5 {
		want, _, _ = lim.Take(want, nowNS, nil)
	}
	if got, _, _ := e.h.SharedData(key); !bytes.Equal(got, want) {
		t.Fatalf("state %x, want %x", got, want)
	}
	e.metrics(t, 2, 1, 0)
}

// TestContentionFailsOpen: when every write conflicts the request goes
// through, unlimited and unannounced, and is counted.
func TestContentionFailsOpen(t *testing.T) {
	hs := &hookStore{Store: store}
	withStore(t, hs)
	e := start(t, `{"limit": 5, "window": "1m"}`)
	hs.beforeSet = func(key string) {
		v, _, _ := e.h.SharedData(key)
		e.h.PutSharedData(key, v)
	}
	s := e.do()
	if s.Local != nil || s.ResponseHeader("x-ratelimit-remaining") != "" {
		t.Fatalf("local %+v, response %v", s.Local, s.Response)
	}
	if len(hs.cas) != ratelimit.DefaultAttempts {
		t.Fatalf("%d writes", len(hs.cas))
	}
	e.metrics(t, 1, 0, 1)
	hs.beforeSet = nil
	allowed(t, e.do(), 5, 4, 12)
}

func TestHeadersOff(t *testing.T) {
	e := start(t, `{"limit": 1, "window": "10s", "headers": false}`)
	if !e.h.Handles("request_headers") || e.h.Handles("response_headers") {
		t.Fatalf("phases %v", e.h.Phases)
	}
	s := e.do()
	if s.Local != nil || len(s.Response) != 1 {
		t.Fatalf("local %+v, response %v", s.Local, s.Response)
	}
	s = e.do()
	if s.Local == nil || s.Local.Status != 429 || s.Local.Header("retry-after") != "10" ||
		s.Local.Header("x-ratelimit-limit") != "" {
		t.Fatalf("%+v", s.Local)
	}
}

func TestPhases(t *testing.T) {
	// One call per request: the X-RateLimit-* headers are response edits
	// made with the decision, applied by the host.
	e := start(t, `{"limit": 1, "window": "10s"}`)
	want := []string{"request_headers"}
	if strings.Join(e.h.Phases, ",") != strings.Join(want, ",") {
		t.Fatalf("phases %v", e.h.Phases)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ config, want string }{
		{``, "limit: must be > 0"},
		{`{}`, "limit: must be > 0"},
		{`{"limit": 0, "window": "1m"}`, "limit: must be > 0"},
		{`{"limit": -3, "window": "1m"}`, "limit: must be > 0"},
		{`{"limit": "5", "window": "1m"}`, "limit"},
		{`{"limit": 5}`, "window: required"},
		{`{"limit": 5, "window": "soon"}`, "window: "},
		{`{"limit": 5, "window": "60"}`, "window: "},
		{`{"limit": 5, "window": "0s"}`, "window: must be > 0"},
		{`{"limit": 5, "window": "-1m"}`, "window: must be > 0"},
		{`{"algorithm": "leaky_bucket", "limit": 5, "window": "1m"}`, `algorithm: unknown "leaky_bucket"`},
		{`{"limit": 5, "window": "1m", "burst": 0}`, "burst: must be > 0"},
		{`{"algorithm": "sliding_window", "limit": 5, "window": "1m", "burst": 3}`, "burst: only for the token_bucket"},
		{`{"limit": 5, "window": "1m", "key": "ip"}`, `key: unknown "ip"`},
		{`{"limit": 5, "window": "1m", "key": "header:"}`, `key: unknown "header:"`},
		{`{"limit": 5, "window": "1m", "key": "header:X Key"}`, `key: unknown`},
		{`{"limit": 5, "window": "1m", "key": "consumer", "consumer_header": "X:User"}`, "consumer_header: "},
		{`{"limit": 5, "window": "1m", "limt": 5}`, `unknown field "limt"`},
		{`{"limit": 5, "window": "1m", "ipv6_prefix": 0}`, "ipv6_prefix: must be 1 to 128"},
		{`{"limit": 5, "window": "1m", "ipv6_prefix": 129}`, "ipv6_prefix: must be 1 to 128"},
		{`{"limit": 5, "window": "1m"`, "config: "},
	} {
		_, err := tryStart(tc.config, map[string]string{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.config, err, tc.want)
		}
	}
}

func TestHostOnly(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1:80": "192.0.2.1", "[2001:db8::1]:443": "2001:db8::1", "2001:db8::1": "2001:db8::1",
		"192.0.2.1": "192.0.2.1", "": "", "[::1": "[::1", "unix:@": "unix",
	} {
		if got := string(hostOnly([]byte(in))); got != want {
			t.Errorf("hostOnly(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestKeyBuildingDoesNotAllocate: the parts of the hot path that are the
// plugin's own (the emulator's host calls allocate, the real host's do
// not).
func TestKeyBuildingDoesNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 128)
	short, long := []byte("[2001:db8::1]:443"), bytes.Repeat([]byte("k"), 200)
	p := &plugin{numBuf: make([]byte, 0, 80)}
	allocs := testing.AllocsPerRun(100, func() {
		buf = appendValue(append(buf[:0], "rl/a:"...), hostOnly(short))
		buf = appendAddress(append(buf[:0], "rl/a:"...), hostOnly(short), 64)
		buf = appendValue(buf[:0], long)
		_ = zerocopy.String(buf)
		p.numBuf = p.numBuf[:0]
		_, _ = zerocopy.String(p.number(1<<62)), p.number(-5)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations", allocs)
	}
}
