package jsonedit

import (
	"encoding/json"
	"slices"
	"unicode/utf8"

	"github.com/wasmgate/wasmgate/plugins/internal/jsonstr"
)

// object is one level of a document, parsed only as far as needed: member
// values stay raw JSON text until an edit has to look inside them.
type object struct {
	members []member
}

type member struct {
	nameRaw []byte // the name as written, quotes included
	// decoded is the name when it is written with escapes (or invalid
	// UTF-8), so that "pass\u0077ord" matches the path "password". Other
	// names are compared as written, which saves a string per member.
	decoded string
	escaped bool
	raw     []byte  // the value as written (compact), when obj is nil
	obj     *object // the value, once parsed or created
}

func newMember(nameRaw []byte) member {
	inner := nameRaw[1 : len(nameRaw)-1]
	if !slices.Contains(inner, '\\') && utf8.Valid(inner) {
		return member{nameRaw: nameRaw}
	}
	var s string
	if json.Unmarshal(nameRaw, &s) != nil {
		s = string(inner) // cannot happen: nameRaw comes from valid JSON
	}
	return member{nameRaw: nameRaw, decoded: s, escaped: true}
}

// is reports whether the member is called name.
func (m *member) is(name string) bool {
	if m.escaped {
		return m.decoded == name
	}
	return string(m.nameRaw[1:len(m.nameRaw)-1]) == name
}

// name returns the decoded name.
func (m *member) name() string {
	if m.escaped {
		return m.decoded
	}
	return string(m.nameRaw[1 : len(m.nameRaw)-1])
}

// parseObject splits src, a compact and valid JSON object, into members.
// Valid and compact input lets the scanner skip values by counting
// brackets instead of checking the grammar again.
func parseObject(src []byte) *object {
	o := &object{}
	i := 1 // past '{'
	if src[i] == '}' {
		return o
	}
	o.members = make([]member, 0, 8)
	for {
		end := skipString(src, i)
		m := newMember(src[i:end])
		i = end + 1 // past ':'
		end = skipValue(src, i)
		m.raw = src[i:end]
		o.members = append(o.members, m)
		i = end
		if src[i] == '}' {
			break
		}
		i++ // past ','
	}
	o.foldDuplicates()
	return o
}

// skipString returns the index just past the string starting at src[i].
func skipString(src []byte, i int) int {
	for i++; ; i++ {
		switch src[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
}

// skipValue returns the index just past the value starting at src[i].
func skipValue(src []byte, i int) int {
	switch src[i] {
	case '"':
		return skipString(src, i)
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch src[i] {
			case '"':
				i = skipString(src, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	for i < len(src) && src[i] != ',' && src[i] != '}' && src[i] != ']' {
		i++
	}
	return i
}

// foldDuplicates keeps one member per name: the last value, at the first
// position.
func (o *object) foldDuplicates() {
	const small = 16 // below this, a quadratic scan beats building a map
	if len(o.members) < 2 {
		return
	}
	var first map[string]int
	if len(o.members) > small {
		first = make(map[string]int, len(o.members))
	}
	out := o.members[:0]
	for _, m := range o.members {
		k := -1
		if first != nil {
			name := m.name()
			if j, ok := first[name]; ok {
				k = j
			} else {
				first[name] = len(out)
			}
		} else {
			k = indexOf(out, m.name())
		}
		if k >= 0 {
			out[k].raw, out[k].obj = m.raw, m.obj
			continue
		}
		out = append(out, m)
	}
	clear(o.members[len(out):])
	o.members = out
}

func indexOf(ms []member, name string) int {
	for i := range ms {
		if ms[i].is(name) {
			return i
		}
	}
	return -1
}

func (o *object) index(name string) int { return indexOf(o.members, name) }

// put sets a member to a value, in place when it exists and at the end
// otherwise.
func (o *object) put(seg segment, raw []byte, obj *object) {
	if k := o.index(seg.name); k >= 0 {
		o.members[k].raw, o.members[k].obj = raw, obj
		return
	}
	o.members = append(o.members, member{nameRaw: seg.quoted, raw: raw, obj: obj})
}

// child returns the object in member name, parsing it on first use. It
// reports false when there is no such member or its value is not an
// object.
func (o *object) child(name string) (*object, bool) {
	k := o.index(name)
	if k < 0 {
		return nil, false
	}
	m := &o.members[k]
	if m.obj == nil {
		if m.raw[0] != '{' {
			return nil, false
		}
		m.obj, m.raw = parseObject(m.raw), nil
	}
	return m.obj, true
}

// appendTo writes o as compact JSON.
func (o *object) appendTo(b []byte) []byte {
	b = append(b, '{')
	for i, m := range o.members {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, m.nameRaw...)
		b = append(b, ':')
		if m.obj != nil {
			b = m.obj.appendTo(b)
		} else {
			b = append(b, m.raw...)
		}
	}
	return append(b, '}')
}

// quote encodes a member name that comes from a path.
func quote(s string) []byte { return jsonstr.Append(make([]byte, 0, len(s)+2), s) }
