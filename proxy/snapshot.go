package proxy

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/wasmgate/wasmgate/internal/percpu"
	"github.com/wasmgate/wasmgate/internal/refcount"
	"github.com/wasmgate/wasmgate/pluginhost"
	"github.com/wasmgate/wasmgate/proxy/config"
	"github.com/wasmgate/wasmgate/proxy/router"
	"github.com/wasmgate/wasmgate/proxy/upstream"
)

// Snapshot is one fully compiled config. It is never modified after Build.
type Snapshot struct {
	Config    *config.Config
	Router    *router.Table
	Routes    []*Route // indexed like Config.Routes and the router's specs
	Upstreams *upstream.Set
	Built     time.Time

	unmatched     *routeMetrics
	stopDiscovery context.CancelFunc // set while the snapshot serves
	plugins       map[string]*loadedPlugin
	fresh         []*loadedPlugin // loaded for this snapshot, not carried over
}

// Route is a compiled route: what to do with a request once it matched.
type Route struct {
	Name     string
	Index    int
	Upstream *upstream.Upstream // nil for a direct response
	Timeout  time.Duration

	retry        *upstream.RetryPolicy // nil: no retries
	stripPrefix  []byte
	rewrite      *regexp.Regexp
	replacement  []byte
	preserveHost bool
	hostRewrite  []byte
	direct       *directResponse

	// Chain is the route's ordered plugin chain; empty costs one length
	// check per request.
	Chain pluginhost.Chain

	metrics *routeMetrics
}

type directResponse struct {
	status      int
	body        []byte
	contentType []byte
	headers     [][2]string
}

// routeMetrics are created once per route name when a snapshot is built,
// so the hot path only increments counters it already holds. They are
// per-processor (package percpu): every request on every core updates
// them.
type routeMetrics struct {
	byClass  [6]*percpu.Counter // index status/100; 0 is for anything out of range
	duration *percpu.Histogram
	name     string
}

// A route's series are shared by every snapshot that has a route of that
// name, and leave /metrics when the last of them is retired: every name
// a route ever had would otherwise be exported for ever (26 series each).
var routeSeriesRefs refcount.Counts // by route name

func routeSeries(name string) (duration string, byClass [6]string) {
	duration = fmt.Sprintf(`wasmgate_request_duration_seconds{route=%q}`, name)
	for c := 1; c <= 5; c++ {
		byClass[c] = fmt.Sprintf(`wasmgate_requests_total{route=%q,status="%dxx"}`, name, c)
	}
	return duration, byClass
}

func newRouteMetrics(name string) *routeMetrics {
	routeSeriesRefs.Hold(name)
	duration, byClass := routeSeries(name)
	m := &routeMetrics{duration: percpu.GetOrCreateHistogram(duration, DurationBuckets), name: name}
	for c := 1; c <= 5; c++ {
		m.byClass[c] = percpu.GetOrCreateCounter(byClass[c])
	}
	m.byClass[0] = m.byClass[5]
	return m
}

// release gives up a snapshot's hold on the route's series. A request
// still running on the retired snapshot counts into series no longer
// exported: lost with the route it was on.
func (m *routeMetrics) release() {
	routeSeriesRefs.Release(m.name, func() {
		duration, byClass := routeSeries(m.name)
		percpu.Unregister(duration)
		for _, s := range byClass[1:] {
			percpu.Unregister(s)
		}
	})
}

// discard releases what a snapshot that never served holds (a refused
// reload, validate, a start that failed): its fresh plugins, the targets
// the snapshot serving (nil: none) does not use, its routes' series.
func (s *Snapshot) discard(serving *Snapshot) {
	closeFresh(s.fresh)
	if s.Upstreams != nil {
		var keep *upstream.Set
		if serving != nil {
			keep = serving.Upstreams
		}
		s.Upstreams.Retire(keep)
	}
	s.releaseRouteMetrics()
}

// releaseRouteMetrics gives up the snapshot's holds on its routes' series:
// once it is retired, or when it is never served.
func (s *Snapshot) releaseRouteMetrics() {
	for _, r := range s.Routes {
		if r != nil && r.metrics != nil {
			r.metrics.release()
		}
	}
	if s.unmatched != nil {
		s.unmatched.release()
	}
}

func (m *routeMetrics) observe(status int, start time.Time) {
	c := status / 100
	if c < 1 || c > 5 {
		c = 0
	}
	m.byClass[c].Inc()
	m.duration.Observe(time.Since(start))
}

// DurationBuckets are the histogram bounds, in seconds, of every request
// duration metric: a gateway's own work is measured in microseconds, so
// the buckets start well below Prometheus' default 5ms.
var DurationBuckets = upstream.DurationBuckets

// Build compiles cfg into a snapshot, reusing upstream targets of prev
// whose settings are unchanged. The returned error joins one error per
// problem, each starting with the field path.
func Build(cfg *config.Config, prev *Snapshot) (*Snapshot, error) {
	return build(cfg, prev, zerolog.Nop(), nil)
}

// build is Build with the logger plugins write to and the upstreams their
// HTTP callouts go to (nil: none, without a gateway). The new upstreams
// are in calls' building slot when it returns, until calls.serve.
func build(cfg *config.Config, prev *Snapshot, log zerolog.Logger, calls *callTargets) (*Snapshot, error) {
	var prevUps *upstream.Set
	if prev != nil {
		prevUps = prev.Upstreams
	}
	var errs []error
	ups, err := upstream.Build(cfg.Upstreams, prevUps)
	if err != nil {
		errs = append(errs, err)
	}
	if calls != nil && ups != nil {
		calls.building.Store(ups)
	}
	plugins, fresh, perrs := buildPlugins(cfg, prev, log, calls)
	errs = append(errs, perrs...)
	specs := make([]router.Spec, len(cfg.Routes))
	routes := make([]*Route, len(cfg.Routes))
	for i, rc := range cfg.Routes {
		specs[i] = routeSpec(rc)
		r, err := compileRoute(i, rc, ups)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.metrics = newRouteMetrics(rc.Name)
		for _, name := range rc.Plugins {
			if lp := plugins[name]; lp != nil {
				r.Chain = append(r.Chain, lp.slot)
			}
		}
		routes[i] = r
	}
	table, err := router.Compile(specs)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		(&Snapshot{fresh: fresh, Upstreams: ups, Routes: routes}).discard(prev)
		return nil, errors.Join(errs...)
	}
	return &Snapshot{
		plugins:   plugins,
		fresh:     fresh,
		Config:    cfg,
		Router:    table,
		Routes:    routes,
		Upstreams: ups,
		Built:     time.Now(),
		unmatched: newRouteMetrics(unmatchedRoute),
	}, nil
}

// unmatchedRoute labels requests no route matched, in metrics and logs.
const unmatchedRoute = "_unmatched"

func routeSpec(rc config.Route) router.Spec {
	s := router.Spec{
		Name:       rc.Name,
		Priority:   rc.Priority,
		Hosts:      rc.Hosts,
		Path:       rc.Path,
		PathPrefix: rc.PathPrefix,
		PathRegex:  rc.PathRegex,
		Methods:    rc.Methods,
		Headers:    conds(rc.Headers),
		Query:      conds(rc.Query),
	}
	return s
}

func conds(m map[string]config.Match) []router.Cond {
	if len(m) == 0 {
		return nil
	}
	out := make([]router.Cond, 0, len(m))
	for name, c := range m {
		switch {
		case c.Present:
			out = append(out, router.Cond{Name: name, Kind: router.CondPresent})
		case c.Regex != "":
			out = append(out, router.Cond{Name: name, Kind: router.CondRegex, Value: c.Regex})
		default:
			out = append(out, router.Cond{Name: name, Kind: router.CondExact, Value: c.Exact})
		}
	}
	// Map order is random; a stable order keeps matching deterministic.
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func compileRoute(i int, rc config.Route, ups *upstream.Set) (*Route, error) {
	p := "routes[" + strconv.Itoa(i) + "]"
	r := &Route{
		Name:         rc.Name,
		Index:        i,
		Timeout:      rc.Timeout.D(),
		preserveHost: rc.PreserveHostOn(),
	}
	if rc.HostRewrite != "" {
		r.hostRewrite = []byte(rc.HostRewrite)
	}
	if rc.StripPrefix {
		r.stripPrefix = []byte(rc.PathPrefix)
	}
	if rw := rc.PathRewrite; rw != nil {
		re, err := regexp.Compile(rw.Regex)
		if err != nil {
			return nil, fmt.Errorf("%s.path_rewrite.regex: %w", p, err)
		}
		r.rewrite, r.replacement = re, []byte(rw.Replacement)
	}
	if rt := rc.Retries; rt != nil {
		r.retry = retryPolicy(rt)
	}
	if d := rc.DirectResponse; d != nil {
		dr := &directResponse{status: d.Status, body: []byte(d.Body), contentType: []byte(d.ContentType)}
		for k, v := range d.Headers {
			dr.headers = append(dr.headers, [2]string{k, v})
		}
		sort.Slice(dr.headers, func(a, b int) bool { return dr.headers[a][0] < dr.headers[b][0] })
		r.direct = dr
		return r, nil
	}
	if ups == nil {
		return r, nil // upstream errors are already reported
	}
	r.Upstream = ups.Get(rc.Upstream)
	if r.Upstream == nil {
		return nil, fmt.Errorf("%s.upstream: no upstream named %q", p, rc.Upstream)
	}
	if r.Timeout == 0 {
		r.Timeout = r.Upstream.Timeout
	}
	return r, nil
}

// retryPolicy compiles a route's retries table; config validation has
// already checked every entry of On.
func retryPolicy(rt *config.Retries) *upstream.RetryPolicy {
	p := &upstream.RetryPolicy{
		Retries:       rt.Attempts - 1,
		PerTryTimeout: rt.PerTryTimeout.D(),
		NonIdempotent: rt.NonIdempotent,
		BackoffBase:   rt.BackoffBase.D(),
		BackoffMax:    rt.BackoffMax.D(),
	}
	for _, on := range rt.On {
		cond, statuses, _ := config.ParseRetryOn(on)
		switch cond {
		case "connect-failure":
			p.On |= upstream.RetryConnectFailure
		case "reset":
			p.On |= upstream.RetryReset
		case "timeout":
			p.On |= upstream.RetryTimeout
		case "status":
			p.On |= upstream.RetryStatus
			p.Statuses = append(p.Statuses, statuses...)
		}
	}
	if p.Retries == 0 {
		return nil
	}
	return p
}
