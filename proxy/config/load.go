package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Load reads, decodes, defaults and validates the config file at path. On
// any problem it returns Errors listing all of them.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Errors{{File: path, Msg: err.Error()}}
	}
	return Parse(data, path)
}

// Parse is Load for bytes already in memory; file names the source in errors.
func Parse(data []byte, file string) (*Config, error) {
	src := string(data)
	loc := newLocator(src)
	fail := func(list Errors) error {
		for _, e := range list {
			e.File = file
			if e.Line == 0 {
				e.Line = loc.line(e.Path)
			}
		}
		return list
	}

	// Decoding twice: once generically so unknown keys can be reported with
	// their exact path (the decoder's own Undecoded() loses array indexes),
	// once into the typed struct.
	var raw map[string]any
	if _, err := toml.Decode(src, &raw); err != nil {
		return nil, fail(Errors{decodeError(err, loc)})
	}
	var unknown errs
	checkKeys(raw, reflect.TypeOf(Config{}), "", &unknown)
	if len(unknown.list) > 0 {
		return nil, fail(unknown.list)
	}

	cfg := &Config{File: file}
	md, err := toml.Decode(src, cfg)
	if err != nil {
		return nil, fail(Errors{decodeError(err, loc)})
	}
	cfg.loc = loc
	applyDefaults(cfg, &md)
	var v errs
	validate(cfg, &v)
	if len(v.list) > 0 {
		return nil, fail(v.list)
	}
	return cfg, nil
}

// Locate returns file:line for a dotted field path in this config, for
// errors found after loading (route compilation, say). It returns the path
// itself prefixed by the file when the line is unknown.
func (c *Config) Locate(path string) (file string, line int) {
	return c.File, c.loc.line(path)
}

// FieldErr wraps err, whose text starts with "path: ", as a located FieldError.
func (c *Config) FieldErr(err error) *FieldError {
	msg := err.Error()
	path := ""
	if i := strings.Index(msg, ": "); i > 0 && !strings.ContainsAny(msg[:i], " \t") {
		path, msg = msg[:i], msg[i+2:]
	}
	return &FieldError{File: c.File, Line: c.loc.line(path), Path: path, Msg: msg}
}

func decodeError(err error, loc *locator) *FieldError {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		path := loc.byLine[pe.Position.Line]
		if path == "" {
			path = pe.LastKey
		}
		msg := pe.Message
		if pe.Usage != "" && !strings.Contains(msg, "\n") {
			msg += " (" + strings.TrimSpace(strings.SplitN(pe.Usage, "\n", 2)[0]) + ")"
		}
		return &FieldError{Line: pe.Position.Line, Path: path, Msg: msg}
	}
	return &FieldError{Msg: strings.TrimPrefix(err.Error(), "toml: ")}
}

var unmarshalerType = reflect.TypeOf((*toml.Unmarshaler)(nil)).Elem()

// checkKeys walks generically decoded TOML beside the struct type it will
// be decoded into and reports every key the struct has no field for.
func checkKeys(v any, t reflect.Type, path string, e *errs) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return // the type validates its own keys
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return // a type mismatch; the typed decode reports it with a line
		}
		fields := map[string]reflect.StructField{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if tag := strings.Split(f.Tag.Get("toml"), ",")[0]; tag != "" && tag != "-" {
				fields[tag] = f
			}
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			f, ok := fields[k]
			p := join(path, k)
			if !ok {
				e.add(p, "unknown key %q%s", k, suggest(k, fields))
				continue
			}
			checkKeys(m[k], f.Type, p, e)
		}
	case reflect.Slice:
		switch s := v.(type) {
		case []map[string]any:
			for i, el := range s {
				checkKeys(el, t.Elem(), path+"["+strconv.Itoa(i)+"]", e)
			}
		case []any:
			for i, el := range s {
				checkKeys(el, t.Elem(), path+"["+strconv.Itoa(i)+"]", e)
			}
		}
	case reflect.Map:
		if m, ok := v.(map[string]any); ok {
			for k, el := range m {
				checkKeys(el, t.Elem(), join(path, k), e)
			}
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// suggest names a field the operator probably meant, for typos.
func suggest(k string, fields map[string]reflect.StructField) string {
	best, bestD := "", 3
	for name := range fields {
		if d := editDistance(k, name); d < bestD || (d == bestD && name < best) {
			best, bestD = name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
