;; Sets the property my.key and reads it back into the request header
;; x-prop; closes the stream when the request carries x-close.
(module
  (import "env" "proxy_set_property" (func $set (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_property" (func $get (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $hget (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_close_stream" (func $close (param i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 16) "my\00key")          ;; 6
  (data (i32.const 24) "value-1")           ;; 7
  (data (i32.const 32) "x-prop")            ;; 6
  (data (i32.const 40) "x-close")           ;; 7
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
    (local $p i32)
    (if (i32.gt_u (i32.add (global.get $heap) (local.get $n)) (i32.const 131072))
      (then (global.set $heap (i32.const 4096))))
    (local.set $p (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (global.get $heap) (local.get $n)) (i32.const 7)) (i32.const -8)))
    (local.get $p))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $set (i32.const 16) (i32.const 6) (i32.const 24) (i32.const 7)))
    (if (i32.eqz (call $get (i32.const 16) (i32.const 6) (i32.const 1000) (i32.const 1004)))
      (then (drop (call $add (i32.const 0) (i32.const 32) (i32.const 6)
        (i32.load (i32.const 1000)) (i32.load (i32.const 1004))))))
    (if (i32.eqz (call $hget (i32.const 0) (i32.const 40) (i32.const 7) (i32.const 1008) (i32.const 1012)))
      (then (drop (call $close (i32.const 0)))))
    (i32.const 0))
)
