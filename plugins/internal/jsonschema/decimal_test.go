package jsonschema

import "testing"

func TestCompareDecimal(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"0", "-0", 0},
		{"0.000", "0e10", 0},
		{"1", "1.0", 0},
		{"1", "1e0", 0},
		{"100", "1e2", 0},
		{"100", "1E+2", 0},
		{"0.01", "1e-2", 0},
		{"10.5", "105e-1", 0},
		{"1", "2", -1},
		{"2", "1", 1},
		{"-1", "1", -1},
		{"-2", "-1", -1},
		{"-0.5", "0", -1},
		{"0", "1e-400", -1},
		{"9007199254740993", "9007199254740992", 1},
		{"12345678901234567890", "12345678901234567891", -1},
		{"0.1", "0.10000000000000000001", -1},
		{"1e308", "1e309", -1},
		{"99", "100", -1},
		{"1.01", "1.1", -1},
		{"123.456", "123.4560", 0},
		{"1e1000000000000000000000", "1e999", 1},
	}
	for _, tt := range tests {
		a, ok := parseDecimal(tt.a)
		b, ok2 := parseDecimal(tt.b)
		if !ok || !ok2 {
			t.Fatalf("parse %q or %q failed", tt.a, tt.b)
		}
		if got := compareDecimal(a, b); got != tt.want {
			t.Errorf("compare(%s, %s) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := compareDecimal(b, a); got != -tt.want {
			t.Errorf("compare(%s, %s) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

func TestParseDecimalRejects(t *testing.T) {
	for _, s := range []string{"", "-", "01", "1.", ".5", "1e", "1e+", "+1", "1x", "--1", "0x10"} {
		if _, ok := parseDecimal(s); ok {
			t.Errorf("parseDecimal(%q) accepted", s)
		}
	}
}

func TestCount(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"0", 0, true},
		{"-0", 0, true},
		{"0e999999999999", 0, true},
		{"3", 3, true},
		{"3.0", 3, true},
		{"1.2e1", 12, true},
		{"1e400", maxCount, true},
		{"99999999999999999999", maxCount, true},
		{"-1", 0, false},
		{"0.5", 0, false},
	}
	for _, tt := range tests {
		d, _ := parseDecimal(tt.in)
		got, ok := d.count()
		if got != tt.want || ok != tt.ok {
			t.Errorf("count(%s) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
