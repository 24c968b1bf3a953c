package proxywasm

import (
	"math/rand/v2"
	"testing"
)

// TestStreamTable checks the table against a map through random inserts,
// lookups and deletes, with ids growing as a host hands them out.
func TestStreamTable(t *testing.T) {
	var tab streamTable
	ref := map[uint32]int{}
	r := rand.New(rand.NewPCG(1, 2))
	next := uint32(1)
	var live []uint32
	for step := 0; step < 200000; step++ {
		switch {
		case len(live) == 0 || r.IntN(3) > 0 && len(live) < 500:
			id := next
			next += uint32(1 + r.IntN(3))
			tab.put(id, &stream{root: &root{free: make([]*stream, 0, step%7)}})
			ref[id] = step % 7
			live = append(live, id)
		default:
			k := r.IntN(len(live))
			id := live[k]
			live[k] = live[len(live)-1]
			live = live[:len(live)-1]
			tab.del(id)
			delete(ref, id)
		}
		if step%97 == 0 {
			for id, want := range ref {
				st, ok := tab.get(id)
				if !ok || cap(st.root.free) != want {
					t.Fatalf("step %d: id %d: %v %v", step, id, ok, st)
				}
			}
			if _, ok := tab.get(next + 5); ok {
				t.Fatal("found an id never put")
			}
			if tab.n != len(ref) {
				t.Fatalf("n %d, want %d", tab.n, len(ref))
			}
		}
	}
}
