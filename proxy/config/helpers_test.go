package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// writeCert generates a self-signed ECDSA certificate for host and writes
// it and its key as PEM files into dir, returning their paths. Key material
// is never committed; every test run makes its own.
func writeCert(t testing.TB, dir, host string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(dir, host+".crt")
	keyFile = filepath.Join(dir, host+".key")
	writeFile(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})))
	return certFile, keyFile
}

var placeholderRE = regexp.MustCompile(`@[A-Z0-9_]+@`)

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// readTestdata returns testdata/name as a string.
func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// substitute replaces each @NAME@ placeholder in src by vars[NAME] and fails
// the test if a placeholder is left over, so a typo cannot pass silently.
func substitute(t testing.TB, src string, vars map[string]string) string {
	t.Helper()
	for k, v := range vars {
		src = strings.ReplaceAll(src, "@"+k+"@", v)
	}
	if left := placeholderRE.FindString(src); left != "" {
		t.Fatalf("placeholder %s left in config", left)
	}
	return src
}

// parseErrors parses src and returns the Error() text of every FieldError,
// failing the test if the config was accepted or the error is not Errors.
func parseErrors(t testing.TB, src string) []string {
	t.Helper()
	cfg, err := Parse([]byte(src), "gw.toml")
	if err == nil {
		t.Fatalf("config accepted, want errors:\n%s\nparsed: %+v", src, cfg)
	}
	var list Errors
	if !errors.As(err, &list) {
		t.Fatalf("error is %T (%v), want config.Errors", err, err)
	}
	if len(list) == 0 {
		t.Fatal("empty Errors returned as an error")
	}
	out := make([]string, len(list))
	for i, e := range list {
		out[i] = e.Error()
	}
	if got := err.Error(); got != strings.Join(out, "\n") {
		t.Errorf("Errors.Error() = %q, want the FieldErrors joined by newlines", got)
	}
	return out
}

// mustParse parses src and fails the test on any error.
func mustParse(t testing.TB, src string) *Config {
	t.Helper()
	cfg, err := Parse([]byte(src), "gw.toml")
	if err != nil {
		t.Fatalf("Parse: %v\nconfig:\n%s", err, src)
	}
	return cfg
}

func ptr[T any](v T) *T { return &v }

// regexpKey finds "key =" occurrences on a line, including inside inline
// tables, for TestFullTomlCoversSchema.
var regexpKey = regexp.MustCompile(`(?:^|[{,]\s*)"?([A-Za-z_][A-Za-z0-9_-]*)"?\s*=`)
