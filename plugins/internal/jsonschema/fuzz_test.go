package jsonschema

import (
	"errors"
	"strings"
	"testing"
)

func FuzzValidate(f *testing.F) {
	f.Add([]byte(benchSchema), []byte(benchDoc))
	f.Add([]byte(`{"type":"integer","minimum":1.5e1}`), []byte(`15.000`))
	f.Add([]byte(`{"enum":[1,{"a":[null]}]}`), []byte(`{"a":[null]}`))
	f.Add([]byte(`{"additionalProperties":false}`), []byte(`{"a b":1}`))
	f.Add([]byte(`{"items":{"pattern":"^x"}}`), []byte(`["x","y"]`))
	f.Add([]byte(`false`), []byte(`[1e999999999999999999]`))
	f.Fuzz(func(t *testing.T, schema, doc []byte) {
		s, err := Compile(schema)
		if err != nil {
			return
		}
		err = s.Validate(doc)
		var vio *Violation
		switch {
		case err == nil, errors.Is(err, ErrInvalidJSON):
		case errors.As(err, &vio):
			if !strings.HasPrefix(vio.Path, "$") || vio.Message == "" {
				t.Fatalf("malformed violation %+v", *vio)
			}
		default:
			t.Fatalf("unexpected error type %T: %v", err, err)
		}
		// A second run must give the same answer.
		if err2 := s.Validate(doc); errString(err) != errString(err2) {
			t.Fatalf("not deterministic: %v then %v", err, err2)
		}
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
