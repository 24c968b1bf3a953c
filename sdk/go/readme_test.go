package proxywasm_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// TestREADMEExample builds the README's complete plugin for wasip1 and
// runs its test on the emulated host, so the example stays true.
func TestREADMEExample(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module with the go command")
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllSubmatch(readme, -1)
	if len(blocks) < 2 {
		t.Fatalf("README has %d Go blocks, want the plugin and its test", len(blocks))
	}
	sdk, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string]string{
		"main.go":      string(blocks[0][1]),
		"main_test.go": string(blocks[1][1]),
		"go.mod": "module example.com/tenant\n\ngo 1.24\n\nrequire github.com/wasmgate/wasmgate/sdk/go v0.0.0\n\n" +
			"replace github.com/wasmgate/wasmgate/sdk/go => " + sdk + "\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"test", "-count=1", "."}, {"build", "-buildmode=c-shared", "-o", "tenant.wasm", "."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
		if args[0] == "build" {
			cmd.Env = append(cmd.Env, "GOOS=wasip1", "GOARCH=wasm")
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %v: %v\n%s", args, err, out)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "tenant.wasm")); err != nil || fi.Size() == 0 {
		t.Fatalf("no module built: %v", err)
	}
}
