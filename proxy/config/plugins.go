package config

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Plugin is one [[plugins]] entry: a Proxy-Wasm module with its
// configuration. Routes name plugins in their plugins list.
type Plugin struct {
	Name   string `toml:"name"`
	Module string `toml:"module"` // path of the .wasm file, relative to the config file
	SHA256 string `toml:"sha256"` // optional pin; a module with another hash is refused
	// Config is handed to proxy_on_configure, VMConfig to
	// proxy_on_vm_start.
	Config   string `toml:"config"`
	VMConfig string `toml:"vm_config"`
	// Pool is the number of VMs; 0 means the number of CPUs.
	Pool        int      `toml:"pool"`
	MemoryLimit Size     `toml:"memory_limit"`
	CallTimeout Duration `toml:"call_timeout"`
	OnError     string   `toml:"on_error"` // fail_closed | fail_open
	// Trusted runs the module as built, without the interruption checks
	// that let call_timeout stop it mid-callback (see docs/CONFIG.md):
	// for a module the rewriter refuses, from a source known to terminate.
	Trusted bool `toml:"trusted"`
}

// Defaults of plugin settings. The call deadline is there to stop a
// runaway plugin, not to time a healthy one: a Go-built plugin's garbage
// collector, a bcrypt check (hundreds of milliseconds in Wasm) or a busy
// machine's scheduling can take a legitimate callback well past 50ms, and
// a stuck VM costs only the requests that land on it.
const (
	DefaultPluginMemory      = 64 << 20
	DefaultPluginCallTimeout = time.Second
)

func applyPluginDefaults(c *Config) {
	for i := range c.Plugins {
		p := &c.Plugins[i]
		setSize(&p.MemoryLimit, DefaultPluginMemory)
		setDur(&p.CallTimeout, DefaultPluginCallTimeout)
		setStr(&p.OnError, "fail_closed")
		p.SHA256 = strings.ToLower(p.SHA256) // hex in any case, compared in one
	}
}

// ModulePath is the plugin's module path, resolved against the directory
// of the config file it came from.
func (c *Config) ModulePath(p Plugin) string {
	if filepath.IsAbs(p.Module) || c.File == "" {
		return p.Module
	}
	return filepath.Join(filepath.Dir(c.File), p.Module)
}

func pluginName(s string) bool {
	if s == "" || s[0] == '.' {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func validatePlugins(c *Config, e *errs) map[string]bool {
	names := map[string]bool{}
	for i, p := range c.Plugins {
		pp := fmt.Sprintf("plugins[%d]", i)
		switch {
		case p.Name == "":
			e.add(pp+".name", "required")
		case names[p.Name]:
			e.add(pp+".name", "duplicate plugin name %q", p.Name)
		case !pluginName(p.Name):
			// The name is a path segment (PUT /plugins/{name}), a metric
			// label and the prefix of the plugin's shared data.
			e.add(pp+".name", "%q: want letters, digits, '-', '_' and '.', not starting with '.'", p.Name)
		}
		names[p.Name] = true
		if p.Module == "" {
			e.add(pp+".module", "required: the path of a .wasm file")
		} else if _, err := os.Stat(c.ModulePath(p)); err != nil {
			e.add(pp+".module", "%v", err)
		}
		if p.SHA256 != "" {
			if b, err := hex.DecodeString(p.SHA256); err != nil || len(b) != 32 {
				e.add(pp+".sha256", "want 64 hex digits")
			}
		}
		if p.Pool < 0 || p.Pool > 1024 {
			e.add(pp+".pool", "must be between 0 (one VM per CPU) and 1024")
		}
		if p.MemoryLimit < 64<<10 || p.MemoryLimit > 4<<30 {
			e.add(pp+".memory_limit", "must be between 64KiB and 4GiB")
		}
		switch p.OnError {
		case "fail_closed", "fail_open":
		default:
			e.add(pp+".on_error", "want fail_closed or fail_open, got %q", p.OnError)
		}
	}
	return names
}
