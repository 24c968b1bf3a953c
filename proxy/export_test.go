package proxy

// ModuleReads is how many module files the watcher has read, for tests
// that check it leaves unchanged files alone.
func (g *Gateway) ModuleReads() int64 { return g.moduleReads.Load() }

// ReloadBusy reports whether a reload or an upload holds the reload lock,
// for tests that stop the gateway while one runs.
func (g *Gateway) ReloadBusy() bool {
	if g.reloadMu.TryLock() {
		g.reloadMu.Unlock()
		return false
	}
	return true
}
