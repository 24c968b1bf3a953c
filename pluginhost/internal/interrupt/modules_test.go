package interrupt

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

// buildGo builds the program in testdata/goprog/name for wasip1.
func buildGo(t *testing.T, name string) []byte {
	t.Helper()
	goBin, err := exec.LookPath("go") // go test puts its own first in PATH
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), name+".wasm")
	cmd := exec.Command(goBin, "build", "-o", out, "./testdata/goprog/"+name)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOFLAGS=", "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", name, err, b)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// wasiModule compiles bin in a runtime with WASI and instantiates it
// without running _start, its output going to stdout.
func wasiModule(t *testing.T, bin []byte, stdout io.Writer) api.Module {
	t.Helper()
	ctx := context.Background()
	r := newRuntime(t)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	compiled, err := r.CompileModule(ctx, bin)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	cfg := wazero.NewModuleConfig().WithStdout(stdout).WithStderr(stdout).WithArgs("prog").WithStartFunctions()
	mod, err := r.InstantiateModule(ctx, compiled, cfg)
	if err != nil {
		t.Fatalf("instantiate: %v", err)
	}
	return mod
}

// runStart runs a WASI command's _start and fails unless it exits with 0.
func runStart(t *testing.T, mod api.Module) {
	t.Helper()
	_, err := mod.ExportedFunction("_start").Call(context.Background())
	var exit *sys.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 0) {
		t.Fatalf("_start: %v", err)
	}
}

// TestGoProgram: a Go program built for wasip1 (the Go runtime's
// scheduler, allocator and collector included) prints the same with and
// without the checks.
func TestGoProgram(t *testing.T) {
	bin := buildGo(t, "primes")
	out := instrument(t, bin)
	var want, got bytes.Buffer
	start := time.Now()
	runStart(t, wasiModule(t, bin, &want))
	t.Logf("original: compiled and ran in %v", time.Since(start))
	start = time.Now()
	runStart(t, wasiModule(t, out, &got))
	t.Logf("instrumented (%d bytes, %d more): compiled and ran in %v", len(out), len(out)-len(bin), time.Since(start))
	if !strings.Contains(want.String(), "ending in 9: ") || !strings.HasSuffix(want.String(), "keys: 500\n") {
		t.Fatalf("the original printed %q", want.String())
	}
	if got.String() != want.String() {
		t.Fatalf("instrumented output differs:\n%s\nwant:\n%s", got.String(), want.String())
	}
}

// TestGoProgramInterrupted: a Go program in an endless loop is stopped by
// the flag.
func TestGoProgramInterrupted(t *testing.T) {
	var stdout lockedBuffer
	mod := wasiModule(t, instrument(t, buildGo(t, "spin")), &stdout)
	// Set the flag once the program is in its loop, past the Go
	// runtime's start.
	interruptWhen(t, mod, "_start", func() bool { return stdout.String() == "spinning\n" })
}

// lockedBuffer is a buffer the guest writes to while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestRealModules: every plugin module at hand can be instrumented, and
// wazero accepts the result. plugins/build holds the plugins built from
// source (make go-plugins and make plugins, which make test runs first);
// when it is absent only the pluginhost fixtures are covered.
//
// wazero's interpreter compiles them: its validation, which decides
// whether a module is accepted, is the compiler's, and under the race
// detector it takes 2s where the compiler takes 20s for a Go plugin.
// TestGoProgram has the compiler compile and run a Go module.
func TestRealModules(t *testing.T) {
	files, _ := filepath.Glob("../../testdata/*.wasm")
	if len(files) == 0 {
		t.Fatal("no modules in pluginhost/testdata")
	}
	built, _ := filepath.Glob("../../../plugins/build/*.wasm")
	if len(built) == 0 {
		t.Log("plugins/build has no modules (run make go-plugins): only pluginhost/testdata is covered")
	}
	files = append(files, built...)
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithCoreFeatures(allFeatures))
	defer r.Close(ctx)
	for _, f := range files {
		bin, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out, err := Instrument(bin)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		start := time.Now()
		c, err := r.CompileModule(ctx, out)
		if err != nil {
			t.Errorf("%s: instrumented module does not compile: %v", f, err)
			continue
		}
		_ = c.Close(ctx)
		t.Logf("%s: %d -> %d bytes, compiled in %v", filepath.Base(f), len(bin), len(out), time.Since(start))
	}
	t.Logf("covered %d modules, %d of them from plugins/build", len(files), len(built))
}
