package upstream

import (
	"fmt"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func mkTargets(weights ...int) []*Target {
	ts := make([]*Target, len(weights))
	for i, w := range weights {
		ts[i] = &Target{Addr: fmt.Sprintf("10.0.0.%d:80", i+1), Weight: w}
		ts[i].healthy.Store(true)
	}
	return ts
}

func mkBalancer(t testing.TB, name string, ts []*Target, hashOn string) Balancer {
	t.Helper()
	b, err := NewBalancer(name, ts, BalancerOptions{HashOn: hashOn})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fresh() *Eligible {
	e := &Eligible{}
	e.Reset(time.Now().UnixNano())
	return e
}

var allBalancers = []struct{ name, hashOn string }{
	{"round_robin", ""}, {"weighted_round_robin", ""}, {"least_connections", ""},
	{"p2c_ewma", ""}, {"consistent_hash", "header:X-User"},
}

func keyedCtx(user string) *fasthttp.RequestCtx {
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.Header.Set("X-User", user)
	return ctx
}

func TestWeightedDistribution(t *testing.T) {
	ts := mkTargets(1, 2, 5)
	b := mkBalancer(t, "weighted_round_robin", ts, "")
	counts := map[*Target]int{}
	const n = 10000
	for i := 0; i < n; i++ {
		counts[b.Pick(nil, fresh())]++
	}
	for _, tg := range ts {
		want := float64(n) * float64(tg.Weight) / 8
		if got := float64(counts[tg]); math.Abs(got-want) > 0.05*want {
			t.Errorf("weight %d: %v picks, want %v within 5%%", tg.Weight, got, want)
		}
	}
}

// TestWeightedIsSmooth: nginx's example, weights 5,1,1, gives a a b a c a a.
func TestWeightedIsSmooth(t *testing.T) {
	ts := mkTargets(5, 1, 1)
	b := mkBalancer(t, "weighted_round_robin", ts, "")
	name := map[*Target]string{ts[0]: "a", ts[1]: "b", ts[2]: "c"}
	var seq []string
	for i := 0; i < 7; i++ {
		seq = append(seq, name[b.Pick(nil, fresh())])
	}
	if got := strings.Join(seq, " "); got != "a a b a c a a" {
		t.Fatalf("sequence %q, want %q", got, "a a b a c a a")
	}
}

// TestBalancersSkipIneligible: no balancer returns an unavailable or
// already-tried target, and each returns nil when none is left.
func TestBalancersSkipIneligible(t *testing.T) {
	for _, bc := range allBalancers {
		t.Run(bc.name, func(t *testing.T) {
			ts := mkTargets(1, 1, 1, 1)
			b := mkBalancer(t, bc.name, ts, bc.hashOn)
			ts[1].healthy.Store(false)
			ts[2].ejectUntil.Store(math.MaxInt64)
			for i := 0; i < 200; i++ {
				e := fresh()
				got := b.Pick(keyedCtx(fmt.Sprint(i)), e)
				if got == ts[1] || got == ts[2] || got == nil {
					t.Fatalf("picked %v; only targets 0 and 3 are available", got)
				}
				e.Tried(got)
				second := b.Pick(keyedCtx(fmt.Sprint(i)), e)
				if second == nil || second == got || second == ts[1] || second == ts[2] {
					t.Fatalf("retry picked %v after trying %v", second, got)
				}
				e.Tried(second)
				if third := b.Pick(keyedCtx(fmt.Sprint(i)), e); third != nil {
					t.Fatalf("picked %v with every available target tried", third)
				}
			}
			empty := mkBalancer(t, bc.name, nil, bc.hashOn)
			if got := empty.Pick(keyedCtx("x"), fresh()); got != nil {
				t.Fatalf("empty balancer picked %v", got)
			}
		})
	}
}

func TestLeastConnectionsPicksLeastLoaded(t *testing.T) {
	ts := mkTargets(1, 1, 2)
	b := mkBalancer(t, "least_connections", ts, "")
	ts[0].inflight.Store(5)
	ts[1].inflight.Store(2)
	ts[2].inflight.Store(6) // 3 per unit of weight
	for i := 0; i < 20; i++ {
		if got := b.Pick(nil, fresh()); got != ts[1] {
			t.Fatalf("picked %s, want the least loaded %s", got.Addr, ts[1].Addr)
		}
	}
	ts[1].inflight.Store(5)
	// Now 5, 5 and 3 per unit: the weighted one.
	if got := b.Pick(nil, fresh()); got != ts[2] {
		t.Fatalf("picked %s, want %s (least per unit of weight)", got.Addr, ts[2].Addr)
	}
}

func TestP2CPrefersFastTargets(t *testing.T) {
	ts := mkTargets(1, 1)
	b := mkBalancer(t, "p2c_ewma", ts, "")
	ts[0].ewma.Store(int64(time.Millisecond))
	ts[1].ewma.Store(int64(10 * time.Millisecond))
	fast := 0
	for i := 0; i < 1000; i++ {
		if b.Pick(nil, fresh()) == ts[0] {
			fast++
		}
	}
	if fast < 800 {
		t.Fatalf("the 10x faster target got %d of 1000 picks, want > 800", fast)
	}
}

func TestConsistentHashIsStickyAndEven(t *testing.T) {
	ts := mkTargets(1, 1, 1, 1)
	b := mkBalancer(t, "consistent_hash", ts, "header:X-User")
	counts := map[*Target]int{}
	const n = 10000
	for i := 0; i < n; i++ {
		ctx := keyedCtx(fmt.Sprintf("user-%d", i))
		first := b.Pick(ctx, fresh())
		if again := b.Pick(ctx, fresh()); again != first {
			t.Fatalf("user-%d went to %s then %s", i, first.Addr, again.Addr)
		}
		counts[first]++
	}
	for _, tg := range ts {
		if c := counts[tg]; c < n/4*3/4 || c > n/4*5/4 {
			t.Errorf("%s got %d of %d keys; want within 25%% of %d", tg.Addr, c, n, n/4)
		}
	}
}

// TestConsistentHashRemapsLittle measures the share of keys that move
// when a target joins or leaves.
func TestConsistentHashRemapsLittle(t *testing.T) {
	const n = 10000
	assign := func(ts []*Target) map[int]string {
		b := mkBalancer(t, "consistent_hash", ts, "header:X-User")
		m := make(map[int]string, n)
		for i := 0; i < n; i++ {
			m[i] = b.Pick(keyedCtx(fmt.Sprintf("user-%d", i)), fresh()).Addr
		}
		return m
	}
	moved := func(a, b map[int]string) float64 {
		c := 0
		for i := range a {
			if a[i] != b[i] {
				c++
			}
		}
		return float64(c) / n
	}
	four := assign(mkTargets(1, 1, 1, 1))
	five := assign(mkTargets(1, 1, 1, 1, 1))
	if share := moved(four, five); share < 0.15 || share > 0.30 {
		t.Errorf("adding a 5th target moved %.3f of keys; want about 1/5 (0.15-0.30)", share)
	} else {
		t.Logf("adding a 5th target moved %.3f of keys", share)
	}
	ts := mkTargets(1, 1, 1, 1)
	three := assign([]*Target{ts[0], ts[1], ts[3]})
	before := assign(ts)
	lost := 0
	for i := range before {
		if before[i] == ts[2].Addr {
			lost++
		}
	}
	if share := moved(before, three); share > 0.30 || share < float64(lost)/n {
		t.Errorf("removing a target moved %.3f of keys (it held %.3f)", share, float64(lost)/n)
	} else {
		t.Logf("removing a target moved %.3f of keys; it held %.3f", share, float64(lost)/n)
	}
}

func TestConsistentHashKeys(t *testing.T) {
	ts := mkTargets(1, 1, 1, 1, 1, 1, 1, 1)
	for _, hashOn := range []string{"header:X-User", "cookie:sid", "path", "client_ip"} {
		t.Run(hashOn, func(t *testing.T) {
			b := mkBalancer(t, "consistent_hash", ts, hashOn)
			seen := map[*Target]bool{}
			for i := 0; i < 200; i++ {
				var req fasthttp.Request
				req.SetRequestURI(fmt.Sprintf("/p/%d", i))
				req.Header.Set("X-User", fmt.Sprint(i))
				req.Header.SetCookie("sid", fmt.Sprint(i))
				ctx := &fasthttp.RequestCtx{}
				ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(10, 1, byte(i/250), byte(i%250)), Port: 5000 + i}, nil)
				first := b.Pick(ctx, fresh())
				// The same key from another port or with other headers
				// goes to the same target.
				ctx2 := &fasthttp.RequestCtx{}
				var req2 fasthttp.Request
				req.CopyTo(&req2)
				ctx2.Init(&req2, &net.TCPAddr{IP: net.IPv4(10, 1, byte(i/250), byte(i%250)), Port: 9}, nil)
				if again := b.Pick(ctx2, fresh()); again != first {
					t.Fatalf("key %d: %v then %v", i, first.Addr, again.Addr)
				}
				seen[first] = true
			}
			if len(seen) < 6 {
				t.Fatalf("200 keys reached only %d of 8 targets: the key is not being hashed", len(seen))
			}
		})
	}
	t.Run("no key spreads", func(t *testing.T) {
		b := mkBalancer(t, "consistent_hash", ts, "header:X-User")
		seen := map[*Target]bool{}
		for i := 0; i < 16; i++ {
			seen[b.Pick(&fasthttp.RequestCtx{}, fresh())] = true
		}
		if len(seen) != 8 {
			t.Fatalf("requests without the key reached %d of 8 targets; want round robin", len(seen))
		}
	})
}

func TestHashOnRefused(t *testing.T) {
	for _, bad := range []string{"", "header:", "cookie", "ip", "query:x"} {
		_, err := NewBalancer("consistent_hash", mkTargets(1), BalancerOptions{HashOn: bad})
		if err == nil || !strings.Contains(err.Error(), "hash_on") {
			t.Errorf("hash_on %q: %v, want an error naming hash_on", bad, err)
		}
	}
}

func TestPickAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	for _, bc := range allBalancers {
		b := mkBalancer(t, bc.name, mkTargets(1, 2, 3, 1, 1, 1, 1, 1), bc.hashOn)
		ctx := keyedCtx("user-42")
		e := fresh()
		if n := testing.AllocsPerRun(1000, func() {
			e.Reset(0)
			b.Pick(ctx, e)
		}); n != 0 {
			t.Errorf("%s: %v allocations per pick", bc.name, n)
		}
	}
}

func BenchmarkPick(b *testing.B) {
	for _, bc := range allBalancers {
		b.Run(bc.name, func(b *testing.B) {
			bal := mkBalancer(b, bc.name, mkTargets(1, 2, 3, 1, 1, 1, 1, 1), bc.hashOn)
			ctx := keyedCtx("user-42")
			e := fresh()
			b.ReportAllocs()
			for b.Loop() {
				e.Reset(0)
				bal.Pick(ctx, e)
			}
		})
	}
}
