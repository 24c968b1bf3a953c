package discovery

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// DNSOptions configure a DNS provider.
type DNSOptions struct {
	Name string
	// Port of the targets for A/AAAA records; SRV records carry their own.
	Port int
	// Type is "A" (A and AAAA records) or "SRV".
	Type string
	// Interval between lookups; 0 means 30s. Go's resolver does not expose
	// record TTLs, so the interval stands in for them: set it to the TTL
	// the zone uses.
	Interval time.Duration
	// Resolver is the host:port of the DNS server to ask; "" uses the
	// system's.
	Resolver string
	OnError  func(error)
}

type dnsProvider struct {
	o DNSOptions
	r *net.Resolver
}

// NewDNS is a provider that resolves a name on an interval.
func NewDNS(o DNSOptions) Provider {
	if o.Interval <= 0 {
		o.Interval = 30 * time.Second
	}
	r := net.DefaultResolver
	if o.Resolver != "" {
		server := o.Resolver
		r = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, server)
		}}
	}
	return &dnsProvider{o: o, r: r}
}

func (d *dnsProvider) Name() string { return "dns" }

func (d *dnsProvider) Run(ctx context.Context, out chan<- []Target) error {
	var snd sender
	tick := time.NewTicker(d.o.Interval)
	defer tick.Stop()
	for {
		lctx, cancel := context.WithTimeout(ctx, min(d.o.Interval, 10*time.Second))
		ts, err := d.lookup(lctx)
		cancel()
		if err == nil {
			err = snd.send(ctx, out, ts)
		}
		if err != nil && ctx.Err() == nil {
			report(d.o.OnError, fmt.Errorf("dns %s: %w", d.o.Name, err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func (d *dnsProvider) lookup(ctx context.Context) ([]Target, error) {
	if strings.EqualFold(d.o.Type, "SRV") {
		_, srvs, err := d.r.LookupSRV(ctx, "", "", d.o.Name)
		if err != nil {
			return nil, err
		}
		// RFC 2782: clients use the records of the lowest priority that
		// can be reached; higher ones are backups. Go returns them sorted
		// by priority. A priority none of whose hosts resolves gives way
		// to the next.
		var ts []Target
		var lastErr error
		for i := 0; i < len(srvs) && len(ts) == 0; {
			prio := srvs[i].Priority
			for ; i < len(srvs) && srvs[i].Priority == prio; i++ {
				s := srvs[i]
				ips, err := d.r.LookupIPAddr(ctx, s.Target)
				if err != nil {
					lastErr = err
					continue
				}
				for _, ip := range ips {
					ts = append(ts, Target{
						Address: net.JoinHostPort(ip.IP.String(), strconv.Itoa(int(s.Port))),
						Weight:  max(int(s.Weight), 1),
					})
				}
			}
		}
		if len(ts) == 0 && lastErr != nil {
			return nil, lastErr
		}
		return ts, nil
	}
	ips, err := d.r.LookupIPAddr(ctx, d.o.Name)
	if err != nil {
		return nil, err
	}
	ts := make([]Target, 0, len(ips))
	for _, ip := range ips {
		ts = append(ts, Target{Address: net.JoinHostPort(ip.IP.String(), strconv.Itoa(d.o.Port)), Weight: 1})
	}
	return ts, nil
}
