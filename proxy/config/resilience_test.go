package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

const resilienceBase = `[[listeners]]
listen = "127.0.0.1:8080"
`

// TestResilienceErrors: each mistake in the health, breaker, retry and
// discovery tables is reported at its own field.
func TestResilienceErrors(t *testing.T) {
	cases := []struct {
		name, src string
		want      []string
	}{
		{"active check without a path", `[[upstreams]]
name = "a"
targets = ["127.0.0.1:9000"]
[upstreams.health.active]
interval = "1s"
timeout = "2s"
statuses = [200, 700]
`, []string{
			`gw.toml:6: upstreams[0].health.active.path: required, starting with / (got "")`,
			`gw.toml:8: upstreams[0].health.active.timeout: 2s is longer than the interval 1s`,
			`gw.toml:9: upstreams[0].health.active.statuses[1]: 700 is not an HTTP status`,
		}},
		{"consistent hash without a key", `[[upstreams]]
name = "a"
targets = ["127.0.0.1:9000"]
balancer = "consistent_hash"
`, []string{`gw.toml:3: upstreams[0].hash_on: required with balancer consistent_hash (header:NAME, cookie:NAME, client_ip or path)`}},
		{"breaker shares and pending", `[[upstreams]]
name = "a"
targets = ["127.0.0.1:9000"]
[upstreams.circuit_breaker]
error_rate = 1.5
max_pending = 3
`, []string{
			`gw.toml:7: upstreams[0].circuit_breaker.error_rate: 1.5 is not a share between 0 and 1`,
			`gw.toml:8: upstreams[0].circuit_breaker.max_pending: needs max_requests: requests wait only when that limit is reached`,
		}},
		{"discovery with a key of another provider", `[[upstreams]]
name = "a"
discovery = { provider = "dns", name = "api.internal", port = 80, path = "x.json" }
`, []string{`gw.toml:5: upstreams[0].discovery.path: not used by provider dns`}},
		{"discovery and targets both", `[[upstreams]]
name = "a"
targets = ["127.0.0.1:9000"]
discovery = { provider = "file", path = "t.json" }
`, []string{`gw.toml:5: upstreams[0].targets: set both targets and discovery; the targets come from one of them`}},
		{"unknown provider", `[[upstreams]]
name = "a"
discovery = { provider = "zookeeper" }
`, []string{`gw.toml:5: upstreams[0].discovery.provider: unknown provider "zookeeper" (want dns, file, etcd or consul)`}},
		{"retry conditions", `[[upstreams]]
name = "a"
targets = ["127.0.0.1:9000"]
[[routes]]
upstream = "a"
retries = { attempts = 9, on = ["reset", "418x", "gateway-error"] }
`, []string{
			`gw.toml:8: routes[0].retries.attempts: must be between 1 and 8 (tries in all, the first included)`,
			`gw.toml:8: routes[0].retries.on[1]: unknown retry condition "418x" (want connect-failure, reset, timeout, a status like "503" or a class like "5xx")`,
			`gw.toml:8: routes[0].retries.on[2]: unknown retry condition "gateway-error" (want connect-failure, reset, timeout, a status like "503" or a class like "5xx")`,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := parseErrors(t, resilienceBase+tc.src)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tc.want, "\n     "))
			}
		})
	}
}

// TestResilienceDefaults: a table given empty gets every default.
func TestResilienceDefaults(t *testing.T) {
	cfg := mustParse(t, resilienceBase+`[[upstreams]]
name = "a"
targets = ["127.0.0.1:9000"]
[upstreams.health.active]
path = "/health"
[upstreams.health.passive]
[upstreams.circuit_breaker]
error_rate = 0.5
[[routes]]
upstream = "a"
retries = {}
`)
	u := cfg.Upstreams[0]
	wantActive := &ActiveHealth{Path: "/health", Interval: Duration(5 * time.Second), Timeout: Duration(time.Second),
		HealthyThreshold: 2, UnhealthyThreshold: 3, Jitter: ptr(0.1)}
	if !reflect.DeepEqual(u.Health.Active, wantActive) {
		t.Errorf("active: %+v, want %+v", u.Health.Active, wantActive)
	}
	wantPassive := &PassiveHealth{ConsecutiveFailures: 5, BaseEjection: Duration(30 * time.Second), MaxEjection: Duration(5 * time.Minute)}
	if !reflect.DeepEqual(u.Health.Passive, wantPassive) {
		t.Errorf("passive: %+v, want %+v", u.Health.Passive, wantPassive)
	}
	wantBreaker := &CircuitBreaker{ErrorRate: 0.5, MinRequests: 20, Window: Duration(10 * time.Second),
		OpenFor: Duration(30 * time.Second), HalfOpenRequests: 1}
	if !reflect.DeepEqual(u.CircuitBreaker, wantBreaker) {
		t.Errorf("breaker: %+v, want %+v", u.CircuitBreaker, wantBreaker)
	}
	wantRetries := &Retries{Attempts: 2, On: []string{"connect-failure", "reset", "502", "503", "504"},
		BackoffBase: Duration(25 * time.Millisecond), BackoffMax: Duration(250 * time.Millisecond)}
	if !reflect.DeepEqual(cfg.Routes[0].Retries, wantRetries) {
		t.Errorf("retries: %+v, want %+v", cfg.Routes[0].Retries, wantRetries)
	}
}

func TestParseRetryOn(t *testing.T) {
	for in, want := range map[string][]int{"503": {503}, "5xx": nil, "reset": nil} {
		cond, statuses, err := ParseRetryOn(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		switch in {
		case "5xx":
			if cond != "status" || len(statuses) != 100 || statuses[0] != 500 || statuses[99] != 599 {
				t.Errorf("5xx: %s %v", cond, statuses)
			}
		case "reset":
			if cond != "reset" || statuses != nil {
				t.Errorf("reset: %s %v", cond, statuses)
			}
		default:
			if cond != "status" || !reflect.DeepEqual(statuses, want) {
				t.Errorf("%s: %s %v", in, cond, statuses)
			}
		}
	}
}
