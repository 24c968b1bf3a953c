package jsonschema

import (
	"errors"
	"testing"
)

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name   string
		schema string
		want   string
	}{
		{"unknown keyword nested", `{"properties":{"age":{"formatx":"int"}}}`, `properties.age: unknown keyword "formatx"`},
		{"unknown keyword root", `{"type":"object","$ref":"#/x"}`, `(root): unknown keyword "$ref"`},
		{"unknown keyword in items", `{"items":{"format":"date"}}`, `items: unknown keyword "format"`},
		{"unknown keyword in additionalProperties", `{"additionalProperties":{"oneOf":[]}}`, `additionalProperties: unknown keyword "oneOf"`},
		{"unknown keyword deep", `{"properties":{"a":{"items":{"properties":{"b":{"multipleOf":2}}}}}}`, `properties.a.items.properties.b: unknown keyword "multipleOf"`},
		{"non-identifier property", `{"properties":{"a b":{"x":1}}}`, `properties["a b"]: unknown keyword "x"`},
		{"minimum as string", `{"properties":{"age":{"minimum":"18"}}}`, `properties.age.minimum: must be a number`},
		{"maximum bool", `{"maximum":true}`, `maximum: must be a number`},
		{"exclusiveMinimum draft-04 style", `{"exclusiveMinimum":true}`, `exclusiveMinimum: must be a number`},
		{"exclusiveMaximum null", `{"exclusiveMaximum":null}`, `exclusiveMaximum: must be a number`},
		{"minLength negative", `{"minLength":-1}`, `minLength: must be a non-negative integer`},
		{"maxLength fraction", `{"maxLength":1.5}`, `maxLength: must be a non-negative integer`},
		{"minItems string", `{"minItems":"1"}`, `minItems: must be a number`},
		{"maxItems negative", `{"items":{"maxItems":-2}}`, `items.maxItems: must be a non-negative integer`},
		{"bad regexp", `{"properties":{"name":{"pattern":"(a"}}}`, "properties.name.pattern: invalid regexp: error parsing regexp: missing closing ): `(a`"},
		{"pattern not string", `{"pattern":1}`, `pattern: must be a string`},
		{"pattern lookahead unsupported by RE2", `{"pattern":"(?=a)"}`, "pattern: invalid regexp: error parsing regexp: invalid or unsupported Perl syntax: `(?=`"},
		{"type unknown", `{"type":"strin"}`, `type: unknown type "strin"`},
		{"type number", `{"type":1}`, `type: must be a string or an array of strings`},
		{"type empty array", `{"type":[]}`, `type: must not be empty`},
		{"type array element", `{"type":["string",1]}`, `type[1]: must be a string`},
		{"type duplicate", `{"type":["string","string"]}`, `type: duplicate entry "string"`},
		{"enum not array", `{"enum":"a"}`, `enum: must be an array`},
		{"required not array", `{"required":"a"}`, `required: must be an array of strings`},
		{"required element", `{"required":["a",2]}`, `required[1]: must be a string`},
		{"required duplicate", `{"required":["a","a"]}`, `required: duplicate entry "a"`},
		{"properties not object", `{"properties":[]}`, `properties: must be an object`},
		{"property schema not schema", `{"properties":{"a":1}}`, `properties.a: a schema must be an object or a boolean`},
		{"items array form", `{"items":[{}]}`, `items: a schema must be an object or a boolean`},
		{"additionalProperties string", `{"additionalProperties":"no"}`, `additionalProperties: a schema must be an object or a boolean`},
		{"root not schema", `[]`, `(root): a schema must be an object or a boolean`},
		{"first error in sorted keyword order", `{"zzz":1,"aaa":2}`, `(root): unknown keyword "aaa"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile([]byte(tt.schema))
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("Compile = %v, want a CompileError", err)
			}
			if err.Error() != tt.want {
				t.Errorf("Compile = %q, want %q", err.Error(), tt.want)
			}
		})
	}
}

func TestCompileInvalidJSON(t *testing.T) {
	for _, schema := range []string{``, `{`, `{"type":"string"} x`, `{"a":1,}`} {
		_, err := Compile([]byte(schema))
		if !errors.Is(err, ErrInvalidJSON) {
			t.Errorf("Compile(%q) = %v, want ErrInvalidJSON", schema, err)
		}
	}
}

func TestCompileAccepts(t *testing.T) {
	for _, schema := range []string{
		`true`, `false`, `{}`,
		`{"minLength":2.0,"maxLength":1e1,"minItems":0,"maxItems":-0}`,
		`{"maxLength":1e400}`,
		`{"minimum":-1e-400,"maximum":1E+400}`,
		`{"properties":{"a":true,"b":false},"additionalProperties":false,"items":true}`,
		`{"enum":[null,{"a":[1]}],"const":{}}`,
	} {
		if _, err := Compile([]byte(schema)); err != nil {
			t.Errorf("Compile(%s): %v", schema, err)
		}
	}
}
