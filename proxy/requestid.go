package proxy

import (
	"crypto/rand"
	"encoding/binary"
	"sync/atomic"
)

// idGen makes request ids: 32 hex digits, a random per-process half and a
// counter half. Unique across restarts and gateways without coordination,
// and cheaper than reading random bytes per request.
type idGen struct {
	prefix [16]byte
	n      atomic.Uint64
}

func newIDGen() *idGen {
	var seed [16]byte
	_, _ = rand.Read(seed[:])
	g := &idGen{}
	const hex = "0123456789abcdef"
	for i := 0; i < 8; i++ {
		g.prefix[2*i], g.prefix[2*i+1] = hex[seed[i]>>4], hex[seed[i]&15]
	}
	g.n.Store(binary.LittleEndian.Uint64(seed[8:]))
	return g
}

func (g *idGen) append(b []byte) []byte {
	const hex = "0123456789abcdef"
	n := g.n.Add(1)
	b = append(b, g.prefix[:]...)
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, hex[(n>>uint(shift))&15])
	}
	return b
}
