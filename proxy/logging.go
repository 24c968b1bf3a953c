package proxy

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/wasmgate/wasmgate/proxy/config"
)

// logs holds the process log and the access log. The output is opened once
// at start; level, format and whether access logging is on follow reloads.
type logs struct {
	out     *bufferedWriter
	appLog  atomic.Pointer[zerolog.Logger]
	access  atomic.Pointer[zerolog.Logger] // nil when the access log is off
	console bool                           // forced by the --console flag
	// file is the log file when log.output names one, at path; reopen
	// replaces it, under out.mu.
	file *os.File
	path string
	tty  bool // the output is a terminal
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func newLogs(cfg config.Log, console bool) (*logs, error) {
	w, path := os.Stdout, cfg.File()
	switch {
	case cfg.Output == "stderr":
		w = os.Stderr
	case path != "":
		f, err := openLogFile(path)
		if err != nil {
			return nil, err
		}
		w = f
	}
	l := &logs{out: newBufferedWriter(w, 100*time.Millisecond), console: console, tty: isTerminal(w)}
	if path != "" {
		l.file, l.path = w, path
	}
	l.apply(cfg)
	return l, nil
}

func openLogFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("log.output: %w", err)
	}
	return f, nil
}

// reopen opens the log file again at its path, as every reload does, so
// that a log rotated by renaming it (logrotate's default, then SIGHUP)
// goes on in a new file at the configured path rather than in the renamed
// one for ever. The old file gets what was buffered, then is closed. If
// the path cannot be opened the log stays where it was.
func (l *logs) reopen() error {
	if l.file == nil {
		return nil
	}
	f, err := openLogFile(l.path)
	if err != nil {
		return err
	}
	l.out.mu.Lock()
	_ = l.out.w.Flush()
	l.out.w.Reset(f)
	old := l.file
	l.file = f
	l.out.mu.Unlock()
	return old.Close()
}

// apply makes the loggers follow cfg (on start and on every reload).
func (l *logs) apply(cfg config.Log) {
	var w io.Writer = l.out
	if l.console || cfg.Format == "console" {
		// Colour codes only for a terminal: in a file or a pipe they are
		// noise every log reader has to strip.
		w = zerolog.ConsoleWriter{Out: l.out, TimeFormat: time.RFC3339, NoColor: !l.tty}
	}
	level, err := zerolog.ParseLevel(cfg.Level)
	if err != nil {
		level = zerolog.InfoLevel
	}
	app := zerolog.New(w).Level(level).With().Timestamp().Logger()
	l.appLog.Store(&app)
	if cfg.AccessLogOn() {
		// The access log is not subject to the level: it is its own stream,
		// switched by log.access_log.
		acc := zerolog.New(w).With().Timestamp().Str("log", "access").Logger()
		l.access.Store(&acc)
	} else {
		l.access.Store(nil)
	}
}

func (l *logs) app() *zerolog.Logger { return l.appLog.Load() }

func (l *logs) close() {
	l.out.Close()
	if l.file != nil {
		l.out.mu.Lock()
		_ = l.file.Close()
		l.out.mu.Unlock()
	}
}

// bufferedWriter batches log lines into few write calls: one write(2) per
// request would cost more than proxying it. Lines reach the output within
// the flush interval, and at once on Close.
type bufferedWriter struct {
	mu   sync.Mutex
	w    *bufio.Writer
	done chan struct{}
	once sync.Once
}

func newBufferedWriter(w io.Writer, every time.Duration) *bufferedWriter {
	b := &bufferedWriter{w: bufio.NewWriterSize(w, 64<<10), done: make(chan struct{})}
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				b.Flush()
			case <-b.done:
				return
			}
		}
	}()
	return b
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	n, err := b.w.Write(p)
	b.mu.Unlock()
	return n, err
}

func (b *bufferedWriter) Flush() {
	b.mu.Lock()
	_ = b.w.Flush()
	b.mu.Unlock()
}

func (b *bufferedWriter) Close() {
	b.once.Do(func() { close(b.done) })
	b.Flush()
}

func init() {
	zerolog.TimeFieldFormat = time.RFC3339Nano
	zerolog.DurationFieldUnit = time.Millisecond
}
