package config

import (
	"testing"
)

func TestLocator(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want map[string]int // path -> line; 0 means "must not be recorded"
	}{
		{
			name: "tables, arrays of tables and keys",
			src: `[gateway]
shutdown_grace = "1s"

[[listeners]]
listen = ":1"
[[listeners]]
listen = ":2"

[[routes]]
upstream = "a"
`,
			want: map[string]int{
				"gateway":                1,
				"gateway.shutdown_grace": 2,
				"listeners[0]":           4,
				"listeners[0].listen":    5,
				"listeners[1]":           6,
				"listeners[1].listen":    7,
				"routes[0]":              9,
				"routes[0].upstream":     10,
				"routes[1]":              0,
				"listeners[2]":           0,
			},
		},
		{
			name: "multi-line arrays are skipped",
			src: `[[routes]]
methods = [
  "GET",     # [[routes]]
  "POST",    # upstream = "x"
  [
    "nested"
  ],
]
hosts = [ # a comment with [ and {
  "a.example.com",
]
upstream = "a"
`,
			want: map[string]int{
				"routes[0]":          1,
				"routes[0].methods":  2,
				"routes[0].hosts":    9,
				"routes[0].upstream": 12,
				"routes[1]":          0,
			},
		},
		{
			name: "brackets inside strings do not count",
			src: `[[routes]]
path_regex = "^/[a-z]+{2,}["
body = 'a ] } [[x]]'
hosts = ["]", "[", "\"]"]
upstream = "a"
`,
			want: map[string]int{
				"routes[0].path_regex": 2,
				"routes[0].body":       3,
				"routes[0].hosts":      4,
				"routes[0].upstream":   5,
			},
		},
		{
			name: "multi-line literal string that looks like config",
			src: `[[routes]]
[routes.direct_response]
body = '''
[[routes]]
upstream = "fake"
[admin]
token = "x"
'''
status = 200
[[routes]]
upstream = "real"
`,
			want: map[string]int{
				"routes[0]":                          1,
				"routes[0].direct_response":          2,
				"routes[0].direct_response.body":     3,
				"routes[0].direct_response.status":   9,
				"routes[1]":                          10,
				"routes[1].upstream":                 11,
				"routes[0].direct_response.upstream": 0,
				"routes[2]":                          0,
				"admin":                              0,
				"admin.token":                        0,
			},
		},
		{
			name: "multi-line basic string, closing on a content line",
			src: `[[routes]]
[routes.direct_response]
body = """
[[routes]]
x = 1
done"""
status = 201
`,
			want: map[string]int{
				"routes[0].direct_response.body":   3,
				"routes[0].direct_response.status": 7,
				"routes[1]":                        0,
				"routes[0].direct_response.x":      0,
			},
		},
		{
			name: "triple-quoted string on one line",
			src: `[[routes]]
body = '''one line'''
other = """also "one" line"""
upstream = "a"
`,
			want: map[string]int{
				"routes[0].body":     2,
				"routes[0].other":    3,
				"routes[0].upstream": 4,
			},
		},
		{
			name: "comments",
			src: `# [[routes]]
  # upstream = "x"
[[routes]] # first route
# [routes.direct_response]
upstream = "a" # trailing [ {
[admin] # admin
listen = ":1"
`,
			want: map[string]int{
				"routes[0]":          3,
				"routes[0].upstream": 5,
				"admin":              6,
				"admin.listen":       7,
				"routes[1]":          0,
				"upstream":           0,
			},
		},
		{
			name: "quoted keys",
			src: `[[routes]]
[routes.headers]
"X-Api-Version" = "2"
'X-Literal' = "3"
Plain = "4"
[ routes . "query" ]
"page" = "1"
`,
			want: map[string]int{
				"routes[0].headers":               2,
				"routes[0].headers.X-Api-Version": 3,
				"routes[0].headers.X-Literal":     4,
				"routes[0].headers.Plain":         5,
				"routes[0].query":                 6,
				"routes[0].query.page":            7,
			},
		},
		{
			name: "tables under array elements",
			src: `[[routes]]
upstream = "a"
[[routes]]
path = "/b"
[routes.direct_response]
status = 200
[routes.direct_response.headers]
X = "y"
[[routes]]
upstream = "c"
[routes.path_rewrite]
regex = "x"
`,
			want: map[string]int{
				"routes[0]":                           1,
				"routes[1]":                           3,
				"routes[1].direct_response":           5,
				"routes[1].direct_response.status":    6,
				"routes[1].direct_response.headers":   7,
				"routes[1].direct_response.headers.X": 8,
				"routes[2]":                           9,
				"routes[2].path_rewrite":              11,
				"routes[2].path_rewrite.regex":        12,
				"routes[0].direct_response":           0,
			},
		},
		{
			name: "dotted keys",
			src: `[[routes]]
path_rewrite.regex = "x"
direct_response.headers.X = "y"
`,
			want: map[string]int{
				"routes[0].path_rewrite.regex":        2,
				"routes[0].direct_response.headers.X": 3,
			},
		},
		{
			name: "nested arrays of tables in several elements",
			src: `[[listeners]]
[[listeners.tls]]
cert = "a"
[[listeners.tls]]
cert = "b"
[[listeners]]
[[listeners.tls]]
cert = "c"
`,
			want: map[string]int{
				"listeners[0].tls[0]":      2,
				"listeners[0].tls[1]":      4,
				"listeners[1]":             6,
				"listeners[1].tls[0]":      7,
				"listeners[1].tls[0].cert": 8,
				"listeners[1].tls[1]":      0,
			},
		},
		{
			name: "headers below an array of tables start afresh in each element",
			src: `[[routes]]
[routes.direct_response]
status = 200
[[routes]]
[routes.direct_response.headers]
X = "y"
[[listeners]]
[listeners.x]
[[listeners.x.y]]
[[listeners]]
[[listeners.x.y]]
a = 1
`,
			want: map[string]int{
				"routes[0].direct_response":           2,
				"routes[1].direct_response":           5,
				"routes[1].direct_response.headers.X": 6,
				"routes[0].direct_response.headers":   0,
				"listeners[0].x.y[0]":                 9,
				"listeners[0].x.y[1]":                 0,
				"listeners[1].x":                      11,
				"listeners[1].x.y[0]":                 11,
				"listeners[1].x.y[0].a":               12,
			},
		},
		{
			name: "unclosed header",
			src:  "[[routes]\nupstream = \"a\"\n[gateway\nshutdown_grace = \"1s\"\n",
			want: map[string]int{
				"routes[0]":              1,
				"routes[0].upstream":     2,
				"gateway":                3,
				"gateway.shutdown_grace": 4,
			},
		},
		{
			name: "quoted part of a dotted key",
			src: `[[routes]]
headers."X-Api" = "1"
query.'a.b' = "2"
`,
			want: map[string]int{
				"routes[0].headers.X-Api": 2,
				"routes[0].query.a.b":     3,
			},
		},
		{
			name: "multi-line string inside an inline table",
			src: `[[routes]]
direct_response = { status = 200, body = """
{"ok": true}
""" }
[[routes]]
upstream = "b"
`,
			want: map[string]int{
				"routes[0].direct_response": 2,
				"routes[1]":                 5,
				"routes[1].upstream":        6,
			},
		},
		{
			name: "escaped quotes in a multi-line basic string",
			src: `[[routes]]
[routes.direct_response]
body = """
say \""" loudly
upstream = "fake"
"""
status = 200
`,
			want: map[string]int{
				"routes[0].direct_response.body":     3,
				"routes[0].direct_response.upstream": 0,
				"routes[0].direct_response.status":   7,
			},
		},
		{
			name: "multi-line inline table (TOML 1.1)",
			src: `[[routes]]
direct_response = {
  status = 200,
  upstream = "inner",
}
[[routes]]
upstream = "b"
`,
			want: map[string]int{
				"routes[0].direct_response":          2,
				"routes[0].direct_response.status":   3,
				"routes[0].direct_response.upstream": 4,
				"routes[0].upstream":                 0,
				"routes[1]":                          6,
				"routes[1].upstream":                 7,
			},
		},
		{
			name: "CRLF line endings",
			src:  "[[routes]]\r\nupstream = \"a\"\r\n[[routes]]\r\nupstream = \"b\"\r\n",
			want: map[string]int{
				"routes[0].upstream": 2,
				"routes[1]":          3,
				"routes[1].upstream": 4,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLocator(tc.src)
			for path, want := range tc.want {
				got, ok := l.lines[path]
				switch {
				case want == 0 && ok:
					t.Errorf("%s recorded at line %d, want not recorded", path, got)
				case want != 0 && got != want:
					t.Errorf("%s at line %d, want %d", path, got, want)
				}
			}
			if t.Failed() {
				t.Logf("recorded: %v", l.lines)
			}
		})
	}
}

// TestLocatorFallback: line() walks up to the nearest recorded parent.
func TestLocatorFallback(t *testing.T) {
	l := newLocator(`[[upstreams]]
name = "a"
targets = ["x", "y"]
[[routes]]
[routes.direct_response]
status = 200
`)
	for path, want := range map[string]int{
		"upstreams[0].targets[1].weight":        3,
		"upstreams[0].targets[1]":               3,
		"upstreams[0].tls":                      1,
		"routes[0].direct_response.headers.X":   5,
		"routes[0].direct_response.status":      6,
		"routes[0].upstream":                    4,
		"routes[3].upstream":                    0,
		"listeners":                             0,
		"":                                      0,
		"upstreams[0].targets[1].weight.nested": 3,
	} {
		if got := l.line(path); got != want {
			t.Errorf("line(%q) = %d, want %d", path, got, want)
		}
	}
	var nilLoc *locator
	if got := nilLoc.line("routes[0]"); got != 0 {
		t.Errorf("nil locator line = %d, want 0", got)
	}
	if got := l.byLine[6]; got != "routes[0].direct_response.status" {
		t.Errorf("byLine[6] = %q, want routes[0].direct_response.status", got)
	}
}

// TestLocatorEndToEnd: an error after tricky content still gets its line.
func TestLocatorEndToEnd(t *testing.T) {
	src := `[[listeners]]
listen = "127.0.0.1:8080"

[[upstreams]]
name = "app"
targets = [
  "127.0.0.1:9000",   # [[routes]]
  { address = "127.0.0.1:9001", weight = 2 },
]

[[routes]]
name = "page"
[routes.direct_response]
body = '''
<html>
[[routes]]
upstream = "decoy"
</html>
'''
[routes.direct_response.headers]
"Content-Language" = "en"

[[routes]]
"name" = "api"   # quoted key
upstream = "billing"
`
	got := parseErrors(t, src)
	want := `gw.toml:25: routes[1].upstream: no upstream named "billing"`
	if len(got) != 1 || got[0] != want {
		t.Errorf("errors = %q, want [%s]", got, want)
	}
}
