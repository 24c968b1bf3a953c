package config

import (
	"strings"
	"testing"
)

// errorCase is one config that must be refused, with the full text of every
// error in the order Parse must return them. Line numbers count from the
// first line of src.
type errorCase struct {
	name string
	src  string
	want []string
}

// Every case is one complete file; the valid parts are kept short:
//
//	[[listeners]] listen = "127.0.0.1:8080"
//	[[upstreams]] name = "app" targets = ["127.0.0.1:9000"]
//	[[routes]]    upstream = "app"
var errorCases = []errorCase{
	// ---- unknown keys -------------------------------------------------
	{
		name: "unknown key at top level",
		src: `bogus = 1
[[listeners]]
listen = "127.0.0.1:8080"
`,
		want: []string{`gw.toml:1: bogus: unknown key "bogus"`},
	},
	{
		name: "misspelt top-level table",
		src: `[[listener]]
listen = "127.0.0.1:8080"
`,
		want: []string{`gw.toml:1: listener: unknown key "listener" (did you mean "listeners"?)`},
	},
	{
		name: "unknown key in [admin] with suggestion",
		src: `[admin]
listen = "127.0.0.1:9901"
tokn = "x"

[[listeners]]
listen = "127.0.0.1:8080"
`,
		want: []string{`gw.toml:3: admin.tokn: unknown key "tokn" (did you mean "token"?)`},
	},
	{
		name: "unknown key in [admin] without suggestion",
		src: `[admin]
port = 9901
`,
		want: []string{`gw.toml:2: admin.port: unknown key "port"`},
	},
	{
		name: "case matters for keys",
		src: `[log]
Level = "debug"
`,
		want: []string{`gw.toml:2: log.Level: unknown key "Level" (did you mean "level"?)`},
	},
	{
		name: "unknown key in the third route",
		src: `[[listeners]]
listen = "127.0.0.1:8080"

[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]

[[routes]]
upstream = "app"

[[routes]]
upstream = "app"

[[routes]]
path = "/x"
upstreem = "app"
`,
		want: []string{`gw.toml:16: routes[2].upstreem: unknown key "upstreem" (did you mean "upstream"?)`},
	},
	{
		name: "unknown key in an inline table",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]
[[routes]]
upstream = "app"
path_rewrite = { regex = "^/a/(.*)", replacment = "/$1" }
`,
		want: []string{`gw.toml:8: routes[0].path_rewrite.replacment: unknown key "replacment" (did you mean "replacement"?)`},
	},
	{
		name: "unknown key in an inline table in an array",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
tls = [{ cert = "c.pem", kye = "k.pem" }]
`,
		want: []string{`gw.toml:3: listeners[0].tls[0].kye: unknown key "kye" (did you mean "key"?)`},
	},
	{
		name: "unknown key in a table under the second route",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[routes]]
direct_response = { status = 200 }
[[routes]]
[routes.direct_response]
status = 204
bdy = "x"
`,
		want: []string{`gw.toml:8: routes[1].direct_response.bdy: unknown key "bdy" (did you mean "body"?)`},
	},
	{
		name: "unknown keys are all reported",
		src: `[gateway]
grace = "1s"
[[listeners]]
listen = "127.0.0.1:8080"
max_conns = 5
[[routes]]
upstream = "app"
hots = ["a"]
`,
		want: []string{
			`gw.toml:2: gateway.grace: unknown key "grace"`,
			`gw.toml:5: listeners[0].max_conns: unknown key "max_conns"`,
			`gw.toml:8: routes[0].hots: unknown key "hots" (did you mean "hosts"?)`,
		},
	},
	{
		name: "unknown keys in file order",
		src: `zeta = 1
[log]
bogus = 1
[[listeners]]
listen = "127.0.0.1:8080"
zzz = 2
aaa = 3
`,
		want: []string{
			`gw.toml:1: zeta: unknown key "zeta"`,
			`gw.toml:3: log.bogus: unknown key "bogus"`,
			`gw.toml:6: listeners[0].zzz: unknown key "zzz"`,
			`gw.toml:7: listeners[0].aaa: unknown key "aaa"`,
		},
	},

	// ---- durations and sizes --------------------------------------------
	{
		name: "duration without unit",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
read_timeout = "30"
`,
		want: []string{`gw.toml:3: listeners[0].read_timeout: invalid duration "30" (want e.g. "250ms", "30s")`},
	},
	{
		name: "duration as a TOML integer",
		src: `[gateway]
shutdown_grace = 30
`,
		want: []string{`gw.toml:2: gateway.shutdown_grace: invalid duration "30" (want e.g. "250ms", "30s")`},
	},
	{
		name: "negative duration",
		src: `[gateway]
watch_interval = "-1s"
`,
		want: []string{`gw.toml:2: gateway.watch_interval: negative duration "-1s"`},
	},
	{
		name: "duration with an unknown unit",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]
connect_timeout = "5 seconds"
`,
		want: []string{`gw.toml:6: upstreams[0].connect_timeout: invalid duration "5 seconds" (want e.g. "250ms", "30s")`},
	},
	{
		name: "duration in a route",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]
[[routes]]
upstream = "app"
timeout = "1d"
`,
		want: []string{`gw.toml:8: routes[0].timeout: invalid duration "1d" (want e.g. "250ms", "30s")`},
	},
	{
		name: "bad duration in the first of two routes that set it",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]
[[routes]]
upstream = "app"
timeout = "30"
[[routes]]
upstream = "app"
timeout = "3s"
`,
		want: []string{`gw.toml:8: routes[0].timeout: invalid duration "30" (want e.g. "250ms", "30s")`},
	},
	{
		name: "bad size",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
max_body_bytes = "10 megabytes"
`,
		want: []string{`gw.toml:3: listeners[0].max_body_bytes: invalid size "10 megabytes" (want e.g. "64KiB", "10MiB")`},
	},
	{
		name: "lower-case size unit",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
max_header_bytes = "64kib"
`,
		want: []string{`gw.toml:3: listeners[0].max_header_bytes: invalid size "64kib" (want e.g. "64KiB", "10MiB")`},
	},
	{
		name: "fractional size",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
max_body_bytes = 1.5
`,
		want: []string{`gw.toml:3: listeners[0].max_body_bytes: invalid size "1.500000" (want e.g. "64KiB", "10MiB")`},
	},
	{
		name: "size overflow",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
max_body_bytes = "8589934592GiB"
`,
		want: []string{`gw.toml:3: listeners[0].max_body_bytes: invalid size "8589934592GiB" (want e.g. "64KiB", "10MiB")`},
	},

	// ---- types and syntax ---------------------------------------------
	{
		name: "string where an integer is expected",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
max_connections = "many"
`,
		want: []string{`gw.toml:3: listeners[0].max_connections: incompatible types: TOML value has type string; destination has type integer`},
	},
	{
		name: "integer where a string is expected",
		src: `[log]
level = 3
`,
		want: []string{`gw.toml:2: log.level: incompatible types: TOML value has type int64; destination has type string`},
	},
	{
		name: "string where a boolean is expected",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]
tls = "yes"
`,
		want: []string{`gw.toml:6: upstreams[0].tls: incompatible types: TOML value has type string; destination has type boolean`},
	},
	{
		name: "target of the wrong type",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[upstreams]]
name = "app"
targets = [9000]
`,
		want: []string{`gw.toml:5: upstreams[0].targets[0]: want "host:port" or { address = "host:port", weight = N }, got int64`},
	},
	{
		name: "target weight of the wrong type",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[upstreams]]
name = "app"
targets = [{ address = "127.0.0.1:9000", weight = "2" }]
`,
		want: []string{`gw.toml:5: upstreams[0].targets[0].weight: want an integer, got string`},
	},
	{
		name: "target with an unknown key",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[upstreams]]
name = "app"
targets = [{ addr = "127.0.0.1:9000" }]
`,
		want: []string{`gw.toml:5: upstreams[0].targets[0]: unknown key "addr" (want address, weight)`},
	},
	{
		name: "syntax error: missing value",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
name =
`,
		want: []string{`gw.toml:3: listeners[0].name: expected value but found '\n' instead`},
	},
	{
		name: "syntax error: unquoted string",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]
timeout = 30s
`,
		want: []string{`gw.toml:6: upstreams[0].timeout: expected a top-level item to end with a newline, comment, or EOF, but got 's' instead`},
	},
	{
		name: "syntax error: duplicate key",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
listen = "127.0.0.1:8081"
`,
		want: []string{`gw.toml:3: listeners[0].listen: Key 'listeners.listen' has already been defined.`},
	},

	// ---- validation -----------------------------------------------------
	{
		name: "route names a missing upstream",
		src: `[[listeners]]
listen = "127.0.0.1:8080"

[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]

[[routes]]
upstream = "app"

[[routes]]
upstream = "app"

[[routes]]
path_prefix = "/billing/"
upstream = "billing"
`,
		want: []string{`gw.toml:16: routes[2].upstream: no upstream named "billing"`},
	},
	{
		name: "route without upstream or direct_response",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[routes]]
path = "/x"
`,
		want: []string{`gw.toml:3: routes[0].upstream: required (or a direct_response)`},
	},
	{
		name: "no listeners",
		src: `[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]
`,
		want: []string{`gw.toml: listeners: at least one listener is required`},
	},
	{
		name: "duplicate names",
		src: `[[listeners]]
name = "web"
listen = "127.0.0.1:8080"
[[listeners]]
name = "web"
listen = "127.0.0.1:8081"
[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]
[[upstreams]]
name = "app"
targets = ["127.0.0.1:9001"]
[[routes]]
name = "r"
upstream = "app"
[[routes]]
name = "r"
upstream = "app"
`,
		want: []string{
			`gw.toml:5: listeners[1].name: duplicate listener name "web" (also listeners[0])`,
			`gw.toml:11: upstreams[1].name: duplicate upstream name "app" (also upstreams[0])`,
			`gw.toml:17: routes[1].name: duplicate route name "r" (also routes[0])`,
		},
	},
	{
		name: "duplicate listen address and default names",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[listeners]]
listen = "127.0.0.1:8080"
`,
		want: []string{
			`gw.toml:3: listeners[1].name: duplicate listener name "127.0.0.1:8080" (also listeners[0])`,
			`gw.toml:4: listeners[1].listen: address "127.0.0.1:8080" is already used by listeners[0] ("127.0.0.1:8080")`,
		},
	},
	{
		// Spelled differently, the same socket: run would fail to bind.
		name: "listen addresses that bind the same socket",
		src: `[admin]
listen = "127.0.0.1:9901"
[[listeners]]
name = "a"
listen = "127.0.0.1:8080"
[[listeners]]
name = "b"
listen = "localhost:8080"
[[listeners]]
name = "c"
listen = ":8443"
[[listeners]]
name = "d"
listen = "[::ffff:10.0.0.1]:8443"
[[listeners]]
name = "e"
listen = "localhost:9901"
[[listeners]]
name = "f"
listen = "[::1]:8080"
`,
		want: []string{
			`gw.toml:8: listeners[1].listen: address "localhost:8080" is already used by listeners[0] ("127.0.0.1:8080")`,
			`gw.toml:14: listeners[3].listen: address "[::ffff:10.0.0.1]:8443" is already used by listeners[2] (":8443")`,
			`gw.toml:17: listeners[4].listen: address "localhost:9901" is the admin API's (admin.listen "127.0.0.1:9901")`,
		},
	},
	{
		name: "explicit name clashes with a default route name",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[routes]]
name = "route-1"
direct_response = {}
[[routes]]
direct_response = {}
`,
		want: []string{`gw.toml:6: routes[1].name: duplicate route name "route-1" (also routes[0])`},
	},
	{
		name: "bad listen addresses",
		src: `[[listeners]]
listen = "8080"
[[listeners]]
listen = "127.0.0.1:99999"
[[listeners]]
listen = "127.0.0.1:http"
[[listeners]]
name = "missing"
`,
		want: []string{
			`gw.toml:2: listeners[0].listen: "8080" is not host:port`,
			`gw.toml:4: listeners[1].listen: "127.0.0.1:99999" has no valid port`,
			`gw.toml:6: listeners[2].listen: "127.0.0.1:http" has no valid port`,
			`gw.toml:7: listeners[3].listen: "" is not host:port`,
		},
	},
	{
		name: "bad admin listen",
		src: `[admin]
listen = "localhost"
[[listeners]]
listen = "127.0.0.1:8080"
`,
		want: []string{`gw.toml:2: admin.listen: "localhost" is not host:port`},
	},
	{
		name: "non-loopback admin without token",
		src: `[admin]
listen = "0.0.0.0:9901"
[[listeners]]
listen = "127.0.0.1:8080"
`,
		want: []string{`gw.toml:1: admin.token: required when admin.listen ("0.0.0.0:9901") is not a loopback address`},
	},
	{
		name: "admin on all interfaces without token",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[admin]
listen = ":9901"
token = ""
`,
		want: []string{`gw.toml:5: admin.token: required when admin.listen (":9901") is not a loopback address`},
	},
	{
		name: "watch interval that would spin",
		src: `[gateway]
watch_interval = "1ns"
[[listeners]]
listen = "127.0.0.1:8080"
`,
		want: []string{
			`gw.toml:2: gateway.watch_interval: must be at least 10ms: each tick stats the config and every module`,
		},
	},
	{
		name: "bad log level and format",
		src: `[log]
level = "verbose"
format = "text"
[[listeners]]
listen = "127.0.0.1:8080"
`,
		want: []string{
			`gw.toml:2: log.level: unknown level "verbose" (want debug, info, warn or error)`,
			`gw.toml:3: log.format: unknown format "text" (want json or console)`,
		},
	},
	{
		name: "listener limits",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
https_port = 70000
max_header_bytes = "1023B"
max_connections = -1
headers_with_underscores = "strip"
`,
		want: []string{
			`gw.toml:3: listeners[0].https_port: must be a port number`,
			`gw.toml:4: listeners[0].max_header_bytes: must be at least 1KiB`,
			`gw.toml:5: listeners[0].max_connections: must not be negative`,
			`gw.toml:6: listeners[0].headers_with_underscores: want drop, allow or reject, got "strip"`,
		},
	},
	{
		name: "reuse_port needs a fixed port",
		src: `[[listeners]]
name = "a"
listen = "127.0.0.1:0"
reuse_port = true

[[listeners]]
name = "b"
listen = "127.0.0.1:8080"
reuse_port = true
`,
		want: []string{
			`gw.toml:4: listeners[0].reuse_port: needs a fixed port: with port 0 every process would get a port of its own`,
		},
	},
	{
		name: "tls certificate entries",
		src: `[[listeners]]
listen = "127.0.0.1:8443"
redirect_https = true
[[listeners.tls]]
key = "k.pem"
[[listeners.tls]]
cert = "c.pem"
[[listeners.tls]]
cert = "/nonexistent/c.pem"
key = "/nonexistent/k.pem"
`,
		want: []string{
			`gw.toml:3: listeners[0].redirect_https: only a plain HTTP listener can redirect to HTTPS`,
			`gw.toml:4: listeners[0].tls[0].cert: required`,
			`gw.toml:6: listeners[0].tls[1].key: required`,
			`gw.toml:8: listeners[0].tls[2]: cannot load certificate: open /nonexistent/c.pem: no such file or directory`,
		},
	},
	{
		name: "tls of the second listener",
		src: `[[listeners]]
listen = "127.0.0.1:8443"
[[listeners.tls]]
cert = "/nonexistent/a.pem"
key = "/nonexistent/a.key"
[[listeners]]
listen = "127.0.0.1:9443"
[[listeners.tls]]
cert = "b.pem"
`,
		want: []string{
			`gw.toml:3: listeners[0].tls[0]: cannot load certificate: open /nonexistent/a.pem: no such file or directory`,
			`gw.toml:8: listeners[1].tls[0].key: required`,
		},
	},
	{
		name: "upstream problems",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[upstreams]]
targets = ["127.0.0.1:9000"]
[[upstreams]]
name = "empty"
targets = []
[[upstreams]]
name = "bad"
targets = ["nohost", { address = "127.0.0.1:9000", weight = 0 }, { address = "127.0.0.1:9001", weight = -2 }]
max_connections_per_target = -1
tls_insecure_skip_verify = true
`,
		want: []string{
			`gw.toml:3: upstreams[0].name: required`,
			`gw.toml:7: upstreams[1].targets: at least one target is required (or a discovery table)`,
			`gw.toml:10: upstreams[2].targets[0]: "nohost" is not host:port`,
			`gw.toml:10: upstreams[2].targets[1].weight: must be at least 1`,
			`gw.toml:10: upstreams[2].targets[2].weight: must be at least 1`,
			`gw.toml:11: upstreams[2].max_connections_per_target: must not be negative`,
			`gw.toml:12: upstreams[2].tls_insecure_skip_verify: set without tls = true`,
		},
	},
	{
		name: "upstream without targets key",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[upstreams]]
name = "app"
`,
		want: []string{`gw.toml:3: upstreams[0].targets: at least one target is required (or a discovery table)`},
	},
	{
		name: "target weight 0 in a table of its own",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[upstreams]]
name = "app"
[[upstreams.targets]]
address = "127.0.0.1:9000"
weight = 0
`,
		want: []string{`gw.toml:7: upstreams[0].targets[0].weight: must be at least 1`},
	},
	{
		name: "the same target twice",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000", "127.0.0.1:9001", "127.0.0.1:9000"]
`,
		want: []string{`gw.toml:5: upstreams[0].targets[2]: duplicate target "127.0.0.1:9000" (also targets[0]); give it a weight instead`},
	},
	{
		name: "direct_response with upstream",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]
[[routes]]
upstream = "app"
direct_response = { status = 200, body = "ok" }
`,
		want: []string{`gw.toml:8: routes[0].direct_response: a route has either an upstream or a direct_response, not both`},
	},
	{
		name: "direct_response status",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[routes]]
[routes.direct_response]
status = 99
[[routes]]
direct_response = { status = 600 }
`,
		want: []string{
			`gw.toml:5: routes[0].direct_response.status: 99 is not an HTTP status`,
			`gw.toml:7: routes[1].direct_response.status: 600 is not an HTTP status`,
		},
	},
	{
		// Sent as written, they would be lines no client parses alike.
		name: "direct_response headers",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[routes]]
[routes.direct_response]
status = 200
content_type = "text/plain\r\nX-Evil: 1"
headers = { "Bad Name" = "x", "Content-Length" = "5", "X-Two" = "a\nb", "X-Fine" = "v\tw" }
`,
		want: []string{
			`gw.toml:6: routes[0].direct_response.content_type: "text/plain\r\nX-Evil: 1" holds a control character`,
			`gw.toml:7: routes[0].direct_response.headers."Bad Name": not a header name`,
			`gw.toml:7: routes[0].direct_response.headers."Content-Length": the gateway frames the response itself`,
			`gw.toml:7: routes[0].direct_response.headers."X-Two": the value holds a control character`,
		},
	},
	{
		name: "strip_prefix without path_prefix",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]
[[routes]]
upstream = "app"
path = "/exact"
strip_prefix = true
`,
		want: []string{`gw.toml:9: routes[0].strip_prefix: needs path_prefix`},
	},
	{
		name: "strip_prefix with path_rewrite, rewrite without regex",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]
[[routes]]
upstream = "app"
path_prefix = "/a/"
strip_prefix = true
path_rewrite = { replacement = "/b/" }
`,
		want: []string{
			`gw.toml:10: routes[0].path_rewrite: use either strip_prefix or path_rewrite, not both`,
			`gw.toml:10: routes[0].path_rewrite.regex: required`,
		},
	},
	{
		name: "bad methods",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]
[[routes]]
upstream = "app"
methods = ["GET", "post", "", "GET /", "PATCH"]
`,
		want: []string{
			`gw.toml:8: routes[0].methods[1]: "post" is not an upper-case HTTP method`,
			`gw.toml:8: routes[0].methods[2]: "" is not an upper-case HTTP method`,
			`gw.toml:8: routes[0].methods[3]: "GET /" is not an upper-case HTTP method`,
		},
	},
	{
		name: "bad host_rewrite",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]
[[routes]]
upstream = "app"
host_rewrite = "example.com/path"
`,
		want: []string{`gw.toml:8: routes[0].host_rewrite: "example.com/path" is not a host`},
	},
	{
		name: "plugins listed",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]
[[routes]]
upstream = "app"
plugins = ["x", "auth"]
`,
		want: []string{
			`gw.toml:8: routes[0].plugins[0]: no plugin named "x"`,
			`gw.toml:8: routes[0].plugins[1]: no plugin named "auth"`,
		},
	},

	// ---- header and query matches ---------------------------------------
	{
		name: "match table with two keys",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]
[[routes]]
upstream = "app"
[routes.headers]
X-Version = { regex = "^v1$", exact = "v1" }
`,
		want: []string{`gw.toml:9: routes[0].headers.X-Version: want exactly one of exact, regex, present; got exact, regex`},
	},
	{
		name: "match table with an unknown key",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]
[[routes]]
upstream = "app"
query = { page = { prefix = "1" } }
`,
		want: []string{`gw.toml:8: routes[0].query.page: unknown key "prefix" (want exact, regex or present)`},
	},
	{
		name: "empty match table",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]
[[routes]]
upstream = "app"
[routes.query]
page = {}
`,
		want: []string{`gw.toml:9: routes[0].query.page: want exactly one of exact, regex, present; got `},
	},
	{
		name: "present = false",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]
[[routes]]
upstream = "app"
[routes.headers]
Authorization = { present = false }
`,
		want: []string{`gw.toml:9: routes[0].headers.Authorization: present: want true`},
	},
	{
		name: "match of the wrong type",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]
[[routes]]
upstream = "app"
[routes.headers]
X-Count = 3
`,
		want: []string{`gw.toml:9: routes[0].headers.X-Count: want a string or { regex = "..." } or { present = true }, got int64`},
	},
	{
		name: "bad match in the first of two routes",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]
[[routes]]
upstream = "app"
[routes.headers]
X = { exact = "a", regex = "b" }
[[routes]]
upstream = "app"
[routes.headers]
X = "y"
`,
		want: []string{`gw.toml:9: routes[0].headers.X: want exactly one of exact, regex, present; got exact, regex`},
	},
	{
		name: "match under a quoted dotted key",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]
[[routes]]
upstream = "app"
headers."X-Api" = { exact = "a", regex = "b" }
`,
		want: []string{`gw.toml:8: routes[0].headers.X-Api: want exactly one of exact, regex, present; got exact, regex`},
	},
	{
		name: "sub-table header in a later element",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]
[[routes]]
upstream = "app"
[routes.direct_response]
status = 200
[[routes]]
upstream = "app"
[routes.direct_response.headers]
X-A = 1
`,
		want: []string{`gw.toml:13: routes[1].direct_response.headers.X-A: incompatible types: TOML value has type int64; destination has type string`},
	},
	{
		name: "integer too large to be a float",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[upstreams]]
name = "a"
targets = ["127.0.0.1:9000"]
health = { panic_threshold = 9007199254740993 }
[[upstreams]]
name = "b"
targets = ["127.0.0.1:9001"]
health = { panic_threshold = 0.5 }
`,
		want: []string{`gw.toml:6: upstreams[0].health.panic_threshold: integer 9007199254740993 cannot be held exactly by a float; write it as a float`},
	},

	// ---- all errors at once ---------------------------------------------
	{
		name: "every validation error is reported",
		src: `[[listeners]]
listen = "127.0.0.1:8080"

[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000", { address = "127.0.0.1:9001", weight = 0 }]

[[routes]]
name = "a"
upstream = "ap"

[[routes]]
name = "a"
path = "/b"
strip_prefix = true
direct_response = { status = 200 }

[[routes]]
upstream = "billing"
methods = ["get"]
`,
		want: []string{
			`gw.toml:6: upstreams[0].targets[1].weight: must be at least 1`,
			`gw.toml:10: routes[0].upstream: no upstream named "ap"`,
			`gw.toml:13: routes[1].name: duplicate route name "a" (also routes[0])`,
			`gw.toml:15: routes[1].strip_prefix: needs path_prefix`,
			`gw.toml:19: routes[2].upstream: no upstream named "billing"`,
			`gw.toml:20: routes[2].methods[0]: "get" is not an upper-case HTTP method`,
		},
	},
	{
		name: "validation errors in file order",
		src: `[admin]
listen = "0.0.0.0:9901"

[log]
level = "loud"

[[routes]]
upstream = "nope"

[[listeners]]
listen = "127.0.0.1:8080"
max_connections = -1
`,
		want: []string{
			`gw.toml:1: admin.token: required when admin.listen ("0.0.0.0:9901") is not a loopback address`,
			`gw.toml:5: log.level: unknown level "loud" (want debug, info, warn or error)`,
			`gw.toml:8: routes[0].upstream: no upstream named "nope"`,
			`gw.toml:12: listeners[0].max_connections: must not be negative`,
		},
	},
	{
		name: "errors after a multi-line string in an inline table",
		src: `[[listeners]]
listen = "127.0.0.1:8080"
[[routes]]
direct_response = { status = 200, body = """
{"ok": true}
""" }
[[routes]]
upstream = "nope"
`,
		want: []string{`gw.toml:8: routes[1].upstream: no upstream named "nope"`},
	},
}

func TestErrors(t *testing.T) {
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			got := parseErrors(t, tc.src)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tc.want, "\n     "))
			}
		})
	}
}

// TestErrorsDeterministic: the same file gives the same errors every time,
// although the decoder and the key checker walk Go maps.
func TestErrorsDeterministic(t *testing.T) {
	for _, tc := range []errorCase{
		{
			name: "several unknown keys",
			src: `[[listeners]]
listen = "127.0.0.1:8080"
a = 1
b = 2
c = 3
[routes.headers]
d = 4
`,
		},
		{
			name: "several bad validations",
			src:  errorCases[len(errorCases)-3].src,
		},
		{
			name: "target table with two problems",
			src: `[[listeners]]
listen = "127.0.0.1:8080"
[[upstreams]]
name = "app"
targets = [{ address = 9000, port = 1 }]
`,
		},
		{
			name: "two type errors in one table",
			src: `[log]
level = 1
format = 2
output = 3
[[listeners]]
listen = "127.0.0.1:8080"
`,
		},
		{
			name: "two bad durations in one table",
			src: `[gateway]
shutdown_grace = "1"
watch_interval = "2"
[[listeners]]
listen = "127.0.0.1:8080"
`,
		},
		{
			name: "match table with two problems",
			src: `[[listeners]]
listen = "127.0.0.1:8080"
[[upstreams]]
name = "app"
targets = ["127.0.0.1:9000"]
[[routes]]
upstream = "app"
headers = { X = { regex = 1, foo = 2 } }
`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := strings.Join(parseErrors(t, tc.src), "\n")
			for range 100 {
				if got := strings.Join(parseErrors(t, tc.src), "\n"); got != first {
					t.Fatalf("errors differ between runs:\n%s\n---\n%s", first, got)
				}
			}
		})
	}
}

func caseNamed(name string) errorCase {
	for _, c := range errorCases {
		if c.name == name {
			return c
		}
	}
	panic("no error case named " + name)
}
