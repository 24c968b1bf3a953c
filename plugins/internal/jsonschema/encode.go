package jsonschema

import "github.com/wasmgate/wasmgate/plugins/internal/jsonstr"

// appendJSON renders v as compact JSON, for messages that quote schema
// values. HTML characters stay as they are, unlike with encoding/json:
// the text is read by people, not embedded in pages.
func appendJSON(b []byte, v value) []byte {
	switch v.kind {
	case kindNull:
		return append(b, "null"...)
	case kindBool:
		if v.boolean {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case kindNumber:
		return append(b, v.text...)
	case kindString:
		return jsonstr.Append(b, v.text)
	case kindArray:
		b = append(b, '[')
		for i, item := range v.items {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, item)
		}
		return append(b, ']')
	}
	b = append(b, '{')
	for i, m := range v.members {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonstr.Append(b, m.name)
		b = append(b, ':')
		b = appendJSON(b, m.value)
	}
	return append(b, '}')
}
