package jsonedit

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestParseOps(t *testing.T) {
	tests := []struct {
		config string
		want   []string
	}{
		{`{}`, nil},
		{`{"set":null,"remove":null,"rename":null}`, nil},
		{`{"set": {"meta.source": "gateway", "n": 3}, "remove": ["password"], "rename": {"user_name": "user.name"}}`,
			[]string{"rename user_name to user.name", "remove password", "set meta.source", "set n"}},
		{`{"set":{"z":1,"a":2,"m":{"x":[1]}}}`, []string{"set z", "set a", "set m"}},
		{`{"rename":{"b":"c","a":"b"}}`, []string{"rename b to c", "rename a to b"}},
		{`{"remove":["b","a.x"]}`, []string{"remove b", "remove a.x"}},
	}
	for _, tt := range tests {
		ops, err := ParseOps([]byte(tt.config))
		if err != nil {
			t.Errorf("ParseOps(%s): %v", tt.config, err)
			continue
		}
		var got []string
		for _, op := range ops {
			got = append(got, op.String())
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("ParseOps(%s) = %q, want %q", tt.config, got, tt.want)
		}
	}
}

func TestParseOpsErrors(t *testing.T) {
	tests := []struct{ config, want string }{
		{`[]`, `jsonedit: config: want an object`},
		{`{`, `jsonedit: config: unexpected end of JSON input`},
		{`{"sets":{}}`, `jsonedit: config: unknown member "sets" (want rename, remove or set)`},
		{`{"set":[]}`, `jsonedit: config: set: want an object of "path": value`},
		{`{"remove":"a"}`, `jsonedit: config: remove: want an array of paths`},
		{`{"remove":[1]}`, `jsonedit: config: remove: want an array of paths`},
		{`{"rename":["a"]}`, `jsonedit: config: rename: want an object of "from": "to" paths`},
		{`{"rename":{"a":1}}`, `jsonedit: config: rename a: want a string path`},
		{`{"rename":{"a":""}}`, `jsonedit: invalid path "": empty member name`},
		{`{"set":{"a.":1}}`, `jsonedit: invalid path "a.": empty member name`},
		{`{"remove":["."]}`, `jsonedit: invalid path ".": empty member name`},
	}
	for _, tt := range tests {
		_, err := ParseOps([]byte(tt.config))
		if err == nil || err.Error() != tt.want {
			t.Errorf("ParseOps(%s) = %v, want %q", tt.config, err, tt.want)
		}
	}
}

func TestConfigEmbedded(t *testing.T) {
	var c struct {
		Request  Config `json:"request"`
		Response Config `json:"response"`
		Max      int    `json:"max_bytes"`
	}
	err := json.Unmarshal([]byte(`{"request":{"set":{"b":1,"a":{"c":true}},"remove":["x"]},"response":null,"max_bytes":10}`), &c)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Response.Ops()) != 0 || c.Max != 10 {
		t.Fatalf("got %+v", c)
	}
	out, err := Apply([]byte(`{"x":0,"a":{"d":1}}`), c.Request.Ops(), c.Max*10)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"a":{"c":true},"b":1}`; string(out) != want {
		t.Errorf("got %s, want %s", out, want)
	}
	if err := json.Unmarshal([]byte(`{"request":{"bogus":1}}`), &c); err == nil {
		t.Error("unknown member accepted")
	}
}

func mustParseOps(t testing.TB, config string) []Op {
	t.Helper()
	ops, err := ParseOps([]byte(config))
	if err != nil {
		t.Fatalf("ParseOps(%s): %v", config, err)
	}
	return ops
}
