package main

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// example is one `$ command` in the README and the output printed under it.
type example struct {
	line int
	cmd  string
	want string
}

// readmeExamples collects the commands of every ```console block.
func readmeExamples(t *testing.T, path string) []example {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out     []example
		in      bool
		cur     *example
		lineNum int
	)
	flush := func() {
		if cur != nil {
			out = append(out, *cur)
			cur = nil
		}
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lineNum++
		line := sc.Text()
		switch {
		case line == "```console":
			in = true
		case in && line == "```":
			flush()
			in = false
		case in && strings.HasPrefix(line, "$ "):
			flush()
			cur = &example{line: lineNum, cmd: strings.TrimPrefix(line, "$ ")}
		case in && cur != nil:
			cur.want += line + "\n"
		}
	}
	return out
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestReadmeExamplesAnswerAsPrinted starts the demo the way `make run` does
// (gateway.toml and the echo backend), on free ports instead of the
// demo's fixed ones, and runs every README example against it.
func TestReadmeExamplesAnswerAsPrinted(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("the README examples need curl (apt-get install curl)")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	examples := readmeExamples(t, filepath.Join(root, "README.md"))
	if len(examples) < 5 {
		t.Fatalf("found only %d examples in README.md", len(examples))
	}

	ports := map[string]string{
		"127.0.0.1:8080": freePort(t),
		"127.0.0.1:9901": freePort(t),
		"127.0.0.1:9000": freePort(t),
	}
	replace := func(s string) string {
		for demo, free := range ports {
			s = strings.ReplaceAll(s, demo, free)
		}
		return s
	}
	cfg, err := os.ReadFile(filepath.Join(root, "gateway.toml"))
	if err != nil {
		t.Fatal(err)
	}

	echo := exec.Command(echoBinary, "-listen", ports["127.0.0.1:9000"], "-name", "echo")
	if err := echo.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = echo.Process.Kill(); _ = echo.Wait() })
	// The config moves to a temp dir; its plugin modules (relative to the
	// config file) stay where make built them.
	cfgText := strings.ReplaceAll(replace(string(cfg)), `module = "plugins/`, `module = "`+filepath.ToSlash(root)+`/plugins/`)
	cfgText = strings.ReplaceAll(cfgText, `plugin_cache_dir = "plugins/`, `plugin_cache_dir = "`+filepath.ToSlash(root)+`/plugins/`)
	p := startProcWith(t, fastBinary, cfgText)
	t.Cleanup(func() {
		if t.Failed() {
			p.logs.mu.Lock()
			defer p.logs.mu.Unlock()
			t.Logf("gateway log:\n%s", strings.Join(p.logs.lines, "\n"))
		}
	})

	// The README shows bin/wasmgate as `make build` leaves it; here it is
	// the binary under test.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if c, err := net.Dial("tcp", ports["127.0.0.1:9000"]); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("echo backend did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}

	for _, ex := range examples {
		cmdline := replace(strings.ReplaceAll(ex.cmd, "bin/wasmgate ", fastBinary+" "))
		cmd := exec.Command("bash", "-c", cmdline)
		cmd.Dir = root
		got, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("README.md:%d: %s: %v\n%s", ex.line, ex.cmd, err, got)
			continue
		}
		if string(got) != replace(ex.want) {
			t.Errorf("README.md:%d: %s\n--- printed in README\n%s--- got\n%s", ex.line, ex.cmd, replace(ex.want), got)
		}
	}
}
