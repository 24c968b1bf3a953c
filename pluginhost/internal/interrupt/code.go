package interrupt

// The instruction decoder. It does not validate (wazero does that when it
// compiles the result); it only has to find where each instruction ends,
// exactly as wazero will, so that no loop escapes the check: an opcode or
// an encoding it is not sure of is an error, never a guess.

// imm is what follows an opcode in the code section.
type imm uint8

const (
	immUnknown  imm = iota // not an opcode wazero 1.12 accepts
	immNone                // nothing
	immBlock               // block type: block, if
	immLoop                // block type, and a check goes after it
	immTryTable            // block type and catch clauses
	immEnd                 // end: closes a block or the function
	immIndex               // one u32 (a function, local, global, label, table, tag or type index)
	immIndex2              // two u32s: call_indirect, return_call_indirect
	immBrTable             // vec(label) then the default label
	immSelectT             // select with a vec(valtype)
	immMemArg              // memarg
	immI32                 // s32
	immI64                 // s64
	immF32                 // 4 bytes
	immF64                 // 8 bytes
	immHeapType            // s33 heap type: ref.null
	immMisc                // 0xFC prefix
	immSIMD                // 0xFD prefix
	immAtomic              // 0xFE prefix
	immLegacyEH            // the legacy exception proposal, which wazero refuses
)

var opImm = func() (t [256]imm) {
	set := func(k imm, ops ...byte) {
		for _, op := range ops {
			t[op] = k
		}
	}
	span := func(k imm, lo, hi int) {
		for op := lo; op <= hi; op++ {
			t[op] = k
		}
	}
	// unreachable nop else throw_ref return drop select ref.is_null ref.as_non_null
	set(immNone, 0x00, 0x01, 0x05, 0x0a, 0x0f, 0x1a, 0x1b, 0xd1, 0xd4)
	set(immBlock, 0x02, 0x04)
	set(immLoop, 0x03)
	set(immTryTable, 0x1f)
	set(immEnd, 0x0b)
	// throw br br_if call return_call call_ref return_call_ref
	set(immIndex, 0x08, 0x0c, 0x0d, 0x10, 0x12, 0x14, 0x15)
	span(immIndex, 0x20, 0x26) // local.get ... global.set, table.get, table.set
	set(immIndex, 0x3f, 0x40)  // memory.size, memory.grow (memory index)
	set(immIndex, 0xd2)        // ref.func
	set(immIndex, 0xd5, 0xd6)  // br_on_null, br_on_non_null
	set(immIndex2, 0x11, 0x13)
	set(immBrTable, 0x0e)
	set(immSelectT, 0x1c)
	span(immMemArg, 0x28, 0x3e) // loads and stores
	set(immI32, 0x41)
	set(immI64, 0x42)
	set(immF32, 0x43)
	set(immF64, 0x44)
	span(immNone, 0x45, 0xc4) // numeric operators, sign extension included
	set(immHeapType, 0xd0)
	set(immMisc, 0xfc)
	set(immSIMD, 0xfd)
	set(immAtomic, 0xfe)
	set(immLegacyEH, 0x06, 0x07, 0x09, 0x18, 0x19) // try catch rethrow delegate catch_all
	return t
}()

// Immediates of the 0xFD (SIMD) opcodes.
const (
	simdUnknown imm = iota
	simdNone        // none
	simdMemArg      // memarg
	simdMemLane     // memarg, then a lane byte
	simdLane        // a lane byte
	simdBytes16     // 16 bytes: v128.const, i8x16.shuffle
)

var simdImm = func() (t [256]imm) {
	for op := range t {
		t[op] = simdNone
	}
	// Opcodes the SIMD proposal left unassigned (wazero refuses them too).
	for _, op := range []byte{0x9a, 0xa2, 0xa5, 0xa6, 0xaf, 0xb0, 0xb2, 0xb3, 0xb4, 0xbb,
		0xc2, 0xc5, 0xc6, 0xcf, 0xd0, 0xd2, 0xd3, 0xd4, 0xe2, 0xee} {
		t[op] = simdUnknown
	}
	for op := 0x00; op <= 0x0b; op++ { // v128.load* and v128.store
		t[op] = simdMemArg
	}
	t[0x0c], t[0x0d] = simdBytes16, simdBytes16
	for op := 0x15; op <= 0x22; op++ { // extract_lane, replace_lane
		t[op] = simdLane
	}
	for op := 0x54; op <= 0x5b; op++ { // v128.load*_lane, v128.store*_lane
		t[op] = simdMemLane
	}
	t[0x5c], t[0x5d] = simdMemArg, simdMemArg // v128.load32_zero, v128.load64_zero
	return t
}()

// checkCode is what goes at function entry and at the top of every loop,
// with g the flag and c the countdown (see the package documentation):
//
//	global.get c; i32.const 1; i32.sub; global.set c
//	global.get c; i32.eqz
//	if
//	  i32.const Yield; global.set c
//	  i32.const 0; memory.grow 0; drop
//	  global.get g; if; unreachable; end
//	end
//
// Without a memory it is only the flag test: global.get g; if;
// unreachable; end. A self-contained if/end pops only what it pushed, so
// it fits any stack state and moves no branch target.
func checkCode(g, c uint32, memory bool) []byte {
	flag := append(appendU32([]byte{0x23}, g), 0x04, 0x40, 0x00, 0x0b)
	if !memory {
		return flag
	}
	b := appendU32([]byte{0x23}, c)
	b = append(b, 0x41, 0x01, 0x6b, 0x24)
	b = appendU32(b, c)
	b = append(b, 0x23)
	b = appendU32(b, c)
	b = append(b, 0x45, 0x04, 0x40, 0x41)
	b = appendS32(b, Yield)
	b = append(b, 0x24)
	b = appendU32(b, c)
	b = append(b, 0x41, 0x00, 0x40, 0x00, 0x1a)
	b = append(b, flag...)
	return append(b, 0x0b)
}

// scanBody walks one function body, [r.pos, r.end), and returns where its
// instructions start (after the locals) and, appended to loops, the
// offsets just after each loop's block type.
func scanBody(r *reader, loops []int) (codeStart int, _ []int, err error) {
	n, err := r.u32("local declaration count")
	if err != nil {
		return 0, loops, err
	}
	for i := uint32(0); i < n; i++ {
		if _, err := r.u32("local count"); err != nil {
			return 0, loops, err
		}
		if err := r.valType("local type"); err != nil {
			return 0, loops, err
		}
	}
	codeStart = r.pos
	depth := 1 // the function's own block
	for {
		if r.pos >= r.end {
			return 0, loops, r.errorf(r.pos, "function body ends inside a block (%d end missing)", depth)
		}
		at := r.pos
		op := r.b[r.pos]
		r.pos++
		switch opImm[op] {
		case immNone:
		case immBlock:
			err = r.blockType()
			depth++
		case immLoop:
			err = r.blockType()
			depth++
			loops = append(loops, r.pos)
		case immTryTable:
			err = r.tryTable()
			depth++
		case immEnd:
			depth--
			if depth == 0 {
				if r.pos != r.end {
					return 0, loops, r.errorf(r.pos, "%d bytes after the function body's final end", r.end-r.pos)
				}
				return codeStart, loops, nil
			}
		case immIndex:
			_, err = r.u32("immediate")
		case immIndex2:
			if _, err = r.u32("immediate"); err == nil {
				_, err = r.u32("immediate")
			}
		case immBrTable:
			err = r.brTable()
		case immSelectT:
			err = r.selectTypes()
		case immMemArg:
			err = r.memArg()
		case immI32:
			_, err = r.signed(32, "i32.const")
		case immI64:
			_, err = r.signed(64, "i64.const")
		case immF32:
			err = r.skip(4, "f32.const")
		case immF64:
			err = r.skip(8, "f64.const")
		case immHeapType:
			_, err = r.signed(33, "heap type")
		case immMisc:
			err = r.misc(at)
		case immSIMD:
			err = r.simd(at)
		case immAtomic:
			err = r.atomic(at)
		case immLegacyEH:
			return 0, loops, r.errorf(at, "opcode 0x%02x of the legacy exception handling proposal is not supported (wazero refuses it too)", op)
		default:
			return 0, loops, r.errorf(at, "unknown opcode 0x%02x", op)
		}
		if err != nil {
			return 0, loops, err
		}
	}
}

// valType reads a value type: one byte, or a reference type prefix (0x63
// nullable, 0x64 non-nullable) followed by an s33 heap type.
func (r *reader) valType(what string) error {
	at := r.pos
	c, err := r.byte(what)
	if err != nil {
		return err
	}
	switch c {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f, 0x69: // i32 i64 f32 f64 v128 funcref externref exnref
		return nil
	case 0x63, 0x64:
		_, err = r.signed(33, "heap type")
		return err
	}
	return r.errorf(at, "unknown %s 0x%02x", what, c)
}

// blockType reads an s33: -64 (0x40) for no type, a negative value type,
// or a non-negative type index.
func (r *reader) blockType() error {
	at := r.pos
	v, err := r.signed(33, "block type")
	if err != nil {
		return err
	}
	switch {
	case v >= 0: // a type index
		return nil
	case v == -64: // 0x40: empty
		return nil
	case v >= -5: // i32 i64 f32 f64 v128
		return nil
	case v == -16 || v == -17 || v == -23: // funcref externref exnref
		return nil
	case v == -29 || v == -28: // 0x63, 0x64: (ref null ht), (ref ht)
		_, err = r.signed(33, "heap type")
		return err
	}
	return r.errorf(at, "unknown block type %d", v)
}

func (r *reader) brTable() error {
	n, err := r.u32("br_table label count")
	if err != nil {
		return err
	}
	// n+1 labels: the table and the default. Each is at least one byte, so
	// a huge n runs into the end of the body, not out of memory.
	for i := uint64(0); i <= uint64(n); i++ {
		if _, err := r.u32("br_table label"); err != nil {
			return err
		}
	}
	return nil
}

// selectTypes reads the types of a typed select. The spec has a vector;
// wazero takes exactly one type, its count in a single byte.
func (r *reader) selectTypes() error {
	at := r.pos
	n, err := r.byte("select type count")
	if err != nil {
		return err
	}
	if n != 1 {
		return r.errorf(at, "typed select with a type count byte of %d (only 1 is supported)", n)
	}
	return r.valType("select type")
}

// tryTable reads try_table's block type and catch clauses.
func (r *reader) tryTable() error {
	if err := r.blockType(); err != nil {
		return err
	}
	n, err := r.u32("try_table catch count")
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		at := r.pos
		kind, err := r.byte("catch kind")
		if err != nil {
			return err
		}
		switch kind {
		case 0x00, 0x01: // catch, catch_ref: tag, label
			if _, err := r.u32("catch tag"); err != nil {
				return err
			}
		case 0x02, 0x03: // catch_all, catch_all_ref: label
		default:
			return r.errorf(at, "unknown catch kind 0x%02x", kind)
		}
		if _, err := r.u32("catch label"); err != nil {
			return err
		}
	}
	return nil
}

// memArg reads a memarg: alignment, a memory index when bit 6 of the
// alignment is set (multi-memory), and a u32 offset (wazero has no
// memory64, whose offsets are u64).
func (r *reader) memArg() error {
	align, err := r.u32("memarg alignment")
	if err != nil {
		return err
	}
	if align&0x40 != 0 {
		if _, err := r.u32("memarg memory index"); err != nil {
			return err
		}
	}
	_, err = r.u32("memarg offset")
	return err
}

// misc reads a 0xFC instruction: saturating truncation and bulk memory and
// table operations. Its opcode is a u32, as wazero reads it.
func (r *reader) misc(at int) error {
	op, err := r.u32("0xfc opcode")
	if err != nil {
		return err
	}
	var indexes int
	switch op {
	case 0, 1, 2, 3, 4, 5, 6, 7: // i32/i64.trunc_sat_f32/f64_s/u
		indexes = 0
	case 9, 11, 13, 15, 16, 17: // data.drop; memory.fill; elem.drop; table.grow, .size, .fill
		indexes = 1
	case 8, 10, 12, 14: // memory.init; memory.copy; table.init; table.copy
		indexes = 2
	default:
		return r.errorf(at, "unknown opcode 0xfc %d", op)
	}
	for i := 0; i < indexes; i++ {
		if _, err := r.u32("immediate"); err != nil {
			return err
		}
	}
	return nil
}

// simd reads a 0xFD instruction. The spec encodes its opcode as a u32;
// wazero reads one byte, which agrees for every opcode below 0x80 and, for
// 0x80-0xFF, whose LEB128 is that byte then 0x01, leaves wazero to take the
// 0x01 for a nop. Any other encoding the two would read differently, so it
// is refused.
func (r *reader) simd(at int) error {
	op, err := r.byte("0xfd opcode")
	if err != nil {
		return err
	}
	if op >= 0x80 {
		next, err := r.byte("0xfd opcode")
		if err != nil {
			return err
		}
		if next != 0x01 {
			return r.errorf(at, "unknown opcode 0xfd 0x%02x 0x%02x (an opcode above 0xff or a padded encoding)", op, next)
		}
	}
	switch simdImm[op] {
	case simdNone:
		return nil
	case simdMemArg:
		return r.memArg()
	case simdMemLane:
		if err := r.memArg(); err != nil {
			return err
		}
		return r.skip(1, "lane index")
	case simdLane:
		return r.skip(1, "lane index")
	case simdBytes16:
		return r.skip(16, "16-byte immediate")
	}
	return r.errorf(at, "unknown opcode 0xfd 0x%02x", op)
}

// atomic reads a 0xFE instruction (threads). wazero reads its opcode as one
// byte; all of them are below 0x80, where that and a u32 agree.
func (r *reader) atomic(at int) error {
	op, err := r.byte("0xfe opcode")
	if err != nil {
		return err
	}
	switch {
	case op <= 0x02 || (op >= 0x10 && op <= 0x4e): // notify, wait32, wait64; loads, stores, read-modify-writes
		return r.memArg()
	case op == 0x03: // atomic.fence, then a zero byte
		zat := r.pos
		z, err := r.byte("atomic.fence immediate")
		if err != nil {
			return err
		}
		if z != 0 {
			return r.errorf(zat, "atomic.fence immediate is 0x%02x, not 0", z)
		}
		return nil
	}
	return r.errorf(at, "unknown opcode 0xfe 0x%02x", op)
}
