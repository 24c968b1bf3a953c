package config

import (
	"net"
	"strconv"
	"time"

	"github.com/BurntSushi/toml"
)

// Defaults, chosen to be safe for an internet-facing gateway and close to
// what nginx and Envoy operators already expect. docs/CONFIG.md lists them.
const (
	DefaultAdminListen       = "127.0.0.1:9901"
	DefaultShutdownGrace     = 15 * time.Second
	DefaultWatchInterval     = 2 * time.Second
	DefaultMaxHeaderBytes    = 16 << 10
	DefaultMaxBodyBytes      = 10 << 20
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultMaxConnections    = 10000
	DefaultTunnelIdleTimeout = time.Hour
	DefaultBalancer          = "round_robin"
	DefaultMaxConnsPerTarget = 1024
	DefaultConnectTimeout    = 5 * time.Second
	DefaultUpstreamTimeout   = 30 * time.Second
	// Shorter than the 75s keep-alive of nginx and most servers, so the
	// gateway closes an idle connection before the backend does and never
	// sends a request down a connection the backend is closing.
	DefaultUpstreamIdle = 50 * time.Second
)

func applyDefaults(c *Config, md *toml.MetaData) {
	setDur(&c.Gateway.ShutdownGrace, DefaultShutdownGrace)
	setDur(&c.Gateway.WatchInterval, DefaultWatchInterval)
	// An explicit listen = "" turns the admin API off, so only a missing
	// key gets the default.
	if !md.IsDefined("admin", "listen") {
		c.Admin.Listen = DefaultAdminListen
	}
	setStr(&c.Log.Level, "info")
	setStr(&c.Log.Format, "json")
	setStr(&c.Log.Output, "stdout")

	httpsPort := 443
	for _, l := range c.Listeners {
		if len(l.TLS) > 0 {
			if _, p, err := net.SplitHostPort(l.Listen); err == nil {
				if n, err := strconv.Atoi(p); err == nil {
					httpsPort = n
					break
				}
			}
		}
	}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		setStr(&l.Name, l.Listen)
		if l.RedirectHTTPS && l.HTTPSPort == 0 {
			l.HTTPSPort = httpsPort
		}
		setSize(&l.MaxHeaderBytes, DefaultMaxHeaderBytes)
		setSize(&l.MaxBodyBytes, DefaultMaxBodyBytes)
		setDur(&l.ReadTimeout, DefaultReadTimeout)
		setDur(&l.WriteTimeout, DefaultWriteTimeout)
		setDur(&l.IdleTimeout, DefaultIdleTimeout)
		setDur(&l.TunnelIdleTimeout, DefaultTunnelIdleTimeout)
		setStr(&l.HeadersWithUnderscores, "drop")
		if l.MaxConnections == 0 {
			l.MaxConnections = DefaultMaxConnections
		}
	}
	for i := range c.Upstreams {
		u := &c.Upstreams[i]
		setStr(&u.Balancer, DefaultBalancer)
		if u.MaxConnsPerTarget == 0 {
			u.MaxConnsPerTarget = DefaultMaxConnsPerTarget
		}
		setDur(&u.ConnectTimeout, DefaultConnectTimeout)
		setDur(&u.Timeout, DefaultUpstreamTimeout)
		setDur(&u.IdleTimeout, DefaultUpstreamIdle)
		applyResilienceDefaults(u)
	}
	applyPluginDefaults(c)
	for i := range c.Routes {
		r := &c.Routes[i]
		setStr(&r.Name, "route-"+strconv.Itoa(i))
		if r.Retries != nil {
			applyRetryDefaults(r.Retries)
		}
		if d := r.DirectResponse; d != nil {
			if d.Status == 0 {
				d.Status = 200
			}
			setStr(&d.ContentType, "text/plain; charset=utf-8")
		}
	}
}

func setStr(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func setDur(p *Duration, v time.Duration) {
	if *p == 0 {
		*p = Duration(v)
	}
}

func setSize(p *Size, v int64) {
	if *p == 0 {
		*p = Size(v)
	}
}
