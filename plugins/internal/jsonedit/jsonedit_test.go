package jsonedit

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestApply(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		ops  []Op
		want string
	}{
		{"no ops compacts", "{ \"b\" : 1 ,\n \"a\" : [ 1 , 2 ] }", nil, `{"b":1,"a":[1,2]}`},
		{"empty object", `{}`, []Op{Remove("a")}, `{}`},

		// Set
		{"set replaces in place", `{"c":1,"b":2,"a":3}`, []Op{Set("b", raw(`"x"`))}, `{"c":1,"b":"x","a":3}`},
		{"set appends new", `{"c":1,"a":3}`, []Op{Set("b", raw(`true`))}, `{"c":1,"a":3,"b":true}`},
		{"set into empty", `{}`, []Op{Set("a", raw(`null`))}, `{"a":null}`},
		{"set nested existing", `{"user":{"name":"a","age":3},"z":0}`, []Op{Set("user.name", raw(`"b"`))}, `{"user":{"name":"b","age":3},"z":0}`},
		{"set creates objects", `{"x":1}`, []Op{Set("meta.trace.id", raw(`"abc"`))}, `{"x":1,"meta":{"trace":{"id":"abc"}}}`},
		{"set creates inside existing", `{"meta":{"a":1},"x":1}`, []Op{Set("meta.b.c", raw(`2`))}, `{"meta":{"a":1,"b":{"c":2}},"x":1}`},
		{"set value compacted", `{}`, []Op{Set("v", raw("{ \"k\" : [ 1 ,\n 2 ] }"))}, `{"v":{"k":[1,2]}}`},
		{"set replaces object with scalar", `{"a":{"b":1}}`, []Op{Set("a", raw(`0`))}, `{"a":0}`},
		{"set then set inside new value", `{}`, []Op{Set("a", raw(`{"b":1}`)), Set("a.c", raw(`2`))}, `{"a":{"b":1,"c":2}}`},
		{"set same value twice", `{}`, []Op{Set("a", raw(`{"b":1}`)), Set("c", raw(`{"b":1}`)), Set("a.b", raw(`2`))}, `{"a":{"b":2},"c":{"b":1}}`},
		{"set key needing escapes", `{}`, []Op{Set("say \"hi\"\n<&>", raw(`1`))}, `{"say \"hi\"\n<&>":1}`},
		{"set unicode key", `{}`, []Op{Set("größe.日本", raw(`"\u00e9"`))}, `{"größe":{"日本":"\u00e9"}}`},

		// Remove
		{"remove top", `{"a":1,"password":"x","b":2}`, []Op{Remove("password")}, `{"a":1,"b":2}`},
		{"remove nested", `{"u":{"a":1,"ssn":"1","b":[{"ssn":2}]},"ssn":0}`, []Op{Remove("u.ssn")}, `{"u":{"a":1,"b":[{"ssn":2}]},"ssn":0}`},
		{"remove missing", `{"a":1}`, []Op{Remove("b"), Remove("x.y.z")}, `{"a":1}`},
		{"remove through non-object", `{"a":[{"b":1}],"c":"s"}`, []Op{Remove("a.b"), Remove("c.d")}, `{"a":[{"b":1}],"c":"s"}`},
		{"remove last member", `{"a":{"b":1}}`, []Op{Remove("a.b")}, `{"a":{}}`},
		{"remove duplicates all", `{"password":1,"x":0,"password":2}`, []Op{Remove("password")}, `{"x":0}`},
		{"remove escaped name", `{"pass\u0077ord":1,"x":0}`, []Op{Remove("password")}, `{"x":0}`},

		// Rename
		{"rename in place", `{"a":1,"user_name":"x","b":2}`, []Op{Rename("user_name", "username")}, `{"a":1,"username":"x","b":2}`},
		{"rename missing no-op", `{"a":1}`, []Op{Rename("b", "c"), Rename("x.y", "a.z")}, `{"a":1}`},
		{"rename onto existing", `{"a":1,"b":2,"c":3}`, []Op{Rename("c", "a")}, `{"a":3,"b":2}`},
		{"rename to same path", `{"a":1}`, []Op{Rename("a", "a")}, `{"a":1}`},
		{"rename down a level", `{"user_name":"x","user":{"id":1}}`, []Op{Rename("user_name", "user.name")}, `{"user":{"id":1,"name":"x"}}`},
		{"rename down creating", `{"user_name":"x","k":0}`, []Op{Rename("user_name", "user.name")}, `{"k":0,"user":{"name":"x"}}`},
		{"rename up a level", `{"user":{"id":7,"name":"x"},"k":0}`, []Op{Rename("user.id", "user_id")}, `{"user":{"name":"x"},"k":0,"user_id":7}`},
		{"rename across branches", `{"a":{"x":{"deep":[1]}},"b":{}}`, []Op{Rename("a.x", "b.y")}, `{"a":{},"b":{"y":{"deep":[1]}}}`},
		{"rename into own subtree", `{"a":{"k":1},"z":0}`, []Op{Rename("a", "a.b")}, `{"z":0,"a":{"b":{"k":1}}}`},
		{"rename onto own parent", `{"a":{"b":{"k":1},"c":2},"z":0}`, []Op{Rename("a.b", "a")}, `{"a":{"k":1},"z":0}`},
		{"rename keeps raw value", `{"n":1.0e+2,"s":"\u00e9\""}`, []Op{Rename("n", "m.n"), Rename("s", "m.s")}, `{"m":{"n":1.0e+2,"s":"\u00e9\""}}`},
		{"rename moved object then edit it", `{"a":{"b":1}}`, []Op{Rename("a", "c"), Set("c.d", raw(`2`))}, `{"c":{"b":1,"d":2}}`},

		// Preservation
		{"numbers byte-exact", `{"a":1.0e+2,"b":12345678901234567890,"c":-0.000,"d":1E-7,"e":[1.50]}`, []Op{Set("x", raw(`1.0e+2`)), Set("y", raw(`12345678901234567890`))},
			`{"a":1.0e+2,"b":12345678901234567890,"c":-0.000,"d":1E-7,"e":[1.50],"x":1.0e+2,"y":12345678901234567890}`},
		{"strings byte-exact", `{"a":"\u00e9\n\"q\" \\ \/ <&> 日本 \ud83d\ude00","b":{"c":"\t"}}`, []Op{Set("b.d", raw(`"é \"x\""`))},
			`{"a":"\u00e9\n\"q\" \\ \/ <&> 日本 \ud83d\ude00","b":{"c":"\t","d":"é \"x\""}}`},
		{"whitespace in strings kept", "{\"a\" : \" x  y \" , \"b\":[ \"[ {\" ] }", []Op{Remove("c")}, `{"a":" x  y ","b":["[ {"]}`},
		{"tricky strings skipped", `{"a":"}]\"{[","b":["\\",{"c":"\\\""}],"d":1}`, []Op{Set("d", raw(`2`))}, `{"a":"}]\"{[","b":["\\",{"c":"\\\""}],"d":2}`},
		{"untouched duplicates deeper stay", `{"a":{"x":1,"x":2},"b":0}`, []Op{Remove("b")}, `{"a":{"x":1,"x":2}}`},
		{"duplicates folded when parsed", `{"a":1,"b":2,"a":3}`, []Op{Set("c", raw(`4`))}, `{"a":3,"b":2,"c":4}`},
		{"many duplicates folded", `{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k1":"x","k16":"y"}`,
			[]Op{Remove("k0")}, `{"k1":"x","k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":"y"}`},

		// The configuration example, in its documented order.
		{"config order", `{"password":"x","user_name":"ada","n":1}`, mustParseOps(t, `{"set": {"meta.source": "gateway", "n": 3}, "remove": ["password"], "rename": {"user_name": "user.name"}}`),
			`{"n":3,"user":{"name":"ada"},"meta":{"source":"gateway"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Apply([]byte(tt.doc), tt.ops, 0)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("Apply(%s)\n got %s\nwant %s", tt.doc, got, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("output is not valid JSON: %s", got)
			}
		})
	}
}

// TestStringRoundTrip checks that strings that go through jsonedit, as
// written or as new member names, decode to what they were.
func TestStringRoundTrip(t *testing.T) {
	names := []string{"plain", `quo"te`, `back\slash`, "new\nline", "tab\there", "\x00\x01\x1f", "é日本😀", "<script>&", "\u2028\u2029", "a b"}
	for _, name := range names {
		value, _ := json.Marshal(name)
		out, err := Apply([]byte(`{"k":`+string(value)+`}`), []Op{Set(name, value), Rename("k", "moved")}, 0)
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		var got map[string]string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%q: output %s: %v", name, out, err)
		}
		if got[name] != name || got["moved"] != name {
			t.Errorf("%q: round trip gave %s", name, out)
		}
	}
	// An invalid UTF-8 name is replaced rather than producing invalid JSON.
	out, err := Apply([]byte(`{}`), []Op{Set("a\xffb", raw(`1`))}, 0)
	if err != nil || string(out) != `{"a\ufffdb":1}` {
		t.Errorf("invalid UTF-8 name: %s, %v", out, err)
	}
}

func TestApplyErrors(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		ops     []Op
		max     int
		wantIs  error
		wantMsg string
	}{
		{"too large", `{"a":1}`, nil, 6, ErrTooLarge, ""},
		{"too large not parsed", `{{{{ not json`, nil, 5, ErrTooLarge, ""},
		{"invalid", `{"a":}`, nil, 0, ErrInvalidJSON, ""},
		{"truncated", `{"a":1`, nil, 0, ErrInvalidJSON, ""},
		{"empty", ``, nil, 0, ErrInvalidJSON, ""},
		{"trailing data", `{} {}`, nil, 0, ErrInvalidJSON, ""},
		{"trailing garbage", `{"a":1}x`, nil, 0, ErrInvalidJSON, ""},
		{"array root", `[{"a":1}]`, []Op{Remove("a")}, 0, ErrNotObject, ""},
		{"string root", `"a"`, nil, 0, ErrNotObject, ""},
		{"null root", ` null `, nil, 0, ErrNotObject, ""},
		{"set through scalar", `{"a":1}`, []Op{Set("a.b", raw(`1`))}, 0, nil, `jsonedit: set a.b: a is not an object`},
		{"set through array", `{"a":{"b":[]}}`, []Op{Set("a.b.c", raw(`1`))}, 0, nil, `jsonedit: set a.b.c: a.b is not an object`},
		{"set through null", `{"a":null}`, []Op{Set("a.b", raw(`1`))}, 0, nil, `jsonedit: set a.b: a is not an object`},
		{"rename into scalar", `{"a":1,"b":"s"}`, []Op{Rename("a", "b.c")}, 0, nil, `jsonedit: rename a to b.c: b is not an object`},
		{"bad set value", `{}`, []Op{Set("a", raw(`{`))}, 0, nil, `jsonedit: set a: invalid JSON value: unexpected end of JSON input`},
		{"empty set value", `{}`, []Op{Set("a", nil)}, 0, nil, `jsonedit: set a: invalid JSON value: unexpected end of JSON input`},
		{"bad path", `{}`, []Op{Remove("a..b")}, 0, nil, `jsonedit: invalid path "a..b": empty member name`},
		{"empty path", `{}`, []Op{Set("", raw(`1`))}, 0, nil, `jsonedit: invalid path "": empty member name`},
		{"bad rename path", `{}`, []Op{Rename("a", ".b")}, 0, nil, `jsonedit: invalid path ".b": empty member name`},
		{"zero op", `{}`, []Op{{}}, 0, nil, `jsonedit: invalid op (use Set, Remove or Rename)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Apply([]byte(tt.doc), tt.ops, tt.max)
			if err == nil {
				t.Fatalf("Apply = %s, want an error", out)
			}
			if out != nil {
				t.Errorf("Apply returned output %s with error", out)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("Apply error %v, want %v", err, tt.wantIs)
			}
			if tt.wantMsg != "" && err.Error() != tt.wantMsg {
				t.Errorf("Apply error %q, want %q", err, tt.wantMsg)
			}
		})
	}
}

func TestSizeLimitBoundary(t *testing.T) {
	doc := []byte(`{"a":1}`) // 7 bytes
	for _, max := range []int{0, -1, 7, 8} {
		if _, err := Apply(doc, nil, max); err != nil {
			t.Errorf("maxSize %d: %v", max, err)
		}
	}
	if _, err := Apply(doc, nil, 6); !errors.Is(err, ErrTooLarge) {
		t.Errorf("maxSize 6: %v, want ErrTooLarge", err)
	}
}

// TestApplyLeavesInputAlone: the plugin falls back to the original body on
// error, and ops are shared by all requests, so neither may be modified.
func TestApplyLeavesInputAlone(t *testing.T) {
	doc := []byte(`{"a":{"b":1},"c":[1]}`)
	orig := string(doc)
	ops := []Op{Set("x", raw(`{"y":1}`)), Set("x.z", raw(`2`)), Rename("a.b", "c2"), Remove("c")}
	for i := 0; i < 3; i++ {
		out, err := Apply(doc, ops, 0)
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"a":{},"x":{"y":1,"z":2},"c2":1}`; string(out) != want {
			t.Fatalf("run %d: got %s, want %s", i, out, want)
		}
		if string(doc) != orig {
			t.Fatalf("input modified: %s", doc)
		}
	}
}

func TestOpString(t *testing.T) {
	for op, want := range map[*Op]string{
		ptr(Set("a.b", raw(`1`))): "set a.b",
		ptr(Remove("x")):          "remove x",
		ptr(Rename("a", "b.c")):   "rename a to b.c",
		ptr(Op{}):                 "invalid op",
	} {
		if got := op.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
	if err := Set("a", raw(`1`)).Err(); err != nil {
		t.Errorf("valid op Err() = %v", err)
	}
	if err := Set("a", raw(`x`)).Err(); err == nil {
		t.Error("invalid value: Err() = nil")
	}
}

func TestDocumentedMessagesMentionPath(t *testing.T) {
	_, err := Apply([]byte(`{"a":"s"}`), []Op{Set("a.b.c", raw(`1`))}, 0)
	if err == nil || !strings.Contains(err.Error(), "a is not an object") {
		t.Fatalf("got %v", err)
	}
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func ptr(op Op) *Op { return &op }
