package upstream

import (
	"context"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// ActiveCheck probes each target over HTTP on a timer.
type ActiveCheck struct {
	Path     string
	Host     string // Host header of probes; "" sends the target address
	Interval time.Duration
	Timeout  time.Duration
	// Statuses a healthy target answers with; empty means 200-399.
	Statuses []int
	// HealthyThreshold successes in a row bring an unhealthy target
	// back; UnhealthyThreshold failures in a row take a healthy one out.
	HealthyThreshold   int
	UnhealthyThreshold int
	// Jitter spreads each wait by up to this share of Interval either
	// way, so a fleet of gateways does not probe in lockstep.
	Jitter float64
}

// PassiveCheck ejects targets that fail real requests (outlier
// detection).
type PassiveCheck struct {
	// ConsecutiveFailures (5xx answers or failed connections) in a row
	// eject a target; 0 turns passive checks off.
	ConsecutiveFailures int
	// An ejection lasts BaseEjection, doubled for each ejection of the
	// same target since it last stayed up for MaxEjection, capped at
	// MaxEjection. After it the target must answer a probe to return.
	BaseEjection time.Duration
	MaxEjection  time.Duration
}

// HealthOptions are an upstream's health settings.
type HealthOptions struct {
	Active  *ActiveCheck // nil: no active checks
	Passive PassiveCheck
	// PanicThreshold: when fewer than this share of targets is
	// available, balancing ignores health and spreads load over all of
	// them, since an overloaded few would fail anyway. 0 turns it off.
	PanicThreshold float64
}

// health is a target's checker state. Active verdicts go to
// Target.healthy, ejections to Target.ejectUntil; this holds what it takes
// to reach them.
type health struct {
	opts HealthOptions

	consecutive atomic.Int64 // failed requests in a row, passive
	ejections   atomic.Int64 // ejections since the target last stayed up
	lastReturn  atomic.Int64 // unix ns the last ejection ended

	stop    context.CancelFunc
	probeMu sync.Mutex // one returning probe loop at a time
	client  *fasthttp.HostClient
}

// Outcome reports how a request to t went: err from Do, or the status
// of the response. Only 5xx answers and errors count against the target.
func (t *Target) Outcome(status int, err error) {
	h := t.health
	if h == nil || h.opts.Passive.ConsecutiveFailures <= 0 {
		return
	}
	if err == nil && status < 500 {
		h.consecutive.Store(0)
		return
	}
	if h.consecutive.Add(1) < int64(h.opts.Passive.ConsecutiveFailures) {
		return
	}
	h.consecutive.Store(0)
	t.eject(time.Now())
}

// eject takes t out of rotation until its backoff has passed and a probe
// has succeeded.
func (t *Target) eject(now time.Time) {
	h := t.health
	// Only the caller that flips the state starts the return loop.
	if !t.ejectUntil.CompareAndSwap(0, math.MaxInt64) {
		return
	}
	p := h.opts.Passive
	if last := h.lastReturn.Load(); last != 0 && now.UnixNano()-last > int64(p.MaxEjection) {
		h.ejections.Store(0)
	}
	n := h.ejections.Add(1)
	backoff := p.BaseEjection
	for i := int64(1); i < n && backoff < p.MaxEjection; i++ {
		backoff *= 2
	}
	backoff = min(backoff, p.MaxEjection)
	t.ejectionsTotal.Inc()
	go t.returnAfter(backoff)
}

// returnAfter waits out an ejection, then probes until the target
// answers and puts it back.
func (t *Target) returnAfter(backoff time.Duration) {
	h := t.health
	h.probeMu.Lock()
	defer h.probeMu.Unlock()
	ctx := t.ctx
	wait := backoff
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if t.probe() {
			h.lastReturn.Store(time.Now().UnixNano())
			t.ejectUntil.Store(0)
			return
		}
		// The target is still down: keep probing at the backoff's pace,
		// but no slower than the passive limit.
		wait = min(backoff, h.opts.Passive.MaxEjection)
	}
}

// probe checks the target once: with the active check's request when
// there is one, else by opening a connection.
func (t *Target) probe() bool {
	h := t.health
	a := h.opts.Active
	if a == nil {
		timeout := t.connectTimeout
		c, err := fasthttp.DialTimeout(t.Addr, timeout)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(fasthttp.MethodGet)
	req.SetRequestURI(a.Path)
	req.URI().SetScheme("http")
	if t.client.IsTLS {
		req.URI().SetScheme("https")
	}
	host := a.Host
	if host == "" {
		host = t.Addr
	}
	req.UseHostHeader = true
	req.Header.SetHost(host)
	req.Header.Set("User-Agent", "wasmgate-health-check")
	if err := h.client.DoTimeout(req, resp, a.Timeout); err != nil {
		return false
	}
	return healthyStatus(a.Statuses, resp.StatusCode())
}

func healthyStatus(want []int, got int) bool {
	if len(want) == 0 {
		return got >= 200 && got < 400
	}
	for _, s := range want {
		if s == got {
			return true
		}
	}
	return false
}

// runActive probes the target every interval (with jitter) and moves it
// in and out of rotation as the thresholds say.
func (t *Target) runActive(ctx context.Context) {
	a := t.health.opts.Active
	var ok, bad int
	// The first probe comes after a random share of the interval, so that
	// targets (and gateways) started together spread out at once.
	wait := time.Duration(rand.Float64() * float64(a.Interval))
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if t.probe() {
			ok, bad = ok+1, 0
			if !t.healthy.Load() && ok >= a.HealthyThreshold {
				t.healthy.Store(true)
				t.healthGauge.Set(1)
			}
		} else {
			ok, bad = 0, bad+1
			if t.healthy.Load() && bad >= a.UnhealthyThreshold {
				t.healthy.Store(false)
				t.healthGauge.Set(0)
			}
		}
		wait = jitter(a.Interval, a.Jitter)
	}
}

func jitter(d time.Duration, share float64) time.Duration {
	if share <= 0 {
		return d
	}
	f := 1 + share*(2*rand.Float64()-1)
	return time.Duration(float64(d) * f)
}

// startHealth begins the target's checks, once; stopHealth (from Close)
// ends them.
func (t *Target) startHealth(opts HealthOptions) {
	if !t.healthStarted.CompareAndSwap(false, true) {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.ctx = ctx
	h := &health{opts: opts, stop: cancel}
	t.health = h
	if opts.Active != nil {
		h.client = &fasthttp.HostClient{
			Addr:                     t.Addr,
			IsTLS:                    t.client.IsTLS,
			TLSConfig:                t.client.TLSConfig,
			NoDefaultUserAgentHeader: true,
			MaxConns:                 2,
			MaxIdleConnDuration:      2 * opts.Active.Interval,
			Dial: func(addr string) (net.Conn, error) {
				return fasthttp.DialTimeout(addr, t.connectTimeout)
			},
		}
		go t.runActive(ctx)
	}
}

func (t *Target) stopHealth() {
	if t.health != nil {
		t.health.stop()
		if t.health.client != nil {
			t.health.client.CloseIdleConnections()
		}
	}
}

// Ejected reports whether passive checks have the target out of rotation.
func (t *Target) Ejected() bool { return t.ejectUntil.Load() != 0 }

// Healthy reports the active checks' verdict (true without active checks).
func (t *Target) Healthy() bool { return t.healthy.Load() }
