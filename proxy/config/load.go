package config

import (
	"encoding"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
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
		sortByLine(list)
		return list
	}

	// Decoding twice: once generically, so that unknown keys and values of
	// the wrong type are reported with their exact path and all at once
	// (the typed decoder stops at its first error and cannot say which
	// array element it was in); then into the typed struct.
	var raw map[string]any
	if _, err := toml.Decode(src, &raw); err != nil {
		return nil, fail(Errors{decodeError(err, loc)})
	}
	var shape errs
	checkKeys(raw, reflect.TypeOf(Config{}), "", &shape)
	if len(shape.list) > 0 {
		return nil, fail(shape.list)
	}

	cfg := &Config{File: file}
	md, err := toml.Decode(src, cfg)
	if err != nil {
		return nil, fail(Errors{decodeError(err, loc)})
	}
	cfg.loc = loc
	applyDefaults(cfg, &md)
	resolvePaths(cfg)
	var v errs
	validate(cfg, &v)
	if len(v.list) > 0 {
		return nil, fail(v.list)
	}
	return cfg, nil
}

// resolvePaths makes the file paths of the config that are relative
// (certificates, a discovery file, the log file, the plugin cache)
// relative to the config file's directory, as module paths are: a config
// then means the same whatever directory the gateway is started from.
// Modules keep their path as written (ModulePath resolves it), so that
// GET /config and the plugin list show what the file says.
func resolvePaths(c *Config) {
	if c.File == "" {
		return
	}
	base, err := filepath.Abs(filepath.Dir(c.File))
	if err != nil {
		return
	}
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	if c.Log.File() != "" {
		abs(&c.Log.Output)
	}
	abs(&c.Gateway.PluginCacheDir)
	for i := range c.Listeners {
		for j := range c.Listeners[i].TLS {
			abs(&c.Listeners[i].TLS[j].Cert)
			abs(&c.Listeners[i].TLS[j].Key)
		}
	}
	for _, u := range c.Upstreams {
		if u.Discovery != nil && u.Discovery.Provider == "file" {
			abs(&u.Discovery.Path)
		}
	}
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

var (
	unmarshalerType     = reflect.TypeOf((*toml.Unmarshaler)(nil)).Elem()
	textUnmarshalerType = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
)

// checkKeys walks generically decoded TOML beside the struct type it will
// be decoded into and reports every key the struct has no field for and
// every value of the wrong type, in a fixed order so that the same file
// always gives the same errors.
func checkKeys(v any, t reflect.Type, path string, e *errs) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		// The type reads its own value: let it, to report what it says.
		if err := reflect.New(t).Interface().(toml.Unmarshaler).UnmarshalTOML(v); err != nil {
			if ke, ok := errors.AsType[keyError](err); ok {
				e.add(path+"."+ke.key, "%s", ke.msg)
			} else {
				e.add(path, "%s", err.Error())
			}
		}
		return
	}
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		// As the decoder does: any primitive, spelled out as text.
		var text string
		switch x := v.(type) {
		case string:
			text = x
		case bool:
			text = strconv.FormatBool(x)
		case int64:
			text = strconv.FormatInt(x, 10)
		case float64:
			text = fmt.Sprintf("%f", x)
		default:
			e.add(path, "incompatible types: TOML value has type %s; destination has type primitive (string-like)", valueType(v))
			return
		}
		if err := reflect.New(t).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(text)); err != nil {
			e.add(path, "%s", err.Error())
		}
		return
	}
	if want, ok := tomlKind(t); ok && !kindMatches(t, v) {
		e.add(path, "incompatible types: TOML value has type %s; destination has type %s", valueType(v), want)
		return
	}
	if msg := outOfRange(t, v); msg != "" {
		e.add(path, "%s", msg)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		m, _ := v.(map[string]any)
		fields := map[string]reflect.StructField{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if tag := strings.Split(f.Tag.Get("toml"), ",")[0]; tag != "" && tag != "-" {
				fields[tag] = f
			}
		}
		for _, k := range sortedKeys(m) {
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
		m, _ := v.(map[string]any)
		for _, k := range sortedKeys(m) {
			checkKeys(m[k], t.Elem(), join(path, k), e)
		}
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// tomlKind names the TOML type a Go type is decoded from, in the words
// the TOML decoder uses in its own errors.
func tomlKind(t reflect.Type) (string, bool) {
	switch t.Kind() {
	case reflect.String:
		return "string", true
	case reflect.Bool:
		return "boolean", true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer", true
	case reflect.Float32, reflect.Float64:
		return "float", true
	case reflect.Struct, reflect.Map:
		return "table", true
	case reflect.Slice, reflect.Array:
		return "array", true
	}
	return "", false
}

func kindMatches(t reflect.Type, v any) bool {
	switch t.Kind() {
	case reflect.String:
		_, ok := v.(string)
		return ok
	case reflect.Bool:
		_, ok := v.(bool)
		return ok
	case reflect.Float32, reflect.Float64:
		switch v.(type) {
		case float64, int64:
			return true
		}
		return false
	case reflect.Struct, reflect.Map:
		_, ok := v.(map[string]any)
		return ok
	case reflect.Slice, reflect.Array:
		switch v.(type) {
		case []any, []map[string]any:
			return true
		}
		return false
	}
	_, ok := v.(int64) // the integer kinds
	return ok
}

// outOfRange reports a number the typed decoder would refuse for t although
// its TOML type fits: it has to be found here, where its path is known.
func outOfRange(t reflect.Type, v any) string {
	zero := reflect.New(t).Elem()
	switch n := v.(type) {
	case int64:
		switch {
		case zero.CanInt():
			if zero.OverflowInt(n) {
				return fmt.Sprintf("%d does not fit in %s", n, t.Kind())
			}
		case zero.CanUint():
			if n < 0 || zero.OverflowUint(uint64(n)) {
				return fmt.Sprintf("%d does not fit in %s", n, t.Kind())
			}
		case zero.CanFloat():
			// Beyond 2^mantissa an integer silently becomes another one.
			limit := int64(1)<<53 - 1
			if t.Kind() == reflect.Float32 {
				limit = 1<<24 - 1
			}
			if n < -limit || n > limit {
				return fmt.Sprintf("integer %d cannot be held exactly by a float; write it as a float", n)
			}
		}
	case float64:
		if t.Kind() == reflect.Float32 && (n < -math.MaxFloat32 || n > math.MaxFloat32) {
			return fmt.Sprintf("%g does not fit in %s", n, t.Kind())
		}
	}
	return ""
}

func valueType(v any) string {
	switch v.(type) {
	case map[string]any:
		return "table"
	case []any, []map[string]any:
		return "array"
	}
	return reflect.TypeOf(v).String()
}

// sortByLine puts errors in file order; those without a line go last. The
// sort is stable, so errors on one line keep the order they were found in.
func sortByLine(list Errors) {
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i].Line, list[j].Line
		if a == 0 || b == 0 {
			return b == 0 && a != 0
		}
		return a < b
	})
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
