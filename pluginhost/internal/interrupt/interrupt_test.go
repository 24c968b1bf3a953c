package interrupt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/wasmgate/wasmgate/internal/watfixture"
)

// allFeatures are the features the fixtures use: wazero's defaults and the
// experimental ones Instrument decodes.
const allFeatures = api.CoreFeaturesV2 | experimental.CoreFeaturesTailCall | experimental.CoreFeaturesThreads |
	experimental.CoreFeaturesExceptionHandling | experimental.CoreFeaturesTypedFunctionReferences

// fixture is a committed module from testdata.
func fixture(t testing.TB, name string) []byte { return watfixture.Read(t, name) }

func instrument(t testing.TB, bin []byte) []byte {
	t.Helper()
	out, err := Instrument(bin)
	if err != nil {
		t.Fatalf("Instrument: %v", err)
	}
	return out
}

// newRuntime is a compiling runtime as the host makes one, but without
// WithCloseOnContextDone: nothing but the flag can stop a call.
func newRuntime(t testing.TB) wazero.Runtime {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCoreFeatures(allFeatures))
	t.Cleanup(func() { _ = r.Close(ctx) })
	return r
}

func instantiate(t testing.TB, r wazero.Runtime, bin []byte, name string) api.Module {
	t.Helper()
	mod, err := r.InstantiateWithConfig(context.Background(), bin, wazero.NewModuleConfig().WithName(name))
	if err != nil {
		t.Fatalf("instantiate %s: %v", name, err)
	}
	return mod
}

// loopsPair instantiates loops.wasm as is and instrumented, each in a
// runtime of its own with the env module it imports from.
func loopsPair(t testing.TB) (orig, inst api.Module) {
	bin := fixture(t, "loops")
	for i, b := range [][]byte{bin, instrument(t, bin)} {
		r := newRuntime(t)
		instantiate(t, r, fixture(t, "env"), "env")
		m := instantiate(t, r, b, "loops")
		if i == 0 {
			orig = m
		} else {
			inst = m
		}
	}
	return orig, inst
}

func call(t testing.TB, mod api.Module, fn string, args ...uint64) uint64 {
	t.Helper()
	f := mod.ExportedFunction(fn)
	if f == nil {
		t.Fatalf("no export %q", fn)
	}
	res, err := f.Call(context.Background(), args...)
	if err != nil {
		t.Fatalf("%s%v: %v", fn, args, err)
	}
	if len(res) == 0 {
		return 0
	}
	return res[0]
}

func flag(t testing.TB, mod api.Module) api.MutableGlobal {
	t.Helper()
	g, ok := mod.ExportedGlobal(ExportName).(api.MutableGlobal)
	if !ok {
		t.Fatalf("no mutable global %q exported", ExportName)
	}
	if g.Type() != api.ValueTypeI32 {
		t.Fatalf("%s is %v, want i32", ExportName, g.Type())
	}
	return g
}

// TestFixturesMatchTheirSource: every committed .wasm is what its .wat
// assembles to, with the flags its first line names.
func TestFixturesMatchTheirSource(t *testing.T) { watfixture.Check(t, "testdata") }

// TestResultsUnchanged: with the flag clear, the instrumented functions
// compute what the original ones do.
func TestResultsUnchanged(t *testing.T) {
	orig, inst := loopsPair(t)
	for _, c := range []struct {
		fn   string
		arg  uint64
		want uint64
	}{
		{"sum", 100000, 5000050000},
		{"fib", 90, 2880067194370816120},
		{"primes", 10000, 1229},
		{"collatz", 27, 111},
		{"tree", 10, 1024},
		{"globals", 0, 1000 + 10 + 2047}, // tree(10) made 2047 calls
	} {
		var args []uint64
		if c.fn != "globals" {
			args = []uint64{c.arg}
		}
		o, i := call(t, orig, c.fn, args...), call(t, inst, c.fn, args...)
		if o != c.want || i != c.want {
			t.Errorf("%s(%d): original %d, instrumented %d, want %d", c.fn, c.arg, o, i, c.want)
		}
	}

	// Each fixture's functions, called as is and instrumented.
	for _, c := range []struct {
		fixture, fn string
		args        []uint64
		want        uint64
	}{
		{"features", "simd", []uint64{5}, 89},
		{"features", "bulk", nil, 2 * (1 + 2 + 3 + 4 + 5 + 6 + 7 + 8)},
		{"features", "refs", []uint64{7}, 71},
		{"features", "refs", []uint64{0}, 1},
		{"features", "convert", []uint64{api.EncodeF64(-1234567.75)}, 121},
		{"features", "convert", []uint64{api.EncodeF64(1e30)}, 1<<64 - 2}, // saturated, then sign-extended: -1 + -1
		{"tailcall", "count", []uint64{1000000, 0}, 500000500000},
		{"threads", "atomics", []uint64{1000}, 2*1000 + 5},
	} {
		bin := fixture(t, c.fixture)
		o := call(t, instantiate(t, newRuntime(t), bin, c.fixture), c.fn, c.args...)
		i := call(t, instantiate(t, newRuntime(t), instrument(t, bin), c.fixture), c.fn, c.args...)
		if o != c.want || i != c.want {
			t.Errorf("%s %s%v: original %d, instrumented %d, want %d", c.fixture, c.fn, c.args, o, i, c.want)
		}
	}
}

// interrupt calls fn in a goroutine, checks it is still running after
// 20ms, sets the flag, and checks the call then ends in a trap.
func interrupt(t *testing.T, mod api.Module, fn string, args ...uint64) {
	t.Helper()
	interruptWhen(t, mod, fn, nil, args...)
}

// interruptWhen is interrupt that, after the 20ms, also waits for
// running to report true.
func interruptWhen(t *testing.T, mod api.Module, fn string, running func() bool, args ...uint64) {
	t.Helper()
	f := mod.ExportedFunction(fn)
	if f == nil {
		t.Fatalf("no export %q", fn)
	}
	g := flag(t, mod)
	undo := guestMaySpin()
	// wazero returns a typed nil for a module without a memory.
	if m := mod.Memory(); m != nil && !reflect.ValueOf(m).IsNil() {
		undo()
		undo = hostile()
	}
	done := make(chan error, 1)
	go func() {
		_, err := f.Call(context.Background(), args...)
		done <- err
	}()
	wait := time.After(20 * time.Millisecond)
	giveUp := time.After(30 * time.Second)
	for ready := false; !ready; {
		select {
		case err := <-done:
			undo()
			t.Fatalf("%s returned before the flag was set: %v", fn, err)
		case <-giveUp:
			g.Set(1)
			t.Fatalf("%s not running as expected 30s after the call", fn)
		case <-wait:
			ready = running == nil || running()
			wait = time.After(5 * time.Millisecond)
		}
	}
	set := time.Now()
	g.Set(1)
	select {
	case err := <-done:
		undo()
		if err == nil || !strings.Contains(err.Error(), "unreachable") {
			t.Fatalf("%s: got %v, want the unreachable trap", fn, err)
		}
		t.Logf("%s stopped %v after the flag was set", fn, time.Since(set))
	case <-time.After(5 * time.Second):
		// The guest still spins and nothing can stop it: GC stays off,
		// or the next cycle would hang the process.
		t.Fatalf("%s still running 5s after the flag was set", fn)
	}
}

// hostile is what a guest that visits Go now and then (it has a memory,
// see Yield) must survive: one P, which it must give up for the test's
// own timers to run, and garbage collections, each stopping the world, in
// a loop while it spins. Without the visits the process would hang.
func hostile() (undo func()) {
	procs := runtime.GOMAXPROCS(1)
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
				time.Sleep(time.Millisecond)
			}
		}
	}()
	return func() {
		close(stop)
		<-stopped
		runtime.GOMAXPROCS(procs)
	}
}

// guestMaySpin is for a guest without a memory, which never visits Go
// (see the package documentation). It sets the process up for a guest that spins in native
// code, where Go cannot preempt it, and returns what undoes it. The timer
// that sets the flag needs a P of its own: with one, the guest holds it
// for ever. And a stop-the-world (a GC cycle starting) waits for every
// goroutine to stop, the spinning guest too, and stops the timer
// meanwhile: the process would hang, so GC is off while the guest spins.
func guestMaySpin() (undo func()) {
	procs := runtime.GOMAXPROCS(0)
	if procs < 2 {
		runtime.GOMAXPROCS(2)
	}
	gc := debug.SetGCPercent(-1)
	return func() {
		debug.SetGCPercent(gc)
		if procs < 2 {
			runtime.GOMAXPROCS(procs)
		}
	}
}

func TestInterruptLoop(t *testing.T) {
	r := newRuntime(t)
	env := instantiate(t, r, fixture(t, "env"), "env")
	inst := instantiate(t, r, instrument(t, fixture(t, "loops")), "loops")
	interrupt(t, inst, "spin")
	// The loop counts its iterations in env's counter.
	if n := env.ExportedGlobal("counter").Get(); n < 1000 {
		t.Fatalf("the loop ran %d times", n)
	}
	// The instance stays usable once the flag is clear again.
	flag(t, inst).Set(0)
	if got := call(t, inst, "sum", 10); got != 55 {
		t.Fatalf("sum(10) after the interrupt = %d", got)
	}
}

func TestInterruptRecursion(t *testing.T) {
	_, inst := loopsPair(t)
	interrupt(t, inst, "tree", 60)
}

func TestInterruptTailCalls(t *testing.T) {
	mod := instantiate(t, newRuntime(t), instrument(t, fixture(t, "tailcall")), "tailcall")
	interrupt(t, mod, "forever", 0)
}

// TestStartSection: the start function no longer runs at instantiation,
// and runs when called as StartExport.
func TestStartSection(t *testing.T) {
	bin := fixture(t, "start")
	if got := call(t, instantiate(t, newRuntime(t), bin, "start"), "ran"); got != 10 {
		t.Fatalf("original: ran() = %d after instantiation, want 10", got)
	}
	mod := instantiate(t, newRuntime(t), instrument(t, bin), "start")
	if got := call(t, mod, "ran"); got != 0 {
		t.Fatalf("instrumented: ran() = %d after instantiation, want 0 (start must not run)", got)
	}
	call(t, mod, StartExport)
	if got := call(t, mod, "ran"); got != 10 {
		t.Fatalf("ran() = %d after %s, want 10", got, StartExport)
	}
	if flag(t, mod).Get() != 0 {
		t.Fatal("the flag starts non-zero")
	}
}

// wantCheck is the check, spelt out, for a module with a memory whose
// flag is global g and countdown global c (both below 128):
//
//	global.get c; i32.const 1; i32.sub; global.set c; global.get c; i32.eqz
//	if; i32.const 16384; global.set c; i32.const 0; memory.grow 0; drop
//	global.get g; if; unreachable; end; end
func wantCheck(g, c byte) []byte {
	return []byte{0x23, c, 0x41, 1, 0x6b, 0x24, c, 0x23, c, 0x45,
		0x04, 0x40, 0x41, 0x80, 0x80, 0x01, 0x24, c, 0x41, 0, 0x40, 0, 0x1a,
		0x23, g, 0x04, 0x40, 0x00, 0x0b, 0x0b}
}

// TestBareModule: a module without global and export sections gets both,
// in the right places, and its endless start function can be stopped.
func TestBareModule(t *testing.T) {
	bin := fixture(t, "bare")
	out := instrument(t, bin)
	// bare.wasm is type, function, memory, start and code; the start
	// section goes, a global and an export section come before code.
	secs := splitSections(t, bin)
	check := wantCheck(0, 1)
	want := concat(bin[:8], secs[0].raw, secs[1].raw, secs[2].raw,
		// (global (mut i32) (i32.const 0)) (global (mut i32) (i32.const 16384))
		sec(6, vec([]byte{0x7f, 1, 0x41, 0, 0x0b}, []byte{0x7f, 1, 0x41, 0x80, 0x80, 0x01, 0x0b})),
		sec(7, vec(export(ExportName, 3, 0), export(StartExport, 0, 0))),
		// the check at entry, then the loop with its own
		sec(10, vec(body(nil, concat(check, []byte{0x03, 0x40}, check, []byte{0x0c, 0, 0x0b, 0x0b})...))))
	if !bytes.Equal(out, want) {
		t.Fatalf("instrumented bare.wasm:\n got % x\nwant % x", out, want)
	}
	mod := instantiate(t, newRuntime(t), out, "bare")
	interrupt(t, mod, StartExport)
}

func concat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

type rawSection struct {
	id  byte
	raw []byte // id, size and contents
}

// splitSections is a minimal section splitter for well-formed modules.
func splitSections(t testing.TB, bin []byte) []rawSection {
	t.Helper()
	var out []rawSection
	for i := 8; i < len(bin); {
		start := i
		id := bin[i]
		i++
		var size, shift int
		for {
			c := bin[i]
			i++
			size |= int(c&0x7f) << shift
			shift += 7
			if c < 0x80 {
				break
			}
		}
		i += size
		out = append(out, rawSection{id, bin[start:i]})
	}
	return out
}

// TestSectionsKept: every section but global, export, start and code comes
// out byte for byte, in its place; custom sections included.
func TestSectionsKept(t *testing.T) {
	for _, name := range []string{"loops", "features", "start", "bare", "tailcall", "threads"} {
		bin := fixture(t, name)
		out := instrument(t, bin)
		var kept, got []rawSection
		for _, s := range splitSections(t, bin) {
			if s.id != 6 && s.id != 7 && s.id != 8 && s.id != 10 {
				kept = append(kept, s)
			}
		}
		var ids []byte
		for _, s := range splitSections(t, out) {
			ids = append(ids, s.id)
			if s.id == 8 {
				t.Errorf("%s: the start section is still there", name)
			}
			if s.id != 6 && s.id != 7 && s.id != 10 {
				got = append(got, s)
			}
		}
		if len(got) != len(kept) {
			t.Fatalf("%s: %d sections kept, want %d", name, len(got), len(kept))
		}
		for i := range kept {
			if !bytes.Equal(got[i].raw, kept[i].raw) {
				t.Errorf("%s: section %d (id %d) changed", name, i, kept[i].id)
			}
		}
		if !bytes.Contains(ids, []byte{6, 7}) {
			t.Errorf("%s: section ids %v, want a global section just before the export section", name, ids)
		}
		if name == "loops" && ids[len(ids)-1] != 0 {
			t.Errorf("loops: the name section is no longer last: %v", ids)
		}
	}
}

// TestFlagIndex: the flag comes after the imported and defined globals,
// so no global the module uses moves.
func TestFlagIndex(t *testing.T) {
	out := instrument(t, fixture(t, "loops")) // 2 imported, 2 defined globals
	entry := concat([]byte{byte(len(ExportName))}, []byte(ExportName), []byte{3, 4})
	if !bytes.Contains(out, entry) {
		t.Fatal("no export of global 4 as the flag")
	}
	if !bytes.Contains(out, []byte{0x23, 4, 0x04, 0x40, 0x00, 0x0b}) {
		t.Fatal("no check reads global 4")
	}
}

func TestDeterministicAndInputUntouched(t *testing.T) {
	bin := fixture(t, "features")
	keep := bytes.Clone(bin)
	a, b := instrument(t, bin), instrument(t, bin)
	if !bytes.Equal(a, b) {
		t.Fatal("two runs differ")
	}
	if !bytes.Equal(bin, keep) {
		t.Fatal("the input was modified")
	}
}

// TestAlreadyInstrumented: the output exports the flag, so it cannot be
// instrumented again; nor can a module that exports either name.
func TestAlreadyInstrumented(t *testing.T) {
	out := instrument(t, fixture(t, "start"))
	if _, err := Instrument(out); err == nil || !strings.Contains(err.Error(), ExportName) {
		t.Fatalf("instrumenting twice: %v", err)
	}
	m := buildModule(sec(1, vec(fnType(nil, nil))), sec(3, vec([]byte{0})),
		sec(7, vec(concat(name(StartExport), []byte{0, 0}))),
		sec(10, vec(body(nil, 0x0b))))
	if _, err := Instrument(m); err == nil || !strings.Contains(err.Error(), StartExport) {
		t.Fatalf("a module exporting %s: %v", StartExport, err)
	}
}

// Helpers to assemble modules by hand, for what wat2wasm 1.0.32 cannot
// write (try_table, call_ref) and for malformed input.

func buildModule(sections ...[]byte) []byte {
	return concat(append([][]byte{[]byte("\x00asm\x01\x00\x00\x00")}, sections...)...)
}

func sec(id byte, contents []byte) []byte {
	return concat([]byte{id}, appendU32(nil, uint32(len(contents))), contents)
}

func vec(items ...[]byte) []byte {
	return concat(append([][]byte{appendU32(nil, uint32(len(items)))}, items...)...)
}

func name(s string) []byte { return concat(appendU32(nil, uint32(len(s))), []byte(s)) }

func fnType(params, results []byte) []byte {
	return concat([]byte{0x60}, appendU32(nil, uint32(len(params))), params, appendU32(nil, uint32(len(results))), results)
}

// body is a function body: locals (already a vec) and code, size first.
func body(locals []byte, code ...byte) []byte {
	if locals == nil {
		locals = []byte{0}
	}
	b := concat(locals, code)
	return concat(appendU32(nil, uint32(len(b))), b)
}

func export(n string, kind byte, index byte) []byte { return concat(name(n), []byte{kind, index}) }

// proposalsModule uses exception handling (try_table, throw, throw_ref) and
// typed function references (call_ref, return_call_ref, ref.as_non_null,
// br_on_null, br_on_non_null), next to loops.
func proposalsModule() []byte {
	const i32, exnref, funcref = 0x7f, 0x69, 0x70
	return buildModule(
		sec(1, vec(
			fnType([]byte{i32}, []byte{i32}), // 0: i32 -> i32
			fnType([]byte{i32}, nil),         // 1: the tag's type
		)),
		sec(3, vec([]byte{0}, []byte{0}, []byte{0}, []byte{0}, []byte{0}, []byte{0}, []byte{0})),
		sec(13, vec([]byte{0, 1})), // tag 0: (param i32)
		sec(7, vec(
			export("caught", 0, 1), export("rethrown", 0, 2), export("callref", 0, 3),
			export("nullcheck", 0, 4), export("nonnull", 0, 5), export("tailref", 0, 6))),
		sec(9, vec([]byte{3, 0, 1, 0})), // declares function 0 for ref.func
		sec(10, vec(
			// 0: double
			body(nil, 0x20, 0, 0x41, 2, 0x6c, 0x0b),
			// 1: caught(x) = x+1, thrown from a loop inside a try_table
			body(nil,
				0x02, i32, // block $h (result i32)
				0x1f, 0x40, 1, 0x00, 0, 0, // try_table (catch tag 0 -> $h)
				0x03, 0x40, 0x20, 0, 0x08, 0, 0x0b, // loop: throw 0 (local 0)
				0x0b,          // end try_table
				0x41, 0, 0x0b, // i32.const 0, end block
				0x41, 1, 0x6a, 0x0b),
			// 2: rethrown(x) = x+2: catch_all_ref, then throw_ref to an outer catch
			body(nil,
				0x02, i32, // block $outer (result i32)
				0x1f, 0x40, 1, 0x00, 0, 0, // try_table (catch tag 0 -> $outer)
				0x02, exnref, // block $h (result exnref)
				0x1f, 0x40, 1, 0x03, 0, // try_table (catch_all_ref -> $h)
				0x20, 0, 0x08, 0, 0x0b, // throw 0 (local 0), end
				0xd0, exnref, 0x0b, // ref.null exn, end $h
				0x0a, 0x0b, // throw_ref, end try_table
				0x41, 0, 0x0b, // i32.const 0, end $outer
				0x41, 2, 0x6a, 0x0b),
			// 3: callref(x) = double(x), in a loop with a result
			body(nil, 0x03, i32, 0x20, 0, 0xd2, 0, 0xd4, 0x14, 0, 0x0b, 0x0b),
			// 4: nullcheck(x) = x != 0 ? 100 : 7, with br_on_null
			body(nil,
				0x02, i32, 0x41, 7, // block $null (result i32), i32.const 7
				0x20, 0, 0x04, funcref, 0xd2, 0, 0x05, 0xd0, funcref, 0x0b, // x ? ref.func 0 : null
				0xd5, 0, // br_on_null $null
				0x1a, 0x1a, 0x41, 0xe4, 0x00, 0x0b, 0x0b), // drop both, 100
			// 5: nonnull(x) = x != 0 ? 0 : 1, with br_on_non_null
			body(nil,
				0x02, funcref, // block $nn (result funcref)
				0x20, 0, 0x04, funcref, 0xd2, 0, 0x05, 0xd0, funcref, 0x0b,
				0xd6, 0, // br_on_non_null $nn
				0xd0, funcref, 0x0b, // ref.null func, end
				0xd1, 0x0b), // ref.is_null
			// 6: tailref(x) = double(x) by return_call_ref
			body(nil, 0x20, 0, 0xd2, 0, 0x15, 0, 0x0b),
		)),
	)
}

func TestProposals(t *testing.T) {
	bin := proposalsModule()
	orig := instantiate(t, newRuntime(t), bin, "proposals")
	inst := instantiate(t, newRuntime(t), instrument(t, bin), "proposals")
	for _, c := range []struct {
		fn        string
		arg, want uint64
	}{
		{"caught", 41, 42}, {"rethrown", 40, 42}, {"callref", 21, 42},
		{"nullcheck", 1, 100}, {"nullcheck", 0, 7}, {"nonnull", 1, 0}, {"nonnull", 0, 1},
		{"tailref", 8, 16},
	} {
		o, i := call(t, orig, c.fn, c.arg), call(t, inst, c.fn, c.arg)
		if o != c.want || i != c.want {
			t.Errorf("%s(%d): original %d, instrumented %d, want %d", c.fn, c.arg, o, i, c.want)
		}
	}
}

// TestErrors: malformed or unsupported input is refused, saying what and
// where.
func TestErrors(t *testing.T) {
	fn := func(code ...byte) []byte { // a module with one function () -> ()
		return buildModule(sec(1, vec(fnType(nil, nil))), sec(3, vec([]byte{0})), sec(10, vec(body(nil, code...))))
	}
	// In fn's output the code starts at offset 0x17.
	for _, c := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "not a WebAssembly binary module"},
		{"text", []byte("(module)"), "not a WebAssembly binary module"},
		{"version 2", []byte("\x00asm\x02\x00\x00\x00"), "offset 0x4: binary format version 02 00 00 00"},
		{"section past the end", []byte("\x00asm\x01\x00\x00\x00\x01\x05\x00"), "offset 0x8: type section of 5 bytes runs past the end"},
		{"unknown section", []byte("\x00asm\x01\x00\x00\x00\x0e\x00"), "offset 0x8: unknown section id 14"},
		{"out of order", buildModule(sec(3, vec()), sec(1, vec())), "offset 0xb: type section out of order"},
		{"repeated", buildModule(sec(7, vec()), sec(7, vec())), "export section out of order or repeated"},
		{"long LEB", []byte("\x00asm\x01\x00\x00\x00\x01\x80\x80\x80\x80\x80\x00"), "LEB128 longer than 5 bytes"},
		{"u32 overflow", []byte("\x00asm\x01\x00\x00\x00\x01\x80\x80\x80\x80\x10"), "too large for u32"},
		{"unknown opcode", fn(0x01, 0x27, 0x0b), "function 0: offset 0x18: unknown opcode 0x27"},
		{"legacy try", fn(0x06, 0x40, 0x0b, 0x0b), "offset 0x17: opcode 0x06 of the legacy exception handling proposal"},
		{"unassigned SIMD", fn(0xfd, 0x9a, 0x01, 0x0b), "offset 0x17: unknown opcode 0xfd 0x9a"},
		{"padded SIMD opcode", fn(0xfd, 0x8c, 0x00, 0x0b), "unknown opcode 0xfd 0x8c 0x00"},
		{"relaxed SIMD", fn(0xfd, 0x80, 0x02, 0x0b), "unknown opcode 0xfd 0x80 0x02"},
		{"unknown 0xfc", fn(0xfc, 18, 0x0b), "offset 0x17: unknown opcode 0xfc 18"},
		{"unknown 0xfe", fn(0xfe, 0x04, 0x0b), "unknown opcode 0xfe 0x04"},
		{"fence", fn(0xfe, 0x03, 0x01, 0x0b), "atomic.fence immediate is 0x01"},
		{"GC opcode", fn(0xfb, 0x00, 0x0b), "unknown opcode 0xfb"},
		{"missing end", fn(0x02, 0x40, 0x0b), "function body ends inside a block (1 end missing)"},
		{"after end", fn(0x0b, 0x01), "offset 0x18: 1 bytes after the function body's final end"},
		{"truncated i64.const", fn(0x42, 0x80), "offset 0x19: unexpected end of i64.const"},
		{"block type", fn(0x02, 0x6e, 0x0b, 0x0b), "unknown block type -18"},
		{"typed select count", fn(0x1c, 0x02, 0x7f, 0x7f, 0x0b), "typed select with a type count byte of 2"},
		{"catch kind", fn(0x1f, 0x40, 0x01, 0x04, 0x0b, 0x0b), "unknown catch kind 0x04"},
		{"local type", buildModule(sec(1, vec(fnType(nil, nil))), sec(3, vec([]byte{0})),
			sec(10, vec(body([]byte{1, 1, 0x40}, 0x0b)))), "unknown local type 0x40"},
		{"body past the section", buildModule(sec(10, []byte{1, 9, 0, 0x0b})), "body of 9 bytes runs past the end of the code section"},
		{"import kind", buildModule(sec(2, vec(concat(name("a"), name("b"), []byte{5})))), "unknown import kind 0x05"},
		{"memory64 import", buildModule(sec(2, vec(concat(name("a"), name("b"), []byte{2, 4, 1})))), "unknown limits flags 0x04"},
		{"export trailing bytes", buildModule(sec(7, []byte{0, 0})), "1 bytes after the last entry of the export section"},
	} {
		_, err := Instrument(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error with %q", c.name, err, c.want)
		}
	}
}

// TestErrorOffsetIsInTheInput: the offset an error gives is where the
// faulty byte is in the input.
func TestErrorOffsetIsInTheInput(t *testing.T) {
	bin := fixture(t, "loops")
	// Replace the first loop's block type with an unknown one.
	var at int
	code := splitSections(t, bin)
	off := 8
	for _, s := range code {
		if s.id == 10 {
			at = off + bytes.Index(s.raw, []byte{0x03, 0x40}) + 1
		}
		off += len(s.raw)
	}
	bad := bytes.Clone(bin)
	bad[at] = 0x6e
	_, err := Instrument(bad)
	var e *errAt
	if !errors.As(err, &e) || e.off != at || !strings.Contains(e.msg, "unknown block type") {
		t.Fatalf("got %v, want an unknown block type at offset %#x", err, at)
	}
}

// TestNewSectionsPlacement: a new global or export section goes before the
// first section that must follow it, after the custom sections before
// that one, or else after the last that must precede it: custom sections
// first stay first, and last stay last.
func TestNewSectionsPlacement(t *testing.T) {
	custom := func(n string) []byte { return sec(0, concat(name(n), []byte("data"))) }
	global := sec(6, vec([]byte{0x7e, 0, 0x42, 7, 0x0b}))
	code := sec(10, vec(body(nil, 0x0b)))
	for _, c := range []struct {
		name string
		in   [][]byte
		want []string // section ids, and custom section names
	}{
		{"global, no export", [][]byte{sec(1, vec(fnType(nil, nil))), custom("a"), sec(3, vec([]byte{0})), global, custom("b"), code},
			[]string{"1", "a", "3", "6", "b", "7", "10"}},
		{"custom first and last", [][]byte{custom("dylink.0"), sec(1, vec(fnType(nil, nil))), sec(3, vec([]byte{0})), code, custom("last")},
			[]string{"dylink.0", "1", "3", "6", "7", "10", "last"}},
		{"only custom", [][]byte{custom("a")}, []string{"6", "7", "a"}},
		{"no code", [][]byte{sec(1, vec(fnType(nil, nil))), custom("a"), sec(4, vec([]byte{0x70, 0, 1})), custom("b")},
			[]string{"1", "a", "4", "6", "7", "b"}},
		{"tag before", [][]byte{sec(1, vec(fnType([]byte{0x7f}, nil))), sec(13, vec([]byte{0, 0})), custom("a"), sec(12, []byte{0})},
			[]string{"1", "13", "a", "6", "7", "12"}},
	} {
		in := buildModule(c.in...)
		out, err := Instrument(in)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var got []string
		for _, s := range splitSections(t, out) {
			if s.id == 0 {
				r := &reader{b: s.raw, pos: 2, end: len(s.raw)}
				n, _ := r.name("name")
				got = append(got, string(n))
				if !bytes.Contains(in, s.raw) {
					t.Errorf("%s: custom section %q changed", c.name, n)
				}
			} else {
				got = append(got, fmt.Sprint(s.id))
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: sections %v, want %v", c.name, got, c.want)
		}
		if _, err := newRuntime(t).CompileModule(context.Background(), out); err != nil {
			t.Errorf("%s: wazero refuses the output: %v", c.name, err)
		}
	}
}
