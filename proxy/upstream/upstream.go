package upstream

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"github.com/wasmgate/wasmgate/internal/fastconn"
	"github.com/wasmgate/wasmgate/internal/percpu"
	"github.com/wasmgate/wasmgate/internal/refcount"
	"github.com/wasmgate/wasmgate/proxy/config"
)

// Target is one backend address with its own keep-alive connection pool.
type Target struct {
	Upstream string
	Addr     string
	Weight   int

	client         *fasthttp.HostClient
	connectTimeout time.Duration
	hostHeader     []byte
	key            string // settings fingerprint; equal keys may share a Target across reloads

	inflight atomic.Int64
	ewma     atomic.Int64 // response-head latency moving average, ns
	ewmaAt   atomic.Int64 // when ewma was last updated, Unix ns (0: never)
	// healthy is the active checks' verdict (true until they say
	// otherwise); ejectUntil is the end of a passive ejection, unix ns.
	healthy    atomic.Bool
	ejectUntil atomic.Int64
	requests   atomic.Uint64
	failures   atomic.Uint64

	// health is nil when the upstream has neither active nor passive
	// checks; ctx ends with the target (Close).
	health        *health
	ctx           context.Context
	healthStarted atomic.Bool

	duration       *percpu.Histogram
	errors         *metrics.Counter
	ejectionsTotal *metrics.Counter
	healthGauge    *metrics.Gauge
	labels         string // of the metric series above
	closeOnce      sync.Once
}

// Inflight is the number of requests to this target not yet answered.
func (t *Target) Inflight() int64 { return t.inflight.Load() }

// EWMA is the moving average of the target's response latency in
// nanoseconds (0 until the first response).
func (t *Target) EWMA() int64 { return t.ewma.Load() }

// Available reports whether the target may take requests at now (unix
// nanoseconds): the active checks find it healthy and it is not ejected.
func (t *Target) Available(now int64) bool {
	return t.healthy.Load() && now >= t.ejectUntil.Load()
}

// Requests and Failures count requests sent and those that got no response.
func (t *Target) Requests() uint64 { return t.requests.Load() }
func (t *Target) Failures() uint64 { return t.failures.Load() }

// Do sends req to the target and reads the response head into resp (the
// body may still be streaming from the target when Do returns). timeout
// bounds the whole exchange up to the response head.
func (t *Target) Do(req *fasthttp.Request, resp *fasthttp.Response, timeout time.Duration) error {
	t.inflight.Add(1)
	t.requests.Add(1)
	start := time.Now()
	err := t.client.DoTimeout(req, resp, timeout)
	t.inflight.Add(-1)
	end := time.Now()
	d := end.Sub(start)
	t.duration.Observe(d)
	if err != nil {
		t.failures.Add(1)
		t.errors.Inc()
		// A failure counts as a slow answer, whatever it took: a refused
		// connection fails in microseconds and would otherwise make a
		// dead target look like the fastest one to p2c_ewma.
		d = max(d, min(timeout, failurePenalty))
	}
	t.observeLatency(int64(d), end.UnixNano())
	return err
}

// failurePenalty is the latency a failed try counts as (at most its
// timeout): one failure makes a target lose comparisons with healthy ones
// for some seconds (see latencyAt), not for ever.
const failurePenalty = time.Second

// observeLatency folds one latency into the moving average with weight
// 1/8. Concurrent updates may overwrite each other; an average that loses
// an occasional sample is still the average.
func (t *Target) observeLatency(ns, at int64) {
	old := t.ewma.Load()
	if old == 0 {
		t.ewma.Store(ns)
	} else {
		t.ewma.Store(old + (ns-old)/8)
	}
	t.ewmaAt.Store(at)
}

// latencyHalfLife is how fast an average no answer has refreshed loses
// weight: halved for every latencyHalfLife since the last answer.
const latencyHalfLife = 2 * time.Second

// latencyAt is the moving average as p2c_ewma weighs it at now (Unix ns):
// decayed by the time since it was last updated, so that a target made
// to look slow by failures, and then passed over, is tried again after a
// while instead of never (its next answer then says what it is worth).
func (t *Target) latencyAt(now int64) int64 {
	l := t.ewma.Load()
	at := t.ewmaAt.Load()
	if at == 0 || now <= at {
		return l
	}
	halvings := (now - at) / int64(latencyHalfLife)
	if halvings >= 62 {
		return min(l, 1)
	}
	return max(l>>halvings, min(l, 1))
}

// Dial opens a connection of its own to the target, for protocols that
// leave HTTP (upgrades) and so cannot use the pool.
func (t *Target) Dial(timeout time.Duration) (net.Conn, error) {
	if t.connectTimeout < timeout || timeout <= 0 {
		timeout = t.connectTimeout
	}
	c, err := fasthttp.DialTimeout(t.Addr, timeout)
	if err != nil || t.client.TLSConfig == nil {
		return c, err
	}
	tc := tls.Client(c, t.client.TLSConfig)
	if err := tc.Handshake(); err != nil {
		c.Close()
		return nil, err
	}
	return tc, nil
}

// TLS reports whether the target is spoken to over TLS.
func (t *Target) TLS() bool { return t.client.IsTLS }

// HostHeader is the Host a request carries when the route does not
// preserve the client's: the target's address.
func (t *Target) HostHeader() []byte { return t.hostHeader }

// Close drops the target's idle connections. Connections in use finish
// their request and are closed when returned.
func (t *Target) Close() {
	t.stopHealth()
	t.client.CloseIdleConnections()
	t.closeOnce.Do(func() { releaseSeries(t.labels) })
}

// A target's metric series are named by its upstream and address, and a
// reload may build a new Target for the same pair (another weight, say)
// before the old one is closed, so they share the series. The series
// leave /metrics when the last Target using them closes: a target removed
// by a reload or by discovery (every scale-in, every replaced pod) would
// otherwise be exported for ever, healthy at 1.
var seriesRefs refcount.Counts // by labels: the Targets using them

// The metric families of a target's series.
const (
	famTargetDuration  = "wasmgate_upstream_request_duration_seconds"
	famTargetErrors    = "wasmgate_upstream_errors_total"
	famTargetEjections = "wasmgate_upstream_ejections_total"
	famTargetHealthy   = "wasmgate_upstream_target_healthy"
)

var targetFamilies = [...]string{famTargetDuration, famTargetErrors, famTargetEjections, famTargetHealthy}

func releaseSeries(labels string) {
	seriesRefs.Release(labels, func() {
		for _, f := range targetFamilies {
			metrics.UnregisterMetric(f + labels)
			percpu.Unregister(f + labels)
		}
	})
}

// Upstream is a named group of targets and the balancer over them.
type Upstream struct {
	Name     string
	Balancer string
	Timeout  time.Duration

	// Breaker is nil when the upstream has none; its methods accept that.
	Breaker *Breaker
	Budget  *RetryBudget
	Health  HealthOptions

	members atomic.Pointer[members]
	retries *metrics.Counter
	bopts   BalancerOptions
	cfgKey  string // the breaker's settings, to carry it over a reload
	cfg     config.Upstream
	setMu   sync.Mutex // serializes SetTargets
}

// members is one version of an upstream's target list with the balancer
// built over it; a change of targets swaps in a new one whole.
type members struct {
	targets []*Target
	bal     Balancer
}

// Targets returns the current targets. The slice must not be modified.
func (u *Upstream) Targets() []*Target { return u.members.Load().targets }

// Pick returns a target for this request among those e allows, or nil.
// In panic mode (too few targets available) health is ignored.
func (u *Upstream) Pick(ctx *fasthttp.RequestCtx, e *Eligible) *Target {
	m := u.members.Load()
	if u.Health.PanicThreshold > 0 && !e.ignoreHealth && len(m.targets) > 0 {
		avail := 0
		for _, t := range m.targets {
			if t.Available(e.now) {
				avail++
			}
		}
		if float64(avail) < u.Health.PanicThreshold*float64(len(m.targets)) {
			e.ignoreHealth = true
		}
	}
	return m.bal.Pick(ctx, e)
}

// CountRetry counts one retry to the upstream in its metrics.
func (u *Upstream) CountRetry() { u.retries.Inc() }

// SetTargets replaces the upstream's targets, as discovery reports them.
// Targets that stay keep their connections, counters and health; requests
// in flight finish on the old list. Targets that left are closed (their
// idle connections, their checks) after grace, so a request that picked
// one just before the change still completes.
func (u *Upstream) SetTargets(list []config.Target, grace time.Duration) error {
	u.setMu.Lock()
	defer u.setMu.Unlock()
	old := u.members.Load()
	byKey := make(map[string]*Target, len(old.targets))
	for _, t := range old.targets {
		byKey[t.key] = t
	}
	m, err := u.build(list, func(key string) *Target { return byKey[key] })
	if err != nil {
		return err
	}
	for _, t := range m.targets {
		t.startHealth(u.Health)
	}
	u.members.Store(m)
	kept := make(map[*Target]bool, len(m.targets))
	for _, t := range m.targets {
		kept[t] = true
	}
	for _, t := range old.targets {
		if !kept[t] {
			time.AfterFunc(grace, t.Close)
		}
	}
	return nil
}

// build makes the members for list, taking targets from reuse where it
// has them under the same key.
func (u *Upstream) build(list []config.Target, reuse func(key string) *Target) (*members, error) {
	targets := make([]*Target, 0, len(list))
	var made []*Target
	for _, tc := range list {
		key := targetKey(u.cfg, tc)
		t := reuse(key)
		if t == nil {
			t = newTarget(u.cfg, tc, key)
			made = append(made, t)
		}
		targets = append(targets, t)
	}
	b, err := NewBalancer(u.Balancer, targets, u.bopts)
	if err != nil {
		for _, t := range made {
			t.Close() // its metric series with it
		}
		return nil, err
	}
	return &members{targets: targets, bal: b}, nil
}

// Discovered reports whether the upstream's targets come from discovery.
func (u *Upstream) Discovered() bool { return u.cfg.Discovery != nil }

// Config is the upstream's configuration.
func (u *Upstream) Config() config.Upstream { return u.cfg }

// Set is every upstream of one snapshot, by name.
type Set struct {
	byName  map[string]*Upstream
	ordered []*Upstream
}

// Get returns the upstream called name, or nil.
func (s *Set) Get(name string) *Upstream { return s.byName[name] }

// All returns the upstreams in config order.
func (s *Set) All() []*Upstream { return s.ordered }

// current is every target of every upstream of s, by key.
func (s *Set) current() map[string]*Target {
	m := map[string]*Target{}
	for _, u := range s.ordered {
		for _, t := range u.Targets() {
			m[t.key] = t
		}
	}
	return m
}

// Build makes the upstreams of cfg, reusing targets of prev whose settings
// are unchanged. An upstream with discovery starts with the targets its
// predecessor in prev had discovered, so a reload opens no gap while its
// provider starts over. Errors are prefixed with the field path.
func Build(cfgs []config.Upstream, prev *Set) (*Set, error) {
	s := &Set{byName: map[string]*Upstream{}}
	reusable := map[string]*Target{}
	if prev != nil {
		reusable = prev.current()
	}
	var errs []error
	for i, uc := range cfgs {
		u := &Upstream{
			Name:     uc.Name,
			Balancer: uc.Balancer,
			Timeout:  uc.Timeout.D(),
			Breaker:  carryBreaker(prev, uc),
			Budget:   &RetryBudget{Ratio: *uc.RetryBudget.Ratio, MinConcurrent: *uc.RetryBudget.MinConcurrent},
			Health:   healthOptions(uc),
			retries:  metrics.GetOrCreateCounter(fmt.Sprintf(`wasmgate_upstream_retries_total{upstream=%q}`, uc.Name)),
			bopts:    BalancerOptions{HashOn: uc.HashOn},
			cfgKey:   fingerprint(uc.CircuitBreaker),
			cfg:      uc,
		}
		list := uc.Targets
		if uc.Discovery != nil && prev != nil {
			if old := prev.byName[uc.Name]; old != nil && old.Discovered() {
				for _, t := range old.Targets() {
					list = append(list, config.Target{Address: t.Addr, Weight: t.Weight})
				}
			}
		}
		m, err := u.build(list, func(key string) *Target { return reusable[key] })
		if err != nil {
			errs = append(errs, fmt.Errorf("upstreams[%d].balancer: %w", i, err))
			continue
		}
		u.members.Store(m)
		s.byName[u.Name] = u
		s.ordered = append(s.ordered, u)
	}
	if len(errs) > 0 {
		s.Retire(prev) // never served: its new targets hold series until closed
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// Activate starts the health checks of targets that have none running.
// Build does not, so that a config that is built but never served (a
// failed reload, `wasmgate validate`) leaves nothing behind.
func (s *Set) Activate() {
	for _, u := range s.ordered {
		for _, t := range u.Targets() {
			t.startHealth(u.Health)
		}
	}
}

// Retire closes the targets of s that next does not use. Call it once
// requests on s have drained and s's discovery has stopped, or for a set
// never served (next then being the set that serves), whose new targets
// hold metric series until closed.
func (s *Set) Retire(next *Set) {
	keep := map[string]*Target{}
	if next != nil {
		keep = next.current()
	}
	for key, t := range s.current() {
		if keep[key] != t {
			t.Close()
		}
	}
}

// targetKey fingerprints everything a Target is built from, health
// settings included: a target whose key is unchanged keeps its pool, its
// counters and its health state across a reload.
func targetKey(uc config.Upstream, tc config.Target) string {
	return fmt.Sprintf("%s|%s|%d|%d|%d|%d|%t|%s|%t|%s", uc.Name, tc.Address, tc.Weight,
		uc.MaxConnsPerTarget, uc.ConnectTimeout, uc.IdleTimeout, uc.TLS, uc.TLSServerName, uc.TLSSkipVerify,
		fingerprint(uc.Health))
}

func fingerprint(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func healthOptions(uc config.Upstream) HealthOptions {
	h := uc.Health
	if h == nil {
		return HealthOptions{}
	}
	o := HealthOptions{PanicThreshold: h.PanicThreshold}
	if a := h.Active; a != nil {
		o.Active = &ActiveCheck{
			Path: a.Path, Host: a.Host, Interval: a.Interval.D(), Timeout: a.Timeout.D(), Statuses: a.Statuses,
			HealthyThreshold: a.HealthyThreshold, UnhealthyThreshold: a.UnhealthyThreshold, Jitter: *a.Jitter,
		}
	}
	if p := h.Passive; p != nil {
		o.Passive = PassiveCheck{ConsecutiveFailures: p.ConsecutiveFailures,
			BaseEjection: p.BaseEjection.D(), MaxEjection: p.MaxEjection.D()}
	}
	return o
}

// carryBreaker returns the previous snapshot's breaker for this upstream
// when its settings did not change, so a reload neither closes an open
// circuit nor forgets requests in flight; otherwise a new one.
func carryBreaker(prev *Set, uc config.Upstream) *Breaker {
	if prev != nil {
		if old := prev.byName[uc.Name]; old != nil && old.cfgKey == fingerprint(uc.CircuitBreaker) {
			return old.Breaker
		}
	}
	b := uc.CircuitBreaker
	if b == nil {
		return nil
	}
	br := NewBreaker(BreakerOptions{
		MaxRequests: b.MaxRequests, MaxPending: b.MaxPending, ConsecutiveFailures: b.ConsecutiveFailures,
		ErrorRate: b.ErrorRate, MinRequests: b.MinRequests, Window: b.Window.D(), OpenFor: b.OpenFor.D(),
		HalfOpenRequests: b.HalfOpenRequests,
	})
	br.gauge = metrics.GetOrCreateGauge(fmt.Sprintf(`wasmgate_upstream_circuit_state{upstream=%q}`, uc.Name), nil)
	br.gauge.Set(0)
	return br
}

func newTarget(uc config.Upstream, tc config.Target, key string) *Target {
	connect := uc.ConnectTimeout.D()
	dials := new(atomic.Uint64)
	hc := &fasthttp.HostClient{
		Transport: reusedOnly{dials},
		Addr:      tc.Address,
		// The gateway forwards the client's User-Agent; it adds none.
		NoDefaultUserAgentHeader: true,
		MaxConns:                 uc.MaxConnsPerTarget,
		// Wait for a free connection instead of failing at once when the
		// pool is full; the request's own timeout still bounds the wait.
		MaxConnWaitTimeout:  uc.Timeout.D(),
		MaxIdleConnDuration: uc.IdleTimeout.D(),
		// Paths go upstream as the client sent them; routing already
		// matched on the normalized form.
		DisablePathNormalizing:        true,
		DisableHeaderNamesNormalizing: false,
		StreamResponseBody:            true,
		// One retry covers a keep-alive connection the target closed while
		// it sat idle in the pool (see reusedOnly); real retry policy is
		// the route's.
		MaxIdemponentCallAttempts: 2,
		RetryIfErr: func(req *fasthttp.Request, attempts int, err error) (bool, bool) {
			return false, isStaleConnErr(err) && IsIdempotent(req)
		},
		DialTimeout: func(addr string, timeout time.Duration) (net.Conn, error) {
			if connect < timeout || timeout <= 0 {
				timeout = connect
			}
			c, err := fasthttp.DialTimeout(addr, timeout)
			if err != nil {
				return nil, err
			}
			dials.Add(1)
			return fastconn.Wrap(c), nil
		},
		IsTLS: uc.TLS,
	}
	if uc.TLS {
		host, _, _ := net.SplitHostPort(tc.Address)
		name := uc.TLSServerName
		if name == "" {
			name = host
		}
		hc.TLSConfig = &tls.Config{ServerName: name, InsecureSkipVerify: uc.TLSSkipVerify} //nolint:gosec // opt-in per upstream
	}
	labels := fmt.Sprintf(`{upstream=%q,target=%q}`, uc.Name, tc.Address)
	seriesRefs.Hold(labels)
	t := &Target{
		labels:         labels,
		Upstream:       uc.Name,
		Addr:           tc.Address,
		Weight:         tc.Weight,
		client:         hc,
		connectTimeout: connect,
		hostHeader:     []byte(tc.Address),
		key:            key,
		duration:       percpu.GetOrCreateHistogram(famTargetDuration+labels, DurationBuckets),
		errors:         metrics.GetOrCreateCounter(famTargetErrors + labels),
		ejectionsTotal: metrics.GetOrCreateCounter(famTargetEjections + labels),
		healthGauge:    metrics.GetOrCreateGauge(famTargetHealthy+labels, nil),
	}
	t.healthy.Store(true)
	t.healthGauge.Set(1)
	return t
}

// DurationBuckets are the histogram bounds, in seconds, of request
// duration metrics (the proxy uses them too, so the two line up): a
// gateway's work is measured in microseconds, so they start far below
// Prometheus' default 5ms.
var DurationBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
	0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// IsIdempotent reports a method that may be sent twice with the effect of once.
func IsIdempotent(req *fasthttp.Request) bool {
	return req.Header.IsGet() || req.Header.IsHead() || req.Header.IsPut() ||
		req.Header.IsOptions() || req.Header.IsDelete() || req.Header.IsTrace()
}

// reusedOnly is the HostClient's transport: a failed try is sent again
// (for an idempotent request; see RetryIfErr) only if it went on a pooled
// connection. One that fails at once after sitting in the pool had
// probably been closed by the target while idle, and a new connection is
// safe; one the target took the request on and dropped right after it was
// opened must not get it twice (a request that crashes its backend would
// crash a second). fasthttp does not say which connection a try used, so
// a try during which this client opened one counts as fresh: under
// concurrency a stale connection's request may then fail rather than be
// sent again, never the reverse.
type reusedOnly struct{ dials *atomic.Uint64 }

func (t reusedOnly) RoundTrip(hc *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (bool, error) {
	before := t.dials.Load()
	retry, err := fasthttp.DefaultTransport.RoundTrip(hc, req, resp)
	if err != nil && t.dials.Load() != before {
		retry = false
	}
	return retry, err
}

// isStaleConnErr reports errors that mean a pooled connection was dead
// before the request reached the target, so resending cannot duplicate it.
func isStaleConnErr(err error) bool {
	if err == nil || errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return false
	}
	return true
}
