package interrupt

import "fmt"

// reader walks a region of the module. Positions are offsets in the whole
// module, so every error can say where in the file it is.
type reader struct {
	b   []byte // the whole module
	pos int
	end int // the region ends here (a section's or a body's end)
}

// errAt is a malformed or unsupported module, at a byte offset of the
// input and, in the code section, in a function (by its index in the
// module's function index space).
type errAt struct {
	off int
	msg string
	fn  int64 // -1 outside the code section
}

func (e *errAt) Error() string {
	if e.fn >= 0 {
		return fmt.Sprintf("wasm: function %d: offset %#x: %s", e.fn, e.off, e.msg)
	}
	return fmt.Sprintf("wasm: offset %#x: %s", e.off, e.msg)
}

func inFunction(err error, fn uint64) error {
	if e, ok := err.(*errAt); ok {
		e.fn = int64(fn)
	}
	return err
}

func (r *reader) errorf(off int, format string, args ...any) error {
	return &errAt{off: off, msg: fmt.Sprintf(format, args...), fn: -1}
}

func (r *reader) eof(what string) error {
	return r.errorf(r.pos, "unexpected end of %s", what)
}

func (r *reader) byte(what string) (byte, error) {
	if r.pos >= r.end {
		return 0, r.eof(what)
	}
	c := r.b[r.pos]
	r.pos++
	return c, nil
}

func (r *reader) skip(n int, what string) error {
	if n < 0 || n > r.end-r.pos {
		return r.eof(what)
	}
	r.pos += n
	return nil
}

// u32 reads an unsigned LEB128 of at most 5 bytes whose unused high bits
// are zero: what the spec, and wazero, accept.
func (r *reader) u32(what string) (uint32, error) {
	start := r.pos
	var v uint32
	for i := 0; i < 5; i++ {
		c, err := r.byte(what)
		if err != nil {
			return 0, err
		}
		v |= uint32(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			if i == 4 && c&0x70 != 0 {
				return 0, r.errorf(start, "%s: integer too large for u32", what)
			}
			return v, nil
		}
	}
	return 0, r.errorf(start, "%s: LEB128 longer than 5 bytes", what)
}

// signed reads a signed LEB128 holding an integer of the given bit width
// (32, 33 or 64), checking that the bits past the width only repeat the
// sign, as the spec requires.
func (r *reader) signed(bits int, what string) (int64, error) {
	start := r.pos
	maxBytes := (bits + 6) / 7
	var v int64
	shift := 0
	for i := 0; i < maxBytes; i++ {
		c, err := r.byte(what)
		if err != nil {
			return 0, err
		}
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 != 0 {
			continue
		}
		if i == maxBytes-1 {
			// The last byte holds the top (bits - 7*i) bits of the
			// value; the ones above them must all equal the sign bit.
			used := bits - 7*i
			mask := byte(0x7f) &^ (1<<(used-1) - 1)
			if s := c & mask; s != 0 && s != mask {
				return 0, r.errorf(start, "%s: integer too large for s%d", what, bits)
			}
		}
		if shift < 64 && c&0x40 != 0 {
			v |= -1 << shift
		}
		return v, nil
	}
	return 0, r.errorf(start, "%s: LEB128 longer than %d bytes", what, maxBytes)
}

// name reads a length-prefixed byte string (an import or export name).
func (r *reader) name(what string) ([]byte, error) {
	n, err := r.u32(what + " length")
	if err != nil {
		return nil, err
	}
	start := r.pos
	if err := r.skip(int(n), what); err != nil {
		return nil, err
	}
	return r.b[start:r.pos], nil
}

// appendU32 appends v as an unsigned LEB128 in the fewest bytes.
func appendU32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// appendS32 appends v as a signed LEB128 (an i32.const immediate).
func appendS32(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 && c&0x40 == 0 || v == -1 && c&0x40 != 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
