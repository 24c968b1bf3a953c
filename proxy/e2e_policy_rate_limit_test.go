package proxy_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestE2EPolicyRateLimit: the rate-limit plugin, built by make plugins,
// with a pool of 3 VMs sharing one budget through the host's shared data:
// of 12 concurrent requests exactly the limit (5) pass, for both
// algorithms; the others get 429 with Retry-After and the X-RateLimit-*
// headers. An API key (key "header:X-Api-Key") has a budget of its own.
func TestE2EPolicyRateLimit(t *testing.T) {
	module := builtPlugin(t, "rate_limit.wasm")
	be := newKillable(t, "be", nil)
	// Shared data and metrics live as long as the process: names of
	// their own keep a repeated run (-count) from seeing this one's.
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	algs := []string{"token_bucket", "sliding_window"}
	cfg := publicListener + upstreamTOML("backend", "", be.addr)
	for _, alg := range algs {
		cfg += fmt.Sprintf(`
[[plugins]]
name = "rl-%s-%s"
module = %q
config = '{"algorithm": %q, "limit": 5, "window": "1m", "key": "header:X-Api-Key"}'
call_timeout = "2s"
pool = 3
[[routes]]
path_prefix = "/%s/"
upstream = "backend"
plugins = ["rl-%s-%s"]
`, alg, run, module, alg, alg, alg, run)
	}
	g := startGateway(t, cfg)
	client := newClient(t)

	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			url := g.URL + "/" + alg + "/x"
			hits := be.hits.Load()
			type result struct {
				status int
				header http.Header
				body   string
			}
			results := make([]result, 12)
			var wg sync.WaitGroup
			gate := make(chan struct{})
			for w := range 4 { // 4 clients, 3 requests each
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-gate
					for i := range 3 {
						req, _ := http.NewRequest("GET", url, nil)
						resp, err := client.Do(req)
						if err != nil {
							t.Error(err)
							return
						}
						b, err := io.ReadAll(resp.Body)
						resp.Body.Close()
						if err != nil {
							t.Error(err)
							return
						}
						results[w*3+i] = result{resp.StatusCode, resp.Header, string(b)}
					}
				}()
			}
			close(gate)
			wg.Wait()
			if t.Failed() {
				return
			}

			var remaining, resets []string
			refused := 0
			for _, r := range results {
				switch r.status {
				case 200:
					if r.header.Get("X-RateLimit-Limit") != "5" {
						t.Errorf("200 with X-RateLimit-Limit %q", r.header.Get("X-RateLimit-Limit"))
					}
					remaining = append(remaining, r.header.Get("X-RateLimit-Remaining"))
					resets = append(resets, r.header.Get("X-RateLimit-Reset"))
				case 429:
					refused++
					checkRateLimited(t, r.header, r.body)
					if alg == "token_bucket" {
						// Next token 12s after the first request,
						// bucket full 60s after; +1 when this
						// request's clock was read before the first
						// request's but its decision came after.
						checkAbout(t, "Retry-After", r.header, 12)
						checkAbout(t, "X-RateLimit-Reset", r.header, 60)
					}
				default:
					t.Errorf("status %d: %q", r.status, r.body)
				}
			}
			// Exactly the limit passed, whichever VM each request ran
			// on: one budget, no update lost; each 200 saw its own
			// place in it.
			slices.Sort(remaining)
			if refused != 7 || !slices.Equal(remaining, []string{"0", "1", "2", "3", "4"}) {
				t.Fatalf("%d refused; X-RateLimit-Remaining of the 200s: %v", refused, remaining)
			}
			if got := be.hits.Load() - hits; got != 5 {
				t.Fatalf("backend got %d requests", got)
			}
			if alg == "token_bucket" {
				// A token every 12s: the bucket is full again 12s
				// after the first request, ..., 60s after the fifth
				// (+1 for a clock read before an earlier decision's).
				n := make([]int, len(resets))
				for i, r := range resets {
					n[i], _ = strconv.Atoi(r)
				}
				slices.Sort(n)
				for i, r := range n {
					if r != 12*(i+1) && r != 12*(i+1)+1 {
						t.Errorf("X-RateLimit-Reset of the 200s: %v, want 12, 24, 36, 48, 60", n)
						break
					}
				}
			}

			// An API key has a budget of its own: 5, then refused.
			key := map[string]string{"X-Api-Key": "key-" + alg}
			for i := 4; i >= 0; i-- {
				resp, body := doReq(t, client, "GET", url, key, nil)
				if resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Remaining") != strconv.Itoa(i) {
					t.Fatalf("key request %d: %d %q, X-RateLimit-Remaining %q", 5-i, resp.StatusCode, body,
						resp.Header.Get("X-RateLimit-Remaining"))
				}
			}
			resp, body := doReq(t, client, "GET", url, key, nil)
			if resp.StatusCode != 429 {
				t.Fatalf("6th key request: %d %q", resp.StatusCode, body)
			}
			checkRateLimited(t, resp.Header, string(body))
			if alg == "token_bucket" && (resp.Header.Get("Retry-After") != "12" || resp.Header.Get("X-RateLimit-Reset") != "60") {
				// One request at a time: exact.
				t.Errorf("token bucket: Retry-After %q, X-RateLimit-Reset %q, want 12 and 60",
					resp.Header.Get("Retry-After"), resp.Header.Get("X-RateLimit-Reset"))
			}
			// The client without a key is still refused.
			if resp, body := doReq(t, client, "GET", url, nil, nil); resp.StatusCode != 429 {
				t.Fatalf("client without a key: %d %q", resp.StatusCode, body)
			}

			_, m := doReq(t, client, "GET", g.AdminURL+"/metrics", nil, nil)
			name := "rl-" + alg + "-" + run
			for metric, n := range map[string]int{"rate_limit_allowed": 10, "rate_limit_limited": 9, "rate_limit_contention": 0} {
				want := fmt.Sprintf(`wasmgate_plugin_metric{plugin=%q,name=%q} %d`, name, metric, n)
				if !strings.Contains(string(m), want) {
					t.Errorf("metrics lack %s:\n%s", want, grepLines(string(m), name))
				}
			}
		})
	}
}

// checkRateLimited checks a 429's body and headers.
func checkRateLimited(t *testing.T, h http.Header, body string) {
	t.Helper()
	var e struct{ Error, Message string }
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error != "rate_limited" || e.Message == "" ||
		h.Get("Content-Type") != "application/json" {
		t.Errorf("429: %q (%v), content-type %q", body, err, h.Get("Content-Type"))
	}
	retry, err := strconv.Atoi(h.Get("Retry-After"))
	reset, err2 := strconv.Atoi(h.Get("X-RateLimit-Reset"))
	if err != nil || err2 != nil || retry < 1 || retry > 121 || reset < 1 || reset > 61 ||
		h.Get("X-RateLimit-Limit") != "5" || h.Get("X-RateLimit-Remaining") != "0" {
		t.Errorf("429 headers: %v", h)
	}
}

// checkAbout checks a header of whole seconds is want or want+1.
func checkAbout(t *testing.T, name string, h http.Header, want int) {
	t.Helper()
	if n, err := strconv.Atoi(h.Get(name)); err != nil || n != want && n != want+1 {
		t.Errorf("%s: %q, want %d", name, h.Get(name), want)
	}
}
