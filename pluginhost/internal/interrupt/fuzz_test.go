package interrupt

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
)

// FuzzInstrument: Instrument never panics; what it returns decodes again
// with its own decoder; and when wazero compiles the input, it compiles
// the output too (a wrongly decoded immediate would put a check inside
// an instruction, which wazero would refuse).
func FuzzInstrument(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.wasm")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(proposalsModule())
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Add(buildModule(sec(10, vec())))

	compiles := wazeroCompiles(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		keep := bytes.Clone(in)
		out, err := Instrument(in)
		if !bytes.Equal(in, keep) {
			t.Fatal("Instrument modified its input")
		}
		if err != nil {
			return
		}

		// The output, its two names changed so that they can be added
		// again, instruments again: every body still decodes.
		again := bytes.ReplaceAll(out, []byte(ExportName), []byte("wasmgate.interrupX"))
		again = bytes.ReplaceAll(again, []byte(StartExport), []byte("wasmgate.starX"))
		if _, err := Instrument(again); err != nil {
			t.Fatalf("the output does not decode: %v", err)
		}

		if !wazeroSafe(in) {
			return
		}
		if ok, _ := compiles(in); !ok {
			return
		}
		if ok, err := compiles(out); !ok {
			t.Fatalf("wazero compiles the input but not the output: %v", err)
		}
	})
}

// wazeroSafe tells whether wazero can be given bin without risk of an
// allocation too large for the machine: its decoder sizes slices by the
// counts the module declares. Small inputs with no LEB128 of more than
// two bytes (so no count above 16383) are safe.
func wazeroSafe(bin []byte) bool {
	if len(bin) > 4096 {
		return false
	}
	for i := 0; i+1 < len(bin); i++ {
		if bin[i]&0x80 != 0 && bin[i+1]&0x80 != 0 {
			return false
		}
	}
	return true
}

// wazeroCompiles returns a function telling whether wazero compiles a
// module, with the features the fixtures use.
func wazeroCompiles(f *testing.F) func(bin []byte) (bool, error) {
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCoreFeatures(allFeatures))
	f.Cleanup(func() { _ = r.Close(ctx) })
	return func(bin []byte) (ok bool, err error) {
		defer func() {
			if p := recover(); p != nil {
				ok, err = false, fmt.Errorf("wazero panicked: %v", p)
			}
		}()
		c, err := r.CompileModule(ctx, bin)
		if err != nil {
			return false, err
		}
		_ = c.Close(ctx)
		return true, nil
	}
}

// codeTypes are the signatures FuzzInstrumentCode's function can have.
var codeTypes = [][2][]byte{
	{nil, nil},
	{{0x7f}, {0x7f}},
	{{0x7f}, {0x7e}},
	{{0x7c}, {0x7e}},
	{{0x7f, 0x7e}, {0x7e}},
	{nil, {0x7f}},
	{{0x7f}, nil},
}

// codeModule is a module with one of everything an instruction can refer
// to (an imported function and global, two tables, a memory, a tag, three
// globals, element and data segments) and the function body given, of
// type codeTypes[typ % len(codeTypes)].
func codeModule(typ byte, fnBody []byte) []byte {
	var types [][]byte
	for _, t := range codeTypes {
		types = append(types, fnType(t[0], t[1]))
	}
	t := []byte{typ % byte(len(codeTypes))}
	return buildModule(
		sec(1, vec(types...)),
		sec(2, vec(concat(name("env"), name("f"), []byte{0, 0}), concat(name("env"), name("g"), []byte{3, 0x7f, 1}))),
		sec(3, vec(t, []byte{1})), // the function under test (1), double (2)
		sec(4, vec([]byte{0x70, 0, 4}, []byte{0x6f, 0, 2})),
		sec(5, vec([]byte{0, 1})),
		sec(13, vec([]byte{0, 6})), // tag 0: (param i32)
		sec(6, vec([]byte{0x7f, 1, 0x41, 0, 0x0b}, []byte{0x7f, 1, 0x41, 0, 0x0b}, []byte{0x7e, 1, 0x42, 0, 0x0b})),
		sec(9, vec([]byte{3, 0, 1, 2}, []byte{1, 0, 2, 2, 1})), // declare 2; passive 2, 1
		sec(12, []byte{1}),
		sec(10, vec(concat(appendU32(nil, uint32(len(fnBody))), fnBody), body(nil, 0x20, 0, 0x41, 2, 0x6c, 0x0b))),
		sec(11, vec([]byte{1, 3, 'a', 'b', 'c'})),
	)
}

// FuzzInstrumentCode fuzzes one function body (locals and code) in a
// module wazero would otherwise accept, so that most inputs reach the
// instruction decoder: when wazero compiles the module, Instrument must
// accept it and wazero must compile the result.
func FuzzInstrumentCode(f *testing.F) {
	// Every body of the fixtures, with each signature.
	seeds, _ := filepath.Glob("testdata/*.wasm")
	for _, s := range seeds {
		bin, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		for _, b := range bodies(f, bin) {
			for typ := range codeTypes {
				f.Add(byte(typ), b)
			}
		}
	}
	for _, b := range bodies(f, proposalsModule()) {
		f.Add(byte(1), b)
	}
	compiles := wazeroCompiles(f)
	f.Fuzz(func(t *testing.T, typ byte, fnBody []byte) {
		in := codeModule(typ, fnBody)
		out, err := Instrument(in)
		if !wazeroSafe(in) {
			return
		}
		if ok, _ := compiles(in); !ok {
			return
		}
		if err != nil {
			// wazero reads a SIMD opcode as one byte where the spec
			// has a u32: Instrument refuses the encodings where the
			// two differ, and wazero may take them.
			if !strings.Contains(err.Error(), "unknown opcode 0xfd") {
				t.Fatalf("wazero compiles the module, Instrument refuses it: %v", err)
			}
			return
		}
		if ok, err := compiles(out); !ok {
			t.Fatalf("wazero compiles the input but not the output: %v", err)
		}
	})
}

// bodies returns the function bodies (locals and code) of a well-formed
// module.
func bodies(t testing.TB, bin []byte) [][]byte {
	var out [][]byte
	for _, s := range splitSections(t, bin) {
		if s.id != 10 {
			continue
		}
		r := &reader{b: s.raw, pos: 1, end: len(s.raw)}
		if _, err := r.u32("size"); err != nil {
			t.Fatal(err)
		}
		n, _ := r.u32("count")
		for i := uint32(0); i < n; i++ {
			size, _ := r.u32("size")
			out = append(out, s.raw[r.pos:r.pos+int(size)])
			r.pos += int(size)
		}
	}
	return out
}
