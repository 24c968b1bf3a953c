// Package watfixture reads the committed .wasm test fixtures and checks
// that they are what their .wat sources beside them assemble to, so that
// a fixture cannot drift from the source a reader trusts. It is imported
// by tests only; wat2wasm comes from Debian's wabt, which `make deps`
// installs.
package watfixture

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Read returns the committed fixture testdata/name.wasm.
func Read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Assemble returns the module the WAT source src assembles to, for a
// test that writes its module inline.
func Assemble(t testing.TB, src string) []byte {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "m.wat"), filepath.Join(dir, "m.wasm")
	if err := os.WriteFile(in, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command("wat2wasm", in, "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Check assembles every dir/*.wat with wat2wasm and compares the result
// with the .wasm of the same name. A first line ";; wat2wasm-flags: ..."
// gives wat2wasm flags (for proposals it does not enable by default).
func Check(t *testing.T, dir string) {
	t.Helper()
	wat2wasm, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Fatal("wat2wasm is not installed (make deps installs Debian's wabt)")
	}
	wats, _ := filepath.Glob(filepath.Join(dir, "*.wat"))
	if len(wats) == 0 {
		t.Fatal("no fixtures")
	}
	for _, wat := range wats {
		src, _ := os.ReadFile(wat)
		out := filepath.Join(t.TempDir(), "out.wasm")
		args := []string{wat, "-o", out}
		first, _, _ := strings.Cut(string(src), "\n")
		if flags, ok := strings.CutPrefix(first, ";; wat2wasm-flags:"); ok {
			args = append(strings.Fields(flags), args...)
		}
		if b, err := exec.Command(wat2wasm, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", wat, err, b)
		}
		got, _ := os.ReadFile(out)
		want, err := os.ReadFile(strings.TrimSuffix(wat, ".wat") + ".wasm")
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: the committed .wasm is not what the .wat assembles to; run wat2wasm again", wat)
		}
	}
}

// Guest is what an inline test module needs to be a Proxy-Wasm guest:
// the ABI version, an allocator that bumps a heap pointer from 4096, and
// context creation. It goes after the module's imports and memory.
const Guest = `  (global $heap (mut i32) (i32.const 4096))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_on_context_create") (param i32 i32))`
