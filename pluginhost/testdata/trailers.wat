;; Reads the request trailer x-checksum and forwards its value as the
;; request header x-got-checksum; adds a request trailer x-seen.
(module
  (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 16) "x-checksum")        ;; 10
  (data (i32.const 32) "x-got-checksum")    ;; 14
  (data (i32.const 48) "x-seen")            ;; 6
  (data (i32.const 56) "yes")               ;; 3
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
    (local $p i32)
    (if (i32.gt_u (i32.add (global.get $heap) (local.get $n)) (i32.const 131072))
      (then (global.set $heap (i32.const 4096))))
    (local.set $p (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (global.get $heap) (local.get $n)) (i32.const 7)) (i32.const -8)))
    (local.get $p))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_trailers") (param i32 i32) (result i32)
    (if (i32.eqz (call $get (i32.const 1) (i32.const 16) (i32.const 10) (i32.const 1000) (i32.const 1004)))
      (then (drop (call $add (i32.const 0) (i32.const 32) (i32.const 14)
        (i32.load (i32.const 1000)) (i32.load (i32.const 1004))))))
    (drop (call $add (i32.const 1) (i32.const 48) (i32.const 6) (i32.const 56) (i32.const 3)))
    (i32.const 0))
)
