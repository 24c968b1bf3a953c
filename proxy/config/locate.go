package config

import (
	"strconv"
	"strings"
)

// locator maps dotted field paths (routes[2].match.headers.X-Api) to the
// line that defines them. The TOML decoder exposes no positions for keys,
// least of all inside arrays of tables, so this is a small scanner of TOML's
// structure: table and array-of-table headers (counted per parent
// element), dotted and quoted keys, inline tables and arrays (whose
// elements get their index), and every kind of string, so that brackets
// or quotes inside a value never confuse it. It does not check syntax; the
// decoder has done that before a locator is asked anything that matters.
type locator struct {
	lines  map[string]int
	byLine map[int]string
}

type scanner struct {
	src  string
	i    int
	line int
	l    *locator
	// counts is the number of elements seen of each array of tables, by
	// its path with the parent's indexes ("listeners[1].tls").
	counts map[string]int
	// arrays maps the plain path of each array of tables (its header's
	// parts, see plainKey) to the indexed path of its latest element,
	// which later headers below it refer to.
	arrays map[string]string
}

func newLocator(src string) *locator {
	l := &locator{lines: map[string]int{}, byLine: map[int]string{}}
	s := &scanner{src: src, line: 1, l: l, counts: map[string]int{}, arrays: map[string]string{}}
	s.document()
	return l
}

func (s *scanner) document() {
	table := ""
	for s.i < len(s.src) {
		s.skipSpaceAndComments(true)
		if s.i >= len(s.src) {
			return
		}
		switch {
		case strings.HasPrefix(s.src[s.i:], "[["):
			s.i += 2
			parts := s.keyParts("]")
			s.closeHeader(2)
			base := join(s.resolve(parts[:len(parts)-1]), parts[len(parts)-1])
			n := s.counts[base]
			s.counts[base] = n + 1
			table = base + "[" + strconv.Itoa(n) + "]"
			s.newElement(parts, table)
			s.l.record(base, s.line)
			s.l.record(table, s.line)
		case s.src[s.i] == '[':
			s.i++
			parts := s.keyParts("]")
			s.closeHeader(1)
			table = join(s.resolve(parts[:len(parts)-1]), parts[len(parts)-1])
			s.l.record(table, s.line)
		default:
			s.keyValue(table, "\n")
		}
		s.skipLine()
	}
}

// closeHeader steps over the n closing brackets of a header, but only
// those that are there: a broken header must not swallow the newline and
// put every later line off by one.
func (s *scanner) closeHeader(n int) {
	for ; n > 0 && s.i < len(s.src) && s.src[s.i] == ']'; n-- {
		s.i++
	}
}

// plainKey joins header parts with a byte no key part holds, so that
// [a.b] and ["a.b"] stay apart.
func plainKey(parts []string) string {
	return strings.Join(parts, "\x00")
}

// newElement makes table the latest element of the array of tables named
// by parts. The arrays of tables inside the previous element are forgotten:
// headers below this one start the new element's own.
func (s *scanner) newElement(parts []string, table string) {
	key := plainKey(parts)
	for k := range s.arrays {
		if strings.HasPrefix(k, key+"\x00") {
			delete(s.arrays, k)
		}
	}
	s.arrays[key] = table
}

// resolve gives the indexed path of a header's parent parts: each prefix
// that names an array of tables refers to its latest element. The other
// prefixes are recorded, as the header is where a table it implies first
// exists ([[listeners.x.y]] in a listener without [listeners.x]).
func (s *scanner) resolve(parts []string) string {
	out := ""
	for i, p := range parts {
		if el, ok := s.arrays[plainKey(parts[:i+1])]; ok {
			out = el
			continue
		}
		out = join(out, p)
		s.l.record(out, s.line)
	}
	return out
}

// keyValue reads `key = value` inside table and records every path in it.
func (s *scanner) keyValue(table, end string) {
	line := s.line
	parts := s.keyParts("=" + end)
	if s.i >= len(s.src) || s.src[s.i] != '=' {
		return
	}
	s.i++
	path := table
	for _, p := range parts {
		path = join(path, p)
		s.l.record(path, line)
	}
	s.skipSpaceAndComments(false)
	s.value(path)
}

// value reads one value and records the paths inside it.
func (s *scanner) value(path string) {
	if s.i >= len(s.src) {
		return
	}
	switch c := s.src[s.i]; {
	case c == '"' || c == '\'':
		s.str()
	case c == '[':
		s.i++
		for n := 0; ; n++ {
			s.skipSpaceAndComments(true)
			if s.i >= len(s.src) || s.src[s.i] == ']' {
				s.i++
				return
			}
			el := path + "[" + strconv.Itoa(n) + "]"
			s.l.record(el, s.line)
			before := s.i
			s.value(el)
			if s.i == before {
				s.i++ // not a value (broken input): step over it rather than loop
			}
			s.skipSpaceAndComments(true)
			if s.i < len(s.src) && s.src[s.i] == ',' {
				s.i++
			}
		}
	case c == '{':
		s.i++
		for {
			s.skipSpaceAndComments(true)
			if s.i >= len(s.src) || s.src[s.i] == '}' {
				s.i++
				return
			}
			if s.src[s.i] == ',' {
				s.i++
				continue
			}
			before := s.i
			s.keyValue(path, ",}")
			if s.i == before {
				s.i++ // not a key: step over it rather than loop
			}
		}
	default:
		// A number, boolean or date: runs to a delimiter.
		for s.i < len(s.src) && !strings.ContainsRune(",]}#\n", rune(s.src[s.i])) {
			s.i++
		}
	}
}

// keyParts reads a dotted key up to (not including) one of the bytes in
// stop, unquoting quoted parts.
func (s *scanner) keyParts(stop string) []string {
	var parts []string
	var cur strings.Builder
	for s.i < len(s.src) {
		c := s.src[s.i]
		switch {
		case c == '"' || c == '\'':
			cur.WriteString(s.str())
			continue
		case c == '.':
			parts = append(parts, cur.String())
			cur.Reset()
		case strings.IndexByte(stop, c) >= 0 || c == '\n':
			return append(parts, cur.String())
		case c == ' ' || c == '\t':
			// Bare keys cannot hold blanks: these surround a dot or a quote.
		default:
			cur.WriteByte(c)
		}
		s.i++
	}
	return append(parts, cur.String())
}

// str reads a string of any of TOML's four kinds and returns its raw
// content (escapes are left as written: keys with escapes are rare and
// only need to match themselves).
func (s *scanner) str() string {
	q := s.src[s.i]
	multi := strings.HasPrefix(s.src[s.i:], strings.Repeat(string(q), 3))
	if multi {
		s.i += 3
	} else {
		s.i++
	}
	start := s.i
	for s.i < len(s.src) {
		c := s.src[s.i]
		switch {
		case c == '\\' && q == '"':
			s.i++
			if s.i < len(s.src) && s.src[s.i] == '\n' {
				s.line++
			}
		case c == '\n':
			s.line++
			if !multi {
				return s.src[start:s.i] // unterminated; the decoder says so
			}
		case c == q && !multi:
			s.i++
			return s.src[start : s.i-1]
		case c == q && strings.HasPrefix(s.src[s.i:], strings.Repeat(string(q), 3)):
			// Up to two more quotes may belong to the content.
			end := s.i + 3
			for end < len(s.src) && s.src[end] == q && end-s.i < 5 {
				end++
			}
			content := s.src[start : end-3]
			s.i = end
			return content
		}
		s.i++
	}
	return s.src[start:]
}

// skipSpaceAndComments steps over blanks and comments, and over newlines
// when newlines is true.
func (s *scanner) skipSpaceAndComments(newlines bool) {
	for s.i < len(s.src) {
		switch s.src[s.i] {
		case ' ', '\t', '\r':
		case '\n':
			if !newlines {
				return
			}
			s.line++
		case '#':
			for s.i < len(s.src) && s.src[s.i] != '\n' {
				s.i++
			}
			continue
		default:
			return
		}
		s.i++
	}
}

// skipLine steps to the start of the next line, past whatever is left of
// this one (a comment, or text the decoder refuses).
func (s *scanner) skipLine() {
	for s.i < len(s.src) && s.src[s.i] != '\n' {
		s.i++
	}
	if s.i < len(s.src) {
		s.i++
		s.line++
	}
}

func (l *locator) record(path string, line int) {
	if _, seen := l.lines[path]; !seen {
		l.lines[path] = line
	}
	if _, seen := l.byLine[line]; !seen {
		l.byLine[line] = path
	}
}

// line returns the line of path or of its nearest enclosing path within
// the same array element, 0 if none.
func (l *locator) line(path string) int {
	if l == nil {
		return 0
	}
	for path != "" {
		if n, ok := l.lines[path]; ok {
			return n
		}
		cut := strings.LastIndexAny(path, ".[")
		if cut < 0 || path[cut] == '[' {
			// An array element the file does not have: its array's line
			// would point somewhere unrelated.
			return 0
		}
		path = path[:cut]
	}
	return 0
}
