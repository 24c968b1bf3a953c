package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	proxywasm "github.com/wasmgate/wasmgate/sdk/go"
	"github.com/wasmgate/wasmgate/sdk/go/proxytest"
	"golang.org/x/crypto/bcrypt"
)

func bcryptHash(t testing.TB, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// usersConfig: alice (bcrypt, "wonderland"), bob (sha256, "builder"),
// carol (bcrypt, "a:b:c"), with extra fields first.
func usersConfig(t testing.TB, extra string) string {
	return fmt.Sprintf(`{%s"users": [
		{"username": "alice", "bcrypt": %q},
		{"username": "bob", "sha256": "%x"},
		{"username": "carol", "bcrypt": %q}]}`,
		extra, bcryptHash(t, "wonderland"), sha256.Sum256([]byte("builder")), bcryptHash(t, "a:b:c"))
}

func start(t *testing.T, config string) *proxytest.Host {
	t.Helper()
	h, _ := startPlugin(t, config)
	return h
}

// startPlugin starts the plugin and returns its root object too, through
// a factory that keeps it.
func startPlugin(t *testing.T, config string) (*proxytest.Host, *plugin) {
	t.Helper()
	var p *plugin
	proxywasm.Register(func() proxywasm.Plugin { p = &plugin{}; return p })
	h, err := proxytest.New(proxytest.Options{Config: []byte(config)})
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

func get(headers ...[2]string) [][2]string {
	return append([][2]string{{":method", "GET"}, {":path", "/"}, {":authority", "api"}}, headers...)
}

// pass sends a request with the Authorization header (none when "") and
// wants it forwarded.
func pass(t *testing.T, h *proxytest.Host, authz string, extra ...[2]string) *proxytest.Stream {
	t.Helper()
	s := h.NewStream()
	hdr := extra
	if authz != "" {
		hdr = append(hdr, [2]string{"Authorization", authz})
	}
	if act := s.RequestHeaders(get(hdr...), true); act != proxywasm.Continue || s.Local != nil {
		t.Fatalf("%q: action %d, local %+v", authz, act, s.Local)
	}
	s.Complete()
	return s
}

// refuse sends a request and wants a 401 with the message.
func refuse(t *testing.T, h *proxytest.Host, authz, message string) {
	t.Helper()
	s := h.NewStream()
	var hdr [][2]string
	if authz != "" {
		hdr = append(hdr, [2]string{"Authorization", authz})
	}
	if act := s.RequestHeaders(get(hdr...), true); act != proxywasm.Pause {
		t.Fatalf("%q: action %d", authz, act)
	}
	if s.Local == nil || s.Local.Status != 401 || s.Local.Header("content-type") != "application/json" ||
		s.Local.Header("www-authenticate") != `Basic realm="wasmgate", charset="UTF-8"` {
		t.Fatalf("%q: %+v", authz, s.Local)
	}
	var body struct{ Error, Message string }
	if err := json.Unmarshal(s.Local.Body, &body); err != nil || body.Error != "unauthorized" || body.Message != message {
		t.Fatalf("%q: body %q (%v), want message %q", authz, s.Local.Body, err, message)
	}
	s.Complete()
}

func TestGoodUsers(t *testing.T) {
	h := start(t, usersConfig(t, ""))
	for _, c := range []struct{ user, password string }{{"alice", "wonderland"}, {"bob", "builder"}, {"carol", "a:b:c"}} {
		s := pass(t, h, basic(c.user, c.password), [2]string{"X-Consumer", "mallory"}, [2]string{"X-Consumer", "eve"})
		if s.Header("x-consumer") != c.user || s.HasHeader("authorization") {
			t.Fatalf("%s: forwarded %v", c.user, s.Request)
		}
		if n := strings.Count(fmt.Sprint(s.Request), "x-consumer"); n != 1 {
			t.Fatalf("%s: %d x-consumer headers: %v", c.user, n, s.Request)
		}
	}
}

func TestSchemeAndSpacesTolerated(t *testing.T) {
	h := start(t, usersConfig(t, ""))
	enc := base64.StdEncoding.EncodeToString([]byte("bob:builder"))
	for _, authz := range []string{"basic " + enc, "BASIC " + enc, "  Basic   " + enc + "  ", "Basic\t" + enc,
		"Basic " + strings.TrimRight(enc, "=")} {
		if s := pass(t, h, authz); s.Header("x-consumer") != "bob" {
			t.Fatalf("%q: forwarded %v", authz, s.Request)
		}
	}
}

func TestRefused(t *testing.T) {
	h := start(t, usersConfig(t, ""))
	const invalid, malformed = "invalid username or password", "malformed Basic credentials"
	for _, c := range []struct{ authz, message string }{
		{"", "authentication required"},
		{"   ", "authentication required"},
		{basic("alice", "wrong"), invalid},
		{basic("alice", "wonderland "), invalid},
		{basic("bob", "wrong"), invalid},
		{basic("bob", ""), invalid},
		{basic("nobody", "wonderland"), invalid},
		{basic("", "builder"), invalid},
		{basic("carol", "a:b"), invalid},
		{basic("Alice", "wonderland"), invalid},
		{base64.StdEncoding.EncodeToString([]byte("bob:builder")), "Basic authentication required"},
		{"Bearer " + base64.StdEncoding.EncodeToString([]byte("bob:builder")), "Basic authentication required"},
		{"Basicx " + base64.StdEncoding.EncodeToString([]byte("bob:builder")), "Basic authentication required"},
		{"Basic", "Basic authentication required"},
		{"Basic ", "Basic authentication required"},
		{"Basic  !!not base64!!", malformed},
		{"Basic Ym9i*YnVpbGRlcg==", malformed},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("bobbuilder")), malformed},
		{"Basic " + strings.Repeat("A", maxHeader+4), malformed},
		// bcrypt looks at 72 bytes: longer passwords are refused, not
		// truncated.
		{basic("alice", "wonderland"+strings.Repeat("x", 70)), invalid},
	} {
		refuse(t, h, c.authz, c.message)
	}
}

func TestLongBcryptPasswordRefusedNotTruncated(t *testing.T) {
	long := strings.Repeat("p", 72)
	h := start(t, fmt.Sprintf(`{"users": [{"username": "u", "bcrypt": %q}]}`, bcryptHash(t, long)))
	pass(t, h, basic("u", long))
	refuse(t, h, basic("u", long+"extra"), "invalid username or password")
}

func TestKeepCredentialsAndOptions(t *testing.T) {
	h := start(t, usersConfig(t, `"hide_credentials": false, "consumer_header": "X-User", "realm": "my \"api\"", `))
	authz := basic("bob", "builder")
	s := pass(t, h, authz)
	if s.Header("x-user") != "bob" || s.Header("authorization") != authz || s.HasHeader("x-consumer") {
		t.Fatalf("forwarded %v", s.Request)
	}
	r := h.NewStream()
	r.RequestHeaders(get(), true)
	if r.Local == nil || r.Local.Header("www-authenticate") != `Basic realm="my \"api\"", charset="UTF-8"` {
		t.Fatalf("401: %+v", r.Local)
	}
}

// TestDuplicateAuthorization: only the first Authorization header is
// checked, and only it goes upstream.
func TestDuplicateAuthorization(t *testing.T) {
	good, other := basic("bob", "builder"), basic("alice", "wrong")
	for _, hide := range []bool{true, false} {
		h := start(t, usersConfig(t, fmt.Sprintf(`"hide_credentials": %v, `, hide)))
		s := pass(t, h, "", [2]string{"Authorization", good}, [2]string{"Authorization", other})
		var got []string
		for _, kv := range s.Request {
			if kv[0] == "authorization" {
				got = append(got, kv[1])
			}
		}
		if hide && len(got) != 0 || !hide && (len(got) != 1 || got[0] != good) {
			t.Fatalf("hide_credentials %v: forwarded %q", hide, got)
		}
		r := h.NewStream()
		if r.RequestHeaders(get([2]string{"Authorization", other}, [2]string{"Authorization", good}), true) != proxywasm.Pause {
			t.Fatalf("hide_credentials %v: a bad first Authorization passed", hide)
		}
	}
}

func TestCache(t *testing.T) {
	h, p := startPlugin(t, usersConfig(t, ""))
	pass(t, h, basic("alice", "wonderland"))
	if len(p.verified) != 1 {
		t.Fatalf("cache after a success: %d entries", len(p.verified))
	}
	// The cached path: the same credentials again, with the hash made
	// unusable so that a bcrypt would fail.
	alice := p.users["alice"]
	saved := alice.bcrypt
	alice.bcrypt = []byte("not a hash")
	pass(t, h, basic("alice", "wonderland"))
	pass(t, h, basic("alice", "wonderland"))
	alice.bcrypt = saved
	// Failures are checked, and never cached.
	refuse(t, h, basic("alice", "wrong"), "invalid username or password")
	refuse(t, h, basic("alice", "wrong"), "invalid username or password")
	refuse(t, h, basic("carol", "wonderland"), "invalid username or password")
	if len(p.verified) != 1 {
		t.Fatalf("cache after failures: %d entries", len(p.verified))
	}
	// sha256 users need no cache.
	pass(t, h, basic("bob", "builder"))
	if len(p.verified) != 1 {
		t.Fatalf("cache after a sha256 user: %d entries", len(p.verified))
	}
	pass(t, h, basic("carol", "a:b:c"))
	if len(p.verified) != 2 {
		t.Fatalf("cache after another user: %d entries", len(p.verified))
	}
}

func TestCacheBounded(t *testing.T) {
	h, p := startPlugin(t, usersConfig(t, ""))
	u := p.users["alice"]
	for i := 0; i < cacheSize+10; i++ {
		p.remember(sha256.Sum256([]byte(fmt.Sprint(i))), u)
	}
	if len(p.verified) != cacheSize {
		t.Fatalf("cache has %d entries", len(p.verified))
	}
	pass(t, h, basic("alice", "wonderland"))
	if len(p.verified) != cacheSize || p.verified[sha256.Sum256([]byte("alice:wonderland"))] != u {
		t.Fatalf("cache has %d entries, without the newest", len(p.verified))
	}
}

func TestHotPathAllocations(t *testing.T) {
	_, p := startPlugin(t, usersConfig(t, ""))
	r := &request{p: p}
	for _, c := range []struct{ user, password string }{{"alice", "wonderland"}, {"bob", "builder"}} {
		authz := []byte(basic(c.user, c.password))
		if u, _ := r.authenticate(authz); u == nil || u.name != c.user { // fills the cache and the buffer
			t.Fatalf("%s: not authenticated", c.user)
		}
		allocs := testing.AllocsPerRun(100, func() {
			if u, _ := r.authenticate(authz); u == nil {
				t.Fatal("not authenticated")
			}
			r.Reset()
		})
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per request", c.user, allocs)
		}
	}
}

func TestResetClearsBuffer(t *testing.T) {
	_, p := startPlugin(t, usersConfig(t, ""))
	r := &request{p: p}
	r.authenticate([]byte(basic("bob", "builder")))
	r.Reset()
	if strings.Contains(string(r.buf[:cap(r.buf)]), "builder") {
		t.Fatal("the password stayed in the buffer")
	}
}

func TestReconfigureEmptiesCache(t *testing.T) {
	h, p := startPlugin(t, usersConfig(t, ""))
	pass(t, h, basic("alice", "wonderland"))
	if err := p.OnConfigure([]byte(fmt.Sprintf(`{"users": [{"username": "alice", "bcrypt": %q}]}`, bcryptHash(t, "new")))); err != nil {
		t.Fatal(err)
	}
	if len(p.verified) != 0 {
		t.Fatal("cache kept across configurations")
	}
	refuse(t, h, basic("alice", "wonderland"), "invalid username or password")
	pass(t, h, basic("alice", "new"))
}

func TestBadConfig(t *testing.T) {
	good := bcryptHash(t, "x")
	sum := fmt.Sprintf("%x", sha256.Sum256([]byte("x")))
	for _, c := range []struct{ config, want string }{
		{``, "users is required"},
		{`{`, "unexpected EOF"},
		{`{"users": []}`, "users: at least one"},
		{`{"users": [{"username": "a", "sha256": "` + sum + `"}], "hide_credential": true}`, "unknown field"},
		{`{"users": [{"username": "a", "sha256": "` + sum + `"}]} {}`, "after the JSON"},
		{`{"users": [{"sha256": "` + sum + `"}]}`, "users[0].username: required"},
		{`{"users": [{"username": "a:b", "sha256": "` + sum + `"}]}`, "users[0].username: must not contain ':'"},
		{`{"users": [{"username": "a\nb", "sha256": "` + sum + `"}]}`, "users[0].username: must not contain control"},
		{`{"users": [{"username": "a", "sha256": "` + sum + `"}, {"username": "a", "bcrypt": "` + good + `"}]}`, `users[1].username: "a" is a duplicate`},
		{`{"users": [{"username": "a", "sha256": "` + sum + `"}, {"username": "b"}]}`, "users[1]: want exactly one of bcrypt and sha256"},
		{`{"users": [{"username": "a", "sha256": "` + sum + `", "bcrypt": "` + good + `"}]}`, "users[0]: both bcrypt and sha256"},
		{`{"users": [{"username": "a", "sha256": "abc"}]}`, "users[0].sha256: want 64 hex digits"},
		{`{"users": [{"username": "a", "sha256": "` + strings.Repeat("z", 64) + `"}]}`, "users[0].sha256"},
		{`{"users": [{"username": "a", "bcrypt": "$2a$10$short"}]}`, "users[0].bcrypt: want a 60-character"},
		{`{"users": [{"username": "a", "bcrypt": "$1$` + good[3:] + `x"}]}`, "users[0].bcrypt: want a 60-character"},
		{`{"users": [{"username": "a", "bcrypt": "` + good[:4] + `99` + good[6:] + `"}]}`, "users[0].bcrypt: crypto/bcrypt: cost 99"},
		{`{"users": [{"username": "a", "bcrypt": "` + good[:4] + `x4` + good[6:] + `"}]}`, "users[0].bcrypt"},
		{`{"users": [{"username": "a", "bcrypt": "` + good[:59] + `!"}]}`, "users[0].bcrypt: bad character"},
		{`{"users": [{"username": "a", "bcrypt": "` + good + `"}], "realm": "a\u0001"}`, "realm: must not contain"},
		{`{"users": [{"username": "a", "bcrypt": "` + good + `"}], "consumer_header": "X Consumer"}`, "consumer_header"},
		{`{"users": [{"username": "a", "bcrypt": "` + good + `"}], "consumer_header": ":path"}`, "consumer_header"},
		{`{"users": [{"username": "a", "bcrypt": "` + good + `"}], "consumer_header": "authorization"}`, "consumer_header: must not be Authorization"},
	} {
		_, err := proxytest.New(proxytest.Options{Config: []byte(c.config)})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.config, err, c.want)
		}
	}
}

func TestBcryptVariantsAccepted(t *testing.T) {
	good := bcryptHash(t, "pw")
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		h := start(t, fmt.Sprintf(`{"users": [{"username": "u", "bcrypt": %q}]}`, prefix+good[4:]))
		pass(t, h, basic("u", "pw"))
	}
}

func TestSlowCostWarns(t *testing.T) {
	// A valid hash's cost is only parsed at configure time, so a cost-13
	// hash costs nothing to accept; it is made by editing a cost-4 one.
	good := bcryptHash(t, "pw")
	h := start(t, fmt.Sprintf(`{"users": [{"username": "u", "bcrypt": %q}]}`, good[:4]+"13"+good[6:]))
	if w := h.LogsAt(proxywasm.LevelWarn); len(w) != 1 || !strings.Contains(w[0], "users[0].bcrypt has cost 13") {
		t.Fatalf("warnings %q", w)
	}
}

func TestDeclaresOnlyRequestHeaders(t *testing.T) {
	h := start(t, usersConfig(t, ""))
	if !h.Handles("request_headers") || h.Handles("request_body") || h.Handles("response_headers") || h.Handles("log") {
		t.Fatalf("phases %v", h.Phases)
	}
}

// TestResetClearsALargeBuffer: a decode buffer too large to keep is wiped
// before it is dropped, as a kept one is.
func TestResetClearsALargeBuffer(t *testing.T) {
	long := "builder-" + strings.Repeat("s", 1200)
	_, p := startPlugin(t, fmt.Sprintf(`{"users": [{"username": "bob", "sha256": "%x"}]}`, sha256.Sum256([]byte(long))))
	r := &request{p: p}
	if u, _ := r.authenticate([]byte(basic("bob", long))); u == nil {
		t.Fatal("not authenticated")
	}
	old := r.buf[:cap(r.buf)]
	r.Reset()
	if strings.Contains(string(old), "builder-") {
		t.Fatal("the password stayed in the dropped buffer")
	}
}
