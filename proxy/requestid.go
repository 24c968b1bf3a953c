package proxy

import (
	"crypto/rand"
	"encoding/binary"
	"runtime"
	"sync/atomic"

	"github.com/wasmgate/wasmgate/internal/percpu"
)

// idGen makes request ids: 32 hex digits, a random per-process half and a
// counter half. Unique across restarts and gateways without coordination,
// and cheaper than reading random bytes per request.
//
// The counter is one per processor, its index in the top byte, so that
// requests on different cores do not contend for one cache line.
type idGen struct {
	prefix [16]byte
	seqs   []idSeq
}

type idSeq struct {
	n atomic.Uint64
	_ [120]byte
}

func newIDGen() *idGen {
	var seed [16]byte
	_, _ = rand.Read(seed[:])
	g := &idGen{seqs: make([]idSeq, min(runtime.GOMAXPROCS(0), 256))}
	const hex = "0123456789abcdef"
	for i := 0; i < 8; i++ {
		g.prefix[2*i], g.prefix[2*i+1] = hex[seed[i]>>4], hex[seed[i]&15]
	}
	start := binary.LittleEndian.Uint64(seed[8:]) &^ (0xff << 56)
	for i := range g.seqs {
		g.seqs[i].n.Store(uint64(i)<<56 | start)
	}
	return g
}

func (g *idGen) append(b []byte) []byte {
	const hex = "0123456789abcdef"
	s := &g.seqs[percpu.ID()%len(g.seqs)]
	// The low 56 bits wrap into the next sequence's range only after
	// 2^56 requests on one processor.
	n := s.n.Add(1)
	b = append(b, g.prefix[:]...)
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, hex[(n>>uint(shift))&15])
	}
	return b
}
