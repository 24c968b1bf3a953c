package discovery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/BurntSushi/toml"
)

// FileOptions configure a file provider.
type FileOptions struct {
	// Path of a .json file, {"targets": [...]}, or a .toml file,
	// targets = [...]; either way each target is "host:port" or
	// {address, weight}.
	Path string
	// Interval is how often the file is checked; 0 means 2s.
	Interval time.Duration
	OnError  func(error)
}

type file struct{ o FileOptions }

// NewFile is a provider that reads and watches a target file. The file is
// polled and re-read when its content changes, which works the same for
// editors that write in place, tools that rename a new file over it, and
// ConfigMap volumes that swap a symlink.
func NewFile(o FileOptions) Provider {
	if o.Interval <= 0 {
		o.Interval = 2 * time.Second
	}
	return &file{o: o}
}

func (f *file) Name() string { return "file" }

func (f *file) Run(ctx context.Context, out chan<- []Target) error {
	var snd sender
	var sum [32]byte
	tick := time.NewTicker(f.o.Interval)
	defer tick.Stop()
	for first := true; ; first = false {
		data, err := os.ReadFile(f.o.Path)
		switch {
		case err != nil:
			report(f.o.OnError, err)
		case first || sha256.Sum256(data) != sum:
			sum = sha256.Sum256(data)
			ts, err := parseTargetFile(f.o.Path, data)
			if err == nil {
				err = snd.send(ctx, out, ts)
			}
			if err != nil {
				report(f.o.OnError, fmt.Errorf("%s: %w", f.o.Path, err))
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// fileTarget is either spelling of a target in a file.
type fileTarget Target

func (t *fileTarget) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte(`"`)) {
		t.Weight = 1
		return json.Unmarshal(b, &t.Address)
	}
	var v struct {
		Address string `json:"address"`
		Weight  *int   `json:"weight"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return err
	}
	t.Address, t.Weight = v.Address, 1
	if v.Weight != nil {
		t.Weight = *v.Weight
	}
	return nil
}

func (t *fileTarget) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case string:
		t.Address, t.Weight = x, 1
		return nil
	case map[string]any:
		t.Weight = 1
		for k, val := range x {
			switch k {
			case "address":
				s, ok := val.(string)
				if !ok {
					return fmt.Errorf("address: want a string")
				}
				t.Address = s
			case "weight":
				n, ok := val.(int64)
				if !ok {
					return fmt.Errorf("weight: want an integer")
				}
				t.Weight = int(n)
			default:
				return fmt.Errorf("unknown key %q in a target", k)
			}
		}
		return nil
	}
	return fmt.Errorf("a target is \"host:port\" or {address, weight}")
}

func parseTargetFile(path string, data []byte) ([]Target, error) {
	var doc struct {
		Targets []fileTarget `json:"targets" toml:"targets"`
	}
	switch filepath.Ext(path) {
	case ".json":
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&doc); err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				line := 1 + bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n"))
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			return nil, err
		}
	case ".toml":
		md, err := toml.Decode(string(data), &doc)
		if err != nil {
			return nil, err
		}
		if un := md.Undecoded(); len(un) > 0 {
			return nil, fmt.Errorf("unknown key %q", un[0].String())
		}
	default:
		return nil, fmt.Errorf("want a .json or .toml file")
	}
	ts := make([]Target, 0, len(doc.Targets))
	for i, t := range doc.Targets {
		if err := checkAddress(t.Address); err != nil {
			return nil, fmt.Errorf("targets[%d]: %w", i, err)
		}
		if t.Weight < 1 {
			return nil, fmt.Errorf("targets[%d].weight: must be at least 1", i)
		}
		ts = append(ts, Target(t))
	}
	return ts, nil
}
