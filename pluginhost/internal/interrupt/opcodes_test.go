package interrupt

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/tetratelabs/wazero"
)

// opcode is one instruction encoding: its opcode bytes and zero-valued
// immediates, as Instrument decodes them.
type opcode struct {
	name string
	code []byte
	// loopAt, if not 0, is where in code a loop's block type ends: a
	// check goes there.
	loopAt int
}

// zeroImmediates builds an instruction of the given opcode bytes and kind
// of immediate, each index 0 (or what codeModule has at 0).
func zeroImmediates(op []byte, k imm) []byte {
	memArg := []byte{0, 0}
	b := bytes.Clone(op)
	switch k {
	case immNone:
	case immIndex:
		if op[0] == 0xd2 { // ref.func: function 2 is the one declared
			return append(b, 2)
		}
		b = append(b, 0)
	case immIndex2:
		b = append(b, 0, 0)
	case immBrTable:
		b = append(b, 1, 0, 0)
	case immSelectT:
		b = append(b, 1, 0x7f)
	case immMemArg:
		b = append(b, memArg...)
	case immI32, immI64:
		b = append(b, 0x7f) // -1
	case immF32:
		b = append(b, 0, 0, 0x80, 0x3f)
	case immF64:
		b = append(b, make([]byte, 8)...)
	case immHeapType:
		b = append(b, 0x70)
	}
	return b
}

// atomicAlign is the natural alignment of an atomic instruction, which
// wazero requires of some.
func atomicAlign(op int) byte {
	switch {
	case op <= 1: // notify, wait32
		return 2
	case op == 2: // wait64
		return 3
	}
	// Loads, stores and each read-modify-write come in groups of seven:
	// i32, i64, i32 8-bit, i32 16-bit, i64 8-bit, i64 16-bit, i64 32-bit.
	return [7]byte{2, 3, 0, 1, 0, 1, 2}[(op-0x10)%7]
}

// knownOpcodes lists every instruction Instrument decodes but the block
// instructions, with zero-valued immediates.
func knownOpcodes() []opcode {
	var ops []opcode
	for op := 0; op < 256; op++ {
		k := opImm[op]
		switch k {
		case immUnknown, immLegacyEH, immBlock, immLoop, immTryTable, immEnd:
			continue
		case immMisc:
			for sub := 0; sub <= 17; sub++ {
				b := []byte{0xfc, byte(sub)}
				switch sub {
				case 9, 11, 13, 15, 16, 17:
					b = append(b, 0)
				case 8, 10, 12, 14:
					b = append(b, 0, 0)
				}
				ops = append(ops, opcode{name: fmt.Sprintf("0xfc %d", sub), code: b})
			}
			continue
		case immSIMD:
			for sub := 0; sub < 256; sub++ {
				b := []byte{0xfd, byte(sub)}
				if sub >= 0x80 {
					b = append(b, 0x01)
				}
				switch simdImm[sub] {
				case simdUnknown:
					continue
				case simdMemArg:
					b = append(b, 0, 0)
				case simdMemLane:
					b = append(b, 0, 0, 1)
				case simdLane:
					b = append(b, 1)
				case simdBytes16:
					b = append(b, make([]byte, 16)...)
				}
				ops = append(ops, opcode{name: fmt.Sprintf("0xfd 0x%02x", sub), code: b})
			}
			continue
		case immAtomic:
			for sub := 0; sub < 0x80; sub++ {
				b := []byte{0xfe, byte(sub)}
				switch {
				case sub == 3:
					b = append(b, 0)
				case sub <= 2 || (sub >= 0x10 && sub <= 0x4e):
					b = append(b, atomicAlign(sub), 0)
				default:
					continue
				}
				ops = append(ops, opcode{name: fmt.Sprintf("0xfe 0x%02x", sub), code: b})
			}
			continue
		}
		if op == 0x05 || op == 0xd6 { // else needs an if; br_on_non_null a label taking a reference
			continue
		}
		ops = append(ops, opcode{name: fmt.Sprintf("0x%02x", op), code: zeroImmediates([]byte{byte(op)}, k)})
	}
	return ops
}

// TestOpcodesAgreeWithWazero checks Instrument's opcode tables against
// wazero's decoder: every instruction Instrument decodes, with the
// immediates Instrument reads, is one wazero accepts, before and after
// instrumentation, and the loop after it gets its check (so the
// instruction ended where Instrument thought). And every opcode Instrument
// refuses, wazero refuses too.
func TestOpcodesAgreeWithWazero(t *testing.T) {
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCoreFeatures(allFeatures))
	defer r.Close(ctx)
	compile := func(bin []byte) error {
		c, err := r.CompileModule(ctx, bin)
		if err == nil {
			_ = c.Close(ctx)
		}
		return err
	}
	check := wantCheck(4, 5)     // codeModule has 4 globals and a memory
	locals := []byte{1, 1, 0x7f} // one i32

	// In unreachable code the operand stack takes any type, so one
	// instruction alone validates; drop takes what it left, if anything.
	ops := knownOpcodes()
	ops = append(ops, []opcode{
		{name: "block", code: []byte{0x02, 0x40, 0x0b}},
		{name: "if/else", code: []byte{0x04, 0x40, 0x05, 0x0b}},
		{name: "loop with a type index", code: []byte{0x03, 0x00, 0x0b}, loopAt: 2},
		// block $a (result i32) (block $b (try_table (catch 0 $a) (catch_all $b) (loop))) unreachable
		{name: "try_table", code: []byte{0x02, 0x7f, 0x02, 0x40, 0x1f, 0x40, 2, 0x00, 0, 1, 0x02, 0,
			0x03, 0x40, 0x0b, 0x0b, 0x0b, 0x00, 0x0b}, loopAt: 14},
		{name: "br_on_non_null", code: []byte{0x02, 0x70, 0x00, 0xd6, 0x00, 0x0b}},
		{name: "ref.null (type index)", code: []byte{0xd0, 0x00}},
		{name: "select (ref null 0)", code: []byte{0x1c, 1, 0x63, 0x00}},
		{name: "block (ref null func)", code: []byte{0x02, 0x63, 0x70, 0x00, 0x0b}},
		{name: "loop (ref func)", code: []byte{0x03, 0x64, 0x70, 0x00, 0x0b}, loopAt: 3},
		{name: "padded u32", code: []byte{0x20, 0x80, 0x80, 0x00}},
		{name: "padded 0xfc opcode", code: []byte{0xfc, 0x80, 0x00}},
		{name: "i32.const -2^31", code: []byte{0x41, 0x80, 0x80, 0x80, 0x80, 0x78}},
		{name: "i64.const -2^63", code: []byte{0x42, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f}},
		{name: "memarg with offset", code: []byte{0x28, 2, 0xff, 0xff, 0xff, 0xff, 0x0f}},
	}...)
	for _, op := range ops {
		code := concat([]byte{0x00}, op.code, []byte{0x1a, 0x03, 0x40, 0x0b, 0x0b})
		in := codeModule(0, concat(locals, code))
		if err := compile(in); err != nil {
			t.Errorf("%s (% x): wazero refuses it: %v", op.name, op.code, err)
			continue
		}
		out, err := Instrument(in)
		if err != nil {
			t.Errorf("%s (% x): %v", op.name, op.code, err)
			continue
		}
		inner := op.code
		if op.loopAt > 0 {
			inner = concat(op.code[:op.loopAt], check, op.code[op.loopAt:])
		}
		wantBody := concat(locals, check, []byte{0x00}, inner, []byte{0x1a, 0x03, 0x40}, check, []byte{0x0b, 0x0b})
		if !bytes.Contains(out, concat(appendU32(nil, uint32(len(wantBody))), wantBody)) {
			t.Errorf("%s (% x): the checks are not where they belong", op.name, op.code)
		}
		if err := compile(out); err != nil {
			t.Errorf("%s (% x): wazero refuses the instrumented module: %v", op.name, op.code, err)
		}
	}
	t.Logf("%d instructions checked", len(ops))

	// What Instrument refuses, wazero refuses.
	var unknown [][]byte
	for op := 0; op < 256; op++ {
		switch opImm[op] {
		case immUnknown, immLegacyEH:
			unknown = append(unknown, []byte{byte(op)})
		}
		if simdImm[op] == simdUnknown {
			b := []byte{0xfd, byte(op)}
			if op >= 0x80 {
				b = append(b, 1)
			}
			unknown = append(unknown, b)
		}
	}
	for sub := 18; sub < 40; sub++ {
		unknown = append(unknown, []byte{0xfc, byte(sub)})
	}
	for sub := 0; sub < 256; sub++ {
		if sub > 0x4e || (sub > 3 && sub < 0x10) {
			unknown = append(unknown, []byte{0xfe, byte(sub), 2, 0})
		}
	}
	for _, op := range unknown {
		in := codeModule(0, concat(locals, []byte{0x00}, op, []byte{0x0b}))
		if _, err := Instrument(in); err == nil {
			t.Errorf("% x: Instrument accepts it", op)
		}
		if err := compile(in); err == nil {
			t.Errorf("% x: Instrument refuses it, wazero compiles it", op)
		}
	}
	t.Logf("%d refused opcodes checked", len(unknown))
}
