;; wat2wasm-flags: --enable-tail-call
;; Tail calls: count recurses a million times in constant stack, forever
;; recurses for ever, and neither has a loop; only the check at function
;; entry can stop forever.
(module
  (type $count (func (param i32 i64) (result i64)))
  (table 1 funcref)
  (elem (i32.const 0) $count)
  (func $count (export "count") (type $count)
    (if (result i64) (i32.eqz (local.get 0))
      (then (local.get 1))
      (else
        (return_call_indirect (type $count)
          (i32.sub (local.get 0) (i32.const 1))
          (i64.add (local.get 1) (i64.extend_i32_u (local.get 0)))
          (i32.const 0)))))
  (func $forever (export "forever") (param i32) (result i32)
    (return_call $forever (i32.add (local.get 0) (i32.const 1)))))
