package proxywasm

// streamTable maps context ids to streams: an open-addressing hash table
// with linear probing and backward-shift deletion. A Go map costs
// microseconds per insert and delete inside a Wasm module when its keys
// keep growing (the host numbers contexts upwards), as its tombstones and
// rehashes allocate; this table never allocates once it has grown to the
// VM's peak of concurrent requests.
type streamTable struct {
	slots []tableSlot
	n     int
}

type tableSlot struct {
	id uint32 // 0: empty (the ABI never uses context id 0)
	st *stream
}

func (t *streamTable) home(id uint32) int {
	// Fibonacci hashing spreads consecutive ids over the table.
	return int((id * 2654435769) >> 7 & uint32(len(t.slots)-1))
}

func (t *streamTable) get(id uint32) (*stream, bool) {
	if t.n == 0 || id == 0 {
		return nil, false
	}
	mask := len(t.slots) - 1
	for i := t.home(id); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.id == id {
			return s.st, true
		}
		if s.id == 0 {
			return nil, false
		}
	}
}

func (t *streamTable) put(id uint32, st *stream) {
	if (t.n+1)*2 > len(t.slots) {
		t.grow()
	}
	mask := len(t.slots) - 1
	for i := t.home(id); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.id == id || s.id == 0 {
			if s.id == 0 {
				t.n++
			}
			s.id, s.st = id, st
			return
		}
	}
}

func (t *streamTable) del(id uint32) {
	if len(t.slots) == 0 || id == 0 {
		return
	}
	mask := len(t.slots) - 1
	i := t.home(id)
	for t.slots[i].id != id {
		if t.slots[i].id == 0 {
			return
		}
		i = (i + 1) & mask
	}
	// Shift back the entries after i that are not at home, so that no
	// lookup ever stops early at the gap.
	for j := (i + 1) & mask; t.slots[j].id != 0; j = (j + 1) & mask {
		h := t.home(t.slots[j].id)
		if (j > i && (h <= i || h > j)) || (j < i && h <= i && h > j) {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = tableSlot{}
	t.n--
}

func (t *streamTable) grow() {
	old := t.slots
	t.slots = make([]tableSlot, max(16, 2*len(old)))
	t.n = 0
	for _, s := range old {
		if s.id != 0 {
			t.put(s.id, s.st)
		}
	}
}

func (t *streamTable) reset() { clear(t.slots); t.n = 0 }
