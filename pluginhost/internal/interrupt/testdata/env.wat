;; The "env" module loops.wasm imports its globals from, so that the
;; interrupt flag's index has imported globals before it.
(module
  (global (export "base") i32 (i32.const 1000))
  (global (export "counter") (mut i32) (i32.const 0)))
