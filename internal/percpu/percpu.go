// Package percpu keeps hot counters and histograms in one shard per
// processor (Go's P), and says which processor a goroutine runs on.
//
// Why: under load the gateway serves requests on every core at once, and
// a counter or a mutex-guarded histogram that every request updates is a
// cache line the cores pass back and forth. With three plugins, each
// timing its callbacks in a shared histogram and picking VMs round robin,
// two cores served the chain more slowly than one
// (BenchmarkPluginChainParallel in package proxy). A shard per processor
// is written by one core at a time; readers (the metrics endpoint) add the
// shards up.
//
// Counter and Histogram render in the Prometheus text format through
// VictoriaMetrics/metrics' writer hook, so /metrics shows them beside the
// library's own, with the same names and layout.
package percpu

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	_ "unsafe" // go:linkname

	"github.com/VictoriaMetrics/metrics"
)

//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()

// ID is the processor the calling goroutine runs on, in [0, GOMAXPROCS).
// The goroutine may move right after; callers use it as an affinity
// hint, never for mutual exclusion.
func ID() int {
	id := procPin()
	procUnpin()
	return id
}

// shards is how many shards a metric has: enough for every processor at
// start. A processor beyond it (GOMAXPROCS raised later) shares one.
var shards = runtime.GOMAXPROCS(0)

func shard() int { return ID() % shards }

// pad keeps neighbouring shards off one cache line (128 bytes covers the
// adjacent-line prefetch of x86 as well).
type pad [128]byte

// Counter is a monotonic counter.
type Counter struct {
	name   string
	shards []counterShard
}

type counterShard struct {
	n atomic.Uint64
	_ [128 - 8]byte
}

// Inc adds one.
func (c *Counter) Inc() { c.shards[shard()].n.Add(1) }

// Add adds n.
func (c *Counter) Add(n uint64) { c.shards[shard()].n.Add(n) }

// Get is the sum of the shards.
func (c *Counter) Get() uint64 {
	var n uint64
	for i := range c.shards {
		n += c.shards[i].n.Load()
	}
	return n
}

// Gauge is a value that is set or moved by deltas: one word, not
// sharded. It is here so that a metric family whose counters are
// per-processor can keep its gauges beside them on /metrics (the text
// format wants a family's lines together).
type Gauge struct {
	name string
	v    atomic.Int64
}

// Set sets the value.
func (g *Gauge) Set(v int64) { g.v.Store(v) }

// Add adds delta to the value.
func (g *Gauge) Add(delta int64) { g.v.Add(delta) }

// Get is the value.
func (g *Gauge) Get() int64 { return g.v.Load() }

// Histogram is a Prometheus histogram of durations with fixed buckets.
type Histogram struct {
	name   string
	bounds []time.Duration // upper bounds, ascending
	les    []string        // the bounds as le label values, in seconds
	shards []histShard
}

// MaxBuckets bounds a histogram's buckets, so that a shard's counts sit
// inside the shard rather than in an array of their own that could share
// a line with another shard's.
const MaxBuckets = 31

type histShard struct {
	counts [MaxBuckets + 1]atomic.Uint64 // per bucket, not cumulative; then +Inf
	nanos  atomic.Uint64                 // sum of the observations
	_      pad
}

// Observe records one duration.
func (h *Histogram) Observe(d time.Duration) {
	s := &h.shards[shard()]
	i := 0
	for i < len(h.bounds) && d > h.bounds[i] {
		i++
	}
	s.counts[i].Add(1)
	if d > 0 {
		s.nanos.Add(uint64(d))
	}
}

// Count is the number of observations.
func (h *Histogram) Count() uint64 {
	var n uint64
	for i := range h.shards {
		for j := range len(h.bounds) + 1 {
			n += h.shards[i].counts[j].Load()
		}
	}
	return n
}

var (
	mu       sync.Mutex
	counters = map[string]*Counter{}
	gauges   = map[string]*Gauge{}
	hists    = map[string]*Histogram{}
)

func init() { metrics.RegisterMetricsWriter(write) }

// GetOrCreateCounter returns the counter with this full name (labels
// included), registering it for /metrics on first use.
func GetOrCreateCounter(name string) *Counter {
	mu.Lock()
	defer mu.Unlock()
	if c := counters[name]; c != nil {
		return c
	}
	c := &Counter{name: name, shards: make([]counterShard, shards)}
	counters[name] = c
	return c
}

// GetOrCreateGauge returns the gauge with this full name (labels
// included), registering it for /metrics on first use.
func GetOrCreateGauge(name string) *Gauge {
	mu.Lock()
	defer mu.Unlock()
	if g := gauges[name]; g != nil {
		return g
	}
	g := &Gauge{name: name}
	gauges[name] = g
	return g
}

// GetOrCreateHistogram returns the histogram with this full name (labels
// included) and bucket upper bounds in seconds, registering it for
// /metrics on first use. The bounds of the first call stay.
func GetOrCreateHistogram(name string, bounds []float64) *Histogram {
	mu.Lock()
	defer mu.Unlock()
	if h := hists[name]; h != nil {
		return h
	}
	if len(bounds) > MaxBuckets {
		panic(fmt.Sprintf("percpu: histogram %s has %d buckets, more than %d", name, len(bounds), MaxBuckets))
	}
	h := &Histogram{name: name, shards: make([]histShard, shards)}
	for _, b := range bounds {
		h.bounds = append(h.bounds, time.Duration(math.Round(b*1e9)))
		h.les = append(h.les, fmt.Sprintf("%v", b))
	}
	hists[name] = h
	return h
}

// Unregister removes the metric with this full name, of any kind, from
// /metrics: a series whose subject is gone (a removed upstream target)
// must not be exported for ever. A holder of the metric may go on
// updating it; nothing shows it.
func Unregister(name string) {
	mu.Lock()
	delete(counters, name)
	delete(gauges, name)
	delete(hists, name)
	mu.Unlock()
}

// write renders every counter and gauge, then every histogram, each
// sorted by name, so that a family's lines come together.
func write(w io.Writer) {
	type scalar struct {
		name string
		v    int64
		kind string
	}
	mu.Lock()
	ss := make([]scalar, 0, len(counters)+len(gauges))
	for _, c := range counters {
		ss = append(ss, scalar{c.name, int64(c.Get()), "counter"})
	}
	for _, g := range gauges {
		ss = append(ss, scalar{g.name, g.Get(), "gauge"})
	}
	hs := make([]*Histogram, 0, len(hists))
	for _, h := range hists {
		hs = append(hs, h)
	}
	mu.Unlock()
	slices.SortFunc(ss, func(a, b scalar) int { return strings.Compare(a.name, b.name) })
	slices.SortFunc(hs, func(a, b *Histogram) int { return strings.Compare(a.name, b.name) })
	for _, s := range ss {
		metrics.WriteMetadataIfNeeded(w, s.name, s.kind)
		fmt.Fprintf(w, "%s %d\n", s.name, s.v)
	}
	for _, h := range hs {
		h.writeTo(w)
	}
}

func (h *Histogram) writeTo(w io.Writer) {
	counts := make([]uint64, len(h.bounds)+1)
	var nanos uint64
	for i := range h.shards {
		s := &h.shards[i]
		for j := range counts {
			counts[j] += s.counts[j].Load()
		}
		nanos += s.nanos.Load()
	}
	family, labels := split(h.name)
	metrics.WriteMetadataIfNeeded(w, h.name, "histogram")
	var cum uint64
	for i, le := range h.les {
		cum += counts[i]
		fmt.Fprintf(w, "%s_bucket{%sle=%q} %d\n", family, labels, le, cum)
	}
	cum += counts[len(h.bounds)]
	fmt.Fprintf(w, "%s_bucket{%sle=\"+Inf\"} %d\n", family, labels, cum)
	braces := ""
	if labels != "" {
		braces = "{" + strings.TrimSuffix(labels, ",") + "}"
	}
	fmt.Fprintf(w, "%s_sum%s %g\n", family, braces, float64(nanos)/1e9)
	fmt.Fprintf(w, "%s_count%s %d\n", family, braces, cum)
}

// split parts `name{a="b"}` into "name" and `a="b",`, the labels ready to
// take one more.
func split(name string) (string, string) {
	i := strings.IndexByte(name, '{')
	if i < 0 {
		return name, ""
	}
	return name[:i], name[i+1:len(name)-1] + ","
}
