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
	oneRequest(t, p)
	out := buf.String()
	if !strings.Contains(out, `user bob\n2026-01-01T00:00:00Z INF forged\r\x1b[31m`) {
		t.Fatalf("the message is not there, escaped: %q", out)
	}
	if n := strings.Count(strings.TrimRight(out, "\n"), "\n"); n != 0 {
		t.Fatalf("one log call wrote %d lines:\n%s", n+1, out)
	}
}

// stderrWAT writes "panic: boom\n" and "goroutine 1\n" to stderr in two
// writes during one callback, as a Go guest's panic does in many.
const stderrWAT = `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "panic: boom\n")
  (data (i32.const 32) "goroutine 1\n")
  ;; iovecs: {16, 12} and {32, 12}
  (data (i32.const 64) "\10\00\00\00\0c\00\00\00")
  (data (i32.const 72) "\20\00\00\00\0c\00\00\00")
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 1024))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $write (i32.const 2) (i32.const 64) (i32.const 1) (i32.const 96)))
    (drop (call $write (i32.const 2) (i32.const 72) (i32.const 1) (i32.const 96)))
    (i32.const 0))
)`

// TestStderrIsOneErrorEntryPerCallback: what a module writes to stderr in
// one callback is one log entry at error level (the spec's level for
// stderr), not one info entry per write.
func TestStderrIsOneErrorEntryPerCallback(t *testing.T) {
	var buf bytes.Buffer
	p, err := Load(context.Background(), Options{
		Name: "stderr", Module: watfixture.Assemble(t, stderrWAT), Log: zerolog.New(&buf),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	oneRequest(t, p)
	out := strings.TrimSpace(buf.String())
	want := `{"level":"error","plugin":"stderr","stream":"stderr","message":"panic: boom\ngoroutine 1"}`
	if out != want {
		t.Fatalf("log:\n%s\nwant:\n%s", out, want)
	}
}

// oneRequest runs a request's headers through p and ends it.
func oneRequest(t *testing.T, p *Plugin) {
	t.Helper()
	r, _ := Chain{NewSlot(p)}.Begin(reqCtx(), "r", "u")
	if _, err := r.RequestHeaders(); err != nil {
		t.Fatal(err)
	}
	r.End()
}
