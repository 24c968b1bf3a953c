package jsonedit

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzApply edits arbitrary documents along fuzzed paths. Whatever the
// input, Apply must not panic, must return valid compact JSON or an error,
// and with no ops must return exactly json.Compact of the input.
func FuzzApply(f *testing.F) {
	f.Add([]byte(benchDoc), "user.name", "meta.source", []byte(`"gw"`))
	f.Add([]byte(`{"a":{"b":[1,{"c":"}"}]},"a":2}`), "a.b", "a", []byte(`{"x":1.0e+2}`))
	f.Add([]byte(`{"\u0061":"\"\\","b":{}}`), "a", "b.a", []byte(`null`))
	f.Add([]byte(` [1] `), "x", "y", []byte(`1`))
	f.Add([]byte(`{"a":1}garbage`), "a", "a.a", []byte(`[]`))
	f.Fuzz(func(t *testing.T, doc []byte, path1, path2 string, value []byte) {
		ops := []Op{Rename(path1, path2), Set(path2, value), Remove(path1), Set(path1+".x", value)}
		for _, op := range ops {
			if op.Err() != nil {
				return
			}
		}
		out, err := Apply(doc, ops, 1<<20)
		if err == nil {
			checkCompactJSON(t, out)
			var m map[string]any
			if json.Unmarshal(out, &m) != nil {
				t.Fatalf("output is not an object: %s", out)
			}
		}
		checkSet(t, doc, path2, value)
		out, err = Apply(doc, nil, 0)
		if err != nil {
			if !errors.Is(err, ErrInvalidJSON) && !errors.Is(err, ErrNotObject) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		var want bytes.Buffer
		if err := json.Compact(&want, doc); err != nil || !bytes.Equal(out, want.Bytes()) {
			t.Fatalf("no-op Apply = %s, want %s", out, want.Bytes())
		}
	})
}

func checkCompactJSON(t *testing.T, out []byte) {
	t.Helper()
	if !json.Valid(out) {
		t.Fatalf("invalid JSON output: %q", out)
	}
	var c bytes.Buffer
	if err := json.Compact(&c, out); err != nil || !bytes.Equal(c.Bytes(), out) {
		t.Fatalf("output not compact: %q", out)
	}
}

// checkSet verifies that after Set(path, value) a standard decoder finds
// value at path.
func checkSet(t *testing.T, doc []byte, path string, value []byte) {
	t.Helper()
	if !utf8.ValidString(path) {
		return // such names are written with U+FFFD, so cannot be found again
	}
	out, err := Apply(doc, []Op{Set(path, value)}, 0)
	if err != nil {
		return
	}
	got := decodeAny(t, out)
	names := strings.Split(path, ".")
	for _, name := range names {
		m, ok := got.(map[string]any)
		if !ok {
			t.Fatalf("%s: no object on the way to %q: %s", path, name, out)
		}
		got = m[name]
	}
	if want := decodeAny(t, value); !reflect.DeepEqual(got, want) {
		t.Fatalf("%s = %v after set, want %v; output %s", path, got, want, out)
	}
}

func decodeAny(t *testing.T, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %q: %v", data, err)
	}
	return v
}
