package pluginhost

import (
	"strings"
	"testing"
)

// roundTripPairsWAT reads the request's header map and writes it back,
// the common SDK pattern (set_http_request_headers of
// get_http_request_headers, after editing it).
const roundTripPairsWAT = `(module
  (import "env" "proxy_get_header_map_pairs" (func $get (param i32 i32 i32) (result i32)))
  (import "env" "proxy_set_header_map_pairs" (func $set (param i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 4096))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (global.get $heap) (local.get $n)) (i32.const 7)) (i32.const -8)))
    (local.get $p))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $get (i32.const 0) (i32.const 1000) (i32.const 1004)))
    (i32.store (i32.const 1008)
      (call $set (i32.const 0) (i32.load (i32.const 1000)) (i32.load (i32.const 1004))))
    (i32.const 0))
)`

// TestHeaderPairsRoundTripAddsNoPseudoHeader: writing back the map the
// host gave (which has :scheme) succeeds, changes nothing, and does not
// turn ":scheme" into a header line sent upstream.
func TestHeaderPairsRoundTripAddsNoPseudoHeader(t *testing.T) {
	p := loadWAT(t, "pairs", roundTripPairsWAT, Options{})
	ctx := reqCtx("X-A", "1", "Host", "example.test")
	r, _ := Chain{NewSlot(p)}.Begin(ctx, "r", "u")
	if _, err := r.RequestHeaders(); err != nil {
		t.Fatal(err)
	}
	vm := r.streams[0].vm
	r.End()
	vm.mu.Lock()
	st, _ := vm.mod.Memory().ReadUint32Le(1008)
	vm.mu.Unlock()
	h := &ctx.Request.Header
	wire := h.String()
	if st != stOK || strings.Contains(wire, "\n:") || string(h.Peek("X-A")) != "1" ||
		string(h.Method()) != "GET" || string(h.Host()) != "example.test" || string(h.RequestURI()) != "/a/b?x=1" {
		t.Fatalf("writing back the header map answered %d (want Ok) and left the request as\n%s", st, wire)
	}
}

// TestPseudoHeaderEdits: a pseudo-header the host does not map to the
// message is never sent as a header line. Add and replace answer
// BadArgument for an unknown one, remove answers Ok (nothing by that name
// is sent); :scheme may be set to the scheme the request has (a no-op),
// nothing else. A whole-map set leaves unknown pseudo-headers out, and a
// refused one changes nothing.
func TestPseudoHeaderEdits(t *testing.T) {
	p := load(t, "noop", Options{Name: "pseudo"})
	vm := p.pick()
	ctx := reqCtx("X-A", "1")
	vm.mu.Lock()
	defer vm.mu.Unlock()
	vm.cur = &Stream{vm: vm, id: 7, req: &Request{Ctx: ctx}}
	defer func() { vm.cur = nil }()
	mem := vm.mod.Memory()
	edit := func(f func(*VM, []uint64) uint32, mapType uint64, key, value string) uint32 {
		mem.Write(100, []byte(key))
		mem.Write(200, []byte(value))
		return f(vm, []uint64{mapType, 100, uint64(len(key)), 200, uint64(len(value))})
	}
	for _, tc := range []struct {
		name       string
		f          func(*VM, []uint64) uint32
		mapType    uint64
		key, value string
		want       uint32
	}{
		{"replace :scheme with the request's", hReplaceValue, mapRequestHeads, ":scheme", "http", stOK},
		{"add :scheme with the request's", hAddValue, mapRequestHeads, ":scheme", "HTTP", stOK},
		{"replace :scheme with another", hReplaceValue, mapRequestHeads, ":scheme", "https", stBadArgument},
		{"remove :scheme", hRemoveValue, mapRequestHeads, ":scheme", "", stBadArgument},
		{"add an unknown pseudo-header", hAddValue, mapRequestHeads, ":protocol", "websocket", stBadArgument},
		{"replace an unknown pseudo-header", hReplaceValue, mapRequestHeads, ":x", "1", stBadArgument},
		{"remove an unknown pseudo-header", hRemoveValue, mapRequestHeads, ":x", "", stOK},
		{"add an unknown response pseudo-header", hAddValue, mapResponseHeads, ":x", "1", stBadArgument},
	} {
		if st := edit(tc.f, tc.mapType, tc.key, tc.value); st != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, st, tc.want)
		}
	}
	if h, r := ctx.Request.Header.String(), ctx.Response.Header.String(); strings.Contains(h, "\n:") || strings.Contains(r, "\n:") {
		t.Fatalf("a pseudo-header became a header line:\n%s\n%s", h, r)
	}

	set := func(pairs ...string) uint32 {
		var m [][2][]byte
		for i := 0; i+1 < len(pairs); i += 2 {
			m = append(m, [2][]byte{[]byte(pairs[i]), []byte(pairs[i+1])})
		}
		raw := serializePairs(m)
		mem.Write(1000, raw)
		return hSetPairs(vm, []uint64{mapRequestHeads, 1000, uint64(len(raw))})
	}
	if st := set(":method", "GET", ":scheme", "https", "x-b", "2"); st != stBadArgument || string(ctx.Request.Header.Peek("X-A")) != "1" {
		t.Fatalf("a map with another scheme: status %d (want BadArgument), and the request became\n%s", st, ctx.Request.Header.String())
	}
	if st := set(":method", "POST", ":scheme", "http", ":protocol", "websocket", "x-b", "2"); st != stOK {
		t.Fatalf("a map with an unknown pseudo-header: status %d, want Ok", st)
	}
	h := &ctx.Request.Header
	if string(h.Method()) != "POST" || h.Peek("X-A") != nil || string(h.Peek("X-B")) != "2" || strings.Contains(h.String(), "\n:") {
		t.Fatalf("after setting the map, the request is\n%s", h.String())
	}
}
