// key-auth checks API keys. Config (JSON):
//
//	{
//	  "header": "X-Api-Key",          // where the key is read (default X-Api-Key)
//	  "query": "api_key",             // or from this query parameter ("" = not)
//	  "consumer_header": "X-Consumer", // sent upstream with the consumer's name
//	  "keys": [{"consumer": "alice", "sha256": "<hex of the key>"}]
//	}
//
// Keys are stored as SHA-256 hashes, so the config never holds a usable
// key. A request without a known key gets 401 with a JSON error. Once a
// key is known, the header and the query parameter (every value of both)
// are removed from the request, so no key reaches the upstream or its
// logs, and the consumer's name is forwarded. The header wins when both
// are sent.
package main

import (
	"encoding/hex"
	"errors"
	"strconv"

	"github.com/wasmgate/wasmgate/plugins/internal/httptoken"
	"github.com/wasmgate/wasmgate/plugins/internal/strictjson"
	"github.com/wasmgate/wasmgate/plugins/internal/zerocopy"
	"github.com/wasmgate/wasmgate/sdk/go"
)

type config struct {
	Header         string `json:"header"`
	Query          string `json:"query"`
	ConsumerHeader string `json:"consumer_header"`
	Keys           []struct {
		Consumer string `json:"consumer"`
		SHA256   string `json:"sha256"`
	} `json:"keys"`
}

type plugin struct {
	cfg       config
	consumers map[[32]byte]string
}

func (p *plugin) OnConfigure(raw []byte) error {
	var c config
	if err := strictjson.Decode(raw, &c); err != nil {
		return err
	}
	if c.Header == "" {
		c.Header = "X-Api-Key"
	}
	if c.ConsumerHeader == "" {
		c.ConsumerHeader = "X-Consumer"
	}
	// A name that is no header name would go upstream as a broken line
	// beside the client's own X-Consumer, which it then fails to replace.
	for _, f := range []struct{ field, name string }{{"header", c.Header}, {"consumer_header", c.ConsumerHeader}} {
		if !httptoken.IsToken(f.name) {
			return errors.New(f.field + ": " + strconv.Quote(f.name) + " is not a header name")
		}
	}
	if len(c.Keys) == 0 {
		// No key would refuse every request: a typo, not a policy.
		return errors.New("keys: at least one key is required")
	}
	p.consumers = map[[32]byte]string{}
	for i, k := range c.Keys {
		at := "keys[" + strconv.Itoa(i) + "]"
		b, err := hex.DecodeString(k.SHA256)
		if err != nil || len(b) != 32 || k.Consumer == "" {
			return errors.New(at + ": want a consumer and a 64-digit sha256")
		}
		if httptoken.HasCTL(k.Consumer) {
			return errors.New(at + ".consumer: control characters cannot go in a header value")
		}
		if other, dup := p.consumers[[32]byte(b)]; dup {
			return errors.New(at + ".sha256: the same key as consumer " + strconv.Quote(other) + "'s")
		}
		p.consumers[[32]byte(b)] = k.Consumer
	}
	p.cfg = c
	return nil
}

func (p *plugin) NewHTTP() proxywasm.HTTP { return &request{p: p} }

// request is reused from request to request (Resetter): it holds nothing
// per request.
type request struct{ p *plugin }

func (r *request) Reset() {}

var unauthorized = []byte(`{"error":"unauthorized","message":"a valid API key is required"}` + "\n")

func (r *request) OnRequestHeaders(s proxywasm.Stream, _ bool) proxywasm.Action {
	h := s.RequestHeaders()
	var path []byte // read only when the key may be in the query
	if r.p.cfg.Query != "" {
		path, _ = h.Peek(":path")
	}
	consumer, ok := "", false
	if key, err := h.Peek(r.p.cfg.Header); err == nil && len(key) > 0 {
		consumer, ok = r.p.consumers[proxywasm.SHA256(key)]
	} else if len(path) > 0 {
		if key, found, _ := httptoken.QueryParam(path, r.p.cfg.Query); found {
			consumer, ok = r.p.consumers[proxywasm.SHA256([]byte(key))]
		}
	}
	if !ok {
		_ = s.Respond(401, [][2]string{
			{"content-type", "application/json"},
			{"www-authenticate", `ApiKey realm="wasmgate"`},
		}, unauthorized)
		return proxywasm.Pause
	}
	_ = h.Remove(r.p.cfg.Header)
	if len(path) > 0 {
		// A view of the host's bytes, valid in this callback: the path is
		// copied only when it changes.
		p := zerocopy.String(path)
		if rest := httptoken.WithoutParam(p, r.p.cfg.Query); rest != p {
			_ = h.Set(":path", rest)
		}
	}
	_ = h.Set(r.p.cfg.ConsumerHeader, consumer)
	return proxywasm.Continue
}

func init() { proxywasm.Register(func() proxywasm.Plugin { return &plugin{} }) }

func main() {}
