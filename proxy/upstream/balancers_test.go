package upstream

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// allBalancers is every balancer with options it accepts.
var allBalancers = []struct {
	name string
	opts BalancerOptions
}{
	{"round_robin", BalancerOptions{}},
	{"weighted_round_robin", BalancerOptions{}},
	{"least_connections", BalancerOptions{}},
	{"p2c_ewma", BalancerOptions{}},
	{"consistent_hash", BalancerOptions{HashOn: "header:X-User"}},
}

func testTargets(weights ...int) []*Target {
	ts := make([]*Target, len(weights))
	for i, w := range weights {
		ts[i] = &Target{Addr: fmt.Sprintf("10.0.0.%d:80", i+1), Weight: w}
		ts[i].healthy.Store(true)
	}
	return ts
}

func mustBalancer(t testing.TB, name string, targets []*Target, opts BalancerOptions) Balancer {
	t.Helper()
	b, err := NewBalancer(name, targets, opts)
	if err != nil {
		t.Fatalf("NewBalancer(%q): %v", name, err)
	}
	return b
}

// pick makes one pick for a fresh request.
func pick(b Balancer, ctx *fasthttp.RequestCtx) *Target {
	var e Eligible
	e.Reset(time.Now().UnixNano())
	return b.Pick(ctx, &e)
}

func index(ts []*Target, t *Target) int {
	for i, x := range ts {
		if x == t {
			return i
		}
	}
	return -1
}

func headerCtx(name, value string) *fasthttp.RequestCtx {
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.SetRequestURI("/")
	if value != "" {
		ctx.Request.Header.Set(name, value)
	}
	return ctx
}

func TestBalancersRegistered(t *testing.T) {
	have := strings.Join(Balancers(), ",")
	for _, b := range allBalancers {
		if !strings.Contains(have, b.name) {
			t.Errorf("%s not registered (have %s)", b.name, have)
		}
	}
}

func TestWeightedRoundRobinDistribution(t *testing.T) {
	weights := []int{1, 2, 5}
	ts := testTargets(weights...)
	b := mustBalancer(t, "weighted_round_robin", ts, BalancerOptions{})
	const picks = 10000
	counts := make([]int, len(ts))
	for range picks {
		counts[index(ts, pick(b, nil))]++
	}
	for i, w := range weights {
		want := float64(picks) * float64(w) / 8
		if d := float64(counts[i]) - want; d > 0.05*want || d < -0.05*want {
			t.Errorf("weight %d: %d picks, want %.0f ±5%%", w, counts[i], want)
		}
	}
}

// TestWeightedRoundRobinSmooth checks the sequence nginx documents for
// weights {5, 1, 1}: the heavy target's picks are spread out, never more
// than two in a row.
func TestWeightedRoundRobinSmooth(t *testing.T) {
	ts := testTargets(5, 1, 1)
	b := mustBalancer(t, "weighted_round_robin", ts, BalancerOptions{})
	var got strings.Builder
	for range 21 {
		got.WriteByte("abc"[index(ts, pick(b, nil))])
	}
	if want := strings.Repeat("aabacaa", 3); got.String() != want {
		t.Errorf("sequence %s, want %s", got.String(), want)
	}
}

// TestWeightedRoundRobinSkipsDown checks that the targets left share by
// weight while one is down, and that the one that comes back is not made
// to catch up with a burst.
func TestWeightedRoundRobinSkipsDown(t *testing.T) {
	ts := testTargets(1, 2, 5)
	b := mustBalancer(t, "weighted_round_robin", ts, BalancerOptions{})
	for range 5 {
		pick(b, nil)
	}
	ts[2].healthy.Store(false)
	counts := make([]int, 3)
	for range 300 {
		counts[index(ts, pick(b, nil))]++
	}
	if counts[2] != 0 || counts[0] < 95 || counts[0] > 105 || counts[1] < 195 || counts[1] > 205 {
		t.Errorf("with the weight-5 target down: picks %v, want about [100 200 0]", counts)
	}
	ts[2].healthy.Store(true)
	run, longest := 0, 0
	for range 80 {
		if pick(b, nil) == ts[2] {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	if longest > 3 {
		t.Errorf("after recovery the weight-5 target was picked %d times in a row", longest)
	}
}

func TestBalancersSkipUnavailable(t *testing.T) {
	for _, bc := range allBalancers {
		t.Run(bc.name, func(t *testing.T) {
			ts := testTargets(1, 2, 3, 1, 2)
			ts[1].healthy.Store(false)
			ts[3].healthy.Store(false)
			ts[4].ejectUntil.Store(time.Now().Add(time.Hour).UnixNano())
			b := mustBalancer(t, bc.name, ts, bc.opts)
			seen := map[int]int{}
			for i := range 1000 {
				got := pick(b, headerCtx("X-User", fmt.Sprint("user", i)))
				if got == nil {
					t.Fatal("nil with two targets available")
				}
				seen[index(ts, got)]++
			}
			if len(seen) != 2 || seen[0] == 0 || seen[2] == 0 {
				t.Errorf("picks by target %v, want only targets 0 and 2, both", seen)
			}

			for _, tg := range ts {
				tg.healthy.Store(false)
			}
			if got := pick(b, headerCtx("X-User", "someone")); got != nil {
				t.Errorf("picked %s with no target available", got.Addr)
			}
			var e Eligible
			e.Reset(time.Now().UnixNano())
			e.IgnoreHealth()
			if got := b.Pick(headerCtx("X-User", "someone"), &e); got == nil {
				t.Error("nil in panic mode")
			}

			empty := mustBalancer(t, bc.name, nil, bc.opts)
			if got := pick(empty, headerCtx("X-User", "someone")); got != nil {
				t.Errorf("picked %s from no targets", got.Addr)
			}
		})
	}
}

// TestBalancersSkipTried checks that retries go to targets the request
// has not tried, each target once, until none is left.
func TestBalancersSkipTried(t *testing.T) {
	for _, bc := range allBalancers {
		t.Run(bc.name, func(t *testing.T) {
			ts := testTargets(1, 3, 2, 1, 1)
			ts[2].healthy.Store(false)
			b := mustBalancer(t, bc.name, ts, bc.opts)
			for r := range 50 {
				ctx := headerCtx("X-User", fmt.Sprint("user", r))
				var e Eligible
				e.Reset(time.Now().UnixNano())
				got := map[*Target]bool{}
				for {
					tg := b.Pick(ctx, &e)
					if tg == nil {
						break
					}
					if got[tg] {
						t.Fatalf("request %d: %s picked again after it was tried", r, tg.Addr)
					}
					got[tg] = true
					e.Tried(tg)
				}
				if len(got) != 4 || got[ts[2]] {
					t.Fatalf("request %d: tried %d targets, want the 4 available ones", r, len(got))
				}
			}
		})
	}
}

func TestLeastConnectionsPicksLeastLoaded(t *testing.T) {
	ts := testTargets(1, 1, 1, 1)
	for i, n := range []int64{5, 2, 7, 3} {
		ts[i].inflight.Add(n)
	}
	b := mustBalancer(t, "least_connections", ts, BalancerOptions{})
	for range 20 {
		if got := pick(b, nil); got != ts[1] {
			t.Fatalf("picked %s, want the one with 2 in flight", got.Addr)
		}
	}

	// Relative to weight: 5 in flight on weight 3 is less load than 2 on
	// weight 1.
	ws := testTargets(3, 1)
	ws[0].inflight.Add(5)
	ws[1].inflight.Add(2)
	if got := pick(mustBalancer(t, "least_connections", ws, BalancerOptions{}), nil); got != ws[0] {
		t.Errorf("picked %s, want the weight-3 target with 5 in flight", got.Addr)
	}
}

func TestLeastConnectionsSharesTies(t *testing.T) {
	ts := testTargets(1, 1, 1, 1)
	b := mustBalancer(t, "least_connections", ts, BalancerOptions{})
	counts := make([]int, len(ts))
	for range 400 {
		counts[index(ts, pick(b, nil))]++
	}
	for i, c := range counts {
		if c != 100 {
			t.Errorf("target %d: %d of 400 picks at equal load, want 100", i, c)
		}
	}

	// A request placed on a target counts against it straight away, so
	// picks that each hold their request spread out evenly.
	for i := range 8 {
		tg := pick(b, nil)
		tg.inflight.Add(1)
		if i%4 == 3 {
			for _, x := range ts {
				if x.Inflight() != int64(i/4+1) {
					t.Fatalf("after %d held picks, in flight %d on %s", i+1, x.Inflight(), x.Addr)
				}
			}
		}
	}
}

func TestP2CPrefersFast(t *testing.T) {
	ts := testTargets(1, 1)
	ts[0].ewma.Store(int64(10 * time.Millisecond))
	ts[1].ewma.Store(int64(time.Millisecond))
	b := mustBalancer(t, "p2c_ewma", ts, BalancerOptions{})
	fast := 0
	for range 1000 {
		if pick(b, nil) == ts[1] {
			fast++
		}
	}
	if fast < 800 {
		t.Errorf("fast target got %d of 1000 picks against a 10× slower one, want > 800", fast)
	}

	// With more targets than two the slow one loses every comparison it
	// is drawn into, and the fast ones share the load.
	ts = testTargets(1, 1, 1, 1)
	ts[0].ewma.Store(int64(10 * time.Millisecond))
	for _, tg := range ts[1:] {
		tg.ewma.Store(int64(time.Millisecond))
	}
	b = mustBalancer(t, "p2c_ewma", ts, BalancerOptions{})
	counts := make([]int, len(ts))
	for range 3000 {
		counts[index(ts, pick(b, nil))]++
	}
	if counts[0] > 0 {
		t.Errorf("slow target picked %d times of 3000", counts[0])
	}
	for i, c := range counts[1:] {
		if c < 800 {
			t.Errorf("fast target %d picked %d times of 3000, want about 1000", i+1, c)
		}
	}
}

func TestP2CPrefersIdle(t *testing.T) {
	ts := testTargets(1, 1)
	for _, tg := range ts {
		tg.ewma.Store(int64(time.Millisecond))
	}
	ts[0].inflight.Add(20)
	b := mustBalancer(t, "p2c_ewma", ts, BalancerOptions{})
	idle := 0
	for range 1000 {
		if pick(b, nil) == ts[1] {
			idle++
		}
	}
	if idle < 800 {
		t.Errorf("idle target got %d of 1000 picks against one with 20 in flight, want > 800", idle)
	}
	// Cost is latency × load: a target twice as slow but with nothing in
	// flight beats one with 20 requests waiting.
	ts[1].ewma.Store(int64(2 * time.Millisecond))
	if got := pick(b, nil); got != ts[1] {
		t.Errorf("picked %s, want the idle target", got.Addr)
	}
}

// TestP2CTriesUnmeasured checks that a target with no latency measured yet
// gets a request, but not every request while its first is outstanding.
func TestP2CTriesUnmeasured(t *testing.T) {
	ts := testTargets(1, 1)
	ts[0].ewma.Store(int64(time.Millisecond))
	b := mustBalancer(t, "p2c_ewma", ts, BalancerOptions{})
	if got := pick(b, nil); got != ts[1] {
		t.Fatalf("picked %s, want the unmeasured target", got.Addr)
	}
	ts[1].inflight.Add(3)
	if got := pick(b, nil); got != ts[0] {
		t.Errorf("picked %s, want the measured target while the unmeasured one has 3 in flight", got.Addr)
	}
}

func TestP2CSingleEligible(t *testing.T) {
	ts := testTargets(1, 1, 1)
	ts[0].healthy.Store(false)
	ts[2].healthy.Store(false)
	b := mustBalancer(t, "p2c_ewma", ts, BalancerOptions{})
	for range 100 {
		if got := pick(b, nil); got != ts[1] {
			t.Fatalf("picked %v, want the only available target", got)
		}
	}
	one := mustBalancer(t, "p2c_ewma", ts[1:2], BalancerOptions{})
	if got := pick(one, nil); got != ts[1] {
		t.Errorf("picked %v from one target", got)
	}
}

// keyTargets maps keys key0…keyN-1 to the address of their target.
func keyTargets(t *testing.T, ts []*Target, n int) []string {
	t.Helper()
	b := mustBalancer(t, "consistent_hash", ts, BalancerOptions{HashOn: "header:X-Key"})
	ctx := headerCtx("X-Key", "x")
	out := make([]string, n)
	for i := range out {
		ctx.Request.Header.Set("X-Key", fmt.Sprint("key", i))
		out[i] = pick(b, ctx).Addr
	}
	return out
}

func TestConsistentHashStable(t *testing.T) {
	ts := testTargets(1, 1, 1, 1)
	b := mustBalancer(t, "consistent_hash", ts, BalancerOptions{HashOn: "header:X-Key"})
	for i := range 100 {
		ctx := headerCtx("X-Key", fmt.Sprint("key", i))
		first := pick(b, ctx)
		for range 5 {
			if got := pick(b, ctx); got != first {
				t.Fatalf("key%d went to %s, then %s", i, first.Addr, got.Addr)
			}
		}
	}
	// Another balancer over the same targets, as another gateway or this
	// one after a reload builds, listed in another order: same answers.
	shuffled := append([]*Target(nil), ts...)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	a, c := keyTargets(t, ts, 2000), keyTargets(t, shuffled, 2000)
	for i := range a {
		if a[i] != c[i] {
			t.Fatalf("key%d: %s, but %s with the targets in another order", i, a[i], c[i])
		}
	}
}

func TestConsistentHashSpread(t *testing.T) {
	ts := testTargets(1, 1, 1, 1)
	counts := map[string]int{}
	for _, addr := range keyTargets(t, ts, 10000) {
		counts[addr]++
	}
	for _, tg := range ts {
		if c := counts[tg.Addr]; c < 1875 || c > 3125 {
			t.Errorf("%s: %d of 10000 keys, want 2500 ±25%%", tg.Addr, c)
		}
	}
}

func TestConsistentHashWeights(t *testing.T) {
	ts := testTargets(1, 3)
	counts := map[string]int{}
	for _, addr := range keyTargets(t, ts, 10000) {
		counts[addr]++
	}
	if c := counts[ts[1].Addr]; c < 7000 || c > 8000 {
		t.Errorf("weight-3 target got %d of 10000 keys, want about 7500", c)
	}
}

func TestConsistentHashRemapOnAdd(t *testing.T) {
	ts := testTargets(1, 1, 1, 1, 1)
	before, after := keyTargets(t, ts[:4], 10000), keyTargets(t, ts, 10000)
	moved, movedElsewhere := 0, 0
	for i := range before {
		if before[i] != after[i] {
			moved++
			if after[i] != ts[4].Addr {
				movedElsewhere++
			}
		}
	}
	if share := float64(moved) / 10000; share < 0.15 || share > 0.30 {
		t.Errorf("adding a fifth target moved %.3f of keys, want about 1/5", share)
	}
	if share := float64(movedElsewhere) / 10000; share > 0.05 {
		t.Errorf("adding a fifth target moved %.3f of keys between the other four", share)
	}
}

func TestConsistentHashRemapOnRemove(t *testing.T) {
	ts := testTargets(1, 1, 1, 1, 1)
	removed := ts[2]
	rest := []*Target{ts[0], ts[1], ts[3], ts[4]}
	before, after := keyTargets(t, ts, 10000), keyTargets(t, rest, 10000)
	moved, hadRemoved := 0, 0
	for i := range before {
		if before[i] == removed.Addr {
			hadRemoved++
		}
		if before[i] != after[i] {
			moved++
		}
	}
	if share := float64(moved) / 10000; share >= 0.30 {
		t.Errorf("removing one of five targets moved %.3f of keys", share)
	}
	if extra := float64(moved-hadRemoved) / 10000; extra > 0.05 {
		t.Errorf("removing one of five targets moved %.3f of keys it did not have", extra)
	}
}

// TestConsistentHashStandIn checks what happens to keys while their target
// is down: they go to one other target each, the same every time, the
// other keys stay put, and all come back when it recovers.
func TestConsistentHashStandIn(t *testing.T) {
	ts := testTargets(1, 1, 1, 1)
	b := mustBalancer(t, "consistent_hash", ts, BalancerOptions{HashOn: "header:X-Key"})
	const n = 2000
	ctxs := make([]*fasthttp.RequestCtx, n)
	home := make([]*Target, n)
	for i := range ctxs {
		ctxs[i] = headerCtx("X-Key", fmt.Sprint("key", i))
		home[i] = pick(b, ctxs[i])
	}
	down := ts[1]
	down.healthy.Store(false)
	standIns := map[*Target]int{}
	for i, ctx := range ctxs {
		got := pick(b, ctx)
		switch {
		case home[i] != down && got != home[i]:
			t.Fatalf("key%d moved from %s to %s though its target is up", i, home[i].Addr, got.Addr)
		case home[i] == down && (got == down || got == nil):
			t.Fatalf("key%d: got %v while its target is down", i, got)
		case home[i] == down:
			standIns[got]++
			if again := pick(b, ctx); again != got {
				t.Fatalf("key%d stood in by %s, then %s", i, got.Addr, again.Addr)
			}
		}
	}
	if len(standIns) != 3 {
		t.Errorf("keys of the target down went to %d others, want all 3", len(standIns))
	}
	down.healthy.Store(true)
	for i, ctx := range ctxs {
		if got := pick(b, ctx); got != home[i] {
			t.Fatalf("key%d at %s after recovery, want %s", i, got.Addr, home[i].Addr)
		}
	}
}

func TestConsistentHashInvalidHashOn(t *testing.T) {
	ts := testTargets(1, 1)
	for _, on := range []string{"", "x", "header:", "cookie:", "header: X-User", "Header:X-User", "client-ip", "path:/x"} {
		_, err := NewBalancer("consistent_hash", ts, BalancerOptions{HashOn: on})
		if err == nil {
			t.Errorf("hash_on %q accepted", on)
			continue
		}
		want := fmt.Sprintf(`hash_on: want "header:NAME", "cookie:NAME", "client_ip" or "path", got %q`, on)
		if err.Error() != want {
			t.Errorf("hash_on %q: error %q, want %q", on, err, want)
		}
	}
}

// TestConsistentHashKeys checks each kind of key: requests that share it
// share a target, and different keys reach every target.
func TestConsistentHashKeys(t *testing.T) {
	cases := []struct {
		hashOn string
		ctx    func(key int) *fasthttp.RequestCtx
	}{
		{"header:X-User", func(k int) *fasthttp.RequestCtx {
			ctx := headerCtx("X-User", fmt.Sprint("user-", k))
			ctx.Request.SetRequestURI(fmt.Sprint("/other/", rand.Int()))
			return ctx
		}},
		{"cookie:session", func(k int) *fasthttp.RequestCtx {
			ctx := headerCtx("X-User", fmt.Sprint(rand.Int()))
			ctx.Request.Header.Set("Cookie", fmt.Sprintf("theme=dark; session=s%d; lang=en", k))
			return ctx
		}},
		{"client_ip", func(k int) *fasthttp.RequestCtx {
			var req fasthttp.Request
			req.SetRequestURI(fmt.Sprint("/other/", rand.Int()))
			ctx := &fasthttp.RequestCtx{}
			addr := &net.TCPAddr{IP: net.IPv4(192, 0, 2, byte(k)), Port: 1024 + rand.IntN(60000)}
			ctx.Init(&req, addr, nil)
			return ctx
		}},
		{"path", func(k int) *fasthttp.RequestCtx {
			ctx := headerCtx("X-User", fmt.Sprint(rand.Int()))
			ctx.Request.SetRequestURI(fmt.Sprintf("/items/%d?page=%d", k, rand.Int()))
			return ctx
		}},
	}
	for _, c := range cases {
		t.Run(c.hashOn, func(t *testing.T) {
			ts := testTargets(1, 1, 1, 1)
			b := mustBalancer(t, "consistent_hash", ts, BalancerOptions{HashOn: c.hashOn})
			reached := map[*Target]bool{}
			for k := range 200 {
				first := pick(b, c.ctx(k))
				reached[first] = true
				for range 3 {
					if got := pick(b, c.ctx(k)); got != first {
						t.Fatalf("key %d went to %s, then %s", k, first.Addr, got.Addr)
					}
				}
			}
			if len(reached) != len(ts) {
				t.Errorf("200 keys reached %d of %d targets", len(reached), len(ts))
			}
		})
	}
}

func TestConsistentHashClientIPForms(t *testing.T) {
	ts := testTargets(1, 1, 1, 1)
	b := mustBalancer(t, "consistent_hash", ts, BalancerOptions{HashOn: "client_ip"})
	at := func(ip net.IP) *Target {
		var req fasthttp.Request
		req.SetRequestURI("/")
		ctx := &fasthttp.RequestCtx{}
		ctx.Init(&req, &net.TCPAddr{IP: ip, Port: 5000}, nil)
		return pick(b, ctx)
	}
	// An IPv4 client seen by a dual-stack listener arrives as an
	// IPv4-mapped IPv6 address.
	for i := range 50 {
		v4 := net.IP{198, 51, 100, byte(i)}
		if a, m := at(v4), at(v4.To16()); a != m {
			t.Errorf("%s went to %s as IPv4, %s as IPv4-mapped IPv6", v4, a.Addr, m.Addr)
		}
	}
	if at(net.ParseIP("2001:db8::1")) == nil {
		t.Error("no target for an IPv6 client")
	}
}

// TestConsistentHashMissingKey checks that requests without the key are
// spread round the targets rather than all sent to one.
func TestConsistentHashMissingKey(t *testing.T) {
	for _, on := range []string{"header:X-User", "cookie:session"} {
		ts := testTargets(1, 1, 1, 1)
		b := mustBalancer(t, "consistent_hash", ts, BalancerOptions{HashOn: on})
		counts := make([]int, len(ts))
		for i := range 4000 {
			ctx := headerCtx("X-Other", fmt.Sprint(i))
			if i%2 == 0 {
				ctx.Request.Header.Set("X-User", "") // present but empty counts as missing
				ctx.Request.Header.Set("Cookie", "session=")
			}
			counts[index(ts, pick(b, ctx))]++
		}
		for i, c := range counts {
			if c < 750 || c > 1250 {
				t.Errorf("%s: target %d got %d of 4000 keyless requests, want about 1000", on, i, c)
			}
		}
		if got := pick(b, nil); got == nil {
			t.Errorf("%s: nil for a pick without a request", on)
		}
	}
}

// TestConsistentHashLightTarget checks that a target too light to own any
// slot is still reached when it is the only one eligible.
func TestConsistentHashLightTarget(t *testing.T) {
	ts := testTargets(1_000_000_000, 1)
	b := mustBalancer(t, "consistent_hash", ts, BalancerOptions{HashOn: "path"})
	ts[0].healthy.Store(false)
	ctx := headerCtx("X", "")
	ctx.Request.SetRequestURI("/a")
	if got := pick(b, ctx); got != ts[1] {
		t.Errorf("picked %v, want the light target", got)
	}
}

func TestMaglevTableShares(t *testing.T) {
	ts := testTargets(1, 2, 3, 4)
	table := maglevTable[uint16](ts)
	if len(table) != 65537 {
		t.Fatalf("table of %d slots, want 65537", len(table))
	}
	counts := make([]int, len(ts))
	for _, i := range table {
		counts[i]++
	}
	for i, tg := range ts {
		want := float64(len(table)) * float64(tg.Weight) / 10
		if d := float64(counts[i]) - want; d > 0.01*want || d < -0.01*want {
			t.Errorf("weight %d: %d slots, want %.0f ±1%%", tg.Weight, counts[i], want)
		}
	}
	if got := maglevSize(testTargets(make([]int, 1000)...)); got != 262147 {
		t.Errorf("1000 targets: table of %d slots, want 262147", got)
	}
}

// TestBalancersConcurrent runs picks from many goroutines while the
// targets' health and load change under them, for the race detector.
func TestBalancersConcurrent(t *testing.T) {
	for _, bc := range allBalancers {
		t.Run(bc.name, func(t *testing.T) {
			ts := testTargets(1, 2, 3, 4, 5, 6)
			b := mustBalancer(t, bc.name, ts, bc.opts)
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					ctx := headerCtx("X-User", fmt.Sprint("user", g))
					for i := range 2000 {
						if g == 0 && i%100 == 0 {
							tg := ts[i/100%len(ts)]
							tg.healthy.Store(!tg.healthy.Load())
						}
						tg := pick(b, ctx)
						if tg == nil {
							continue
						}
						tg.inflight.Add(1)
						tg.observeLatency(int64(time.Millisecond)*int64(1+i%3), time.Now().UnixNano())
						tg.inflight.Add(-1)
					}
				})
			}
			wg.Wait()
		})
	}
}

// TestP2CFailuresCountAsSlow: a target whose tries fail at once (a refused
// connection) is not taken for the fastest: a failure counts as a slow
// answer, so a dead target loses to a live one. Passed over, its average
// decays, and after some seconds it is tried again.
func TestP2CFailuresCountAsSlow(t *testing.T) {
	ts := testTargets(1, 1)
	now := time.Now()
	live, dead := ts[0], ts[1]
	live.observeLatency(int64(2*time.Millisecond), now.UnixNano())
	// What Do records for a try refused after 50µs with a 30s timeout.
	dead.observeLatency(int64(max(50*time.Microsecond, min(30*time.Second, failurePenalty))), now.UnixNano())
	b := mustBalancer(t, "p2c_ewma", ts, BalancerOptions{})
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&fasthttp.Request{}, nil, nil) // ctx.Time() is now
	for i := range 100 {
		if got := b.Pick(ctx, &Eligible{}); got != live {
			t.Fatalf("pick %d went to the target that failed", i)
		}
	}
	// 20s later, with no answer from it since: tried again.
	if got := dead.latencyAt(now.Add(20 * time.Second).UnixNano()); got > int64(2*time.Millisecond) {
		t.Fatalf("20s after its failure the dead target still weighs %v", time.Duration(got))
	}
}

// TestConsistentHashLightTargetJoins: a light target joining heavy ones
// (a canary of weight 1 beside eight of weight 100) moves only keys to
// itself, and the others keep theirs, but for Maglev's small churn (the
// table's size depends on the count of targets, not on their weights).
func TestConsistentHashLightTargetJoins(t *testing.T) {
	ts := testTargets(100, 100, 100, 100, 100, 100, 100, 100, 1)
	canary := ts[8]
	before, after := keyTargets(t, ts[:8], 10000), keyTargets(t, ts, 10000)
	movedElsewhere, toCanary := 0, 0
	for i := range before {
		switch {
		case after[i] == canary.Addr:
			toCanary++
		case before[i] != after[i]:
			movedElsewhere++
		}
	}
	if movedElsewhere > 100 || toCanary > 100 {
		t.Fatalf("adding a weight-1 target moved %d keys between the others and %d to itself (table %d -> %d slots)",
			movedElsewhere, toCanary, maglevSize(ts[:8]), maglevSize(ts))
	}
}
