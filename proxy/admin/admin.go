// Package admin serves the gateway's admin API: health, readiness,
// metrics, the effective config, routes, upstreams and reload.
//
// It knows the gateway only through the Backend interface, so the data
// plane does not depend on it and it can be tested against any Backend.
package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"github.com/wasmgate/wasmgate/internal/drain"
)

// Backend is what the admin API reads from and acts on.
type Backend interface {
	// Ready reports whether the gateway is serving traffic.
	Ready() bool
	// Reload re-reads the config; warnings are changes that need a restart.
	Reload() (warnings []string, err error)
	// EffectiveConfig is the running config with defaults filled in and
	// secrets redacted, as TOML.
	EffectiveConfig() ([]byte, error)
	// Routes and Upstreams are JSON-encodable descriptions.
	Routes() any
	Upstreams() any
	// Plugins lists the loaded plugins with their VM and call counters.
	Plugins() any
	// SwapPlugin puts a new module in service for the named plugin; pin,
	// when set, is the sha256 the module must have.
	SwapPlugin(name string, module []byte, pin string) (any, error)
}

// Server is the admin listener.
type Server struct {
	b        Backend
	token    []byte
	loopback bool
	ln       net.Listener
	srv      *fasthttp.Server
}

// New binds listen and serves the admin API on it. token, when set, is
// required as "Authorization: Bearer <token>" by mutating endpoints, and
// by every endpoint but /healthz and /readyz when listen is not loopback.
func New(listen, token string, loopback bool, b Backend) (*Server, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	s := &Server{b: b, loopback: loopback, ln: ln}
	if token != "" {
		s.token = []byte(token)
	}
	s.srv = &fasthttp.Server{
		Handler:               s.handle,
		NoDefaultServerHeader: true,
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           60 * time.Second,
		// A plugin module uploaded with PUT /plugins/{name}: Go-built
		// modules run to several MiB. Only such an upload from a caller
		// that may make it gets that much; any other request's body is
		// cut short before it is buffered (see bodyLimit).
		MaxRequestBodySize: maxUpload,
		HeaderReceived:     s.bodyLimit,
		ErrorHandler:       protocolError,
	}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

const (
	maxUpload = 64 << 20
	maxBody   = 64 << 10
)

// bodyLimit lets only an upload the caller may make have a body of
// maxUpload: fasthttp reads a body whole before the handler runs, so
// without it any client, token or not, could make the gateway hold
// 64 MiB per request.
func (s *Server) bodyLimit(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	upload := string(h.Method()) == fasthttp.MethodPut && strings.HasPrefix(string(h.RequestURI()), "/plugins/")
	if upload && s.authorized(h) && (s.token != nil || s.localCaller(h)) {
		return fasthttp.RequestConfig{}
	}
	return fasthttp.RequestConfig{MaxRequestBodySize: maxBody}
}

// protocolError answers a request fasthttp could not read, in the API's
// JSON.
func protocolError(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		// Closing with the body unread would reset the connection, and a
		// client still sending would lose the answer: the rest is read
		// and dropped first (never held), as the listeners do.
		c := ctx.Conn()
		drain.Body(c, c, min(int64(ctx.Request.Header.ContentLength()), maxUpload))
		writeJSONError(ctx, fasthttp.StatusRequestEntityTooLarge, "body_too_large",
			"the request body is larger than this endpoint takes from this caller")
	case errors.As(err, &small):
		writeJSONError(ctx, fasthttp.StatusRequestHeaderFieldsTooLarge, "header_too_large", "the request header is too large")
	default:
		writeJSONError(ctx, fasthttp.StatusBadRequest, "bad_request", "malformed request")
	}
	ctx.SetConnectionClose()
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Shutdown stops the admin API, waiting for its requests until ctx is
// done: the gateway's grace period bounds it as it bounds the listeners
// (a client that sent half a request must not hold the exit).
func (s *Server) Shutdown(ctx context.Context) { _ = s.srv.ShutdownWithContext(ctx) }

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	path := string(ctx.Path())
	method := string(ctx.Method())
	mutating := method != fasthttp.MethodGet && method != fasthttp.MethodHead
	public := path == "/healthz" || path == "/readyz"
	// A request without the token is a local tool's only if it names a
	// loopback host and comes from no other site's page, token or not: a
	// loopback admin with a token still lets such tools read without it,
	// and must not let a rebinding page read with them.
	h := &ctx.Request.Header
	if !public && !(s.token != nil && s.authorized(h)) && !s.localCaller(h) {
		if s.token == nil {
			writeJSONError(ctx, fasthttp.StatusForbidden, "forbidden",
				"an admin API without a token answers only requests addressed to localhost, 127.0.0.1 or [::1] "+
					"and not sent from another site's page; set admin.token to reach it by another name")
			return
		}
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="wasmgate-admin"`)
		writeJSONError(ctx, fasthttp.StatusUnauthorized, "unauthorized", "a valid bearer token is required")
		return
	}
	if (mutating || (!s.loopback && !public)) && !s.authorized(h) {
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="wasmgate-admin"`)
		writeJSONError(ctx, fasthttp.StatusUnauthorized, "unauthorized", "a valid bearer token is required")
		return
	}
	switch {
	case path == "/healthz" && !mutating:
		writeJSON(ctx, fasthttp.StatusOK, map[string]string{"status": "ok"})
	case path == "/readyz" && !mutating:
		if s.b.Ready() {
			writeJSON(ctx, fasthttp.StatusOK, map[string]string{"status": "ready"})
		} else {
			writeJSON(ctx, fasthttp.StatusServiceUnavailable, map[string]string{"status": "not ready"})
		}
	case path == "/metrics" && !mutating:
		ctx.SetContentType("text/plain; version=0.0.4; charset=utf-8")
		metrics.WritePrometheus(ctx, true)
	case path == "/config" && !mutating:
		body, err := s.b.EffectiveConfig()
		if err != nil {
			writeJSONError(ctx, fasthttp.StatusInternalServerError, "internal", err.Error())
			return
		}
		ctx.SetContentType("application/toml; charset=utf-8")
		ctx.SetBody(body)
	case path == "/routes" && !mutating:
		writeJSON(ctx, fasthttp.StatusOK, s.b.Routes())
	case path == "/upstreams" && !mutating:
		writeJSON(ctx, fasthttp.StatusOK, s.b.Upstreams())
	case path == "/plugins" && !mutating:
		writeJSON(ctx, fasthttp.StatusOK, s.b.Plugins())
	case strings.HasPrefix(path, "/plugins/") && method == fasthttp.MethodPut:
		name := strings.TrimPrefix(path, "/plugins/")
		stats, err := s.b.SwapPlugin(name, ctx.PostBody(), string(ctx.Request.Header.Peek("X-Module-Sha256")))
		if err != nil {
			if strings.HasPrefix(err.Error(), "no plugin named") {
				// Nothing runs under that name: nothing keeps serving.
				writeJSONError(ctx, fasthttp.StatusNotFound, "plugin_not_found", err.Error()+" in the running config")
				return
			}
			writeJSON(ctx, fasthttp.StatusUnprocessableEntity, map[string]any{
				"error":   "plugin_refused",
				"message": "the module was refused; the running version keeps serving",
				"reason":  err.Error(),
			})
			return
		}
		writeJSON(ctx, fasthttp.StatusOK, stats)
	case path == "/reload" && method == fasthttp.MethodPost:
		warnings, err := s.b.Reload()
		if err != nil {
			var lines []string
			var list interface{ Unwrap() []error }
			if errors.As(err, &list) {
				for _, e := range list.Unwrap() {
					lines = append(lines, e.Error())
				}
			} else {
				lines = strings.Split(err.Error(), "\n")
			}
			writeJSON(ctx, fasthttp.StatusUnprocessableEntity, map[string]any{
				"error":   "invalid_config",
				"message": "the new config was refused; the running config keeps serving",
				"errors":  lines,
			})
			return
		}
		if warnings == nil {
			warnings = []string{}
		}
		writeJSON(ctx, fasthttp.StatusOK, map[string]any{"status": "reloaded", "warnings": warnings})
	case path == "/reload":
		ctx.Response.Header.Set("Allow", "POST")
		writeJSONError(ctx, fasthttp.StatusMethodNotAllowed, "method_not_allowed", "use POST")
	case strings.HasPrefix(path, "/plugins/"):
		ctx.Response.Header.Set("Allow", "PUT")
		writeJSONError(ctx, fasthttp.StatusMethodNotAllowed, "method_not_allowed", "use PUT")
	case readOnly[path]:
		ctx.Response.Header.Set("Allow", "GET, HEAD")
		writeJSONError(ctx, fasthttp.StatusMethodNotAllowed, "method_not_allowed", "use GET")
	default:
		writeJSONError(ctx, fasthttp.StatusNotFound, "not_found", "no admin endpoint "+path)
	}
}

// readOnly are the endpoints that answer GET and HEAD only.
var readOnly = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true,
	"/config": true, "/routes": true, "/upstreams": true, "/plugins": true}

func (s *Server) authorized(h *fasthttp.RequestHeader) bool {
	if s.token == nil {
		// Only reachable on loopback: config validation refuses a
		// non-loopback admin listener without a token.
		return s.loopback
	}
	// The scheme is case-insensitive (RFC 9110 11.1).
	auth := h.Peek("Authorization")
	if len(auth) < 7 || !strings.EqualFold(string(auth[:7]), "Bearer ") {
		return false
	}
	return subtle.ConstantTimeCompare(auth[7:], s.token) == 1
}

// localCaller guards an admin API that has no token, and so trusts
// whoever can reach its loopback address, against the one remote party
// that can: a web page in a browser on this machine. A page can send it
// a form POST (its Origin names the page's site) or, by rebinding its own
// DNS name to 127.0.0.1, read it as if same-origin (its Host names the
// page's site). Tools and scripts send neither another Host nor an Origin.
func (s *Server) localCaller(h *fasthttp.RequestHeader) bool {
	if !loopbackName(hostOnly(h.Host())) {
		return false
	}
	origin := h.Peek("Origin")
	if origin == nil {
		return true
	}
	rest, ok := strings.CutPrefix(string(origin), "http://")
	if !ok {
		rest, ok = strings.CutPrefix(string(origin), "https://")
	}
	return ok && !strings.ContainsAny(rest, "/@") && loopbackName(hostOnly([]byte(rest)))
}

// hostOnly is a Host header or an origin's authority without its port.
func hostOnly(h []byte) string {
	s := string(h)
	if host, _, err := net.SplitHostPort(s); err == nil {
		return host
	}
	return strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
}

// loopbackName: "localhost" or a loopback address, the names only this
// machine can mean. A name that merely resolves to 127.0.0.1 is not
// one: whoever owns its DNS chose that.
func loopbackName(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status = fasthttp.StatusInternalServerError
		body = []byte(`{"error":"internal","message":"cannot encode response"}`)
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(append(body, '\n'))
}

func writeJSONError(ctx *fasthttp.RequestCtx, status int, code, msg string) {
	writeJSON(ctx, status, map[string]string{"error": code, "message": msg})
}
