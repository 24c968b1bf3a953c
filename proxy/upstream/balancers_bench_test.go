package upstream

import (
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// benchTargets is eight targets of mixed weight and load, so that each
// balancer does its real work rather than an idle-case shortcut.
func benchTargets() []*Target {
	ts := testTargets(1, 2, 3, 1, 5, 1, 2, 1)
	for i, tg := range ts {
		tg.inflight.Store(int64(i % 3))
		tg.ewma.Store(int64(time.Millisecond) * int64(1+i%4))
	}
	return ts
}

// benchCtx carries every kind of consistent_hash key.
func benchCtx() *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.SetRequestURI("/api/v1/users/12345/orders")
	req.Header.Set("X-User", "user-12345")
	req.Header.Set("Cookie", "theme=dark; session=3f9a1c0e7b; lang=en")
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000}, nil)
	return ctx
}

func BenchmarkPick(b *testing.B) {
	for _, bc := range allBalancers {
		b.Run(bc.name, func(b *testing.B) {
			bal := mustBalancer(b, bc.name, benchTargets(), bc.opts)
			ctx := benchCtx()
			now := time.Now().UnixNano()
			var e Eligible
			b.ReportAllocs()
			for b.Loop() {
				e.Reset(now)
				if bal.Pick(ctx, &e) == nil {
					b.Fatal("no target")
				}
			}
		})
	}
}

// BenchmarkPickParallel shows what contention costs: the mutex of
// weighted_round_robin and the shared counters of the others.
func BenchmarkPickParallel(b *testing.B) {
	for _, bc := range allBalancers {
		b.Run(bc.name, func(b *testing.B) {
			bal := mustBalancer(b, bc.name, benchTargets(), bc.opts)
			now := time.Now().UnixNano()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := benchCtx()
				var e Eligible
				for pb.Next() {
					e.Reset(now)
					bal.Pick(ctx, &e)
				}
			})
		})
	}
}

func TestPickAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation allocates")
	}
	cases := append(allBalancers[:len(allBalancers):len(allBalancers)],
		struct {
			name string
			opts BalancerOptions
		}{"consistent_hash", BalancerOptions{HashOn: "cookie:session"}},
		struct {
			name string
			opts BalancerOptions
		}{"consistent_hash", BalancerOptions{HashOn: "client_ip"}},
		struct {
			name string
			opts BalancerOptions
		}{"consistent_hash", BalancerOptions{HashOn: "path"}},
		struct {
			name string
			opts BalancerOptions
		}{"consistent_hash", BalancerOptions{HashOn: "header:X-Missing"}},
	)
	for _, bc := range cases {
		ts := benchTargets()
		ts[2].healthy.Store(false) // so that some picks walk on
		bal := mustBalancer(t, bc.name, ts, bc.opts)
		ctx := benchCtx()
		now := time.Now().UnixNano()
		var e Eligible
		allocs := testing.AllocsPerRun(1000, func() {
			e.Reset(now)
			if t1 := bal.Pick(ctx, &e); t1 != nil {
				e.Tried(t1)
				bal.Pick(ctx, &e) // a retry
			}
		})
		if allocs != 0 {
			t.Errorf("%s %s: %v allocations per pick", bc.name, bc.opts.HashOn, allocs)
		}
	}
}
