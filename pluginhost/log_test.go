package pluginhost

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/wasmgate/wasmgate/internal/watfixture"
)

// logForgeWAT logs "user bob\n<a forged line>" at info level, as a plugin
// logging a decoded client value would.
const logForgeWAT = `(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "user bob\n2026-01-01T00:00:00Z INF forged\r\1b[31m")
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 1024))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $log (i32.const 2) (i32.const 16) (i32.const 46)))
    (i32.const 0))
)`

// TestPluginLogCannotForgeLines: a plugin's log message keeps its control
// characters escaped, so a client value it logs cannot start a line of its
// own in the console format (JSON escapes them anyway).
func TestPluginLogCannotForgeLines(t *testing.T) {
	var buf bytes.Buffer
	p, err := Load(context.Background(), Options{
		Name:   "logger",
		Module: watfixture.Assemble(t, logForgeWAT),
		Log:    zerolog.New(zerolog.ConsoleWriter{Out: &buf, NoColor: true}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	r, _ := Chain{NewSlot(p)}.Begin(reqCtx(), "r", "u")
	if _, err := r.RequestHeaders(); err != nil {
		t.Fatal(err)
	}
	r.End()
	out := buf.String()
	if !strings.Contains(out, `user bob\n2026-01-01T00:00:00Z INF forged\r\x1b[31m`) {
		t.Fatalf("the message is not there, escaped: %q", out)
	}
	if n := strings.Count(strings.TrimRight(out, "\n"), "\n"); n != 0 {
		t.Fatalf("one log call wrote %d lines:\n%s", n+1, out)
	}
}
