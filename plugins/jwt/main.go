// jwt admits requests that carry a valid JSON Web Token (RFC 7519, signed
// JWS compact form) and forwards chosen claims upstream. Config (JSON):
//
//	{
//	  "keys": [                                     // static keys; and/or jwks
//	    {"kid": "k1", "alg": "RS256", "pem": "-----BEGIN PUBLIC KEY-----\n..."},
//	    {"kid": "h1", "alg": "HS256", "secret": "...", "encoding": "raw"}  // raw | base64 | base64url
//	  ],
//	  "jwks": {                                     // a JWK Set fetched from a gateway upstream
//	    "upstream": "idp",                          // required: the upstream's name
//	    "path": "/.well-known/jwks.json",           // default /.well-known/jwks.json
//	    "authority": "idp.example.com",             // :authority / Host (default the upstream's name)
//	    "refresh": "10m",                           // refetched when older (default 10m)
//	    "timeout": "2s",                            // of one fetch (default 2s)
//	    "share": true                               // share the set between VMs (default true)
//	  },
//	  "algorithms": ["RS256", "ES256"],             // accepted algs (default all supported)
//	  "issuers": ["https://idp.example.com"],       // accepted iss (default any)
//	  "audiences": ["api"],                         // accepted aud (default any)
//	  "clock_skew": "30s",                          // leeway for exp, nbf, iat (default 30s)
//	  "require_exp": true,                          // refuse tokens without exp (default true)
//	  "header": "Authorization",                    // "Bearer <token>" (default Authorization; "" = none)
//	  "query": "access_token",                      // else this query parameter (default none)
//	  "cookie": "",                                 // else this cookie (default none)
//	  "forward_claims": {"sub": "X-User", "scope": "X-Scopes"},
//	  "hide_token": false,                          // remove the token before forwarding
//	  "realm": "wasmgate"                           // of WWW-Authenticate
//	}
//
// Verification is the plugins/internal/jwt package's: a fixed allow-list
// of algorithms (never "none"), keys matched to algorithms by type, keys
// referenced by the token itself ignored. Unknown fields, a key that does
// not parse or can never be used, a bad duration or algorithm name refuse
// the configuration, with the field named.
//
// # Requests
//
// The headers of forward_claims are removed from every request first, so
// a client can never supply them itself. The token is the header's Bearer
// credentials (scheme case-insensitive; for a header other than
// Authorization a bare token is accepted too), else the query parameter,
// else the cookie. Without one: 401 with `WWW-Authenticate: Bearer
// realm="..."`. Different tokens in two of those places: 400 with
// error="invalid_request" (an upstream reading the other one must not take
// it for verified). A token that fails: 401 with error="invalid_token" and
// a short error_description (RFC 6750 section 3), the same reason in the
// JSON body: {"error":"invalid_token","message":"token expired"}. A valid
// one: each forwarded claim present is set (Claims.HeaderValue: strings as
// is, string arrays comma-joined, other values as JSON; a claim with a
// control character is not forwarded) and, with hide_token, the token is
// removed from wherever it was.
//
// Verifying costs milliseconds in Wasm (RS256 about 3 ms, HS256 about
// 0.4 ms), so each VM remembers up to 1024 verified tokens, by SHA-256,
// with the headers they set: until the token's exp (plus clock_skew), for
// at most 5 minutes, and forgets them all when its key set changes. A
// token only ever verified once is no cheaper; refusals are never
// remembered.
//
// # The key set
//
// The JWK Set is fetched with a callout from the request that first needs
// it, which waits for the answer; the VM keeps it, and the first request
// after "refresh" fetches it again while the other requests go on with the
// keys in hand. A token whose kid is unknown (or that no key can verify
// at all) makes a request refetch the set, at most once per 30 s, for key
// rotation. A fetch that fails (no answer, a status other than 200, a set
// that does not parse or has no usable key) leaves the keys in use as they
// are, and is retried after 30 s, or after 1 s while there are no keys at
// all; a request that finds no key at all gets 503 {"error":
// "jwks_unavailable"}. With share, a fetched set is put in shared data
// (under the plugin's name and a hash of the set's address) so that the
// pool's other VMs adopt it instead of fetching it. Shared data is open to
// every plugin of the gateway: set share to false where plugins from
// sources less trusted than this configuration run in the same gateway.
//
// Requests that need the set while another request of the same VM is
// fetching it fetch it themselves (at most 8 fetches in flight per VM;
// beyond that they are answered from the keys in hand, or with 503). They
// cannot wait for the other fetch: wasmgate lets a callout's answer act on
// the request that made it only, and continues at once a request that
// paused without a callout of its own, so a request made to wait would go
// upstream unverified.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/wasmgate/wasmgate/plugins/internal/httptoken"
	"github.com/wasmgate/wasmgate/plugins/internal/jwt"
	proxywasm "github.com/wasmgate/wasmgate/sdk/go"
)

// How the key set is kept.
const (
	// kidRefetchEvery bounds the refetches an unknown kid causes.
	kidRefetchEvery = 30 * time.Second
	// staleRetry spaces refresh attempts after a failure, while the stale
	// keys still serve.
	staleRetry = 30 * time.Second
	// coldRetry spaces fetch attempts while there are no keys at all.
	coldRetry = time.Second
	// maxInflight bounds a VM's concurrent fetches.
	maxInflight = 8
	// lostGrace is how long past its timeout a fetch is waited for: on
	// hosts that drop a callout's answer when its request ends first, the
	// fetch is then taken as lost.
	lostGrace = 5 * time.Second
	// sharedCheckEvery bounds how often shared data is read for a set
	// another VM fetched.
	sharedCheckEvery = time.Second
	// cacheSize and cacheTTL bound the verdicts remembered.
	cacheSize = 1024
	cacheTTL  = 5 * time.Minute
)

type plugin struct {
	st   *settings
	keys keyState
	// verdicts remembers tokens verified, by SHA-256 of the token, until
	// they expire (at most cacheTTL): verifying costs milliseconds in Wasm.
	verdicts map[[32]byte]*verdict
}

// verdict is what admitting a verified token does: the headers it sets.
type verdict struct {
	until   time.Time
	headers [][2]string
}

// keyState is the VM's key set and the bookkeeping of its fetches.
type keyState struct {
	all         jwt.KeySet // the static keys, then the fetched ones
	loaded      bool       // a fetched set is in all
	fetchedAt   time.Time  // when the set in all was fetched (by any VM)
	lastAttempt time.Time  // when this VM last started a fetch
	lastFailure time.Time  // when this VM's last fetch failed, if it did since the last success
	sharedSeen  time.Time  // when shared data was last read
	inflight    map[uint32]time.Time
	nextID      uint32
}

func (p *plugin) OnConfigure(raw []byte) error {
	st, err := parseConfig(raw)
	if err != nil {
		return err
	}
	p.st = st
	p.keys = keyState{all: st.static, inflight: map[uint32]time.Time{}}
	p.verdicts = map[[32]byte]*verdict{}
	return nil
}

func (p *plugin) NewHTTP() proxywasm.HTTP { return &request{p: p} }

// sources is where a request's token was found: a set of these bits.
type sources uint8

const (
	fromHeader sources = 1 << iota
	fromQuery
	fromCookie
)

// request handles one request; the SDK reuses it (Resetter).
type request struct {
	p     *plugin
	from  sources
	sum   [32]byte // SHA-256 of the token
	token string   // the token, kept when it must be verified
	// header and cookie are the first values of the token's header and
	// of Cookie, as read, when the token came from them: the ones
	// forwarded (see admit). Their memory is reused.
	header, cookie []byte
	vals           [][]byte // the token header's values, reused
}

func (r *request) Reset() {
	r.from, r.sum, r.token = 0, [32]byte{}, ""
	r.header, r.cookie = r.header[:0], r.cookie[:0]
}

func (r *request) OnRequestHeaders(s proxywasm.Stream, _ bool) proxywasm.Action {
	p := r.p
	st := p.st
	h := s.RequestHeaders()
	for _, f := range st.forward {
		_ = h.Remove(f.header)
	}
	tok, from, conflict, header, cookie := st.findToken(h, &r.vals)
	if conflict {
		return respond(s, &st.conflict)
	}
	if from == 0 {
		return respond(s, &st.missing)
	}
	r.from = from
	if !st.hide { // kept to forward alone (see admit), maybe after a fetch
		r.header = append(r.header[:0], header...)
		r.cookie = append(r.cookie[:0], cookie...)
	}
	r.sum = proxywasm.SHA256(tok)
	now := proxywasm.Now()
	if st.jwks != nil && p.needFetch(now) {
		r.token = string(tok)
		if r.fetch(s, now) {
			return proxywasm.Pause
		}
	} else if v := p.lookup(r.sum, now); v != nil {
		r.admit(s, v)
		return proxywasm.Continue
	}
	r.token = string(tok)
	return r.verify(s, now, true)
}

// verify verifies the request's token and admits or refuses the request.
// With mayRefetch, a token signed by a key the VM does not know may start
// a fetch of the key set instead, and Pause; the fetch's answer then calls
// verify again without.
func (r *request) verify(s proxywasm.Stream, now time.Time, mayRefetch bool) proxywasm.Action {
	p := r.p
	st := p.st
	if len(p.keys.all) == 0 {
		// No keys yet, but a token refused whatever the keys (not a JWT,
		// alg none) is the client's fault, not the key set's: 401.
		if err := jwt.Precheck(r.token, st.opts); err != nil {
			return respond(s, &st.invalid[reason(err)])
		}
		return respond(s, &st.unavailable)
	}
	claims, err := jwt.Verify(r.token, p.keys.all, st.opts, now)
	if err != nil && mayRefetch && st.jwks != nil && p.unknownKey(r.token, err) {
		// Perhaps the keys were rotated: another VM may have the new set,
		// or it is fetched.
		if p.adoptShared(now) {
			claims, err = jwt.Verify(r.token, p.keys.all, st.opts, now)
		}
		if err != nil && p.mayRefetch(now) && r.fetch(s, now) {
			return proxywasm.Pause
		}
	}
	if err != nil {
		if proxywasm.Enabled(proxywasm.LevelDebug) {
			proxywasm.LogDebug("jwt: token refused: " + err.Error())
		}
		return respond(s, &st.invalid[reason(err)])
	}
	r.admit(s, p.remember(r.sum, claims, now))
	return proxywasm.Continue
}

// admit forwards the claims and hides the token, or forwards only the
// header value that was checked: an upstream reading another (a second
// Authorization or Cookie header) must not take it for verified. A
// second token in the query or the Cookie header read is a conflict
// already (findToken).
func (r *request) admit(s proxywasm.Stream, v *verdict) {
	h := s.RequestHeaders()
	for _, kv := range v.headers {
		_ = h.Set(kv[0], kv[1])
	}
	if r.p.st.hide {
		r.hideToken(h)
		return
	}
	if r.from&fromHeader != 0 {
		_ = h.SetBytes(r.p.st.header, r.header)
	}
	if r.from&fromCookie != 0 {
		_ = h.SetBytes("cookie", r.cookie)
	}
}

// lookup is the verdict remembered for a token, if it still holds.
func (p *plugin) lookup(sum [32]byte, now time.Time) *verdict {
	v := p.verdicts[sum]
	if v == nil {
		return nil
	}
	if !now.Before(v.until) {
		delete(p.verdicts, sum)
		return nil
	}
	return v
}

// remember makes the verdict for a verified token and keeps it until the
// token expires (the skew included, as Verify allows), for at most
// cacheTTL. Only a changed key set can make a verified token fail before
// then (nbf and iat only ever pass with time), and installing one forgets
// every verdict. A full cache forgets an arbitrary entry (map iteration
// starts at a random place).
func (p *plugin) remember(sum [32]byte, c *jwt.Claims, now time.Time) *verdict {
	v := &verdict{until: now.Add(cacheTTL)}
	for _, f := range p.st.forward {
		if val, ok := c.HeaderValue(f.claim); ok {
			v.headers = append(v.headers, [2]string{f.header, val})
		}
	}
	if n, ok := c.Raw["exp"].(json.Number); ok {
		// Verify has checked that exp is a number; the bound keeps the
		// conversion in range (a later exp is left to cacheTTL).
		if exp, err := n.Float64(); err == nil && exp < 1<<40 {
			sec := math.Floor(exp)
			until := time.Unix(int64(sec), int64((exp-sec)*1e9)).Add(max(p.st.opts.ClockSkew, 0))
			if until.Before(v.until) {
				v.until = until
			}
		}
	}
	if !now.Before(v.until) {
		return v
	}
	if len(p.verdicts) >= cacheSize {
		for k := range p.verdicts {
			delete(p.verdicts, k)
			break
		}
	}
	p.verdicts[sum] = v
	return v
}

func respond(s proxywasm.Stream, resp *response) proxywasm.Action {
	_ = s.Respond(resp.status, resp.headers, resp.body)
	return proxywasm.Pause
}

// reason maps a verification error to the reason told to the client.
func reason(err error) int {
	switch {
	case errors.Is(err, jwt.ErrExpired):
		// The package reports a missing exp under RequireExp as ErrExpired.
		if strings.Contains(err.Error(), `no "exp"`) {
			return reasonNoExp
		}
		return reasonExpired
	case errors.Is(err, jwt.ErrSignature):
		return reasonSignature
	case errors.Is(err, jwt.ErrNoKey):
		return reasonNoKey
	case errors.Is(err, jwt.ErrMalformed):
		return reasonMalformed
	case errors.Is(err, jwt.ErrAlgorithm):
		return reasonAlgorithm
	case errors.Is(err, jwt.ErrNotYetValid):
		return reasonNotYetValid
	case errors.Is(err, jwt.ErrIssuedInFuture):
		return reasonIssuedInFuture
	case errors.Is(err, jwt.ErrIssuer):
		return reasonIssuer
	case errors.Is(err, jwt.ErrAudience):
		return reasonAudience
	}
	return reasonInvalid
}

// ---- the key set

// needFetch reports whether this request should fetch the key set before
// verifying: there is none yet, or it is due for refresh and no other
// request of the VM is refreshing it.
func (p *plugin) needFetch(now time.Time) bool {
	k := &p.keys
	src := p.st.jwks
	if k.loaded && now.Sub(k.fetchedAt) < src.refresh {
		return false
	}
	p.adoptShared(now)
	if k.loaded && now.Sub(k.fetchedAt) < src.refresh {
		return false
	}
	if !k.loaded {
		return k.lastFailure.IsZero() || now.Sub(k.lastFailure) >= coldRetry
	}
	return k.fetching(now, src.timeout) == 0 && (k.lastFailure.IsZero() || now.Sub(k.lastFailure) >= staleRetry)
}

// mayRefetch reports whether an unknown key may cause a fetch now.
func (p *plugin) mayRefetch(now time.Time) bool {
	last := p.keys.lastAttempt
	if p.keys.fetchedAt.After(last) {
		last = p.keys.fetchedAt
	}
	return now.Sub(last) >= kidRefetchEvery
}

// unknownKey reports whether err could come from a key the VM does not
// have yet: no key fits the token's algorithm, or its kid names none.
func (p *plugin) unknownKey(token string, err error) bool {
	if errors.Is(err, jwt.ErrNoKey) {
		return true
	}
	if !errors.Is(err, jwt.ErrSignature) {
		return false
	}
	kid := tokenKid(token)
	if kid == "" {
		return false
	}
	for i := range p.keys.all {
		if p.keys.all[i].ID == kid {
			return false
		}
	}
	return true
}

// tokenKid is the kid of a token's header ("" when it has none). It is
// only a hint for refetching: Verify checks everything.
func tokenKid(token string) string {
	dot := strings.IndexByte(token, '.')
	if dot < 0 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(token[:dot])
	if err != nil {
		return ""
	}
	var h map[string]json.RawMessage
	if json.Unmarshal(b, &h) != nil {
		return ""
	}
	var kid string
	if json.Unmarshal(h["kid"], &kid) != nil {
		return ""
	}
	return kid
}

// fetching counts the VM's fetches in flight, forgetting those whose
// answer is overdue.
func (k *keyState) fetching(now time.Time, timeout time.Duration) int {
	for id, started := range k.inflight {
		if now.Sub(started) > timeout+lostGrace {
			delete(k.inflight, id)
		}
	}
	return len(k.inflight)
}

// fetch starts a fetch of the key set for this request; false when it
// could not (too many in flight, or the callout was refused).
func (r *request) fetch(s proxywasm.Stream, now time.Time) bool {
	p := r.p
	k := &p.keys
	src := p.st.jwks
	if k.fetching(now, src.timeout) >= maxInflight {
		return false
	}
	k.lastAttempt = now
	k.nextID++
	id := k.nextID
	err := s.Callout(src.upstream, src.headers, nil, src.timeout, func(s proxywasm.Stream, resp *proxywasm.CalloutResponse) {
		r.fetched(s, resp, id)
	})
	if errors.Is(err, proxywasm.ErrBadArgument) {
		// What a host answers for an upstream it does not have (our
		// headers are well formed): say which setting names it.
		p.failed(now, "jwks.upstream: the gateway has no upstream named "+strconv.Quote(src.upstream))
		return false
	}
	if err != nil {
		p.failed(now, "cannot call upstream "+src.upstream+": "+err.Error())
		return false
	}
	k.inflight[id] = now
	return true
}

// fetched takes a fetch's answer, then decides the request that made it.
func (r *request) fetched(s proxywasm.Stream, resp *proxywasm.CalloutResponse, id uint32) {
	p := r.p
	now := proxywasm.Now()
	delete(p.keys.inflight, id)
	p.store(resp, now)
	if r.verify(s, now, false) == proxywasm.Continue {
		if err := s.Resume(); err != nil {
			proxywasm.LogError("jwt: cannot resume the request: " + err.Error())
		}
	}
}

// store installs a fetched key set, or notes the failure.
func (p *plugin) store(resp *proxywasm.CalloutResponse, now time.Time) {
	src := p.st.jwks
	status := resp.Status()
	if status == 0 {
		p.failed(now, "no answer from upstream "+src.upstream+" (no such upstream, no connection, or no response within "+src.timeout.String()+")")
		return
	}
	if status != 200 {
		p.failed(now, "upstream "+src.upstream+" answered "+strconv.Itoa(status))
		return
	}
	body := resp.Body()
	set, skipped, err := jwt.ParseJWKS(body)
	if err == nil && len(set) == 0 {
		err = errors.New("the set has no usable key (" + strconv.Itoa(skipped) + " skipped)")
	}
	if err != nil {
		p.failed(now, err.Error())
		return
	}
	p.install(set, now)
	p.share(body, now)
}

func (p *plugin) install(set jwt.KeySet, fetchedAt time.Time) {
	k := &p.keys
	all := make(jwt.KeySet, 0, len(p.st.static)+len(set))
	k.all = append(append(all, p.st.static...), set...)
	k.loaded = true
	k.fetchedAt = fetchedAt
	k.lastFailure = time.Time{}
	// A verdict may rest on a key the new set no longer has.
	clear(p.verdicts)
}

func (p *plugin) failed(now time.Time, why string) {
	k := &p.keys
	k.lastFailure = now
	state := "no keys yet"
	if k.loaded {
		state = "keeping the keys fetched at " + k.fetchedAt.UTC().Format(time.RFC3339)
	}
	proxywasm.LogWarn("jwt: fetching the JWK Set failed (" + state + "): " + why)
}

// The shared entry is the fetch time (Unix nanoseconds, little-endian)
// followed by the JWK Set as fetched.
const stampLen = 8

// share offers a fetched set to the other VMs, unless one of them has
// stored a newer one.
func (p *plugin) share(body []byte, now time.Time) {
	key := p.st.jwks.shareKey
	if key == "" {
		return
	}
	old, cas, err := proxywasm.SharedData(key)
	if err != nil {
		cas = 0
	} else if len(old) >= stampLen && int64(binary.LittleEndian.Uint64(old)) >= now.UnixNano() {
		return
	}
	v := make([]byte, stampLen+len(body))
	binary.LittleEndian.PutUint64(v, uint64(now.UnixNano()))
	copy(v[stampLen:], body)
	if err := proxywasm.SetSharedData(key, v, cas); err != nil && !errors.Is(err, proxywasm.ErrCASMismatch) {
		proxywasm.LogWarn("jwt: cannot share the JWK Set: " + err.Error())
	}
}

// adoptShared installs the set another VM stored when it is newer than
// the VM's own; it reports whether it did.
func (p *plugin) adoptShared(now time.Time) bool {
	k := &p.keys
	key := p.st.jwks.shareKey
	if key == "" || (!k.sharedSeen.IsZero() && now.Sub(k.sharedSeen) < sharedCheckEvery) {
		return false
	}
	k.sharedSeen = now
	v, _, err := proxywasm.SharedData(key)
	if err != nil || len(v) <= stampLen {
		return false
	}
	at := time.Unix(0, int64(binary.LittleEndian.Uint64(v)))
	if k.loaded && !at.After(k.fetchedAt) {
		return false
	}
	set, _, err := jwt.ParseJWKS(v[stampLen:])
	if err != nil || len(set) == 0 {
		return false
	}
	p.install(set, at)
	return true
}

// ---- finding and hiding the token

// findToken is the request's token: from the header without a copy
// (valid in this callback only), from the query or a cookie decoded. from
// says where it was found; conflict, that another of the places read holds
// another token, or the query or the cookies hold two (RFC 6750 section 2
// allows one method per request, and an upstream reading the other token
// must not take it as verified). header and cookie are the values read
// of the token's header and of Cookie when the token came from them.
func (st *settings) findToken(h proxywasm.HeaderMap, vals *[][]byte) (tok []byte, from sources, conflict bool, header, cookie []byte) {
	take := func(t []byte, src sources) {
		switch {
		case from == 0:
			tok, from = t, src
		case bytes.Equal(t, tok):
			from |= src
		default:
			conflict = true
		}
	}
	if st.header != "" {
		// Every line: a second Authorization with another token must be
		// a conflict, not ride along to the target beside the one
		// verified.
		*vals, _ = h.Values(st.header, (*vals)[:0])
		for _, v := range *vals {
			if t, ok := bearer(v, st.bareOK); ok {
				take(t, fromHeader)
				if header == nil {
					header = v
				}
			}
		}
	}
	if st.query != "" {
		if path, err := h.Peek(":path"); err == nil {
			t, ok, two := httptoken.QueryParam(path, st.query)
			if ok {
				take([]byte(t), fromQuery)
			}
			conflict = conflict || two
		}
	}
	if st.cookie != "" {
		if v, err := h.Peek("cookie"); err == nil {
			t, ok, two := cookieValue(v, st.cookie)
			if ok {
				take([]byte(t), fromCookie)
				cookie = v
			}
			conflict = conflict || two
		}
	}
	return tok, from, conflict, header, cookie
}

// bearer reads "Bearer <token>" (RFC 6750 section 2.1), or with bareOK a
// value that is a token alone.
func bearer(v []byte, bareOK bool) ([]byte, bool) {
	v = trimOWS(v)
	if len(v) > 7 && httptoken.EqualFold(v[:6], "bearer") && (v[6] == ' ' || v[6] == '\t') {
		t := trimOWS(v[7:])
		return t, len(t) > 0
	}
	if bareOK && len(v) > 0 && bytes.IndexAny(v, " \t") < 0 {
		return v, true
	}
	return nil, false
}

// cookieValue is the value of cookie name in a Cookie header; two, that
// the cookie comes again with another value.
func cookieValue(header []byte, name string) (t string, ok, two bool) {
	var first []byte
	seen := false
	for len(header) > 0 {
		var part []byte
		part, header, _ = bytes.Cut(header, []byte{';'})
		k, v, found := bytes.Cut(trimOWS(part), []byte{'='})
		if !found || string(trimOWS(k)) != name {
			continue
		}
		v = trimOWS(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		if !seen {
			seen, first = true, v
		} else if !bytes.Equal(v, first) {
			return string(first), len(first) > 0, true
		}
	}
	return string(first), len(first) > 0, false
}

// withoutCookie is a Cookie header without cookie name.
func withoutCookie(header, name string) string {
	var kept []string
	for _, part := range strings.Split(header, ";") {
		part = strings.Trim(part, " \t")
		k, _, _ := strings.Cut(part, "=")
		if part != "" && strings.Trim(k, " \t") != name {
			kept = append(kept, part)
		}
	}
	return strings.Join(kept, "; ")
}

// hideToken removes the token from where it was found.
func (r *request) hideToken(h proxywasm.HeaderMap) {
	st := r.p.st
	if r.from&fromHeader != 0 {
		_ = h.Remove(st.header)
	}
	if r.from&fromQuery != 0 {
		if path, err := h.Get(":path"); err == nil {
			_ = h.Set(":path", httptoken.WithoutParam(path, st.query))
		}
	}
	if r.from&fromCookie != 0 {
		if v, err := h.Get("cookie"); err == nil {
			if rest := withoutCookie(v, st.cookie); rest != "" {
				_ = h.Set("cookie", rest)
			} else {
				_ = h.Remove("cookie")
			}
		}
	}
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func init() { proxywasm.Register(func() proxywasm.Plugin { return &plugin{} }) }

func main() {}
