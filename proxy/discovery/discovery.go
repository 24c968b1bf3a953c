// Package discovery finds an upstream's targets: from a DNS name, a file,
// an etcd prefix or Consul's catalog. Each Provider streams whole target
// sets; the gateway swaps each set in as it arrives.
//
// Every provider keeps the last good set when a lookup fails: a broken DNS
// server, a half-written file or an unreachable etcd must not take an
// upstream's targets away. For the same reason an empty answer is treated
// as a failure and never sent: an upstream with no targets can only fail,
// while the last known targets may well still answer.
package discovery

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"time"
)

// Target is one discovered backend.
type Target struct {
	Address string // host:port
	Weight  int    // at least 1
}

// Provider streams the target sets of one upstream.
type Provider interface {
	// Run sends the whole current target set on out each time it changes,
	// the first as soon as it is known, until ctx is done; then it returns
	// nil. A failed lookup is reported to the provider's OnError and sends
	// nothing.
	Run(ctx context.Context, out chan<- []Target) error
	// Name is the provider's kind: "static", "dns", "file", ...
	Name() string
}

// normalize sorts a set by address and merges duplicates (adding their
// weights), so that equal sets compare equal and a change is a change.
func normalize(ts []Target) []Target {
	byAddr := map[string]int{}
	var out []Target
	for _, t := range ts {
		if t.Weight < 1 {
			t.Weight = 1
		}
		if i, ok := byAddr[t.Address]; ok {
			out[i].Weight += t.Weight
			continue
		}
		byAddr[t.Address] = len(out)
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out
}

func equal(a, b []Target) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// sender delivers sets that differ from the last one delivered.
type sender struct {
	last []Target
	sent bool
}

// send normalizes ts and sends it when it is new; an empty set is an
// error, returned for the caller to report.
func (s *sender) send(ctx context.Context, out chan<- []Target, ts []Target) error {
	ts = normalize(ts)
	if len(ts) == 0 {
		return errEmpty
	}
	if s.sent && equal(s.last, ts) {
		return nil
	}
	select {
	case out <- ts:
		s.last, s.sent = ts, true
	case <-ctx.Done():
	}
	return nil
}

// The pause between attempts of the providers that keep a connection
// (etcd, Consul): doubling from retryMin up to retryMax while attempts
// fail in a row, back to retryMin once one works.
const (
	retryMin = 100 * time.Millisecond
	retryMax = 5 * time.Second
)

// sleepCtx waits d and reports false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

var errEmpty = fmt.Errorf("no targets found; keeping the last good set")

// RedactURL is an endpoint's URL with the password of its userinfo
// replaced ("http://root:xxxxx@etcd:2379"), for logs and GET /config; a
// value that does not parse as a URL with a host is returned as is.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

func report(onError func(error), err error) {
	if onError != nil && err != nil {
		onError(err)
	}
}

func checkAddress(a string) error {
	_, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%q is not host:port", a)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q has no valid port", a)
	}
	return nil
}

type static struct{ targets []Target }

// NewStatic is a provider of a fixed set.
func NewStatic(targets []Target) Provider { return &static{targets: targets} }

func (s *static) Name() string { return "static" }

func (s *static) Run(ctx context.Context, out chan<- []Target) error {
	var snd sender
	if err := snd.send(ctx, out, s.targets); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}
