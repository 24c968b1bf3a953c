// cors answers CORS preflights itself and marks allowed cross-origin
// responses. Config (JSON):
//
//	{
//	  "origins": ["https://app.example.com", "https://*.example.org"],
//	  "methods": ["GET", "POST"],          // default GET, HEAD, POST
//	  "headers": ["Authorization", "X-Tenant"],
//	  "expose_headers": ["X-Request-Id"],  // response headers scripts may read
//	  "credentials": true,                  // Access-Control-Allow-Credentials
//	  "max_age": 600                        // seconds a preflight may be cached
//	}
//
// An origin is scheme://host[:port], as browsers send it; a wildcard
// "*." stands for one or more DNS labels at the front of the host. An
// entry with a path, a star elsewhere or no scheme could never match, and
// is refused; so is "null", the origin any sandboxed page can claim.
//
// A preflight (OPTIONS with Origin and Access-Control-Request-Method) from
// an allowed origin gets 204 with the allowances; from another origin, 403.
// Other requests from an allowed origin go through and their response gets
// Access-Control-Allow-Origin; requests from other origins go through
// unmarked, so the browser withholds the response. As the answer depends
// on the request's Origin, every response says so (Vary: Origin), with an
// Origin or without, allowed or not: a shared cache must not hand one
// origin's answer to another. With "*" among the origins every origin is
// allowed and answered with a literal "*", which depends on nothing; "*"
// with credentials is refused, as it would let every site read responses
// made with the user's cookies.
package main

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/wasmgate/wasmgate/plugins/internal/strictjson"
	"github.com/wasmgate/wasmgate/plugins/internal/zerocopy"
	"github.com/wasmgate/wasmgate/sdk/go"
)

type config struct {
	Origins     []string `json:"origins"`
	Methods     []string `json:"methods"`
	Headers     []string `json:"headers"`
	Expose      []string `json:"expose_headers"`
	Credentials bool     `json:"credentials"`
	MaxAge      int      `json:"max_age"`
}

type plugin struct {
	cfg                      config
	methods, headers, expose string
	any                      bool // "*" is among the origins
}

func (p *plugin) OnConfigure(raw []byte) error {
	var c config
	if err := strictjson.Decode(raw, &c); err != nil {
		return err
	}
	if len(c.Origins) == 0 {
		return errors.New(`origins: required (list the origins, or "*" for any)`)
	}
	if len(c.Methods) == 0 {
		c.Methods = []string{"GET", "HEAD", "POST"}
	}
	// Browsers send origins in lower case (scheme and host are
	// case-insensitive): so are the configured ones compared.
	for i, o := range c.Origins {
		c.Origins[i] = strings.ToLower(o)
		if err := checkOrigin(c.Origins[i]); err != nil {
			return fmt.Errorf("origins[%d]: %q: %v", i, o, err)
		}
	}
	p.any = slices.Contains(c.Origins, "*")
	if p.any && c.Credentials {
		return errors.New(`origins: "*" with credentials would let every site read responses made with the user's cookies; list the origins`)
	}
	p.cfg, p.methods, p.headers = c, strings.Join(c.Methods, ", "), strings.Join(c.Headers, ", ")
	p.expose = strings.Join(c.Expose, ", ")
	return nil
}

// checkOrigin refuses a configured origin no browser sends.
func checkOrigin(o string) error {
	if o == "*" {
		return nil
	}
	if o == "null" {
		return errors.New(`any sandboxed page or data: URL sends "null"; allowing it allows them all`)
	}
	scheme, host, ok := strings.Cut(o, "://")
	if !ok || scheme == "" || strings.Trim(scheme, "abcdefghijklmnopqrstuvwxyz0123456789+-.") != "" {
		return errors.New("want scheme://host[:port], such as https://app.example.com")
	}
	host = strings.TrimPrefix(host, "*.")
	if name, port, hasPort := strings.Cut(host, ":"); hasPort && !strings.HasPrefix(host, "[") {
		if port == "" || strings.Trim(port, "0123456789") != "" {
			return errors.New("the port must be a number")
		}
		host = name
	}
	if host == "" || strings.HasPrefix(host, "[") && strings.Contains(o, "*") ||
		!strings.HasPrefix(host, "[") && !isLabels(host) {
		return errors.New("want scheme://host[:port] with no path; a wildcard is \"*.\" at the front of the host")
	}
	return nil
}

// isLabels reports a host name of dot-separated labels of letters,
// digits and hyphens.
func isLabels(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789-.") == ""
}

// allowed reports whether origin matches an exact entry or a "*." wildcard
// entry (one or more labels in place of the star). Scheme and host are
// case-insensitive; browsers send them in lower case, so only another
// client pays for the copy.
func (p *plugin) allowed(origin string) bool {
	if strings.ContainsFunc(origin, func(r rune) bool { return 'A' <= r && r <= 'Z' }) {
		origin = strings.ToLower(origin)
	}
	for _, o := range p.cfg.Origins {
		if o == "*" || o == origin {
			return true
		}
		if scheme, pattern, ok := strings.Cut(o, "://*."); ok {
			rest, found := strings.CutPrefix(origin, scheme+"://")
			labels, matched := strings.CutSuffix(rest, "."+pattern)
			if found && matched && isLabels(labels) {
				return true
			}
		}
	}
	return false
}

func (p *plugin) NewHTTP() proxywasm.HTTP { return &request{p: p} }

// request handles a request. It has no response phase: the CORS headers
// of an allowed origin are response edits, which the host applies.
type request struct{ p *plugin }

func (r *request) Reset() {}

func (r *request) OnRequestHeaders(s proxywasm.Stream, _ bool) proxywasm.Action {
	h := s.RequestHeaders()
	e := s.ResponseEdits()
	if !r.p.any {
		_ = e.Add("vary", "Origin") // every answer depends on the Origin sent
	}
	o, err := h.Peek("origin")
	if err != nil || len(o) == 0 {
		return proxywasm.Continue
	}
	// A view of the host's bytes, valid in this callback: no copy for
	// the common case of a request that is not a preflight.
	origin := zerocopy.String(o)
	if m, _ := h.Peek(":method"); string(m) == "OPTIONS" {
		if wanted, err := h.Peek("access-control-request-method"); err == nil && len(wanted) > 0 {
			return r.preflight(s, strings.Clone(origin))
		}
	}
	switch {
	case r.p.any:
		_ = e.Set("access-control-allow-origin", "*")
	case r.p.allowed(origin):
		_ = e.Set("access-control-allow-origin", origin)
		if r.p.cfg.Credentials {
			_ = e.Set("access-control-allow-credentials", "true")
		}
	default:
		return proxywasm.Continue
	}
	if r.p.expose != "" {
		_ = e.Set("access-control-expose-headers", r.p.expose)
	}
	return proxywasm.Continue
}

// preflight answers an OPTIONS request that asks for CORS permission.
func (r *request) preflight(s proxywasm.Stream, origin string) proxywasm.Action {
	if !r.p.allowed(origin) {
		// Vary too: the answer depends on the Origin (the plugin's own
		// response edits do not reach its own answer).
		_ = s.Respond(403, [][2]string{{"content-type", "application/json"}, {"vary", "Origin"}},
			[]byte(`{"error":"cors_origin","message":"origin not allowed"}`+"\n"))
		return proxywasm.Pause
	}
	headers := [][2]string{
		{"access-control-allow-origin", "*"},
		{"access-control-allow-methods", r.p.methods},
	}
	if !r.p.any {
		headers[0][1] = origin
		headers = append(headers, [2]string{"vary", "Origin"})
	}
	if r.p.headers != "" {
		headers = append(headers, [2]string{"access-control-allow-headers", r.p.headers})
	}
	if r.p.cfg.Credentials {
		headers = append(headers, [2]string{"access-control-allow-credentials", "true"})
	}
	if r.p.cfg.MaxAge > 0 {
		headers = append(headers, [2]string{"access-control-max-age", strconv.Itoa(r.p.cfg.MaxAge)})
	}
	_ = s.Respond(204, headers, nil)
	return proxywasm.Pause
}

func init() { proxywasm.Register(func() proxywasm.Plugin { return &plugin{} }) }

func main() {}
