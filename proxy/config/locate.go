package config

import (
	"strconv"
	"strings"
)

// locator maps dotted field paths (routes[2].upstream) to the line that
// defines them. The TOML decoder does not expose positions for keys inside
// arrays of tables, so this is a small line scanner that understands the
// shapes config files actually use: [table], [[array]], key = value, and
// multi-line strings and arrays (whose inner lines it skips). Anything it
// cannot place falls back to the nearest enclosing path it could.
type locator struct {
	lines  map[string]int
	byLine map[int]string
}

func newLocator(src string) *locator {
	l := &locator{lines: map[string]int{}, byLine: map[int]string{}}
	counts := map[string]int{} // array-of-tables header -> elements seen
	current := ""
	var closer string // non-empty while inside a multi-line string
	depth := 0        // bracket depth while inside a multi-line array or inline table

	for n, raw := range strings.Split(src, "\n") {
		lineNo := n + 1
		line := strings.TrimSpace(raw)
		if closer != "" {
			if strings.Contains(line, closer) {
				closer = ""
			}
			continue
		}
		if depth > 0 {
			depth += bracketDelta(line)
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		if strings.HasPrefix(line, "[[") {
			name := strings.TrimSpace(strings.TrimSuffix(strings.SplitN(line[2:], "]]", 2)[0], "]]"))
			base := l.resolve(name, counts)
			key := stripIndexes(base)
			counts[key]++
			current = base + "[" + strconv.Itoa(counts[key]-1) + "]"
			l.record(current, lineNo)
			continue
		}
		if line[0] == '[' {
			name := strings.TrimSpace(strings.SplitN(line[1:], "]", 2)[0])
			current = l.resolve(name, counts)
			l.record(current, lineNo)
			continue
		}
		eq := strings.IndexByte(line, '=')
		if eq <= 0 {
			continue
		}
		key := unquoteKey(strings.TrimSpace(line[:eq]))
		path := key
		if current != "" {
			path = current + "." + key
		}
		l.record(path, lineNo)
		value := strings.TrimSpace(line[eq+1:])
		for _, q := range []string{`'''`, `"""`} {
			if strings.HasPrefix(value, q) && !strings.Contains(value[3:], q) {
				closer = q
			}
		}
		if closer == "" {
			depth = bracketDelta(value)
			if depth < 0 {
				depth = 0
			}
		}
	}
	return l
}

// resolve turns a header name like routes.direct_response into
// routes[3].direct_response, using the array elements seen so far.
func (l *locator) resolve(name string, counts map[string]int) string {
	parts := strings.Split(name, ".")
	var out, plain string
	for i, p := range parts {
		p = unquoteKey(strings.TrimSpace(p))
		if i > 0 {
			out += "."
			plain += "."
		}
		out += p
		plain += p
		if c, ok := counts[plain]; ok && i < len(parts)-1 {
			out += "[" + strconv.Itoa(c-1) + "]"
		}
	}
	return out
}

func (l *locator) record(path string, line int) {
	if _, seen := l.lines[path]; !seen {
		l.lines[path] = line
	}
	if _, seen := l.byLine[line]; !seen {
		l.byLine[line] = path
	}
}

// line returns the line of path or of its nearest enclosing path, 0 if none.
func (l *locator) line(path string) int {
	if l == nil {
		return 0
	}
	for path != "" {
		if n, ok := l.lines[path]; ok {
			return n
		}
		cut := strings.LastIndexAny(path, ".[")
		if cut < 0 {
			return 0
		}
		path = path[:cut]
	}
	return 0
}

func stripIndexes(p string) string {
	var b strings.Builder
	skip := false
	for _, r := range p {
		switch {
		case r == '[':
			skip = true
		case r == ']':
			skip = false
		case !skip:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func unquoteKey(k string) string {
	if len(k) >= 2 && (k[0] == '"' || k[0] == '\'') && k[len(k)-1] == k[0] {
		return k[1 : len(k)-1]
	}
	return k
}

// bracketDelta counts unclosed [ and { outside of strings and comments.
func bracketDelta(s string) int {
	d := 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#':
			return d
		case c == '[' || c == '{':
			d++
		case c == ']' || c == '}':
			d--
		}
	}
	return d
}
