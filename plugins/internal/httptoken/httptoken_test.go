package httptoken

import "testing"

func TestIsToken(t *testing.T) {
	for s, want := range map[string]bool{"X-Consumer": true, "a!#$%&'*+-.^_`|~z9": true, "": false, "a b": false, "a:b": false, "é": false} {
		if IsToken(s) != want {
			t.Errorf("IsToken(%q) = %v", s, !want)
		}
	}
}

func TestHasCTL(t *testing.T) {
	for s, want := range map[string]bool{"plain": false, "a\nb": true, "\x7f": true, "tab\there": true, "": false} {
		if HasCTL(s) != want {
			t.Errorf("HasCTL(%q) = %v", s, !want)
		}
	}
}

func TestEqualFold(t *testing.T) {
	for _, tc := range []struct {
		b, s string
		want bool
	}{{"Bearer", "bearer", true}, {"BASIC", "basic", true}, {"basic", "basic", true}, {"basics", "basic", false}, {"bas1c", "basic", false}} {
		if EqualFold([]byte(tc.b), tc.s) != tc.want {
			t.Errorf("EqualFold(%q, %q) = %v", tc.b, tc.s, !tc.want)
		}
	}
}
