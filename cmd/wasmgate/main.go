// Command wasmgate is the wasmgate API gateway.
//
//	wasmgate run      [-c gateway.toml] [--console] [--cpuprofile FILE]   serve until SIGTERM/SIGINT; SIGHUP reloads
//	wasmgate validate [-c gateway.toml]               check a config, listing every error
//	wasmgate version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/wasmgate/wasmgate/proxy"
	"github.com/wasmgate/wasmgate/proxy/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  wasmgate run      [-c FILE] [--console]   start the gateway (default FILE: gateway.toml)
  wasmgate validate [-c FILE]               check a config file and list every error
  wasmgate version                          print the version
`)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("c", "gateway.toml", "config file")
	console, cpuprofile := false, ""
	if cmd == "run" {
		fs.BoolVar(&console, "console", false, "human-readable logs instead of JSON")
		fs.StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile (pprof) to this file until exit")
	}
	switch cmd {
	case "version":
		fmt.Fprintf(stdout, "wasmgate %s (%s)\n", version, goVersion())
		return 0
	case "run", "validate":
		if err := fs.Parse(args); err != nil {
			return 2
		}
		if fs.NArg() > 0 {
			// "validate new.toml" would otherwise check ./gateway.toml and
			// say ok: a CI check passing on the wrong file.
			fmt.Fprintf(stderr, "wasmgate %s: unexpected argument %q (the config file is given with -c)\n", cmd, fs.Arg(0))
			return 2
		}
	case "-h", "--help", "help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "wasmgate: unknown command %q\n", cmd)
		usage(stderr)
		return 2
	}

	if cmd == "validate" {
		warnings, err := proxy.Validate(*file)
		for _, w := range warnings {
			fmt.Fprintf(stderr, "%s: warning: %s\n", *file, w)
		}
		if err != nil {
			printErrors(stderr, err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: ok\n", *file)
		return 0
	}
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			fmt.Fprintln(stderr, "wasmgate:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "wasmgate:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	return serve(*file, console, stderr)
}

func printErrors(w io.Writer, err error) {
	var list config.Errors
	if errors.As(err, &list) {
		for _, e := range list {
			// A message over several lines (a trap's stack trace) is
			// indented after its first, so each error starts a line.
			fmt.Fprintln(w, strings.ReplaceAll(e.Error(), "\n", "\n\t"))
		}
		fmt.Fprintf(w, "%d error(s)\n", len(list))
		return
	}
	fmt.Fprintln(w, err)
}

func serve(file string, console bool, stderr io.Writer) int {
	// Before anything slow (compiling plugins, waiting for discovery): a
	// SIGHUP's default action is to end the process, and a reload sent
	// by a service manager or logrotate just after a restart must not.
	// What arrives during start is handled once it is done.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	g, err := proxy.New(proxy.Options{ConfigPath: file, Console: console})
	if err != nil {
		printErrors(stderr, err)
		return 1
	}
	if err := g.Start(); err != nil {
		fmt.Fprintln(stderr, "wasmgate:", err)
		return 1
	}
	// SIGHUP reloads run beside this loop, so that a SIGTERM during a
	// long one (plugins to compile and start) is not left unread until it
	// is over: the shutdown bounds its wait for it by the grace period.
	// One reload pending is enough; it reads the file as it is then.
	reloads := make(chan struct{}, 1)
	defer close(reloads)
	go func() {
		for range reloads {
			_, _ = g.Reload() // the outcome is logged
		}
	}()
	for {
		select {
		case err := <-g.Errors():
			fmt.Fprintln(stderr, "wasmgate: listener stopped:", err)
			shutdown(g, 5*time.Second)
			return 1
		case s := <-sigs:
			if s == syscall.SIGHUP {
				select {
				case reloads <- struct{}{}:
				default:
				}
				continue
			}
			err := shutdown(g, g.Snapshot().Config.Gateway.ShutdownGrace.D())
			if errors.Is(err, context.DeadlineExceeded) {
				// A planned stop that took the whole grace period: what
				// was still in flight was cut, as configured. Not a failure.
				fmt.Fprintln(stderr, "wasmgate: shutdown_grace over; what was still running (requests, tunnels, a reload) was cut")
				return 0
			}
			if err != nil {
				fmt.Fprintln(stderr, "wasmgate:", err)
				return 1
			}
			return 0
		}
	}
}

func shutdown(g *proxy.Gateway, grace time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	return g.Shutdown(ctx)
}

func goVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.GoVersion
	}
	return "unknown"
}
