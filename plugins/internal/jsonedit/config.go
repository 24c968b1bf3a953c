package jsonedit

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// ParseOps reads a transform configuration:
//
//	{
//	  "rename": {"user_name": "user.name"},
//	  "remove": ["password", "user.ssn"],
//	  "set":    {"meta.source": "gateway", "n": 3}
//	}
//
// All three members are optional. The ops come back renames first, then
// removals, then sets, whatever the order in the configuration, and within
// each group in the order written. That order lets a configuration rename a
// member and then set or remove something inside it by its new name, and
// guarantees that what "set" writes is in the output. Member order inside
// "rename" and "set" is kept, rather than going through a Go map, because
// it decides where new members land and whether a set to "a" runs before
// one to "a.b".
func ParseOps(config []byte) ([]Op, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, config); err != nil {
		return nil, fmt.Errorf("jsonedit: config: %w", err)
	}
	src := buf.Bytes()
	if src[0] != '{' {
		return nil, fmt.Errorf("jsonedit: config: want an object")
	}
	var rename, remove, set []Op
	for _, m := range parseObject(src).members {
		var err error
		switch m.name() {
		case "rename":
			rename, err = parseRenames(m.raw)
		case "remove":
			remove, err = parseRemoves(m.raw)
		case "set":
			set, err = parseSets(m.raw)
		default:
			err = fmt.Errorf("unknown member %q (want rename, remove or set)", m.name())
		}
		if err != nil {
			return nil, fmt.Errorf("jsonedit: config: %w", err)
		}
	}
	ops := append(append(rename, remove...), set...)
	for _, op := range ops {
		if op.err != nil {
			return nil, op.err
		}
	}
	return ops, nil
}

func parseRenames(raw []byte) ([]Op, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, fmt.Errorf("rename: want an object of \"from\": \"to\" paths")
	}
	var ops []Op
	for _, m := range parseObject(raw).members {
		var to string
		if err := json.Unmarshal(m.raw, &to); err != nil {
			return nil, fmt.Errorf("rename %s: want a string path", m.name())
		}
		ops = append(ops, Rename(m.name(), to))
	}
	return ops, nil
}

func parseRemoves(raw []byte) ([]Op, error) {
	var paths []string
	if err := json.Unmarshal(raw, &paths); err != nil {
		return nil, fmt.Errorf("remove: want an array of paths")
	}
	ops := make([]Op, 0, len(paths))
	for _, p := range paths {
		ops = append(ops, Remove(p))
	}
	return ops, nil
}

func parseSets(raw []byte) ([]Op, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, fmt.Errorf("set: want an object of \"path\": value")
	}
	var ops []Op
	for _, m := range parseObject(raw).members {
		ops = append(ops, Set(m.name(), m.raw))
	}
	return ops, nil
}

// Config holds a transform configuration, in the format ParseOps reads, as
// a field of a plugin's own configuration struct:
//
//	type config struct {
//		Request  jsonedit.Config `json:"request"`
//		MaxBytes int             `json:"max_bytes"`
//	}
type Config struct {
	ops []Op
}

// UnmarshalJSON implements json.Unmarshaler with ParseOps.
func (c *Config) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	ops, err := ParseOps(data)
	if err != nil {
		return err
	}
	c.ops = ops
	return nil
}

// Ops returns the configured ops, for Apply.
func (c Config) Ops() []Op { return c.ops }
