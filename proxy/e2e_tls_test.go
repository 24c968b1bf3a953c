package proxy_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCert writes a self-signed ECDSA certificate for name into dir as
// name.pem / name.key and returns their paths.
func writeCert(t testing.TB, dir, name string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		DNSNames:              []string{name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	writeFile(t, certPath, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

// tlsGateway starts a gateway with a TLS listener "tls" holding
// certificates for a.test (first) and b.test, plus the plain "public"
// listener with listenerExtra, both proxying to target. The TLS listener
// says localhost:0, because config validation refuses two listeners with
// the same listen string, even port 0.
func tlsGateway(t *testing.T, listenerExtra, target string) *gw {
	dir := t.TempDir()
	ac, ak := writeCert(t, dir, "a.test")
	bc, bk := writeCert(t, dir, "b.test")
	return startGateway(t, fmt.Sprintf(`
[[listeners]]
name = "tls"
listen = "localhost:0"
tls = [ { cert = %q, key = %q }, { cert = %q, key = %q } ]
`, ac, ak, bc, bk)+proxyTo(listenerExtra, "", target))
}

// TestE2ETLSCertificateBySNI: each name gets its own certificate; no SNI
// or an unknown name gets the first.
func TestE2ETLSCertificateBySNI(t *testing.T) {
	be := newRawHTTPBackend(t, nil)
	g := tlsGateway(t, "", be.Addr)
	addr := g.G.ListenerAddr("tls")
	for _, tc := range []struct{ sni, want string }{
		{"a.test", "a.test"},
		{"b.test", "b.test"},
		{"", "a.test"}, // an IP address: Go sends no SNI
		{"c.test", "a.test"},
	} {
		t.Run("sni="+tc.sni, func(t *testing.T) {
			c := tlsDial(t, addr, tc.sni)
			if tc.sni == "" && c.ConnectionState().ServerName != "" {
				t.Fatalf("client sent SNI %q", c.ConnectionState().ServerName)
			}
			certs := c.ConnectionState().PeerCertificates
			if len(certs) == 0 || len(certs[0].DNSNames) == 0 || certs[0].DNSNames[0] != tc.want {
				t.Fatalf("got certificate for %v, want %s", certs[0].DNSNames, tc.want)
			}
			if p := c.ConnectionState().NegotiatedProtocol; p != "" && p != "http/1.1" {
				t.Errorf("ALPN %q", p)
			}
		})
	}
}

// TestE2ETLSForwardedProto: a request over the TLS listener is proxied
// with X-Forwarded-Proto: https.
func TestE2ETLSForwardedProto(t *testing.T) {
	be := newRawHTTPBackend(t, nil)
	g := tlsGateway(t, "", be.Addr)
	c := tlsDial(t, g.G.ListenerAddr("tls"), "b.test")
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, crlf("GET /secure?x=1 HTTP/1.1\nHost: b.test\nX-Forwarded-Proto: http\n\n"))
	resp, body := readResp(t, bufio.NewReader(c), "GET")
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	r := be.only(t)
	for h, want := range map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "b.test", "Host": "b.test", "X-Forwarded-For": "127.0.0.1"} {
		if got := r.Values(h); len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want [%q]", h, got, want)
		}
	}
	if r.Target() != "/secure?x=1" {
		t.Errorf("target %q", r.Target())
	}
}

// TestE2ERedirectHTTPS: a plain listener with redirect_https answers every
// request with a 308 to the same host, path and query on https.
func TestE2ERedirectHTTPS(t *testing.T) {
	be := newRawHTTPBackend(t, nil)
	cases := []struct {
		name, extra, target, host, want string
	}{
		{"explicit port", "redirect_https = true\nhttps_port = 8443", "/path/x?q=1&r=a%20b", "example.test:8080",
			"https://example.test:8443/path/x?q=1&r=a%20b"},
		{"port 443 is left out", "redirect_https = true\nhttps_port = 443", "/p?q", "example.test",
			"https://example.test/p?q"},
		{"root", "redirect_https = true\nhttps_port = 8443", "/", "example.test", "https://example.test:8443/"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := tlsGateway(t, tc.extra, be.Addr)
			for _, method := range []string{"GET", "POST"} {
				resp, _ := rawRoundTrip(t, g.Addr, crlf(method+" "+tc.target+" HTTP/1.1\nHost: "+tc.host+"\nContent-Length: 0\n\n"))
				if resp.StatusCode != 308 {
					t.Errorf("%s: status %d, want 308", method, resp.StatusCode)
				}
				if got := resp.Header.Get("Location"); got != tc.want {
					t.Errorf("%s: Location = %q, want %q", method, got, tc.want)
				}
			}
			if n := len(be.Requests()); n != 0 {
				t.Errorf("backend got %d requests", n)
			}
		})
	}
	t.Run("absolute-form request target", func(t *testing.T) {
		g := tlsGateway(t, "redirect_https = true\nhttps_port = 8443", be.Addr)
		resp, _ := rawRoundTrip(t, g.Addr, crlf("GET http://example.test/abs?q=1 HTTP/1.1\nHost: example.test\n\n"))
		want := "https://example.test:8443/abs?q=1"
		if got := resp.Header.Get("Location"); resp.StatusCode != 308 || got != want {
			t.Errorf("status %d Location %q, want 308 %q", resp.StatusCode, got, want)
		}
	})
}

// TestE2EUpstreamTLS: an upstream with tls = true is spoken to over TLS,
// whatever the client's listener is.
func TestE2EUpstreamTLS(t *testing.T) {
	be := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "tls backend saw %s %s", r.Method, r.URL.RequestURI())
	}))
	t.Cleanup(be.Close)
	g := startGateway(t, publicListener+upstreamTOML("backend", "tls = true\ntls_insecure_skip_verify = true", addrOf(be))+
		"[[routes]]\npath_prefix = \"/\"\nupstream = \"backend\"\n")
	resp, body := doReq(t, newClient(t), "GET", g.URL+"/over-tls?x=1", nil, nil)
	if resp.StatusCode != 200 || string(body) != "tls backend saw GET /over-tls?x=1" {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
}

// TestE2EPlainHTTPOnTLSListener: plain HTTP sent to the TLS listener gets
// a 400 JSON error saying so, not a silently closed connection; TLS
// clients are served as before.
func TestE2EPlainHTTPOnTLSListener(t *testing.T) {
	be := newRawHTTPBackend(t, nil)
	g := tlsGateway(t, "", be.Addr)
	c, br := dialRaw(t, g.G.ListenerAddr("tls"))
	io.WriteString(c, crlf("GET / HTTP/1.1\nHost: b.test\n\n"))
	resp, body := readResp(t, br, "GET")
	if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/json" ||
		!strings.Contains(string(body), `"error":"tls_required"`) {
		t.Fatalf("plain HTTP on the TLS port: %d %s", resp.StatusCode, body)
	}
	if n := len(be.Requests()); n != 0 {
		t.Fatalf("the target got %d requests", n)
	}
	tc := tlsDial(t, g.G.ListenerAddr("tls"), "b.test")
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(tc, crlf("GET / HTTP/1.1\nHost: b.test\n\n"))
	if resp, body := readResp(t, bufio.NewReader(tc), "GET"); resp.StatusCode != 200 {
		t.Fatalf("over TLS: %d %s", resp.StatusCode, body)
	}
}
