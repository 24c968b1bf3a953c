package pluginhost

import (
	"sync/atomic"
	"time"
)

// Slot holds the plugin currently serving under a name. Routes keep the
// slot, not the plugin, so that a new version of the module can be swapped
// in while traffic flows: requests that began on the old version finish on
// it, new ones start on the new one, and the old version is closed once no
// request uses it any more.
type Slot struct {
	cur atomic.Pointer[Plugin]
}

// NewSlot returns a slot serving p.
func NewSlot(p *Plugin) *Slot {
	s := &Slot{}
	s.cur.Store(p)
	return s
}

// Plugin is the plugin serving now.
func (s *Slot) Plugin() *Plugin { return s.cur.Load() }

// Swap puts p in service and retires the plugin it replaces.
func (s *Slot) Swap(p *Plugin) {
	old := s.cur.Swap(p)
	if old != nil && old != p {
		go old.closeWhenIdle(retireWait)
	}
}

// Close closes the serving plugin once its requests are done.
func (s *Slot) Close() {
	if p := s.cur.Load(); p != nil {
		p.closeWhenIdle(retireWait)
	}
}

// retireWait bounds how long a retired version waits for its last
// requests. Every request ends on its own (upstream, callout and client
// timeouts), and a long download or a slow upstream may hold its context
// for minutes: closing the VMs under it would fail a request the target
// has already answered. The bound only guards against a leak.
const retireWait = time.Hour

// retireSettle is how long a retired version stays open at least: far
// longer than a request takes from choosing its route to beginning its
// chain, on a loaded machine too.
const retireSettle = time.Second

// closeWhenIdle closes p when no request holds a context in it, or after
// wait at the latest, checking less often as the wait grows. It looks
// first after retireSettle: a request counts itself in when its chain
// begins, and one that took the retiring snapshot just before a reload
// swapped it may not have got there yet; closed under it, it would fail
// (or, fail_open, skip the plugin).
func (p *Plugin) closeWhenIdle(wait time.Duration) {
	deadline := time.Now().Add(wait)
	time.Sleep(retireSettle)
	for pause := 10 * time.Millisecond; p.active() > 0; pause = min(2*pause, time.Second) {
		if time.Now().After(deadline) {
			p.opts.Log.Warn().Str("plugin", p.opts.Name).Int64("requests", p.active()).
				Msg("closing a retired plugin version with requests still in it")
			break
		}
		time.Sleep(pause)
	}
	p.Close()
}
