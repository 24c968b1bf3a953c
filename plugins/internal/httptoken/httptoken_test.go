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

func TestWithoutParam(t *testing.T) {
	for _, c := range []struct{ path, name, want string }{
		{"/x?a=1&t=2&b=3", "t", "/x?a=1&b=3"},
		{"/x?t=2", "t", "/x"},
		{"/x?t=1&t=2&tt=3", "t", "/x?tt=3"},
		{"/x?%74=1&a", "t", "/x?a"},
		{"/x?a=%zz&t=1#f", "t", "/x?a=%zz#f"},
		{"/x", "t", "/x"},
	} {
		if got := WithoutParam(c.path, c.name); got != c.want {
			t.Errorf("WithoutParam(%q) = %q, want %q", c.path, got, c.want)
		}
	}
}

func TestQueryParam(t *testing.T) {
	for _, c := range []struct {
		path, want string
		ok, two    bool
	}{
		{"/x?a=1&access%5Ftoken=a%2Eb", "a.b", true, false},
		{"/x?access_token=a&access_token=a", "a", true, false},
		{"/x?access_token=a&access_token=b", "a", true, true},
		{"/x?access_token=a&access_token=%zz", "a", true, true},
		{"/x?access_token=&b=1", "", false, false},
		{"/x?b=%zz&access_token=a#access_token=b", "a", true, false},
		{"/x", "", false, false},
	} {
		v, ok, two := QueryParam([]byte(c.path), "access_token")
		if v != c.want || ok != c.ok || two != c.two {
			t.Errorf("QueryParam(%q) = %q %v %v, want %q %v %v", c.path, v, ok, two, c.want, c.ok, c.two)
		}
	}
}
