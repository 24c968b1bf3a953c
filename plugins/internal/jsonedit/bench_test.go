package jsonedit

import (
	"strings"
	"testing"
)

const benchDoc = `{
  "id": 1234,
  "user_name": "ada",
  "password": "hunter2",
  "user": {"email": "ada@example.com", "age": 36, "tags": ["vip", "staff"], "ssn": "000-00-0000"},
  "items": [
    {"sku": "ABC-0001", "qty": 2, "price": 19.99, "note": "gift wrap, please: \"red\" paper"},
    {"sku": "XYZ-0420", "qty": 1, "price": 5},
    {"sku": "QQQ-9999", "qty": 100, "price": 0.01}
  ],
  "meta": {"client": "web", "version": "2.3.1"}
}`

var benchConfig = `{
  "rename": {"user_name": "user.name"},
  "remove": ["password", "user.ssn"],
  "set": {"meta.source": "gateway", "meta.trace.sampled": true}
}`

func BenchmarkApply(b *testing.B) {
	ops := mustParseOps(b, benchConfig)
	doc := []byte(benchDoc)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Apply(doc, ops, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyLarge has a big payload beside the edited members; it is
// copied through without being parsed.
func BenchmarkApplyLarge(b *testing.B) {
	ops := mustParseOps(b, benchConfig)
	items := strings.Repeat(`{"sku": "ABC-0001", "qty": 2, "price": 19.99},`, 2000)
	doc := []byte(`{"user_name":"ada","password":"x","items":[` + items + `{}]}`)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Apply(doc, ops, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}
