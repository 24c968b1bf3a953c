package jsonstr

import (
	"encoding/json"
	"testing"
)

// TestAppendMatchesEncodingJSON: what Append writes decodes to what
// encoding/json reads from its own encoding, and the HTML characters stay
// as they are.
func TestAppendMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uo\te`, "tab\tnl\ncr\r", "\x00\x1f", "é ✓ 😀", "bad\xffbyte", "<a&b>"} {
		out := Append(nil, s)
		var back, want string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%q: %s does not decode: %v", s, out, err)
		}
		enc, _ := json.Marshal(s)
		_ = json.Unmarshal(enc, &want)
		if back != want {
			t.Errorf("%q: decodes to %q, encoding/json's to %q", s, back, want)
		}
	}
	if got := string(Append([]byte("x"), "<&>")); got != `x"<&>"` {
		t.Errorf("HTML characters escaped: %s", got)
	}
}
