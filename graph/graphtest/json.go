package graphtest

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// kv is one member of an ordered JSON object.
type kv struct {
	k string
	v any
}

// object is a JSON object whose members are written in order, so that
// responses are deterministic and look like Graph's ("@odata.context" first).
type object []kv

// MarshalJSON implements json.Marshaler.
func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	writeValue(&b, o)
	return b.Bytes(), nil
}

// mustJSON encodes the values this package builds (object, []object, strings,
// string slices, numbers, booleans, nil and json.RawMessage). Unlike
// encoding/json it does not escape '&', '<' and '>', as Graph does not
// (nextLinks keep their literal '&').
func mustJSON(v any) []byte {
	return mustJSONSized(v, 0)
}

// mustJSONSized is mustJSON with a hint of the encoded size, saving the
// buffer's regrowth for big pages.
func mustJSONSized(v any, hint int) []byte {
	var b bytes.Buffer
	if hint > 0 {
		b.Grow(hint)
	}
	writeValue(&b, v)
	return b.Bytes()
}

func writeValue(b *bytes.Buffer, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case string:
		writeString(b, v)
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case int:
		b.WriteString(strconv.Itoa(v))
	case json.RawMessage:
		if len(v) == 0 {
			b.WriteString("null")
		} else {
			b.Write(v)
		}
	case object:
		b.WriteByte('{')
		for i, m := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, m.k)
			b.WriteByte(':')
			writeValue(b, m.v)
		}
		b.WriteByte('}')
	case []object:
		b.WriteByte('[')
		for i, o := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			writeValue(b, o)
		}
		b.WriteByte(']')
	case []string:
		b.WriteByte('[')
		for i, s := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, s)
		}
		b.WriteByte(']')
	default:
		enc := json.NewEncoder(b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			b.WriteString("null")
			return
		}
		// Encode appends a newline.
		b.Truncate(b.Len() - 1)
	}
}

const hexDigits = "0123456789abcdef"

// writeString writes s as a JSON string; invalid UTF-8 becomes U+FFFD. Runs
// of characters that need no escaping are copied at once.
func writeString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b.WriteString(s[start:i])
			switch {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\t':
				b.WriteString(`\t`)
			default:
				b.WriteString(`\u00`)
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(s[start:i])
			b.WriteString(`\ufffd`)
			start = i + size
		case r == '\u2028' || r == '\u2029':
			b.WriteString(s[start:i])
			b.WriteString(`\u202`)
			b.WriteByte(hexDigits[r&0xf])
			start = i + size
		}
		i += size
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}

// strOrNull maps the empty string to JSON null, as Graph reports unset
// string properties.
func strOrNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// strs returns v, or an empty (non-null) JSON array for nil.
func strs(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}
