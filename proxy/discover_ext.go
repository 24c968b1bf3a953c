package proxy

import (
	"fmt"

	"github.com/wasmgate/wasmgate/proxy/config"
	"github.com/wasmgate/wasmgate/proxy/discovery"
)

func newProviderExt(d *config.Discovery, onError func(error)) (discovery.Provider, error) {
	return nil, fmt.Errorf("%w %q", errNoProvider, d.Provider)
}
