package proxy

import (
	"context"
	"fmt"
	"sync"

	"github.com/wasmgate/wasmgate/proxy/config"
	"github.com/wasmgate/wasmgate/proxy/discovery"
	"github.com/wasmgate/wasmgate/proxy/upstream"
)

// newProvider makes the discovery provider an upstream's config asks for.
// onError receives lookup failures, which never remove targets.
func newProvider(d *config.Discovery, onError func(error)) (discovery.Provider, error) {
	switch d.Provider {
	case "dns":
		return discovery.NewDNS(discovery.DNSOptions{Name: d.Name, Port: d.Port, Type: d.Record,
			Interval: d.Interval.D(), Resolver: d.Resolver, OnError: onError}), nil
	case "file":
		return discovery.NewFile(discovery.FileOptions{Path: d.Path, Interval: d.Interval.D(), OnError: onError}), nil
	case "etcd":
		return discovery.NewEtcd(discovery.EtcdOptions{Endpoints: d.Endpoints, Prefix: d.Prefix,
			Username: d.Username, Password: d.Password, OnError: onError}), nil
	case "consul":
		return discovery.NewConsul(discovery.ConsulOptions{Address: d.Address, Service: d.Service,
			Tag: d.Tag, Token: d.Token, OnError: onError}), nil
	}
	return nil, fmt.Errorf("no discovery provider %q", d.Provider)
}

// startDiscovery runs the providers of snap's discovered upstreams until
// the snapshot is replaced or the gateway stops. Each set a provider
// sends replaces the upstream's targets whole. The returned channel is
// closed once every discovered upstream has had its first set.
func (g *Gateway) startDiscovery(snap *Snapshot) <-chan struct{} {
	ctx, cancel := context.WithCancel(context.Background())
	snap.stopDiscovery = cancel
	var first sync.WaitGroup
	ready := make(chan struct{})
	for _, u := range snap.Upstreams.All() {
		if !u.Discovered() {
			continue
		}
		d := u.Config().Discovery
		log := g.logs.app().With().Str("upstream", u.Name).Str("provider", d.Provider).Logger()
		p, err := newProvider(d, func(err error) {
			log.Warn().Err(err).Msg("discovery failed; keeping the last good targets")
		})
		if err != nil {
			log.Error().Err(err).Msg("discovery not started")
			continue
		}
		out := make(chan []discovery.Target)
		first.Add(1)
		var once sync.Once
		go func() {
			if err := p.Run(ctx, out); err != nil {
				log.Error().Err(err).Msg("discovery stopped")
			}
		}()
		go func() {
			applyTargets(ctx, u, out, func(n int, err error) {
				once.Do(first.Done)
				if err != nil {
					log.Error().Err(err).Msg("discovered targets refused")
					return
				}
				log.Info().Int("targets", n).Msg("discovered targets applied")
			})
			// Stopped before a first answer (a reload, a provider that
			// never answered): ready must not wait for it, nor its
			// waiter outlive the snapshot.
			once.Do(first.Done)
		}()
	}
	go func() { first.Wait(); close(ready) }()
	return ready
}

func applyTargets(ctx context.Context, u *upstream.Upstream, in <-chan []discovery.Target, done func(int, error)) {
	for {
		select {
		case <-ctx.Done():
			return
		case ts := <-in:
			list := make([]config.Target, len(ts))
			for i, t := range ts {
				list[i] = config.Target{Address: t.Address, Weight: t.Weight}
			}
			// A target that left may still be finishing a request picked
			// just before; it is closed once the longest of them is done.
			err := u.SetTargets(list, u.Timeout)
			done(len(list), err)
		}
	}
}

// stopDiscoveryOf ends snap's providers, if any run.
func stopDiscoveryOf(snap *Snapshot) {
	if snap.stopDiscovery != nil {
		snap.stopDiscovery()
	}
}
