package percpu

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Observations from many goroutines at once all count, and /metrics shows
// them in the layout of a Prometheus histogram: cumulative buckets, +Inf
// equal to the count, the sum in seconds.
func TestHistogramRendersAllShards(t *testing.T) {
	h := GetOrCreateHistogram(`test_duration_seconds{plugin="a",phase="b"}`, []float64{0.000001, 0.00001, 0.001})
	if GetOrCreateHistogram(`test_duration_seconds{plugin="a",phase="b"}`, nil) != h {
		t.Fatal("a second GetOrCreateHistogram made a new histogram")
	}
	onEightGoroutines(func() {
		h.Observe(500 * time.Nanosecond) // first bucket
		h.Observe(5 * time.Microsecond)  // second
		h.Observe(time.Second)           // +Inf
	})
	if h.Count() != 24000 {
		t.Fatalf("count %d, want 24000", h.Count())
	}
	var buf bytes.Buffer
	metrics.WritePrometheus(&buf, false)
	out := buf.String()
	for _, want := range []string{
		`test_duration_seconds_bucket{plugin="a",phase="b",le="1e-06"} 8000` + "\n",
		`test_duration_seconds_bucket{plugin="a",phase="b",le="1e-05"} 16000` + "\n",
		`test_duration_seconds_bucket{plugin="a",phase="b",le="0.001"} 16000` + "\n",
		`test_duration_seconds_bucket{plugin="a",phase="b",le="+Inf"} 24000` + "\n",
		`test_duration_seconds_sum{plugin="a",phase="b"} 8000.044` + "\n",
		`test_duration_seconds_count{plugin="a",phase="b"} 24000` + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}

// onEightGoroutines runs f 1000 times on each of eight goroutines at
// once, and returns when all are done.
func onEightGoroutines(f func()) {
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				f()
			}
		}()
	}
	wg.Wait()
}

func TestCounterSumsShards(t *testing.T) {
	c := GetOrCreateCounter(`test_things_total{kind="x"}`)
	onEightGoroutines(func() {
		c.Inc()
		c.Add(2)
	})
	if c.Get() != 24000 {
		t.Fatalf("counter %d, want 24000", c.Get())
	}
	var buf bytes.Buffer
	metrics.WritePrometheus(&buf, false)
	if want := `test_things_total{kind="x"} 24000` + "\n"; !strings.Contains(buf.String(), want) {
		t.Fatalf("missing %q in\n%s", want, buf.String())
	}
}

// Counters and gauges come out together, sorted by name, so that a
// family that has both keeps its lines in one group.
func TestGaugeBesideCounters(t *testing.T) {
	c := GetOrCreateCounter(`test_family{name="a"}`)
	g := GetOrCreateGauge(`test_family{name="b"}`)
	c.Add(3)
	g.Set(-5)
	g.Add(-2)
	if GetOrCreateGauge(`test_family{name="b"}`) != g || g.Get() != -7 {
		t.Fatal("gauge lookup or value")
	}
	var buf bytes.Buffer
	metrics.WritePrometheus(&buf, false)
	want := `test_family{name="a"} 3` + "\n" + `test_family{name="b"} -7` + "\n"
	if !strings.Contains(buf.String(), want) {
		t.Fatalf("missing %q in\n%s", want, buf.String())
	}
}

// ID stays within the processors, so it can index per-processor state.
func TestIDInRange(t *testing.T) {
	for i := 0; i < 100; i++ {
		if id := ID(); id < 0 || id >= shards {
			t.Fatalf("ID %d outside [0, %d)", id, shards)
		}
	}
}

// Observe and Inc are what every request pays; they must not allocate.
func TestNoAllocations(t *testing.T) {
	h := GetOrCreateHistogram("test_alloc_seconds", []float64{0.001})
	c := GetOrCreateCounter("test_alloc_total")
	if n := testing.AllocsPerRun(100, func() { h.Observe(time.Microsecond); c.Inc() }); n != 0 {
		t.Fatalf("%v allocations per observation", n)
	}
}

func BenchmarkHistogramParallel(b *testing.B) {
	h := GetOrCreateHistogram("bench_seconds", []float64{0.000001, 0.00001, 0.0001, 0.001})
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.Observe(3 * time.Microsecond)
		}
	})
}

func BenchmarkPrometheusHistogramParallel(b *testing.B) {
	h := metrics.GetOrCreatePrometheusHistogramExt("bench_vm_seconds", []float64{0.000001, 0.00001, 0.0001, 0.001})
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.Update(0.000003)
		}
	})
}
