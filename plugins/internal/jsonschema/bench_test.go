package jsonschema

import "testing"

const benchSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["id", "user", "items"],
  "additionalProperties": false,
  "properties": {
    "id": {"type": "integer", "minimum": 1},
    "note": {"type": ["string", "null"], "maxLength": 200},
    "user": {
      "type": "object",
      "required": ["name", "age"],
      "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 64},
        "email": {"type": "string", "pattern": "^[^@\\s]+@[^@\\s]+$"},
        "age": {"type": "integer", "minimum": 18, "exclusiveMaximum": 150},
        "tags": {"type": "array", "maxItems": 10, "items": {"enum": ["new", "vip", "staff"]}}
      }
    },
    "items": {
      "type": "array",
      "minItems": 1,
      "items": {
        "type": "object",
        "required": ["sku", "qty"],
        "properties": {
          "sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$"},
          "qty": {"type": "integer", "minimum": 1, "maximum": 100},
          "price": {"type": "number", "exclusiveMinimum": 0}
        }
      }
    }
  }
}`

const benchDoc = `{
  "id": 1234,
  "note": null,
  "user": {"name": "Ada Lovelace", "email": "ada@example.com", "age": 36, "tags": ["vip", "staff"]},
  "items": [
    {"sku": "ABC-0001", "qty": 2, "price": 19.99},
    {"sku": "XYZ-0420", "qty": 1, "price": 5},
    {"sku": "QQQ-9999", "qty": 100, "price": 0.01}
  ]
}`

func BenchmarkValidate(b *testing.B) {
	s := mustCompile(b, benchSchema)
	doc := []byte(benchDoc)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Validate(doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateViolation(b *testing.B) {
	s := mustCompile(b, benchSchema)
	doc := []byte(`{"id":1,"user":{"name":"a","age":17},"items":[{"sku":"ABC-0001","qty":1}]}`)
	b.ReportAllocs()
	for b.Loop() {
		if s.Validate(doc) == nil {
			b.Fatal("want a violation")
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	schema := []byte(benchSchema)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(schema); err != nil {
			b.Fatal(err)
		}
	}
}
