package jsonschema

import (
	"bytes"
	"encoding/json"
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

// FuzzParse checks the parser against encoding/json: both must accept the
// same inputs and read the same values from them.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		benchDoc, `{"a":1,"a":2}`, `"\ud83d\ude00 \ud800 \udc00x \u00e9"`, "\"\xff\xfe\"",
		`[1e5,-0.0,1E+2,true,false,null,{}]`, `{"\u0000":"\/"}`, ` 01`, `[1,]`, `"\u12"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parse(data, 0)
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var want any
		if (err == nil) != json.Valid(data) {
			t.Fatalf("parse error %v, but json.Valid = %v", err, json.Valid(data))
		}
		if err != nil {
			return
		}
		if err := dec.Decode(&want); err != nil {
			t.Fatal(err)
		}
		if !sameAsStd(&got, want) {
			t.Fatalf("parse = %s, encoding/json = %#v", appendJSON(nil, got), want)
		}
	})
}

func sameAsStd(v *value, std any) bool {
	switch x := std.(type) {
	case nil:
		return v.kind == kindNull
	case bool:
		return v.kind == kindBool && v.boolean == x
	case json.Number:
		return v.kind == kindNumber && v.text == string(x)
	case string:
		return v.kind == kindString && v.text == x
	case []any:
		if v.kind != kindArray || len(v.items) != len(x) {
			return false
		}
		for i := range x {
			if !sameAsStd(&v.items[i], x[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		if v.kind != kindObject || len(v.members) != len(x) {
			return false
		}
		for _, m := range v.members {
			if !sameAsStd(&m.value, x[m.name]) {
				return false
			}
		}
		return true
	}
	return false
}
