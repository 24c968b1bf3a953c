;; wat2wasm-flags: --enable-threads
;; Atomic instructions (the 0xfe prefix) inside and around a loop.
(module
  (memory (export "memory") 1 1 shared)
  (func (export "atomics") (param $n i32) (result i32)
    (local $i i32)
    (loop $add
      (drop (i32.atomic.rmw.add offset=8 (i32.const 0) (i32.const 2)))
      (drop (i64.atomic.rmw32.cmpxchg_u (i32.const 16) (i64.const 0) (i64.const 5)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $add (i32.lt_u (local.get $i) (local.get $n))))
    (atomic.fence)
    (drop (memory.atomic.notify (i32.const 0) (i32.const 1)))
    (i32.add (i32.atomic.load offset=8 (i32.const 0))
      (i32.wrap_i64 (i64.atomic.load (i32.const 16))))))
