package discovery

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
)

// ConsulOptions configure a Consul provider.
type ConsulOptions struct {
	Address string // http://host:port of a Consul agent
	Service string
	Tag     string // only instances with this tag, "" for all
	Token   string // ACL token, "" for none
	OnError func(error)
}

type consul struct {
	o      ConsulOptions
	client *http.Client
}

// NewConsul is a provider of a service's instances whose health checks
// pass, kept current with Consul's blocking queries: each request waits
// until the answer differs from the index of the last one.
func NewConsul(o ConsulOptions) Provider {
	return &consul{o: o, client: &http.Client{}}
}

func (c *consul) Name() string { return "consul" }

func (c *consul) Run(ctx context.Context, out chan<- []Target) error {
	var snd sender
	index := "0"
	backoff := retryMin
	for ctx.Err() == nil {
		ts, next, err := c.query(ctx, index)
		if err == nil {
			backoff = retryMin
			// An index that goes backwards means the agent was reset:
			// start over rather than block on an index it will not reach.
			if n, _ := strconv.ParseUint(next, 10, 64); n == 0 || next < index && len(next) <= len(index) {
				next = "0"
			}
			index = next
			err = snd.send(ctx, out, ts)
			if err == nil {
				continue
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		report(c.o.OnError, fmt.Errorf("consul service %s: %w", c.o.Service, err))
		if !sleepCtx(ctx, backoff) {
			return nil
		}
		backoff = min(backoff*2, retryMax)
	}
	return nil
}

func (c *consul) query(ctx context.Context, index string) ([]Target, string, error) {
	q := url.Values{"passing": {"true"}, "index": {index}, "wait": {"5m"}}
	if c.o.Tag != "" {
		q.Set("tag", c.o.Tag)
	}
	u := c.o.Address + "/v1/health/service/" + url.PathEscape(c.o.Service) + "?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, index, err
	}
	if c.o.Token != "" {
		req.Header.Set("X-Consul-Token", c.o.Token)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, index, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, index, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, index, fmt.Errorf("%s: %s", resp.Status, data)
	}
	var entries []struct {
		Node struct {
			Address string `json:"Address"`
		} `json:"Node"`
		Service struct {
			Address string `json:"Address"`
			Port    int    `json:"Port"`
			Weights struct {
				Passing int `json:"Passing"`
			} `json:"Weights"`
		} `json:"Service"`
	}
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, index, err
	}
	ts := make([]Target, 0, len(entries))
	for _, e := range entries {
		host := e.Service.Address
		if host == "" {
			host = e.Node.Address
		}
		ts = append(ts, Target{Address: net.JoinHostPort(host, strconv.Itoa(e.Service.Port)), Weight: max(e.Service.Weights.Passing, 1)})
	}
	return ts, resp.Header.Get("X-Consul-Index"), nil
}
