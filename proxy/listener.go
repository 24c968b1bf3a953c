package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"github.com/wasmgate/wasmgate/internal/fastconn"
	"github.com/wasmgate/wasmgate/proxy/config"
)

// streamThreshold is the largest request body read into memory before the
// request is forwarded; larger bodies stream to the target as they arrive.
const streamThreshold = 64 << 10

// listener is one accepting socket and the fasthttp server behind it.
type listener struct {
	cfg           config.Listener
	name          string
	tls           bool
	redirectHTTPS bool
	httpsPort     int
	maxBody       int64
	underscores   string // headers_with_underscores: drop, allow or reject

	// open counts the listener's client connections, tunnels included;
	// refused counts those turned away at max_connections.
	open    *atomic.Int64
	refused *metrics.Counter

	tunnelsMu sync.Mutex
	tunnels   map[*tunnel]struct{} // open tunnels, closed at shutdown
	// tunnelsClosed: the listener is stopping and takes no more tunnels.
	tunnelsClosed bool

	ln     net.Listener
	server *fasthttp.Server
	certs  atomic.Pointer[[]tls.Certificate]
	done   chan struct{}
}

func (g *Gateway) newListener(cfg config.Listener) (*listener, error) {
	l := &listener{
		cfg:           cfg,
		name:          cfg.Name,
		tls:           len(cfg.TLS) > 0,
		redirectHTTPS: cfg.RedirectHTTPS,
		httpsPort:     cfg.HTTPSPort,
		maxBody:       int64(cfg.MaxBodyBytes),
		underscores:   cfg.HeadersWithUnderscores,
		done:          make(chan struct{}),
		tunnels:       map[*tunnel]struct{}{},
	}
	if l.tls {
		if err := l.loadCerts(cfg); err != nil {
			return nil, err
		}
	}
	open := openConns(cfg.Name)
	l.open = open
	l.refused = metrics.GetOrCreateCounter(fmt.Sprintf(`wasmgate_refused_connections_total{listener=%q}`, cfg.Name))
	l.server = &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) { g.serve(ctx, l) },
		ErrorHandler: func(ctx *fasthttp.RequestCtx, err error) {
			g.parseError(ctx, err)
		},
		ExpectHandler: func(ctx *fasthttp.RequestCtx) int { return g.expect(ctx, l) },
		// A header that does not fit the read buffer is refused (431).
		ReadBufferSize:  int(cfg.MaxHeaderBytes),
		WriteBufferSize: 16 << 10,
		ReadTimeout:     cfg.ReadTimeout.D(),
		WriteTimeout:    cfg.WriteTimeout.D(),
		IdleTimeout:     cfg.IdleTimeout.D(),
		Concurrency:     cfg.MaxConnections,
		// With streaming on this is the in-memory threshold, not a limit;
		// the handler enforces max_body_bytes.
		MaxRequestBodySize:           int(min(int64(cfg.MaxBodyBytes), streamThreshold)),
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		CloseOnShutdown:              true,
		SecureErrorLogMessage:        true,
		Logger:                       fasthttpLogger{g},
		ConnState: func(_ net.Conn, s fasthttp.ConnState) {
			switch s {
			case fasthttp.StateNew:
				open.Add(1)
			case fasthttp.StateClosed:
				open.Add(-1)
			case fasthttp.StateHijacked:
				// A hijacked connection is a tunnel now: it stays counted
				// until the tunnel ends (listener.endTunnel), with no
				// moment uncounted or counted twice.
			}
		},
	}
	return l, nil
}

func (l *listener) loadCerts(cfg config.Listener) error {
	certs, err := readCerts(cfg)
	if err != nil {
		return err
	}
	l.certs.Store(&certs)
	return nil
}

// readCerts loads a listener's certificates from their files.
func readCerts(cfg config.Listener) ([]tls.Certificate, error) {
	certs := make([]tls.Certificate, 0, len(cfg.TLS))
	for i, c := range cfg.TLS {
		cert, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			return nil, fmt.Errorf("listeners[%s].tls[%d]: %w", cfg.Name, i, err)
		}
		certs = append(certs, cert)
	}
	return certs, nil
}

// getCertificate picks by SNI among the listener's current certificates
// (they follow reloads), the first one being the default.
func (l *listener) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	certs := *l.certs.Load()
	if hello.ServerName != "" {
		for i := range certs {
			if hello.SupportsCertificate(&certs[i]) == nil {
				return &certs[i], nil
			}
		}
	}
	return &certs[0], nil
}

func (l *listener) listen() error {
	var lc net.ListenConfig
	if l.cfg.ReusePort {
		lc.Control = reusePort
	}
	ln, err := lc.Listen(context.Background(), "tcp", l.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listener %q: %w", l.name, err)
	}
	// Limited here, not only by fasthttp's Concurrency, which stops
	// counting a connection once it is hijacked for a tunnel.
	ln = &limitListener{Listener: fastconn.Listener{Listener: ln}, l: l}
	if l.tls {
		ln = tlsListener{Listener: ln, cfg: &tls.Config{
			GetCertificate: l.getCertificate,
			MinVersion:     tls.VersionTLS12,
			NextProtos:     []string{"http/1.1"},
		}}
	}
	l.ln = ln
	return nil
}

func (l *listener) serve() error {
	defer close(l.done)
	err := l.server.Serve(l.ln)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

var (
	openConnsMu sync.Mutex
	openConnsBy = map[string]*atomic.Int64{}
)

// openConns is the open-connection count of a listener name. It outlives
// any one gateway so the gauge registered for the name stays valid.
func openConns(name string) *atomic.Int64 {
	openConnsMu.Lock()
	defer openConnsMu.Unlock()
	if c, ok := openConnsBy[name]; ok {
		return c
	}
	c := &atomic.Int64{}
	openConnsBy[name] = c
	metrics.GetOrCreateGauge(fmt.Sprintf(`wasmgate_open_connections{listener=%q}`, name),
		func() float64 { return float64(c.Load()) })
	return c
}

// parseError answers requests fasthttp could not parse, in the same JSON
// shape as every other gateway error.
func (g *Gateway) parseError(ctx *fasthttp.RequestCtx, err error) {
	x := getExchange()
	defer putExchange(x)
	x.rid = g.ids.append(x.rid[:0])
	x.ip = appendIP(x.ip[:0], ctx.RemoteAddr())
	status, code, msg := fasthttp.StatusBadRequest, "bad_request", "malformed request"
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.As(err, &small):
		status, code, msg = fasthttp.StatusRequestHeaderFieldsTooLarge, "header_too_large", "request header exceeds the listener's max_header_bytes"
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		status, code, msg = fasthttp.StatusRequestEntityTooLarge, "body_too_large", "request body exceeds the listener's max_body_bytes"
	case errors.Is(err, fasthttp.ErrDuplicateContentLength):
		msg = "ambiguous message framing: duplicate Content-Length"
	default:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			status, code, msg = fasthttp.StatusRequestTimeout, "request_timeout", "request not received within the listener's read_timeout"
		}
	}
	g.writeError(ctx, x, status, code, msg)
	ctx.SetConnectionClose()
	if snap := g.snap.Load(); snap != nil {
		snap.unmatched.observe(status, ctx.Time())
	}
	g.logs.app().Debug().Bytes("request_id", x.rid).Bytes("client", x.ip).Err(err).Msg("refused unparsable request")
}

// expect answers "Expect: 100-continue". A body declared over
// max_body_bytes is refused before the client sends it, as nginx does;
// with a 100 the client would upload it all to hear 413 after.
//
// fasthttp asks that the response be left alone here and then writes it
// with the status returned, without calling the handler; the JSON error
// written here is what goes out (TestE2EBodyLimits holds fasthttp to
// that).
func (g *Gateway) expect(ctx *fasthttp.RequestCtx, l *listener) int {
	cl := ctx.Request.Header.ContentLength()
	if cl <= 0 || int64(cl) <= l.maxBody {
		return fasthttp.StatusContinue
	}
	x := getExchange()
	defer putExchange(x)
	x.ip = appendIP(x.ip[:0], ctx.RemoteAddr())
	x.origPath = x.origPath[:0]
	g.requestID(x, &ctx.Request)
	ctx.SetConnectionClose()
	g.reject(ctx, x, g.snap.Load(), nil, fasthttp.StatusRequestEntityTooLarge, "body_too_large",
		"request body exceeds the listener's max_body_bytes")
	return fasthttp.StatusRequestEntityTooLarge
}

// fasthttpLogger sends fasthttp's own messages to the process log.
type fasthttpLogger struct{ g *Gateway }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.g.logs.app().Debug().Str("component", "fasthttp").Msg(strings.TrimSpace(fmt.Sprintf(format, args...)))
}

// limitListener turns connections away while the listener has
// max_connections open, tunnels included.
type limitListener struct {
	net.Listener
	l *listener
}

func (ll *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := ll.Listener.Accept()
		// The count goes up when fasthttp takes c (StateNew), on this
		// goroutine, before the next Accept: no connection slips past.
		if err != nil || ll.l.open.Load() < int64(ll.l.cfg.MaxConnections) {
			return c, err
		}
		ll.l.refused.Inc()
		if !ll.l.tls {
			// A TLS client would read this as a broken handshake.
			answerRaw(c, tooManyConnections)
		}
		_ = c.Close()
	}
}

// tlsListener is tls.NewListener, except that a client speaking plain
// HTTP to it gets a 400 saying so, where it would otherwise see its
// connection closed without a word (a port mix-up that is then hard to
// tell from a crash).
type tlsListener struct {
	net.Listener
	cfg *tls.Config
}

func (tl tlsListener) Accept() (net.Conn, error) {
	c, err := tl.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return tlsConn{tls.Server(c, tl.cfg)}, nil
}

type tlsConn struct{ *tls.Conn }

func (c tlsConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	// crypto/tls hands back the raw connection when the first bytes were
	// no TLS record, for just this answer.
	var rh tls.RecordHeaderError
	if err != nil && errors.As(err, &rh) && rh.Conn != nil {
		answerRaw(rh.Conn, plainHTTPOnTLS)
	}
	return n, err
}

// Answers for connections turned away before fasthttp reads them.
var (
	plainHTTPOnTLS = rawError("400 Bad Request", "",
		"tls_required", "this listener speaks HTTPS; the request came as plain HTTP")
	tooManyConnections = rawError("503 Service Unavailable", "Retry-After: 1\r\n",
		"too_many_connections", "the listener has max_connections open; retry later")
)

// rawError is a whole HTTP/1.1 response carrying the gateway's JSON error
// (without a request id: there is no request yet) and closing the
// connection; extra is header lines to add.
func rawError(status, extra, code, msg string) string {
	body := `{"error":"` + code + `","message":"` + msg + `"}` + "\n"
	return "HTTP/1.1 " + status + "\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\nConnection: close\r\n" + extra + "\r\n" + body
}

// answerRaw writes resp to c, giving up at once if the client does not
// take it: the connection is closed next.
func answerRaw(c net.Conn, resp string) {
	_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = io.WriteString(c, resp)
}

// addTunnel records t until endTunnel, for a shutdown to find; it is
// false once the listener has closed its tunnels for one, and t must then
// end at once (with endTunnel all the same).
func (l *listener) addTunnel(t *tunnel) bool {
	l.tunnelsMu.Lock()
	defer l.tunnelsMu.Unlock()
	if l.tunnelsClosed {
		return false
	}
	l.tunnels[t] = struct{}{}
	return true
}

// endTunnel forgets t and uncounts its connection, which has been counted
// since it was accepted.
func (l *listener) endTunnel(t *tunnel) {
	l.tunnelsMu.Lock()
	delete(l.tunnels, t)
	l.tunnelsMu.Unlock()
	l.open.Add(-1)
}

// closeTunnels waits for the listener's tunnels to end, as the server's
// shutdown waits for requests in flight, and closes those still open when
// ctx is done: fasthttp forgets a connection once it is hijacked. A
// handshake that completes after this gets no tunnel.
func (l *listener) closeTunnels(ctx context.Context) {
	for {
		l.tunnelsMu.Lock()
		if len(l.tunnels) == 0 || ctx.Err() != nil {
			l.tunnelsClosed = true
			for t := range l.tunnels {
				t.close()
			}
			l.tunnelsMu.Unlock()
			return
		}
		l.tunnelsMu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}
