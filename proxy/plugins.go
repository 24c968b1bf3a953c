package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"runtime"

	"github.com/rs/zerolog"

	"github.com/wasmgate/wasmgate/pluginhost"
	"github.com/wasmgate/wasmgate/proxy/config"
)

// loadedPlugin is a plugin with the fingerprint of what it was built from,
// so that a reload keeps a plugin whose module and settings are unchanged
// (and its warm VMs) instead of loading it again.
type loadedPlugin struct {
	p   *pluginhost.Plugin
	key string
}

// buildPlugins loads the plugins of cfg, reusing those of prev that did
// not change. It returns them by name and the ones it loaded anew (to
// close if the snapshot is not put into service).
func buildPlugins(cfg *config.Config, prev *Snapshot, log zerolog.Logger) (map[string]*loadedPlugin, []*loadedPlugin, []error) {
	out := map[string]*loadedPlugin{}
	var fresh []*loadedPlugin
	var errs []error
	for i, pc := range cfg.Plugins {
		path := cfg.ModulePath(pc)
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("plugins[%d].module: %w", i, err))
			continue
		}
		sum := sha256.Sum256(data)
		hash := hex.EncodeToString(sum[:])
		if pc.SHA256 != "" && pc.SHA256 != hash {
			errs = append(errs, fmt.Errorf("plugins[%d].sha256: the module's sha256 is %s", i, hash))
			continue
		}
		key := fmt.Sprintf("%s|%s|%q|%q|%d|%d|%d|%s", pc.Name, hash, pc.Config, pc.VMConfig, pc.Pool,
			pc.MemoryLimit, pc.CallTimeout, pc.OnError)
		if prev != nil {
			if old := prev.plugins[pc.Name]; old != nil && old.key == key {
				out[pc.Name] = old
				continue
			}
		}
		pool := pc.Pool
		if pool == 0 {
			pool = runtime.GOMAXPROCS(0)
		}
		p, err := pluginhost.Load(context.Background(), pluginhost.Options{
			Name: pc.Name, Module: data, Config: []byte(pc.Config), VMConfig: []byte(pc.VMConfig),
			Pool: pool, MemoryPages: uint32(pc.MemoryLimit / 65536), CallTimeout: pc.CallTimeout.D(),
			FailOpen: pc.OnError == "fail_open", Log: log,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("plugins[%d].module: %w", i, err))
			continue
		}
		lp := &loadedPlugin{p: p, key: key}
		out[pc.Name] = lp
		fresh = append(fresh, lp)
	}
	return out, fresh, errs
}

// closePlugins closes the plugins of old that next does not use.
func closePlugins(old, next *Snapshot) {
	if old == nil {
		return
	}
	for name, lp := range old.plugins {
		if next == nil || next.plugins[name] != lp {
			lp.p.Close()
		}
	}
}

func closeFresh(fresh []*loadedPlugin) {
	for _, lp := range fresh {
		lp.p.Close()
	}
}
