// basic-auth checks HTTP Basic credentials (RFC 7617). Config (JSON):
//
//	{
//	  "realm": "wasmgate",              // sent in WWW-Authenticate (default wasmgate)
//	  "consumer_header": "X-Consumer",  // sent upstream with the user's name (default X-Consumer)
//	  "hide_credentials": true,         // remove Authorization before forwarding (default true)
//	  "users": [
//	    {"username": "alice", "bcrypt": "$2a$10$..."},
//	    {"username": "bob", "sha256": "<64 hex digits of sha256(password)>"}
//	  ]
//	}
//
// Passwords are stored as hashes only: each user has exactly one of a
// bcrypt hash ($2a$, $2b$ or $2y$, as made by htpasswd -B or
// bcrypt.GenerateFromPassword) or the hex SHA-256 of the password, which
// is compared in constant time. Unknown fields, duplicate usernames and
// hashes that do not parse refuse the configuration.
//
// A request whose Authorization header is missing, is not "Basic
// base64(user:password)" or names a wrong user or password gets 401 with
// a JSON error and WWW-Authenticate: Basic realm="...", charset="UTF-8".
// An authenticated request is forwarded with the user's name in
// consumer_header (replacing every one the client sent) and, unless
// hide_credentials is false, without its Authorization header. When it
// is false, only the Authorization header that was checked (the first) is
// forwarded.
//
// # The cache of bcrypt verifications
//
// bcrypt is slow on purpose: tens of milliseconds per check at cost 10
// natively, several times that in Wasm. So that a client sending the same
// credentials on every request (as Basic clients do) pays for bcrypt once,
// each VM remembers up to 1024 successful bcrypt verifications, keyed by
// SHA-256("user:password") with the user as value; a full cache forgets
// an arbitrary entry. Failures are never cached: a wrong password always
// costs a bcrypt. The cache holds only hashes, never a password, and is
// emptied when the plugin is configured again (a changed password or a
// removed user takes effect at once). Its keys are fast hashes, the same
// strength as the sha256 users of the configuration: what memory
// disclosure of the VM would reveal is as weak as those.
//
// Verifying a password costs one bcrypt per cache miss, and the VM runs
// one request at a time: put a rate limit in front of this plugin on
// routes open to the internet, and give the plugin a call_timeout of
// seconds (a cost above 12 is accepted with a warning: each step doubles
// the time). An unknown username fails at once, without a bcrypt:
// usernames (consumer names) are not treated as secret.
//
// bcrypt uses at most 72 bytes of a password; longer passwords for bcrypt
// users are refused rather than compared on their first 72 bytes.
package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/wasmgate/wasmgate/sdk/go"
	"golang.org/x/crypto/bcrypt"

	"github.com/wasmgate/wasmgate/plugins/internal/httptoken"
	"github.com/wasmgate/wasmgate/plugins/internal/strictjson"
)

type config struct {
	Realm           string `json:"realm"`
	ConsumerHeader  string `json:"consumer_header"`
	HideCredentials *bool  `json:"hide_credentials"`
	Users           []struct {
		Username string `json:"username"`
		Bcrypt   string `json:"bcrypt"`
		SHA256   string `json:"sha256"`
	} `json:"users"`
}

// user is a configured user: one of bcrypt and sha256 is set.
type user struct {
	name   string
	bcrypt []byte
	sha256 *[32]byte
}

const (
	// cacheSize bounds the cache of successful bcrypt verifications.
	cacheSize = 1024
	// maxHeader bounds the Authorization header read (base64 part): more
	// is refused, so the reused decode buffer stays small.
	maxHeader = 4096
	// maxBcryptPassword is what bcrypt looks at of a password.
	maxBcryptPassword = 72
	// slowCost is the bcrypt cost above which the configuration is
	// accepted with a warning about the time a verification takes.
	slowCost = 12
)

type plugin struct {
	users          map[string]*user
	consumerHeader string
	hide           bool
	// challenge is the 401's headers, with WWW-Authenticate.
	challenge [][2]string
	// verified is the cache of successful bcrypt verifications:
	// SHA-256 of the decoded "user:password" to the user.
	verified map[[32]byte]*user
}

func (p *plugin) OnConfigure(raw []byte) error {
	var c config
	if len(bytes.TrimSpace(raw)) == 0 {
		return errors.New("a JSON object with users is required")
	}
	if err := strictjson.Decode(raw, &c); err != nil {
		return err
	}
	if c.Realm == "" {
		c.Realm = "wasmgate"
	}
	realm, err := quote(c.Realm)
	if err != nil {
		return errors.New("realm: " + err.Error())
	}
	if c.ConsumerHeader == "" {
		c.ConsumerHeader = "X-Consumer"
	}
	if !httptoken.IsToken(c.ConsumerHeader) {
		return fmt.Errorf("consumer_header: %q is not a header name", c.ConsumerHeader)
	}
	if strings.EqualFold(c.ConsumerHeader, "authorization") {
		return errors.New("consumer_header: must not be Authorization")
	}
	if len(c.Users) == 0 {
		return errors.New("users: at least one user is required")
	}
	users := make(map[string]*user, len(c.Users))
	for i, u := range c.Users {
		at := "users[" + strconv.Itoa(i) + "]"
		switch {
		case u.Username == "":
			return errors.New(at + ".username: required")
		case strings.IndexByte(u.Username, ':') >= 0:
			return errors.New(at + ".username: must not contain ':'")
		case httptoken.HasCTL(u.Username):
			return errors.New(at + ".username: must not contain control characters")
		case users[u.Username] != nil:
			return fmt.Errorf("%s.username: %q is a duplicate", at, u.Username)
		case u.Bcrypt != "" && u.SHA256 != "":
			return errors.New(at + ": both bcrypt and sha256 are set; want exactly one")
		case u.Bcrypt == "" && u.SHA256 == "":
			return errors.New(at + ": want exactly one of bcrypt and sha256")
		}
		nu := &user{name: u.Username}
		if u.Bcrypt != "" {
			cost, err := checkBcrypt(u.Bcrypt)
			if err != nil {
				return errors.New(at + ".bcrypt: " + err.Error())
			}
			if cost > slowCost {
				proxywasm.LogWarn(fmt.Sprintf("basic-auth: %s.bcrypt has cost %d: each uncached verification takes long in Wasm; "+
					"raise the plugin's call_timeout", at, cost))
			}
			nu.bcrypt = []byte(u.Bcrypt)
		} else {
			b, err := hex.DecodeString(u.SHA256)
			if err != nil || len(b) != sha256.Size {
				return errors.New(at + ".sha256: want 64 hex digits (the SHA-256 of the password)")
			}
			nu.sha256 = (*[32]byte)(b)
		}
		users[u.Username] = nu
	}
	p.users = users
	p.consumerHeader = c.ConsumerHeader
	p.hide = c.HideCredentials == nil || *c.HideCredentials
	p.challenge = [][2]string{
		{"content-type", "application/json"},
		{"www-authenticate", "Basic realm=" + realm + `, charset="UTF-8"`},
	}
	// A new configuration may change or remove users: forget what the
	// old one verified.
	p.verified = make(map[[32]byte]*user)
	return nil
}

// checkBcrypt validates a bcrypt hash and returns its cost.
func checkBcrypt(h string) (int, error) {
	if len(h) != 60 || !(strings.HasPrefix(h, "$2a$") || strings.HasPrefix(h, "$2b$") || strings.HasPrefix(h, "$2y$")) {
		return 0, errors.New("want a 60-character bcrypt hash starting $2a$, $2b$ or $2y$")
	}
	cost, err := bcrypt.Cost([]byte(h))
	if err != nil {
		return 0, err
	}
	// After "$2a$NN$": 22 characters of salt and 31 of hash, in bcrypt's
	// base64 alphabet.
	for i := 7; i < len(h); i++ {
		c := h[i]
		if !(c == '.' || c == '/' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return 0, fmt.Errorf("bad character %q in the salt or hash", c)
		}
	}
	return cost, nil
}

// quote makes s an RFC 9110 quoted-string.
func quote(s string) (string, error) {
	if httptoken.HasCTL(s) {
		return "", errors.New("must not contain control characters")
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String(), nil
}

func (p *plugin) NewHTTP() proxywasm.HTTP { return &request{p: p} }

// request handles one request; the SDK reuses it (Resetter), and with it
// the buffer credentials are decoded into, so that a request with cached
// or sha256 credentials allocates nothing here (but the copy of the
// forwarded Authorization when hide_credentials is false).
type request struct {
	p   *plugin
	buf []byte
}

// keepBuf is the largest decode buffer kept from request to request.
const keepBuf = 1024

func (r *request) Reset() {
	// The buffer held a password: wipe it before it is kept or dropped (a
	// dropped one stays in memory until the collector reuses it).
	clear(r.buf[:cap(r.buf)])
	if cap(r.buf) > keepBuf {
		r.buf = nil
	}
	r.buf = r.buf[:0]
}

// The 401 bodies, one per reason.
var (
	errMissing   = []byte(`{"error":"unauthorized","message":"authentication required"}` + "\n")
	errScheme    = []byte(`{"error":"unauthorized","message":"Basic authentication required"}` + "\n")
	errMalformed = []byte(`{"error":"unauthorized","message":"malformed Basic credentials"}` + "\n")
	errInvalid   = []byte(`{"error":"unauthorized","message":"invalid username or password"}` + "\n")
)

func (r *request) OnRequestHeaders(s proxywasm.Stream, _ bool) proxywasm.Action {
	h := s.RequestHeaders()
	authz, err := h.Peek("authorization")
	if err != nil {
		authz = nil
	}
	u, fail := r.authenticate(authz)
	if u == nil {
		_ = s.Respond(401, r.p.challenge, fail)
		return proxywasm.Pause
	}
	// Set replaces every value a client sent: no second consumer header
	// (or Authorization) gets past the plugin.
	if r.p.hide {
		_ = h.Remove("authorization")
	} else {
		// Only the first Authorization header was checked: forward that
		// one alone, so that the upstream cannot read another.
		_ = h.SetBytes("authorization", authz)
	}
	_ = h.Set(r.p.consumerHeader, u.name)
	return proxywasm.Continue
}

// authenticate checks an Authorization header's value: the user, or nil
// and the 401's body.
func (r *request) authenticate(authz []byte) (*user, []byte) {
	authz = bytes.TrimSpace(authz)
	if len(authz) == 0 {
		return nil, errMissing
	}
	// The scheme, case-insensitive, then one or more spaces.
	if len(authz) < 6 || !httptoken.EqualFold(authz[:5], "basic") || authz[5] != ' ' && authz[5] != '\t' {
		return nil, errScheme
	}
	enc := bytes.TrimLeft(authz[6:], " \t")
	if len(enc) == 0 || len(enc) > maxHeader {
		return nil, errMalformed
	}
	// Padding is optional for lenient clients.
	encoding := base64.StdEncoding
	if len(enc)%4 != 0 {
		encoding = base64.RawStdEncoding
	}
	n := encoding.DecodedLen(len(enc))
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	n, err := encoding.Decode(r.buf[:n], enc)
	if err != nil {
		return nil, errMalformed
	}
	creds := r.buf[:n]
	colon := bytes.IndexByte(creds, ':')
	if colon < 0 {
		return nil, errMalformed
	}
	name, password := creds[:colon], creds[colon+1:]
	u := r.p.users[string(name)] // no allocation: a map index
	if u == nil {
		return nil, errInvalid
	}
	if u.sha256 != nil {
		sum := proxywasm.SHA256(password)
		if subtle.ConstantTimeCompare(sum[:], u.sha256[:]) != 1 {
			return nil, errInvalid
		}
		return u, nil
	}
	if len(password) > maxBcryptPassword {
		return nil, errInvalid
	}
	key := proxywasm.SHA256(creds)
	if r.p.verified[key] == u {
		return u, nil
	}
	if bcrypt.CompareHashAndPassword(u.bcrypt, password) != nil {
		return nil, errInvalid
	}
	r.p.remember(key, u)
	return u, nil
}

// remember caches a successful bcrypt verification, forgetting an
// arbitrary entry (Go's map iteration starts at a random place) when the
// cache is full.
func (p *plugin) remember(key [32]byte, u *user) {
	if len(p.verified) >= cacheSize {
		for k := range p.verified {
			delete(p.verified, k)
			break
		}
	}
	p.verified[key] = u
}

func init() { proxywasm.Register(func() proxywasm.Plugin { return &plugin{} }) }

func main() {}
