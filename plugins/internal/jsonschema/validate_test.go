package jsonschema

import (
	"errors"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		schema string
		doc    string
		want   string // "" for valid, else the violation's Error()
	}{
		// type
		{"type object ok", `{"type":"object"}`, `{}`, ``},
		{"type object fail", `{"type":"object"}`, `[]`, `$: must be object, got array`},
		{"type array ok", `{"type":"array"}`, `[1]`, ``},
		{"type array fail", `{"type":"array"}`, `{}`, `$: must be array, got object`},
		{"type string ok", `{"type":"string"}`, `"x"`, ``},
		{"type string fail", `{"type":"string"}`, `1`, `$: must be string, got number`},
		{"type number ok", `{"type":"number"}`, `-1.5e3`, ``},
		{"type number fail", `{"type":"number"}`, `"1"`, `$: must be number, got string`},
		{"type integer ok", `{"type":"integer"}`, `42`, ``},
		{"type integer 1.0", `{"type":"integer"}`, `1.0`, ``},
		{"type integer 1e2", `{"type":"integer"}`, `1e2`, ``},
		{"type integer 1.5e1", `{"type":"integer"}`, `1.5e1`, ``},
		{"type integer -0", `{"type":"integer"}`, `-0.0`, ``},
		{"type integer fail", `{"type":"integer"}`, `1.5`, `$: must be integer, got number`},
		{"type integer 1e-1", `{"type":"integer"}`, `10e-2`, `$: must be integer, got number`},
		{"type integer huge", `{"type":"integer"}`, `123456789012345678901234567890`, ``},
		{"type integer tiny fraction", `{"type":"integer"}`, `9007199254740993.0000000001`, `$: must be integer, got number`},
		{"type boolean ok", `{"type":"boolean"}`, `false`, ``},
		{"type boolean fail", `{"type":"boolean"}`, `null`, `$: must be boolean, got null`},
		{"type null ok", `{"type":"null"}`, `null`, ``},
		{"type null fail", `{"type":"null"}`, `0`, `$: must be null, got number`},
		{"type list ok", `{"type":["string","null"]}`, `null`, ``},
		{"type list fail", `{"type":["string","null"]}`, `true`, `$: must be string or null, got boolean`},
		{"type list of three", `{"type":["object","array","null"]}`, `"s"`, `$: must be object, array or null, got string`},
		{"type number accepts integer", `{"type":["number"]}`, `3`, ``},

		// enum and const
		{"enum ok", `{"enum":["a","b",1]}`, `"b"`, ``},
		{"enum number by value", `{"enum":[1]}`, `1.00`, ``},
		{"enum fail", `{"enum":["a","b",1]}`, `"c"`, `$: must be one of ["a","b",1]`},
		{"enum object any order", `{"enum":[{"a":1,"b":[true,null]}]}`, `{"b":[true,null],"a":1.0}`, ``},
		{"enum object fail", `{"enum":[{"a":1}]}`, `{"a":1,"b":2}`, `$: must be one of [{"a":1}]`},
		{"enum array order matters", `{"enum":[[1,2]]}`, `[2,1]`, `$: must be one of [[1,2]]`},
		{"enum empty", `{"enum":[]}`, `1`, `$: must be one of []`},
		{"enum long message", `{"enum":["` + strings.Repeat("x", 120) + `"]}`, `1`, `$: must be one of the 1 enum values`},
		{"enum no html escape", `{"enum":["<a>&"]}`, `1`, `$: must be one of ["<a>&"]`},
		{"const ok", `{"const":{"k":[1,"x"]}}`, `{"k":[1e0,"x"]}`, ``},
		{"const fail", `{"const":"on"}`, `"off"`, `$: must equal "on"`},
		{"const null ok", `{"const":null}`, `null`, ``},
		{"const null fail", `{"const":null}`, `false`, `$: must equal null`},
		{"const bool vs number", `{"const":true}`, `1`, `$: must equal true`},

		// numeric bounds
		{"minimum ok equal", `{"minimum":18}`, `18`, ``},
		{"minimum fail", `{"minimum":18}`, `17.999`, `$: must be >= 18`},
		{"minimum ignores strings", `{"minimum":18}`, `"1"`, ``},
		{"maximum ok equal", `{"maximum":1.5}`, `1.50`, ``},
		{"maximum fail", `{"maximum":1.5}`, `1.5000001`, `$: must be <= 1.5`},
		{"exclusiveMinimum ok", `{"exclusiveMinimum":0}`, `1e-300`, ``},
		{"exclusiveMinimum fail equal", `{"exclusiveMinimum":0}`, `-0`, `$: must be > 0`},
		{"exclusiveMaximum ok", `{"exclusiveMaximum":100}`, `99.99`, ``},
		{"exclusiveMaximum fail equal", `{"exclusiveMaximum":100}`, `1E2`, `$: must be < 100`},
		{"bounds beyond float64", `{"maximum":9007199254740992}`, `9007199254740993`, `$: must be <= 9007199254740992`},
		{"bounds negative", `{"minimum":-10}`, `-10.5`, `$: must be >= -10`},
		{"bounds negative ok", `{"minimum":-10}`, `-9.5`, ``},
		{"bounds huge exponent", `{"maximum":1e308}`, `1e309`, `$: must be <= 1e308`},
		{"bounds order min first", `{"maximum":1,"minimum":5}`, `3`, `$: must be >= 5`},
		{"bounds order exclusiveMinimum before maximum", `{"maximum":1,"exclusiveMinimum":5}`, `3`, `$: must be > 5`},
		{"bounds order maximum before exclusiveMaximum", `{"exclusiveMaximum":1,"maximum":2}`, `3`, `$: must be <= 2`},

		// strings
		{"minLength ok", `{"minLength":2}`, `"ab"`, ``},
		{"minLength fail", `{"minLength":2}`, `"a"`, `$: must be at least 2 characters long`},
		{"minLength 1 fail", `{"minLength":1}`, `""`, `$: must be at least 1 character long`},
		{"minLength code points", `{"minLength":3}`, `"日本"`, `$: must be at least 3 characters long`},
		{"maxLength code points ok", `{"maxLength":2}`, `"日本"`, ``},
		{"maxLength surrogate pair is one", `{"maxLength":1}`, `"\ud83d\ude00"`, ``},
		{"maxLength fail", `{"maxLength":2}`, `"abc"`, `$: must be at most 2 characters long`},
		{"length ignores numbers", `{"maxLength":0}`, `12345`, ``},
		{"pattern ok unanchored", `{"pattern":"[0-9]+"}`, `"ab12cd"`, ``},
		{"pattern fail", `{"pattern":"^[a-z]+$"}`, `"abc1"`, `$: must match pattern "^[a-z]+$"`},
		{"pattern after length", `{"pattern":"^a","minLength":5}`, `"b"`, `$: must be at least 5 characters long`},

		// arrays
		{"minItems ok", `{"minItems":1}`, `[0]`, ``},
		{"minItems fail", `{"minItems":2}`, `[0]`, `$: must have at least 2 items`},
		{"maxItems fail", `{"maxItems":1}`, `[0,1]`, `$: must have at most 1 item`},
		{"items ok", `{"items":{"type":"integer"}}`, `[1,2,3]`, ``},
		{"items fail index", `{"items":{"type":"integer"}}`, `[1,2,"3",true]`, `$[2]: must be integer, got string`},
		{"items false", `{"items":false}`, `[1]`, `$[0]: is not allowed`},
		{"items false empty ok", `{"items":false}`, `[]`, ``},
		{"items nested arrays", `{"items":{"items":{"maximum":3}}}`, `[[1],[2,3,4]]`, `$[1][2]: must be <= 3`},

		// objects
		{"required ok", `{"required":["a","b"]}`, `{"a":1,"b":null}`, ``},
		{"required first missing in schema order", `{"required":["z","a"]}`, `{}`, `$: missing required property "z"`},
		{"required ignores non-objects", `{"required":["a"]}`, `[]`, ``},
		{"required before properties", `{"required":["b"],"properties":{"a":{"type":"string"}}}`, `{"a":1}`, `$: missing required property "b"`},
		{"properties ok", `{"properties":{"age":{"minimum":18}}}`, `{"age":30,"x":1}`, ``},
		{"properties fail", `{"properties":{"age":{"minimum":18}}}`, `{"age":3}`, `$.age: must be >= 18`},
		{"properties sorted order", `{"properties":{"b":{"type":"string"},"a":{"type":"string"}}}`, `{"b":1,"a":2}`, `$.a: must be string, got number`},
		{"properties false", `{"properties":{"password":false}}`, `{"password":"x"}`, `$.password: is not allowed`},
		{"additionalProperties false", `{"properties":{"a":{}},"additionalProperties":false}`, `{"a":1,"b":2}`, `$.b: is not allowed`},
		{"additionalProperties false ok", `{"properties":{"a":{}},"additionalProperties":false}`, `{"a":1}`, ``},
		{"additionalProperties true", `{"properties":{"a":{}},"additionalProperties":true}`, `{"b":1}`, ``},
		{"additionalProperties schema", `{"properties":{"a":{}},"additionalProperties":{"type":"string"}}`, `{"a":1,"b":"x","c":2}`, `$.c: must be string, got number`},
		{"additionalProperties sorted with properties", `{"properties":{"z":{"type":"string"}},"additionalProperties":{"type":"string"}}`, `{"z":1,"a":2}`, `$.a: must be string, got number`},
		{"additionalProperties only", `{"additionalProperties":{"type":"integer"}}`, `{"n":1.5}`, `$.n: must be integer, got number`},

		// paths
		{"nested path", `{"properties":{"user":{"properties":{"age":{"minimum":18}}}}}`, `{"user":{"age":17}}`, `$.user.age: must be >= 18`},
		{"path through array", `{"properties":{"items":{"items":{"properties":{"price":{"exclusiveMinimum":0}}}}}}`, `{"items":[{"price":1},{"price":0}]}`, `$.items[1].price: must be > 0`},
		{"path space", `{"properties":{"a b":{"type":"string"}}}`, `{"a b":1}`, `$["a b"]: must be string, got number`},
		{"path dot", `{"additionalProperties":false}`, `{"a.b":1}`, `$["a.b"]: is not allowed`},
		{"path quote", `{"additionalProperties":false}`, `{"say \"hi\"":1}`, `$["say \"hi\""]: is not allowed`},
		{"path leading digit", `{"additionalProperties":false}`, `{"1a":1}`, `$["1a"]: is not allowed`},
		{"path empty name", `{"additionalProperties":false}`, `{"":1}`, `$[""]: is not allowed`},
		{"path unicode", `{"additionalProperties":false}`, `{"größe":1}`, `$["größe"]: is not allowed`},
		{"path identifier", `{"additionalProperties":false}`, `{"_a9Z":1}`, `$._a9Z: is not allowed`},
		{"required in nested", `{"properties":{"u":{"required":["id"]}}}`, `{"u":{}}`, `$.u: missing required property "id"`},

		// boolean schemas and annotations
		{"true schema", `true`, `{"anything":[1]}`, ``},
		{"false schema", `false`, `null`, `$: is not allowed`},
		{"empty schema", `{}`, `"x"`, ``},
		{"annotations ignored", `{"$schema":"https://json-schema.org/draft/2020-12/schema","$id":"x","$comment":"c","title":"t","description":"d","default":1,"examples":[1],"type":"integer"}`, `1`, ``},

		// keyword order within one schema
		{"type before enum", `{"type":"string","enum":[1]}`, `1`, `$: must be string, got number`},
		{"enum before const", `{"enum":[1,2],"const":2}`, `3`, `$: must be one of [1,2]`},
		{"const before bounds", `{"const":2,"minimum":5}`, `3`, `$: must equal 2`},
		{"array items before later ones", `{"items":{"type":"string"}}`, `["a",1,2]`, `$[1]: must be string, got number`},

		// duplicate members: the last wins, as in encoding/json
		{"duplicate member", `{"properties":{"a":{"type":"string"}}}`, `{"a":1,"a":"x"}`, ``},

		// whitespace around the document
		{"surrounding whitespace", `{"type":"object"}`, " \n{}\t\r\n ", ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Compile([]byte(tt.schema))
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			err = s.Validate([]byte(tt.doc))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate(%s) = %v, want valid", tt.doc, err)
				}
				return
			}
			var vio *Violation
			if !errors.As(err, &vio) {
				t.Fatalf("Validate(%s) = %v, want violation %q", tt.doc, err, tt.want)
			}
			if got := vio.Error(); got != tt.want {
				t.Errorf("Validate(%s) = %q, want %q", tt.doc, got, tt.want)
			}
		})
	}
}

func TestViolationFields(t *testing.T) {
	s := mustCompile(t, `{"properties":{"user":{"properties":{"age":{"minimum":18}}}}}`)
	err := s.Validate([]byte(`{"user":{"age":17}}`))
	vio, ok := err.(*Violation)
	if !ok {
		t.Fatalf("got %T %v, want *Violation", err, err)
	}
	if vio.Path != "$.user.age" || vio.Message != "must be >= 18" {
		t.Errorf("got %+v", *vio)
	}
}

func TestValidateInvalidJSON(t *testing.T) {
	s := mustCompile(t, `{}`)
	for _, doc := range []string{``, `  `, `{`, `{"a":}`, `[1,]`, `{} {}`, `{}x`, `1 2`, `"abc`, `nul`, `{'a':1}`, `01`} {
		err := s.Validate([]byte(doc))
		if !errors.Is(err, ErrInvalidJSON) {
			t.Errorf("Validate(%q) = %v, want ErrInvalidJSON", doc, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), "invalid JSON") {
			t.Errorf("Validate(%q) message %q does not say invalid JSON", doc, err)
		}
	}
}

// TestValidateReuse checks that one Schema gives the same answers when used
// many times, which is how the plugin uses it.
func TestValidateReuse(t *testing.T) {
	s := mustCompile(t, benchSchema)
	for i := 0; i < 3; i++ {
		if err := s.Validate([]byte(benchDoc)); err != nil {
			t.Fatal(err)
		}
		err := s.Validate([]byte(`{"id":"x","user":{"name":"a","age":1,"tags":[]},"items":[]}`))
		if err == nil || err.Error() != `$.id: must be integer, got string` {
			t.Fatalf("got %v", err)
		}
	}
}

// TestDeterministicManyKeys guards the sorted member order: with maps,
// an unsorted walk would report a different member from run to run.
func TestDeterministicManyKeys(t *testing.T) {
	s := mustCompile(t, `{"additionalProperties":{"type":"string"},"properties":{"m":{"type":"object","additionalProperties":{"type":"integer"}}}}`)
	doc := `{"k":1,"j":2,"i":3,"h":4,"g":5,"f":6,"e":7,"m":{"z":"a","y":"b","b":"c"},"d":8,"c":9}`
	for i := 0; i < 50; i++ {
		err := s.Validate([]byte(doc))
		if err == nil || err.Error() != `$.c: must be string, got number` {
			t.Fatalf("run %d: got %v", i, err)
		}
	}
	doc = `{"k":"1","m":{"z":"a","y":"b","b":"c"}}`
	for i := 0; i < 50; i++ {
		err := s.Validate([]byte(doc))
		if err == nil || err.Error() != `$.m.b: must be integer, got string` {
			t.Fatalf("run %d: got %v", i, err)
		}
	}
}

func mustCompile(t testing.TB, schema string) *Schema {
	t.Helper()
	s, err := Compile([]byte(schema))
	if err != nil {
		t.Fatalf("Compile(%s): %v", schema, err)
	}
	return s
}

// TestValidateLimited: a document of more values than the limit stops with
// ErrTooManyValues (before the tree is built whole); one at the limit is
// validated as usual.
func TestValidateLimited(t *testing.T) {
	s, err := Compile([]byte(`{"type": "object", "properties": {"tags": {"type": "array", "maxItems": 2}}}`))
	if err != nil {
		t.Fatal(err)
	}
	doc := []byte(`{"tags": [1, 2, 3]}`) // 5 values: the object, the array, three numbers
	if err := s.ValidateLimited(doc, 4); !errors.Is(err, ErrTooManyValues) {
		t.Errorf("5 values, limit 4: %v, want ErrTooManyValues", err)
	}
	var v *Violation
	if err := s.ValidateLimited(doc, 5); !errors.As(err, &v) || v.Path != "$.tags" {
		t.Errorf("5 values, limit 5: %v, want the maxItems violation", err)
	}
	if err := s.Validate(doc); !errors.As(err, &v) {
		t.Errorf("no limit: %v, want the maxItems violation", err)
	}
}
