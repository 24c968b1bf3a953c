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

type fakeRequest struct {
	peer string
	xff  []string
}

func (f fakeRequest) Peer() []byte { return []byte(f.peer) }
func (f fakeRequest) XFF() [][]byte {
	var out [][]byte
	for _, l := range f.xff {
		out = append(out, []byte(l))
	}
	return out
}

// TestBehindTrustedNets: with the proxies' addresses, X-Forwarded-For
// counts only from one of them, and the client is its rightmost entry
// that is not one (a client reaching the gateway directly cannot pick
// the address it is judged by, as it can with a hop count).
func TestBehindTrustedNets(t *testing.T) {
	b, err := Configure(0, []string{"10.0.0.0/8", "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		peer string
		xff  []string
		want string // "" when refused
	}{
		{"203.0.113.5:1", []string{"198.51.100.1"}, "203.0.113.5"},                  // not a proxy: its XFF is the client's own
		{"10.0.0.1:1", []string{"198.51.100.1"}, "198.51.100.1"},                    // the balancer's entry
		{"10.0.0.1:1", []string{"6.6.6.6, 198.51.100.1, 10.0.0.2"}, "198.51.100.1"}, // past a second proxy
		{"10.0.0.1:1", []string{"198.51.100.1", "192.0.2.7"}, "198.51.100.1"},       // across lines
		{"10.0.0.1:1", []string{"10.0.0.3, 10.0.0.2"}, "10.0.0.3"},                  // all proxies: the leftmost
		{"10.0.0.1:1", nil, "10.0.0.1"},                                             // the balancer asking itself
		{"10.0.0.1:1", []string{"6.6.6.6, garbage"}, ""},                            // no guess past a bad entry
	} {
		a, ok := b.Client(fakeRequest{tc.peer, tc.xff})
		got := ""
		if ok {
			got = a.String()
		}
		if got != tc.want {
			t.Errorf("peer %s xff %q: %q, want %q", tc.peer, tc.xff, got, tc.want)
		}
	}
	if _, err := Configure(1, []string{"10.0.0.0/8"}); err == nil {
		t.Error("a hop count and addresses both accepted")
	}
	if _, err := Configure(0, []string{"nope"}); err == nil {
		t.Error("a bad CIDR accepted")
	}
}
