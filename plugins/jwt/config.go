package main

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wasmgate/wasmgate/plugins/internal/httptoken"
	"github.com/wasmgate/wasmgate/plugins/internal/jwt"
	"github.com/wasmgate/wasmgate/plugins/internal/strictjson"
	proxywasm "github.com/wasmgate/wasmgate/sdk/go"
)

// config is the plugin's configuration as written.
type config struct {
	Keys          []keyConfig       `json:"keys"`
	JWKS          *jwksConfig       `json:"jwks"`
	Algorithms    []string          `json:"algorithms"`
	Issuers       []string          `json:"issuers"`
	Audiences     []string          `json:"audiences"`
	ClockSkew     *string           `json:"clock_skew"`
	RequireExp    *bool             `json:"require_exp"`
	Header        *string           `json:"header"`
	Query         string            `json:"query"`
	Cookie        string            `json:"cookie"`
	ForwardClaims map[string]string `json:"forward_claims"`
	HideToken     bool              `json:"hide_token"`
	Realm         *string           `json:"realm"`
}

type keyConfig struct {
	Kid      string `json:"kid"`
	Alg      string `json:"alg"`
	PEM      string `json:"pem"`
	Secret   string `json:"secret"`
	Encoding string `json:"encoding"`
}

type jwksConfig struct {
	Upstream  string `json:"upstream"`
	Path      string `json:"path"`
	Authority string `json:"authority"`
	Refresh   string `json:"refresh"`
	Timeout   string `json:"timeout"`
	Share     *bool  `json:"share"`
}

// Defaults.
const (
	defaultHeader    = "authorization"
	defaultRealm     = "wasmgate"
	defaultSkew      = 30 * time.Second
	defaultJWKSPath  = "/.well-known/jwks.json"
	defaultRefresh   = 10 * time.Minute
	defaultTimeout   = 2 * time.Second
	minRefresh       = time.Second
	maxFetchTimeout  = time.Minute
	maxClockSkew     = time.Hour
	defaultSharePart = "jwt.jwks"
)

// settings is the configuration checked and compiled for the request path.
type settings struct {
	static jwt.KeySet
	opts   jwt.Options

	header string // lower case; "" when the header is not read
	bareOK bool   // header is not Authorization: a bare token is accepted too
	query  string
	cookie string

	forward []forward
	hide    bool

	jwks *jwksSource // nil without "jwks"

	missing     response
	conflict    response
	invalid     [nReasons]response
	unavailable response
}

// forward sends a claim upstream in a request header.
type forward struct{ claim, header string }

// jwksSource is where and how often the key set is fetched.
type jwksSource struct {
	upstream string
	headers  [][2]string // the callout's request headers
	refresh  time.Duration
	timeout  time.Duration
	shareKey string // shared-data key of the fetched set; "" when not shared
}

// response is a local response, built once at configuration.
type response struct {
	status  int
	headers [][2]string
	body    []byte
}

// parseConfig checks raw and compiles it. Errors name the field at fault.
func parseConfig(raw []byte) (*settings, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, errors.New("a JSON object with keys or jwks is required")
	}
	var c config
	if err := strictjson.Decode(raw, &c); err != nil {
		return nil, err
	}
	st := &settings{hide: c.HideToken}

	for i, a := range c.Algorithms {
		if !jwt.Supported(a) {
			return nil, fmt.Errorf("algorithms[%d]: unsupported algorithm %q (want HS256, HS384, HS512, RS256, RS384, RS512, ES256, ES384 or EdDSA)", i, a)
		}
	}
	st.opts.Algorithms = c.Algorithms
	for i, iss := range c.Issuers {
		if iss == "" {
			return nil, fmt.Errorf("issuers[%d]: empty", i)
		}
	}
	st.opts.Issuers = c.Issuers
	for i, aud := range c.Audiences {
		if aud == "" {
			return nil, fmt.Errorf("audiences[%d]: empty", i)
		}
	}
	st.opts.Audiences = c.Audiences
	st.opts.ClockSkew = defaultSkew
	if c.ClockSkew != nil {
		d, err := duration(*c.ClockSkew, "clock_skew", 0, maxClockSkew)
		if err != nil {
			return nil, err
		}
		st.opts.ClockSkew = d
	}
	st.opts.RequireExp = c.RequireExp == nil || *c.RequireExp

	kids := map[string]bool{}
	for i, k := range c.Keys {
		key, err := staticKey(k, c.Algorithms)
		if err != nil {
			return nil, fmt.Errorf("keys[%d]%s", i, err)
		}
		if k.Kid != "" {
			if kids[k.Kid] {
				return nil, fmt.Errorf("keys[%d].kid: %q is a duplicate", i, k.Kid)
			}
			kids[k.Kid] = true
		}
		st.static = append(st.static, key)
	}
	if c.JWKS != nil {
		src, err := jwksFrom(c.JWKS)
		if err != nil {
			return nil, err
		}
		st.jwks = src
	}
	if len(st.static) == 0 && st.jwks == nil {
		return nil, errors.New("at least one of keys and jwks is required")
	}

	st.header = defaultHeader
	if c.Header != nil {
		st.header = strings.ToLower(*c.Header)
		if st.header != "" && !httptoken.IsToken(st.header) {
			return nil, fmt.Errorf("header: %q is not a header name", *c.Header)
		}
		if st.header == "cookie" {
			return nil, fmt.Errorf("header: %q cannot carry a token", *c.Header)
		}
	}
	st.bareOK = st.header != defaultHeader
	if c.Query != "" && httptoken.HasCTL(c.Query) {
		return nil, errors.New("query: must not contain control characters")
	}
	st.query = c.Query
	if c.Cookie != "" && !httptoken.IsToken(c.Cookie) {
		return nil, fmt.Errorf("cookie: %q is not a cookie name", c.Cookie)
	}
	st.cookie = c.Cookie
	if st.header == "" && st.query == "" && st.cookie == "" {
		return nil, errors.New(`header: "" reads no header, and neither query nor cookie is set: the token has nowhere to come from`)
	}

	seen := map[string]string{}
	for claim, header := range c.ForwardClaims {
		name := strings.ToLower(header)
		at := "forward_claims." + claim
		switch {
		case claim == "":
			return nil, errors.New("forward_claims: empty claim name")
		case !httptoken.IsToken(name):
			return nil, fmt.Errorf("%s: %q is not a header name", at, header)
		case reservedHeader(name) || name == st.header:
			return nil, fmt.Errorf("%s: %q cannot be set from a claim", at, header)
		case seen[name] != "":
			return nil, fmt.Errorf("%s: header %q is also set from claim %q", at, header, seen[name])
		}
		seen[name] = claim
		st.forward = append(st.forward, forward{claim: claim, header: name})
	}
	// Map order is random; a fixed order makes the headers' order fixed.
	sortForwards(st.forward)

	realm := defaultRealm
	if c.Realm != nil {
		realm = *c.Realm
	}
	if !quotable(realm) {
		return nil, errors.New(`realm: must be printable ASCII without '"' or '\'`)
	}
	st.buildResponses(realm)
	return st, nil
}

// staticKey builds a configured key; the error starts with the member at
// fault (".pem: ...").
func staticKey(k keyConfig, allowed []string) (jwt.Key, error) {
	if k.Alg != "" {
		if !jwt.Supported(k.Alg) {
			return jwt.Key{}, fmt.Errorf(".alg: unsupported algorithm %q", k.Alg)
		}
		if len(allowed) > 0 && !slices.Contains(allowed, k.Alg) {
			return jwt.Key{}, fmt.Errorf(".alg: %s is not in algorithms, so this key could never be used", k.Alg)
		}
	}
	switch {
	case k.PEM != "" && k.Secret != "":
		return jwt.Key{}, errors.New(": both pem and secret are set; want exactly one")
	case k.PEM != "":
		if k.Encoding != "" {
			return jwt.Key{}, errors.New(".encoding: applies to secret only")
		}
		key, err := jwt.ParsePublicKeyPEM(k.Kid, k.Alg, []byte(k.PEM))
		if err != nil {
			return jwt.Key{}, errors.New(".pem: " + strings.TrimPrefix(err.Error(), "jwt: "))
		}
		return key, nil
	case k.Secret != "":
		switch jwt.SecretEncoding(k.Encoding) {
		case "", jwt.SecretRaw, jwt.SecretBase64, jwt.SecretBase64URL:
		default:
			return jwt.Key{}, fmt.Errorf(".encoding: %q is not raw, base64 or base64url", k.Encoding)
		}
		key, err := jwt.ParseSecret(k.Kid, k.Alg, k.Secret, jwt.SecretEncoding(k.Encoding))
		if err != nil {
			return jwt.Key{}, errors.New(".secret: " + strings.TrimPrefix(err.Error(), "jwt: "))
		}
		return key, nil
	}
	return jwt.Key{}, errors.New(": want one of pem and secret")
}

func jwksFrom(j *jwksConfig) (*jwksSource, error) {
	if j.Upstream == "" {
		return nil, errors.New("jwks.upstream: required when jwks is set")
	}
	if httptoken.HasCTL(j.Upstream) {
		return nil, errors.New("jwks.upstream: must not contain control characters")
	}
	path := j.Path
	if path == "" {
		path = defaultJWKSPath
	}
	if path[0] != '/' || strings.ContainsAny(path, " \t#") || httptoken.HasCTL(path) {
		return nil, fmt.Errorf("jwks.path: %q is not an absolute path", path)
	}
	authority := j.Authority
	if authority == "" {
		authority = j.Upstream
	}
	if strings.ContainsAny(authority, " \t/?#@") || httptoken.HasCTL(authority) {
		return nil, fmt.Errorf("jwks.authority: %q is not a host name", authority)
	}
	src := &jwksSource{
		upstream: j.Upstream,
		headers: [][2]string{
			{":method", "GET"}, {":path", path}, {":authority", authority}, {":scheme", "http"},
			{"accept", "application/json, application/jwk-set+json"},
		},
		refresh: defaultRefresh,
		timeout: defaultTimeout,
	}
	var err error
	if j.Refresh != "" {
		if src.refresh, err = duration(j.Refresh, "jwks.refresh", minRefresh, 0); err != nil {
			return nil, err
		}
	}
	if j.Timeout != "" {
		if src.timeout, err = duration(j.Timeout, "jwks.timeout", time.Millisecond, maxFetchTimeout); err != nil {
			return nil, err
		}
	}
	if j.Share == nil || *j.Share {
		// Keyed by the plugin's name (shared data is the whole host's) and
		// by where the set comes from, so that a reconfigured plugin never
		// adopts the set of another identity provider.
		name := "jwt"
		if v, err := proxywasm.Property("plugin_name"); err == nil && len(v) > 0 {
			name = string(v)
		}
		src.shareKey = shareKey(name, j.Upstream, authority, path)
	}
	return src, nil
}

// shareKey is the shared-data key of a fetched set: the plugin's name,
// then a hash of the set's address.
func shareKey(plugin, upstream, authority, path string) string {
	h := fnv.New64a()
	h.Write([]byte(upstream + "\x00" + authority + "\x00" + path))
	return plugin + "." + defaultSharePart + "." + strconv.FormatUint(h.Sum64(), 16)
}

// duration parses a Go duration for field, within [lo, hi] (hi 0: no bound).
func duration(s, field string, lo, hi time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a duration (like \"30s\" or \"10m\")", field, s)
	}
	if d < lo || (hi > 0 && d > hi) {
		if hi > 0 {
			return 0, fmt.Errorf("%s: %s is outside %s to %s", field, d, lo, hi)
		}
		return 0, fmt.Errorf("%s: %s is less than %s", field, d, lo)
	}
	return d, nil
}

// reservedHeader are headers a claim must never set: the request's framing
// and routing, and where credentials travel.
func reservedHeader(name string) bool {
	switch name {
	case "host", "content-length", "transfer-encoding", "connection", "keep-alive", "proxy-connection",
		"te", "trailer", "upgrade", "expect", "cookie", "authorization", "proxy-authorization":
		return true
	}
	return strings.HasPrefix(name, ":")
}

func sortForwards(f []forward) {
	for i := 1; i < len(f); i++ {
		for j := i; j > 0 && f[j].header < f[j-1].header; j-- {
			f[j], f[j-1] = f[j-1], f[j]
		}
	}
}

// The reasons a token is refused, each with its error_description.
const (
	reasonMalformed = iota
	reasonAlgorithm
	reasonNoKey
	reasonSignature
	reasonExpired
	reasonNoExp
	reasonNotYetValid
	reasonIssuedInFuture
	reasonIssuer
	reasonAudience
	reasonInvalid
	nReasons
)

var reasonText = [nReasons]string{
	reasonMalformed:      "malformed token",
	reasonAlgorithm:      "algorithm not accepted",
	reasonNoKey:          "unknown signing key",
	reasonSignature:      "bad signature",
	reasonExpired:        "token expired",
	reasonNoExp:          "token has no exp claim",
	reasonNotYetValid:    "token not yet valid",
	reasonIssuedInFuture: "token issued in the future",
	reasonIssuer:         "issuer not accepted",
	reasonAudience:       "audience not accepted",
	reasonInvalid:        "invalid token",
}

// buildResponses makes the 401s (RFC 6750 section 3) and the 503 once, so
// that refusing a request allocates nothing.
func (st *settings) buildResponses(realm string) {
	challenge := `Bearer realm="` + realm + `"`
	st.missing = response{401, [][2]string{
		{"content-type", "application/json"},
		{"www-authenticate", challenge},
		{"cache-control", "no-store"},
	}, []byte(`{"error":"invalid_token","message":"token missing"}` + "\n")}
	st.conflict = response{400, [][2]string{
		{"content-type", "application/json"},
		{"www-authenticate", challenge + `, error="invalid_request", error_description="more than one token"`},
		{"cache-control", "no-store"},
	}, []byte(`{"error":"invalid_request","message":"more than one token"}` + "\n")}
	for i, text := range reasonText {
		// The descriptions are fixed ASCII without quotes: safe both in
		// the quoted-string and in the JSON string.
		st.invalid[i] = response{401, [][2]string{
			{"content-type", "application/json"},
			{"www-authenticate", challenge + `, error="invalid_token", error_description="` + text + `"`},
			{"cache-control", "no-store"},
		}, []byte(`{"error":"invalid_token","message":"` + text + `"}` + "\n")}
	}
	st.unavailable = response{503, [][2]string{
		{"content-type", "application/json"},
		{"retry-after", "1"},
		{"cache-control", "no-store"},
	}, []byte(`{"error":"jwks_unavailable","message":"no signing keys are available"}` + "\n")}
}

// quotable reports whether s fits in a quoted-string without escapes.
func quotable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
