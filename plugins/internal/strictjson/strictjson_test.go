package strictjson

import (
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	var c struct {
		A int `json:"a"`
	}
	if err := Decode([]byte(` {"a": 1} `), &c); err != nil || c.A != 1 {
		t.Fatalf("%v %+v", err, c)
	}
	for raw, want := range map[string]string{`{"b": 1}`: "unknown field", `{"a": 1} {}`: "data after", `{"a":`: "unexpected EOF"} {
		if err := Decode([]byte(raw), &c); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", raw, err, want)
		}
	}
}
