// Package interrupt makes a plugin's Wasm module stoppable mid-call
// without wazero's WithCloseOnContextDone, which starts a watcher goroutine
// on every call into the module and calls into Go at every loop iteration,
// costing microseconds a call.
//
// Instrument rewrites the module: it adds a mutable i32 global, exported as
// ExportName, and a check at the entry of every function and at the top of
// every loop iteration, which traps (unreachable) when the global is not 0
// (read at every check, or every Yield checks: see below). The host sets
// it when a callback overruns its deadline. The flag stays set after the
// trap: clear it before calling the instance again, if it is to be.
//
// A start function would run inside instantiation, before the host can arm
// a deadline: Instrument removes the start section and exports that
// function as StartExport, for the host to call itself.
//
// The checks are native code, which Go cannot preempt: a guest that loops
// without calling out would hold its goroutine's P, and a stop-the-world
// (each GC cycle has two) would wait for it while every other goroutine,
// the timer's included, stays stopped — the process would hang. So the
// checks also count down a second global, and every Yield checks (when it
// reaches 0) the guest runs `memory.grow 0`, which wazero serves in Go:
// a moment where the runtime can stop or move the goroutine. The flag is
// read there too, so an interrupt lands within Yield checks. A module
// without a memory gets only the flag test, at every check.
package interrupt

import (
	"fmt"
	"math"
)

const (
	// ExportName is the name under which the instrumented module exports
	// its interrupt flag, a mutable i32 global.
	ExportName = "wasmgate.interrupt"
	// StartExport is the name under which the instrumented module exports
	// its former start function.
	StartExport = "wasmgate.start"
	// Yield is how many checks run between two visits to Go (see the
	// package documentation): tens of microseconds of a tight loop, so a
	// GC pause waits no longer than that for a guest, and the visit, a
	// fraction of a microsecond, costs well under 1%.
	Yield = 1 << 14
)

// Section ids.
const (
	secCustom = 0
	secImport = 2
	secMemory = 5
	secGlobal = 6
	secExport = 7
	secStart  = 8
	secCode   = 10
)

var sectionNames = [...]string{"custom", "type", "import", "function", "table", "memory",
	"global", "export", "start", "element", "code", "data", "data count", "tag"}

// sectionRank is a section's place in the order the spec requires: the
// ids are in order but for data count (between element and code) and tag
// (between memory and global).
var sectionRank = [...]int{0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 12, 13, 11, 6}

type section struct {
	id    byte
	start int // offset of the id byte
	body  int // offset of the contents
	end   int
}

// module is what Instrument needs to know of the input.
type module struct {
	bin      []byte
	sections []section

	importedFuncs   uint32
	importedGlobals uint32
	definedGlobals  uint32
	hasMemory       bool
	exports         uint32
	hasStart        bool
	startFunc       uint32

	global, export, code *section
	// where the global and export sections' entries start, past their count
	globalEntries, exportEntries int
}

// Instrument returns a copy of the Wasm binary module bin with the checks
// added (see the package documentation). Sections it does not change are
// copied byte for byte. It fails, saying what and at which offset, on a
// malformed module and on any instruction it does not know: a module it
// cannot fully decode cannot be made interruptible.
func Instrument(bin []byte) ([]byte, error) {
	m := &module{bin: bin}
	if err := m.parse(); err != nil {
		return nil, err
	}
	g := uint64(m.importedGlobals) + uint64(m.definedGlobals)
	if g+1 >= math.MaxUint32 {
		return nil, fmt.Errorf("wasm: %d globals, no room for two more", g)
	}
	check := checkCode(uint32(g), uint32(g+1), m.hasMemory)

	out := make([]byte, 0, len(bin)+len(bin)/4+64)
	out = append(out, bin[:8]...)
	var buf []byte
	emit := func(id byte) error {
		var err error
		switch id {
		case secGlobal:
			buf = m.globalContents(buf[:0])
		case secExport:
			buf = m.exportContents(buf[:0], uint32(g))
		case secCode:
			buf, err = m.codeContents(buf[:0], check)
		}
		if err != nil {
			return err
		}
		if uint64(len(buf)) > math.MaxUint32 {
			return fmt.Errorf("wasm: instrumented %s section too large", sectionNames[id])
		}
		out = appendSection(out, id, buf)
		return nil
	}
	// A new global or export section goes before the first section that
	// must follow it, so custom sections stay next to the ones they
	// follow; with none, after the last that must precede it, so custom
	// sections at the end (the name section, which wazero decodes past
	// its end when it is malformed) stay at the end.
	var missing []byte
	if m.global == nil {
		missing = append(missing, secGlobal)
	}
	if m.export == nil {
		missing = append(missing, secExport)
	}
	for i := 0; i <= len(m.sections); i++ {
		for len(missing) > 0 && m.insertionPoint(missing[0]) == i {
			if err := emit(missing[0]); err != nil {
				return nil, err
			}
			missing = missing[1:]
		}
		if i == len(m.sections) {
			break
		}
		s := &m.sections[i]
		switch s.id {
		case secStart:
			// dropped: the function is exported instead
		case secGlobal, secExport, secCode:
			if err := emit(s.id); err != nil {
				return nil, err
			}
		default:
			out = append(out, bin[s.start:s.end]...)
		}
	}
	return out, nil
}

// insertionPoint is the index in m.sections before which a new section
// of the given id goes.
func (m *module) insertionPoint(id byte) int {
	last := -1 // the last section other than custom
	for i, s := range m.sections {
		if s.id == secCustom {
			continue
		}
		if sectionRank[s.id] > sectionRank[id] {
			return i
		}
		last = i
	}
	return last + 1
}

func appendSection(out []byte, id byte, contents []byte) []byte {
	out = append(out, id)
	out = appendU32(out, uint32(len(contents)))
	return append(out, contents...)
}

// parse splits the module into sections and reads the ones Instrument
// needs: imports (to count imported globals), globals, exports and start.
// The code section is decoded later, as it is rewritten.
func (m *module) parse() error {
	bin := m.bin
	if len(bin) < 8 || string(bin[:4]) != "\x00asm" {
		return fmt.Errorf("wasm: not a WebAssembly binary module (no \\0asm magic at offset 0)")
	}
	if v := bin[4:8]; string(v) != "\x01\x00\x00\x00" {
		return fmt.Errorf("wasm: offset 0x4: binary format version % x, want 01 00 00 00", v)
	}
	r := &reader{b: bin, pos: 8, end: len(bin)}
	lastRank := 0
	for r.pos < len(bin) {
		s := section{start: r.pos}
		s.id = bin[r.pos]
		r.pos++
		if int(s.id) >= len(sectionRank) {
			return r.errorf(s.start, "unknown section id %d", s.id)
		}
		size, err := r.u32(sectionNames[s.id] + " section size")
		if err != nil {
			return err
		}
		s.body = r.pos
		if uint64(size) > uint64(len(bin)-r.pos) {
			return r.errorf(s.start, "%s section of %d bytes runs past the end of the module (%d bytes left)",
				sectionNames[s.id], size, len(bin)-r.pos)
		}
		s.end = r.pos + int(size)
		r.pos = s.end
		if s.id != secCustom {
			rank := sectionRank[s.id]
			if rank <= lastRank {
				return r.errorf(s.start, "%s section out of order or repeated", sectionNames[s.id])
			}
			lastRank = rank
		}
		m.sections = append(m.sections, s)
	}
	for i := range m.sections {
		s := &m.sections[i]
		var err error
		switch s.id {
		case secCustom:
			err = checkCustom(bin, s)
		case secImport:
			err = m.parseImports(s)
		case secGlobal:
			m.global = s
			err = m.parseGlobals(s)
		case secExport:
			m.export = s
			err = m.parseExports(s)
		case secStart:
			err = m.parseStart(s)
		case secCode:
			m.code = s
		case secMemory:
			m.hasMemory = true
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkCustom checks that a custom section's name fits in it. Its contents
// are copied unread.
func checkCustom(bin []byte, s *section) error {
	r := &reader{b: bin, pos: s.body, end: s.end}
	_, err := r.name("custom section name")
	return err
}

func (m *module) parseImports(s *section) error {
	r := &reader{b: m.bin, pos: s.body, end: s.end}
	n, err := r.u32("import count")
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		if _, err := r.name("import module name"); err != nil {
			return err
		}
		if _, err := r.name("import name"); err != nil {
			return err
		}
		at := r.pos
		kind, err := r.byte("import kind")
		if err != nil {
			return err
		}
		switch kind {
		case 0x00: // function: type index
			_, err = r.u32("import type index")
			m.importedFuncs++
		case 0x01: // table: reference type, limits
			if err = r.refType("imported table type"); err == nil {
				err = r.limits()
			}
		case 0x02: // memory: limits
			err = r.limits()
			m.hasMemory = true
		case 0x03: // global: value type, mutability
			if err = r.valType("imported global type"); err == nil {
				mat := r.pos
				var mut byte
				if mut, err = r.byte("global mutability"); err == nil && mut > 1 {
					err = r.errorf(mat, "global mutability 0x%02x", mut)
				}
			}
			m.importedGlobals++
		case 0x04: // tag: attribute 0, type index
			tat := r.pos
			var attr byte
			if attr, err = r.byte("tag attribute"); err == nil {
				if attr != 0 {
					err = r.errorf(tat, "tag attribute 0x%02x, not 0", attr)
				} else {
					_, err = r.u32("tag type index")
				}
			}
		default:
			return r.errorf(at, "unknown import kind 0x%02x", kind)
		}
		if err != nil {
			return err
		}
	}
	return r.done("import")
}

// refType reads a table's element type: a value type, but not a number.
func (r *reader) refType(what string) error {
	if r.pos < r.end {
		switch c := r.b[r.pos]; c {
		case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b:
			return r.errorf(r.pos, "%s 0x%02x is not a reference type", what, c)
		}
	}
	return r.valType(what)
}

// limits reads a table's or memory's limits; flags 2 and 3 are shared
// memories (threads). The memory64 flags are refused, as wazero does.
func (r *reader) limits() error {
	at := r.pos
	flags, err := r.byte("limits")
	if err != nil {
		return err
	}
	if flags > 3 {
		return r.errorf(at, "unknown limits flags 0x%02x", flags)
	}
	if _, err := r.u32("limits minimum"); err != nil {
		return err
	}
	if flags&1 != 0 {
		_, err = r.u32("limits maximum")
	}
	return err
}

// done fails if a section has bytes past its last entry.
func (r *reader) done(what string) error {
	if r.pos != r.end {
		return r.errorf(r.pos, "%d bytes after the last entry of the %s section", r.end-r.pos, what)
	}
	return nil
}

// parseGlobals reads only the count: the new global is appended after the
// module's own, whose entries are copied unread.
func (m *module) parseGlobals(s *section) error {
	r := &reader{b: m.bin, pos: s.body, end: s.end}
	n, err := r.u32("global count")
	if err != nil {
		return err
	}
	m.definedGlobals, m.globalEntries = n, r.pos
	return nil
}

func (m *module) parseExports(s *section) error {
	r := &reader{b: m.bin, pos: s.body, end: s.end}
	n, err := r.u32("export count")
	if err != nil {
		return err
	}
	if n > math.MaxUint32-2 { // room for the two exports Instrument adds
		return r.errorf(s.body, "export count %d too large", n)
	}
	m.exports, m.exportEntries = n, r.pos
	for i := uint32(0); i < n; i++ {
		at := r.pos
		name, err := r.name("export name")
		if err != nil {
			return err
		}
		if s := string(name); s == ExportName || s == StartExport {
			return r.errorf(at, "the module already exports %q, a name Instrument adds", s)
		}
		if _, err := r.byte("export kind"); err != nil {
			return err
		}
		if _, err := r.u32("export index"); err != nil {
			return err
		}
	}
	return r.done("export")
}

func (m *module) parseStart(s *section) error {
	r := &reader{b: m.bin, pos: s.body, end: s.end}
	f, err := r.u32("start function index")
	if err != nil {
		return err
	}
	m.hasStart, m.startFunc = true, f
	return r.done("start")
}

// globalContents is the global section with the interrupt flag appended:
// (global (mut i32) (i32.const 0)).
func (m *module) globalContents(b []byte) []byte {
	b = appendU32(b, m.definedGlobals+2) // Instrument checked it leaves room
	if m.global != nil {
		b = append(b, m.bin[m.globalEntries:m.global.end]...)
	}
	b = append(b, 0x7f, 0x01, 0x41, 0x00, 0x0b) // the flag: (mut i32) (i32.const 0)
	b = append(b, 0x7f, 0x01, 0x41)             // the countdown: (mut i32) (i32.const Yield)
	b = appendS32(b, Yield)
	return append(b, 0x0b)
}

// exportContents is the export section with the flag, and the former start
// function, exported.
func (m *module) exportContents(b []byte, g uint32) []byte {
	n := uint64(m.exports) + 1
	if m.hasStart {
		n++
	}
	b = appendU32(b, uint32(n))
	if m.export != nil {
		b = append(b, m.bin[m.exportEntries:m.export.end]...)
	}
	b = appendExport(b, ExportName, 0x03, g)
	if m.hasStart {
		b = appendExport(b, StartExport, 0x00, m.startFunc)
	}
	return b
}

func appendExport(b []byte, name string, kind byte, index uint32) []byte {
	b = appendU32(b, uint32(len(name)))
	b = append(b, name...)
	b = append(b, kind)
	return appendU32(b, index)
}

// codeContents is the code section with the checks inserted in every body.
func (m *module) codeContents(b []byte, check []byte) ([]byte, error) {
	s := m.code
	r := &reader{b: m.bin, pos: s.body, end: s.end}
	n, err := r.u32("function body count")
	if err != nil {
		return nil, err
	}
	b = appendU32(b, n)
	var loops []int
	for i := uint32(0); i < n; i++ {
		fn := uint64(m.importedFuncs) + uint64(i)
		size, err := r.u32("function body size")
		if err != nil {
			return nil, inFunction(err, fn)
		}
		start := r.pos
		if uint64(size) > uint64(r.end-start) {
			return nil, inFunction(r.errorf(start, "body of %d bytes runs past the end of the code section", size), fn)
		}
		body := &reader{b: m.bin, pos: start, end: start + int(size)}
		var codeStart int
		codeStart, loops, err = scanBody(body, loops[:0])
		if err != nil {
			return nil, inFunction(err, fn)
		}
		newSize := uint64(size) + uint64(len(check))*uint64(1+len(loops))
		if newSize > math.MaxUint32 {
			return nil, fmt.Errorf("function %d: instrumented body too large", fn)
		}
		b = appendU32(b, uint32(newSize))
		b = append(b, m.bin[start:codeStart]...)
		b = append(b, check...)
		from := codeStart
		for _, at := range loops {
			b = append(b, m.bin[from:at]...)
			b = append(b, check...)
			from = at
		}
		b = append(b, m.bin[from:body.end]...)
		r.pos = body.end
	}
	if err := r.done("code"); err != nil {
		return nil, err
	}
	return b, nil
}
