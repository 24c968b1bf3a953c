;; Answers 403 itself unless the request carries an x-tenant header.
(module
  (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_send_local_response" (func $respond (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 16) "x-tenant")          ;; 8 bytes
  (data (i32.const 32) "no tenant\n")       ;; 10 bytes
  ;; headers map with one pair: x-denied-by: deny
  (data (i32.const 64) "\01\00\00\00\0b\00\00\00\04\00\00\00x-denied-by\00deny\00")
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
    (if (i32.eq (call $get (i32.const 0) (i32.const 16) (i32.const 8) (i32.const 1000) (i32.const 1004)) (i32.const 1))
      (then
        (drop (call $respond (i32.const 403) (i32.const 0) (i32.const 0)
          (i32.const 32) (i32.const 10) (i32.const 64) (i32.const 29) (i32.const -1)))
        (return (i32.const 1))))
    (i32.const 0))
)
