package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Health is an upstream's [upstreams.health] table.
type Health struct {
	// Active probes each target on a timer; nil means no active checks.
	Active *ActiveHealth `toml:"active"`
	// Passive ejects targets that fail real requests; nil means off.
	Passive *PassiveHealth `toml:"passive"`
	// PanicThreshold (0 to 1): when fewer than this share of the targets
	// is available, balancing ignores health. 0, the default, is off.
	PanicThreshold float64 `toml:"panic_threshold"`
}

// ActiveHealth is [upstreams.health.active].
type ActiveHealth struct {
	Path     string   `toml:"path"`
	Host     string   `toml:"host"` // Host header of probes; default the target address
	Interval Duration `toml:"interval"`
	Timeout  Duration `toml:"timeout"`
	// Statuses a healthy target answers with; default any 2xx or 3xx.
	Statuses           []int `toml:"statuses"`
	HealthyThreshold   int   `toml:"healthy_threshold"`
	UnhealthyThreshold int   `toml:"unhealthy_threshold"`
	// Jitter (0 to 1) spreads each interval by up to this share either
	// way; nil means the default, so that 0 can turn it off.
	Jitter *float64 `toml:"jitter"`
}

// PassiveHealth is [upstreams.health.passive].
type PassiveHealth struct {
	ConsecutiveFailures int      `toml:"consecutive_failures"`
	BaseEjection        Duration `toml:"base_ejection"`
	MaxEjection         Duration `toml:"max_ejection"`
}

// CircuitBreaker is [upstreams.circuit_breaker]. Limits and trips left at
// 0 are off.
type CircuitBreaker struct {
	MaxRequests         int      `toml:"max_requests"`
	MaxPending          int      `toml:"max_pending"`
	ConsecutiveFailures int      `toml:"consecutive_failures"`
	ErrorRate           float64  `toml:"error_rate"`
	MinRequests         int      `toml:"min_requests"`
	Window              Duration `toml:"window"`
	OpenFor             Duration `toml:"open_for"`
	HalfOpenRequests    int      `toml:"half_open_requests"`
}

// RetryBudget is [upstreams.retry_budget].
type RetryBudget struct {
	// Ratio (0 to 1) of the requests in flight to the upstream that may be
	// retries; nil means the default, so that 0 can allow only the floor.
	Ratio         *float64 `toml:"ratio"`
	MinConcurrent *int     `toml:"min_concurrent"` // a pointer, so that 0 (no floor) is kept
}

// Discovery is [upstreams.discovery]: where the targets come from when
// they are not listed in the file. Which keys apply depends on Provider.
type Discovery struct {
	Provider string `toml:"provider"` // dns | file | etcd | consul

	// dns
	Name     string   `toml:"name"`
	Port     int      `toml:"port"`
	Record   string   `toml:"record"` // A (A and AAAA) | SRV
	Resolver string   `toml:"resolver"`
	Interval Duration `toml:"interval"` // dns and file

	// file
	Path string `toml:"path"`

	// etcd
	Endpoints []string `toml:"endpoints"`
	Prefix    string   `toml:"prefix"`
	Username  string   `toml:"username"`
	Password  string   `toml:"password"`

	// consul
	Address string `toml:"address"`
	Service string `toml:"service"`
	Tag     string `toml:"tag"`
	Token   string `toml:"token"`
}

// Retries is a route's retry policy.
type Retries struct {
	// Attempts is the number of tries in all: 3 is the first try and up to
	// two retries.
	Attempts      int      `toml:"attempts"`
	PerTryTimeout Duration `toml:"per_try_timeout"`
	// On lists what is retried: connect-failure, reset, timeout, and
	// status codes ("502") or classes ("5xx").
	On            []string `toml:"on"`
	NonIdempotent bool     `toml:"non_idempotent"`
	BackoffBase   Duration `toml:"backoff_base"`
	BackoffMax    Duration `toml:"backoff_max"`
}

// Defaults of the resilience settings; docs/CONFIG.md lists them.
const (
	DefaultHealthInterval     = 5 * time.Second
	DefaultHealthTimeout      = time.Second
	DefaultHealthyThreshold   = 2
	DefaultUnhealthyThreshold = 3
	DefaultHealthJitter       = 0.1
	DefaultPassiveFailures    = 5
	DefaultBaseEjection       = 30 * time.Second
	DefaultMaxEjection        = 5 * time.Minute
	DefaultBreakerWindow      = 10 * time.Second
	DefaultBreakerMinRequests = 20
	DefaultBreakerOpenFor     = 30 * time.Second
	DefaultRetryBudgetRatio   = 0.2
	DefaultRetryBudgetMin     = 3
	DefaultRetryAttempts      = 2
	DefaultRetryBackoffBase   = 25 * time.Millisecond
	DefaultRetryBackoffMax    = 250 * time.Millisecond
	DefaultDNSInterval        = 30 * time.Second
	DefaultFileInterval       = 2 * time.Second
	DefaultConsulAddress      = "http://127.0.0.1:8500"
	DefaultEtcdEndpoint       = "http://127.0.0.1:2379"
	defaultHalfOpenRequests   = 1
)

// DefaultRetryOn is what a retries table without `on` retries: failures
// where the target surely or probably did not act on the request, and the
// statuses a proxy or an overloaded server answers with.
var DefaultRetryOn = []string{"connect-failure", "reset", "502", "503", "504"}

func applyResilienceDefaults(u *Upstream) {
	if h := u.Health; h != nil {
		if a := h.Active; a != nil {
			setDur(&a.Interval, DefaultHealthInterval)
			setDur(&a.Timeout, min(DefaultHealthTimeout, a.Interval.D()))
			if a.HealthyThreshold == 0 {
				a.HealthyThreshold = DefaultHealthyThreshold
			}
			if a.UnhealthyThreshold == 0 {
				a.UnhealthyThreshold = DefaultUnhealthyThreshold
			}
			if a.Jitter == nil {
				j := DefaultHealthJitter
				a.Jitter = &j
			}
		}
		if p := h.Passive; p != nil {
			if p.ConsecutiveFailures == 0 {
				p.ConsecutiveFailures = DefaultPassiveFailures
			}
			setDur(&p.BaseEjection, DefaultBaseEjection)
			setDur(&p.MaxEjection, max(DefaultMaxEjection, p.BaseEjection.D()))
		}
	}
	if b := u.CircuitBreaker; b != nil {
		setDur(&b.OpenFor, DefaultBreakerOpenFor)
		if b.HalfOpenRequests == 0 {
			b.HalfOpenRequests = defaultHalfOpenRequests
		}
		if b.ErrorRate > 0 {
			setDur(&b.Window, DefaultBreakerWindow)
			if b.MinRequests == 0 {
				b.MinRequests = DefaultBreakerMinRequests
			}
		}
	}
	if u.RetryBudget.Ratio == nil {
		r := DefaultRetryBudgetRatio
		u.RetryBudget.Ratio = &r
	}
	if u.RetryBudget.MinConcurrent == nil {
		m := DefaultRetryBudgetMin
		u.RetryBudget.MinConcurrent = &m
	}
	if d := u.Discovery; d != nil {
		switch d.Provider {
		case "dns":
			setStr(&d.Record, "A")
			setDur(&d.Interval, DefaultDNSInterval)
		case "file":
			setDur(&d.Interval, DefaultFileInterval)
		case "etcd":
			if len(d.Endpoints) == 0 {
				d.Endpoints = []string{DefaultEtcdEndpoint}
			}
		case "consul":
			setStr(&d.Address, DefaultConsulAddress)
		}
	}
}

func applyRetryDefaults(r *Retries) {
	if r.Attempts == 0 {
		r.Attempts = DefaultRetryAttempts
	}
	if r.On == nil {
		r.On = append([]string(nil), DefaultRetryOn...)
	}
	setDur(&r.BackoffBase, DefaultRetryBackoffBase)
	setDur(&r.BackoffMax, max(DefaultRetryBackoffMax, r.BackoffBase.D()))
}

func validateResilience(p string, u Upstream, e *errs) {
	if h := u.Health; h != nil {
		hp := p + ".health"
		checkShare(hp+".panic_threshold", h.PanicThreshold, e)
		if a := h.Active; a != nil {
			ap := hp + ".active"
			if !strings.HasPrefix(a.Path, "/") {
				e.add(ap+".path", "required, starting with / (got %q)", a.Path)
			}
			if a.Timeout > a.Interval {
				e.add(ap+".timeout", "%s is longer than the interval %s", a.Timeout.D(), a.Interval.D())
			}
			for k, s := range a.Statuses {
				if s < 100 || s > 599 {
					e.add(fmt.Sprintf("%s.statuses[%d]", ap, k), "%d is not an HTTP status", s)
				}
			}
			if a.HealthyThreshold < 1 {
				e.add(ap+".healthy_threshold", "must be at least 1")
			}
			if a.UnhealthyThreshold < 1 {
				e.add(ap+".unhealthy_threshold", "must be at least 1")
			}
			if a.Jitter != nil {
				checkShare(ap+".jitter", *a.Jitter, e)
			}
		}
		if ps := h.Passive; ps != nil {
			pp := hp + ".passive"
			if ps.ConsecutiveFailures < 1 {
				e.add(pp+".consecutive_failures", "must be at least 1")
			}
			if ps.MaxEjection < ps.BaseEjection {
				e.add(pp+".max_ejection", "%s is shorter than base_ejection %s", ps.MaxEjection.D(), ps.BaseEjection.D())
			}
		}
	}
	if b := u.CircuitBreaker; b != nil {
		bp := p + ".circuit_breaker"
		for _, f := range []struct {
			name string
			v    int
		}{{"max_requests", b.MaxRequests}, {"max_pending", b.MaxPending}, {"consecutive_failures", b.ConsecutiveFailures},
			{"min_requests", b.MinRequests}, {"half_open_requests", b.HalfOpenRequests}} {
			if f.v < 0 {
				e.add(bp+"."+f.name, "must not be negative")
			}
		}
		checkShare(bp+".error_rate", b.ErrorRate, e)
		if b.MaxPending > 0 && b.MaxRequests == 0 {
			e.add(bp+".max_pending", "needs max_requests: requests wait only when that limit is reached")
		}
	}
	if r := u.RetryBudget.Ratio; r != nil {
		checkShare(p+".retry_budget.ratio", *r, e)
	}
	if m := u.RetryBudget.MinConcurrent; m != nil && *m < 0 {
		e.add(p+".retry_budget.min_concurrent", "must not be negative")
	}
	if d := u.Discovery; d != nil {
		validateDiscovery(p+".discovery", d, e)
		if len(u.Targets) > 0 {
			e.add(p+".targets", "set both targets and discovery; the targets come from one of them")
		}
	} else if len(u.Targets) == 0 {
		e.add(p+".targets", "at least one target is required (or a discovery table)")
	}
}

func validateDiscovery(p string, d *Discovery, e *errs) {
	// Each provider reads its own keys; a key of another provider is a
	// mistake worth naming rather than ignoring.
	used := map[string]bool{}
	set := map[string]bool{
		"name": d.Name != "", "port": d.Port != 0, "record": d.Record != "", "resolver": d.Resolver != "",
		"interval": d.Interval != 0, "path": d.Path != "", "endpoints": d.Endpoints != nil, "prefix": d.Prefix != "",
		"username": d.Username != "", "password": d.Password != "", "address": d.Address != "",
		"service": d.Service != "", "tag": d.Tag != "", "token": d.Token != "",
	}
	switch d.Provider {
	case "dns":
		used = map[string]bool{"name": true, "port": true, "record": true, "resolver": true, "interval": true}
		if d.Name == "" {
			e.add(p+".name", "required for provider dns")
		}
		switch d.Record {
		case "A":
			if d.Port < 1 || d.Port > 65535 {
				e.add(p+".port", "required for A records: the targets' port (1-65535)")
			}
		case "SRV":
			if d.Port != 0 {
				e.add(p+".port", "SRV records carry their own ports")
			}
		default:
			e.add(p+".record", "unknown record type %q (want A or SRV)", d.Record)
		}
		if d.Resolver != "" {
			if err := checkHostPort(d.Resolver); err != nil {
				e.add(p+".resolver", "%v", err)
			}
		}
	case "file":
		used = map[string]bool{"path": true, "interval": true}
		switch {
		case d.Path == "":
			e.add(p+".path", "required for provider file")
		case !strings.HasSuffix(d.Path, ".json") && !strings.HasSuffix(d.Path, ".toml"):
			e.add(p+".path", "%q: want a .json or .toml file", d.Path)
		}
	case "etcd":
		used = map[string]bool{"endpoints": true, "prefix": true, "username": true, "password": true}
		if d.Prefix == "" {
			e.add(p+".prefix", "required for provider etcd")
		}
		for k, ep := range d.Endpoints {
			if !strings.HasPrefix(ep, "http://") && !strings.HasPrefix(ep, "https://") {
				e.add(fmt.Sprintf("%s.endpoints[%d]", p, k), "%q: want an http:// or https:// URL", ep)
			}
		}
	case "consul":
		used = map[string]bool{"address": true, "service": true, "tag": true, "token": true}
		if d.Service == "" {
			e.add(p+".service", "required for provider consul")
		}
	default:
		e.add(p+".provider", "unknown provider %q (want dns, file, etcd or consul)", d.Provider)
		return
	}
	for _, k := range []string{"name", "port", "record", "resolver", "interval", "path", "endpoints", "prefix",
		"username", "password", "address", "service", "tag", "token"} {
		if set[k] && !used[k] {
			e.add(p+"."+k, "not used by provider %s", d.Provider)
		}
	}
}

func validateRetries(p string, r *Retries, e *errs) {
	if r.Attempts < 1 || r.Attempts > 8 {
		e.add(p+".attempts", "must be between 1 and 8 (tries in all, the first included)")
	}
	if r.BackoffMax < r.BackoffBase {
		e.add(p+".backoff_max", "%s is shorter than backoff_base %s", r.BackoffMax.D(), r.BackoffBase.D())
	}
	for k, on := range r.On {
		if _, _, err := ParseRetryOn(on); err != nil {
			e.add(fmt.Sprintf("%s.on[%d]", p, k), "%v", err)
		}
	}
}

// ParseRetryOn reads one `on` entry: a condition name, or the statuses
// it covers.
func ParseRetryOn(s string) (cond string, statuses []int, err error) {
	switch s {
	case "connect-failure", "reset", "timeout":
		return s, nil, nil
	}
	if len(s) == 3 && s[1:] == "xx" && s[0] >= '1' && s[0] <= '5' {
		first := int(s[0]-'0') * 100
		for c := first; c < first+100; c++ {
			statuses = append(statuses, c)
		}
		return "status", statuses, nil
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 100 && n <= 599 {
		return "status", []int{n}, nil
	}
	return "", nil, fmt.Errorf("unknown retry condition %q (want connect-failure, reset, timeout, a status like \"503\" or a class like \"5xx\")", s)
}

func checkShare(path string, v float64, e *errs) {
	if v < 0 || v > 1 {
		e.add(path, "%v is not a share between 0 and 1", v)
	}
}
