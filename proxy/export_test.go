package proxy

// ModuleReads is how many module files the watcher has read, for tests
// that check it leaves unchanged files alone.
func (g *Gateway) ModuleReads() int64 { return g.moduleReads.Load() }
