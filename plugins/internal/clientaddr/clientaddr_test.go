package clientaddr

import (
	"net/netip"
	"testing"
)

func TestFromRight(t *testing.T) {
	for _, tc := range []struct {
		list string
		n    int
		want string
		ok   bool
	}{
		{"a, b, c", 1, " c", true}, {"a, b, c", 2, " b", true}, {"a, b, c", 3, "a", true},
		{"a, b, c", 4, "", false}, {"a", 1, "a", true}, {"a", 2, "", false}, {"", 1, "", true},
	} {
		got, ok := FromRight([]byte(tc.list), tc.n)
		if string(got) != tc.want || ok != tc.ok {
			t.Errorf("FromRight(%q, %d) = %q %v, want %q %v", tc.list, tc.n, got, ok, tc.want, tc.ok)
		}
	}
}

// TestAddressParsingDoesNotAllocate: finding the address is on every
// request of ip-filter and rate-limit. A string conversion here used to
// allocate each time, and the guest's heap grew until its collector ran.
func TestAddressParsingDoesNotAllocate(t *testing.T) {
	v4, v6, xff := []byte("10.1.2.3:5000"), []byte("[2001:db8::1]:443"), [][]byte{[]byte("203.0.113.9, 198.51.100.7")}
	allocs := testing.AllocsPerRun(100, func() {
		if _, ok := Peer(v4); !ok {
			t.Fatal("v4")
		}
		if _, ok := Peer(v6); !ok {
			t.Fatal("v6")
		}
		if a, ok := Forwarded(xff, 2); !ok || a != netip.MustParseAddr("203.0.113.9") {
			t.Fatal("xff")
		}
		if a, ok := Forwarded(xff, 1); !ok || a != netip.MustParseAddr("198.51.100.7") {
			t.Fatal("xff with a port")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations", allocs)
	}
}
