package proxy_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// basicAuthBcrypt is bcrypt("open sesame: 1") at cost 10, the usual cost,
// so the test sees what a real verification costs in Wasm.
const basicAuthBcrypt = "$2a$10$RaP1IfjA0sXsy9ot/vbnJ.AeuDwuDgC6A10JUMbRDShU0GoDYABnG"

func basicAuthz(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// TestE2EPolicyBasicAuth: the basic-auth plugin, built by make plugins,
// checks Basic credentials (a bcrypt user and a sha256 user) through the
// gateway: good ones reach the backend with the consumer's name and
// without Authorization (or with only the checked one, when
// hide_credentials is false); others get 401 with a challenge and a JSON
// error, and never reach it.
func TestE2EPolicyBasicAuth(t *testing.T) {
	module := builtPlugin(t, "basic_auth.wasm")
	be := newKillable(t, "be", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "consumer=%s user=%s authz=%s", strings.Join(r.Header.Values("X-Consumer"), "|"),
			strings.Join(r.Header.Values("X-User"), "|"), strings.Join(r.Header.Values("Authorization"), "|"))
	})
	users := fmt.Sprintf(`"users": [{"username": "alice", "bcrypt": %q}, {"username": "bob", "sha256": "%x"}]`,
		basicAuthBcrypt, sha256Sum("builder"))
	// The log at warn: a plugin fault (a bcrypt past call_timeout) shows.
	g := startGateway(t, "[log]\nlevel = \"warn\"\naccess_log = false\noutput = \"{{log}}\"\n"+
		publicListener+upstreamTOML("backend", "", be.addr)+fmt.Sprintf(`
[[plugins]]
name = "basic-auth"
module = %q
config = '{"realm": "shop", %s}'
call_timeout = "5s"
pool = 1
[[plugins]]
name = "basic-auth-keep"
module = %q
config = '{"consumer_header": "X-User", "hide_credentials": false, %s}'
call_timeout = "5s"
pool = 1
[[routes]]
path_prefix = "/keep/"
upstream = "backend"
plugins = ["basic-auth-keep"]
[[routes]]
path_prefix = "/"
upstream = "backend"
plugins = ["basic-auth"]
`, module, users, module, users))
	client := newClient(t)
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf(format+"\ngateway log:\n%s", append(args, g.logText(t))...)
	}

	alice := basicAuthz("alice", "open sesame: 1")
	// Twice: the second is answered from the VM's cache of verifications.
	for i, what := range []string{"bcrypt", "cached"} {
		start := time.Now()
		resp, body := doReq(t, client, "GET", g.URL+"/b", map[string]string{"Authorization": alice, "X-Consumer": "mallory"}, nil)
		if resp.StatusCode != 200 || string(body) != "consumer=alice user= authz=" {
			fail("alice (%d): %d %q", i, resp.StatusCode, body)
		}
		t.Logf("alice (%s): %v", what, time.Since(start))
	}
	bob := basicAuthz("bob", "builder")
	resp, body := doReq(t, client, "GET", g.URL+"/b", map[string]string{"Authorization": "basic  " + bob[6:]}, nil)
	if resp.StatusCode != 200 || string(body) != "consumer=bob user= authz=" {
		fail("bob: %d %q", resp.StatusCode, body)
	}
	resp, body = doReq(t, client, "GET", g.URL+"/keep/b", map[string]string{"Authorization": bob}, nil)
	if resp.StatusCode != 200 || string(body) != "consumer= user=bob authz="+bob {
		fail("bob, credentials kept: %d %q", resp.StatusCode, body)
	}

	// Headers sent twice: the first Authorization is checked and, when
	// kept, forwarded alone; consumer headers from the client are all
	// replaced.
	raw := func(path string, headers ...string) string {
		return crlf("GET " + path + " HTTP/1.1\nHost: x\n" + strings.Join(headers, "\n") + "\nConnection: close\n\n")
	}
	other := basicAuthz("alice", "wrong")
	for _, c := range []struct{ path, header, want string }{
		{"/b", "X-Consumer", "consumer=bob user= authz="},
		{"/keep/b", "X-User", "consumer= user=bob authz=" + bob},
	} {
		resp, body = rawRoundTrip(t, g.Addr, raw(c.path, "Authorization: "+bob, "Authorization: "+other,
			c.header+": mallory", c.header+": eve"))
		if resp.StatusCode != 200 || string(body) != c.want {
			fail("%s, headers twice: %d %q, want %q", c.path, resp.StatusCode, body, c.want)
		}
	}

	hits := be.hits.Load()
	resp, _ = rawRoundTrip(t, g.Addr, raw("/keep/b", "Authorization: "+other, "Authorization: "+bob))
	if resp.StatusCode != 401 {
		fail("bad, then good credentials: %d", resp.StatusCode)
	}
	for _, c := range []struct{ authz, message string }{
		{"", "authentication required"},
		{basicAuthz("alice", "open sesame"), "invalid username or password"},
		{basicAuthz("alice", "open sesame: 2"), "invalid username or password"},
		{basicAuthz("bob", "wonderland"), "invalid username or password"},
		{basicAuthz("carol", "open sesame: 1"), "invalid username or password"},
		{"Bearer abc", "Basic authentication required"},
		{"Basic %%%", "malformed Basic credentials"},
	} {
		hdr := map[string]string{}
		if c.authz != "" {
			hdr["Authorization"] = c.authz
		}
		resp, body := doReq(t, client, "GET", g.URL+"/b", hdr, nil)
		var e struct{ Error, Message string }
		if resp.StatusCode != 401 || resp.Header.Get("Content-Type") != "application/json" ||
			resp.Header.Get("WWW-Authenticate") != `Basic realm="shop", charset="UTF-8"` ||
			json.Unmarshal(body, &e) != nil || e.Error != "unauthorized" || e.Message != c.message {
			fail("%q: %d %v %q", c.authz, resp.StatusCode, resp.Header, body)
		}
	}
	// The default realm, on the other instance.
	resp, _ = doReq(t, client, "GET", g.URL+"/keep/b", nil, nil)
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Basic realm="wasmgate", charset="UTF-8"` {
		fail("no credentials, default realm: %d %v", resp.StatusCode, resp.Header)
	}
	if be.hits.Load() != hits {
		fail("a refused request reached the backend")
	}
}
