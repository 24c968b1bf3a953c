;; A start function, which must not run at instantiation once instrumented
;; but when the host calls it as wasmgate.start. It has a memory, so its
;; checks visit Go (Yield).
(module
  (memory 1)
  (global $ran (mut i32) (i32.const 0))
  (func $init
    (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 10))))
    (global.set $ran (i32.add (global.get $ran) (local.get $i))))
  (func (export "ran") (result i32) (global.get $ran))
  (start $init))
