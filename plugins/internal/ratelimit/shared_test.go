package ratelimit

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hostStore has the shared-data semantics of wasmgate's host (and
// Envoy's): a missing key is created whatever the cas; an existing one is
// replaced when cas is 0 or its version.
type hostStore struct {
	mu sync.Mutex
	m  map[string]*versioned
	// between runs after every Get, outside the lock: another VM's turn.
	between func(key string)
	gets    atomic.Int64
	sets    atomic.Int64
}

type versioned struct {
	data []byte
	cas  uint32
}

func newStore() *hostStore { return &hostStore{m: map[string]*versioned{}} }

func (s *hostStore) Get(key string) ([]byte, uint32, bool, error) {
	s.gets.Add(1)
	s.mu.Lock()
	v := s.m[key]
	var data []byte
	var cas uint32
	if v != nil {
		data, cas = append([]byte(nil), v.data...), v.cas
	}
	s.mu.Unlock()
	if s.between != nil {
		s.between(key)
	}
	return data, cas, v != nil, nil
}

func (s *hostStore) Set(key string, value []byte, cas uint32) (bool, error) {
	s.sets.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.m[key]
	switch {
	case v == nil:
		v = &versioned{}
		s.m[key] = v
	case cas != 0 && cas != v.cas:
		return false, nil
	}
	v.data = append(v.data[:0], value...)
	v.cas++
	return true, nil
}

// put writes as another VM would: unconditionally, bumping the version.
func (s *hostStore) put(key string, value []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.m[key]
	if v == nil {
		v = &versioned{}
		s.m[key] = v
	}
	v.data = append(v.data[:0], value...)
	v.cas++
}

// TestSharedConcurrentVMs: VMs deciding at once on one key, each with its
// own Shared, never lose an update: exactly limit requests pass, also
// when they all start on a missing key.
func TestSharedConcurrentVMs(t *testing.T) {
	for _, alg := range []Algorithm{TokenBucket, SlidingWindow} {
		st := newStore()
		l := mustNew(t, alg, 50, time.Hour, 0)
		var allowed, refused atomic.Int64
		var wg sync.WaitGroup
		gate := make(chan struct{})
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				vm := &Shared{Limiter: l, Store: st, Attempts: 1000}
				<-gate
				for range 40 {
					r, err := vm.Take("k", t0+sec)
					if err != nil {
						t.Error(err)
						return
					}
					if r.Allowed {
						allowed.Add(1)
					} else {
						refused.Add(1)
					}
				}
			}()
		}
		close(gate)
		wg.Wait()
		if allowed.Load() != 50 || refused.Load() != 8*40-50 {
			t.Errorf("algorithm %d: %d allowed, %d refused", alg, allowed.Load(), refused.Load())
		}
	}
}

// TestSharedCreateIfAbsent: the first write of a key may not replace a
// state another VM created between the read and the write.
func TestSharedCreateIfAbsent(t *testing.T) {
	st := newStore()
	l := mustNew(t, TokenBucket, 5, time.Minute, 0)
	other, _, _ := l.Take(nil, t0, nil) // another VM took a token first
	once := true
	st.between = func(key string) {
		if once {
			once = false
			st.put(key, other)
		}
	}
	vm := &Shared{Limiter: l, Store: st}
	r, err := vm.Take("k", t0)
	if err != nil || !r.Allowed || r.Remaining != 3 {
		t.Fatalf("%+v %v: want the other VM's token counted", r, err)
	}
	if st.sets.Load() != 2 || st.gets.Load() != 2 {
		t.Fatalf("%d reads, %d writes", st.gets.Load(), st.sets.Load())
	}
}

// TestSharedContention: a writer between every read and write exhausts
// the attempts; a refusal needs no write, so it is not contended.
func TestSharedContention(t *testing.T) {
	st := newStore()
	l := mustNew(t, TokenBucket, 5, time.Minute, 0)
	vm := &Shared{Limiter: l, Store: st}
	if _, err := vm.Take("k", t0); err != nil {
		t.Fatal(err)
	}
	st.between = func(key string) { st.put(key, st.m[key].data) }
	st.gets.Store(0)
	if _, err := vm.Take("k", t0); !errors.Is(err, ErrContention) {
		t.Fatalf("err %v", err)
	}
	if st.gets.Load() != DefaultAttempts {
		t.Fatalf("%d attempts", st.gets.Load())
	}
	// Another VM empties the bucket: refused at once.
	empty := encodeBucket(nil, t0+60*sec)
	st.between = nil
	st.put("k", empty)
	st.between = func(key string) { st.put(key, empty) }
	if r, err := vm.Take("k", t0); err != nil || r.Allowed {
		t.Fatalf("%+v %v", r, err)
	}
}

type failingStore struct{ hostStore }

var errHost = errors.New("host failure")

func (*failingStore) Get(string) ([]byte, uint32, bool, error) { return nil, 0, false, errHost }

func TestSharedStoreError(t *testing.T) {
	vm := &Shared{Limiter: mustNew(t, TokenBucket, 5, time.Minute, 0), Store: &failingStore{}}
	if _, err := vm.Take("k", t0); err != errHost {
		t.Fatalf("err %v", err)
	}
}
