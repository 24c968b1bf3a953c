package jsonschema

// decimal is a JSON number split into its parts so that numbers can be
// compared exactly without converting to float64, which would make
// 9007199254740993 equal to 9007199254740992 and 0.1+tiny equal to 0.1.
// The parts are substrings of the literal, so parsing does not allocate.
type decimal struct {
	neg   bool
	whole string // digits before the point
	frac  string // digits after the point
	exp   int64  // the exponent part, saturated at ±maxExp
}

// maxExp bounds exponents so that magnitude arithmetic cannot overflow; no
// two numbers a real request carries differ only beyond it.
const maxExp = 1e15

// parseDecimal splits a JSON number literal. It reports false for text that
// is not a JSON number.
func parseDecimal(s string) (decimal, bool) {
	var d decimal
	i := 0
	if i < len(s) && s[i] == '-' {
		d.neg = true
		i++
	}
	start := i
	i = skipDigits(s, i)
	if i == start || (s[start] == '0' && i-start > 1) {
		return decimal{}, false
	}
	d.whole = s[start:i]
	if i < len(s) && s[i] == '.' {
		start = i + 1
		i = skipDigits(s, start)
		if i == start {
			return decimal{}, false
		}
		d.frac = s[start:i]
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		var ok bool
		if d.exp, i, ok = parseExp(s, i+1); !ok {
			return decimal{}, false
		}
	}
	return d, i == len(s)
}

func skipDigits(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

func parseExp(s string, i int) (exp int64, end int, ok bool) {
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if exp < maxExp {
			exp = exp*10 + int64(s[i]-'0')
		}
	}
	exp = min(exp, maxExp)
	if neg {
		exp = -exp
	}
	return exp, i, i > start
}

// digit returns the i-th digit of whole followed by frac.
func (d decimal) digit(i int) byte {
	if i < len(d.whole) {
		return d.whole[i]
	}
	return d.frac[i-len(d.whole)]
}

// significant returns the bounds [first, last) of the digits between the
// first and the last non-zero digit; first == last means the value is zero.
func (d decimal) significant() (first, last int) {
	n := len(d.whole) + len(d.frac)
	for first < n && d.digit(first) == '0' {
		first++
	}
	last = n
	for last > first && d.digit(last-1) == '0' {
		last--
	}
	return first, last
}

// magnitude is e such that the value is 0.ddd × 10^e, ddd being the
// significant digits.
func (d decimal) magnitude(first int) int64 {
	return int64(len(d.whole)-first) + d.exp
}

func (d decimal) sign() int {
	if first, last := d.significant(); first == last {
		return 0
	}
	if d.neg {
		return -1
	}
	return 1
}

// isInteger reports whether the value has no fractional part, so that 1.0
// and 1e2 count as integers, as JSON Schema requires.
func (d decimal) isInteger() bool {
	first, last := d.significant()
	return first == last || int64(len(d.whole)-last)+d.exp >= 0
}

// compareDecimal returns -1, 0 or +1 as a is less than, equal to or greater
// than b.
func compareDecimal(a, b decimal) int {
	sa, sb := a.sign(), b.sign()
	if sa != sb {
		return cmpInt(int64(sa), int64(sb))
	}
	if sa == 0 {
		return 0
	}
	return sa * compareAbs(a, b)
}

func compareAbs(a, b decimal) int {
	af, al := a.significant()
	bf, bl := b.significant()
	if c := cmpInt(a.magnitude(af), b.magnitude(bf)); c != 0 {
		return c
	}
	for ; af < al && bf < bl; af, bf = af+1, bf+1 {
		if c := cmpInt(int64(a.digit(af)), int64(b.digit(bf))); c != 0 {
			return c
		}
	}
	// Both runs end in a non-zero digit, so the longer one is larger.
	return cmpInt(int64(al-af), int64(bl-bf))
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// maxCount caps length limits taken from a schema; no document gets near it.
const maxCount = 1 << 40

// count converts a non-negative integer to int, saturating at maxCount. It
// reports false for negative or fractional values.
func (d decimal) count() (int, bool) {
	if !d.isInteger() || d.sign() < 0 {
		return 0, false
	}
	first, last := d.significant()
	if first == last {
		return 0, true
	}
	n := 0
	for i := first; i < last && n < maxCount; i++ {
		n = n*10 + int(d.digit(i)-'0')
	}
	for zeros := int64(len(d.whole)-last) + d.exp; zeros > 0 && n < maxCount; zeros-- {
		n *= 10
	}
	return min(n, maxCount), true
}
