package upstream

// hash64 is the hash consistent_hash places keys and targets with.
//
// It must give the same value in every process: gateway replicas behind
// one load balancer, or one gateway before and after a restart, have to
// send a key to the same target. hash/maphash cannot promise that (a Seed
// can only be made at random), so this is 64-bit FNV-1a, which is
// allocation-free over strings and byte slices alike. FNV-1a alone lets
// keys that differ only in their last byte (neighbouring client IPs,
// numbered paths) land close together, so the result goes through a
// finalizer that spreads every input bit over every output bit.
func hash64[T string | []byte](s T) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= prime
	}
	return mix64(h)
}

// mix64 is the 64-bit finalizer of MurmurHash3: a bijection whose output
// bits each depend on all input bits.
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
