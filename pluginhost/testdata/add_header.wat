;; Adds a request header carrying the plugin configuration, and a response
;; header, through proxy_add_header_map_value.
(module
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $buf (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 16) "x-plugin-config")   ;; 15 bytes
  (data (i32.const 48) "x-plugin")          ;; 8 bytes
  (data (i32.const 64) "hello")             ;; 5 bytes
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
    (local $p i32)
    (if (i32.gt_u (i32.add (global.get $heap) (local.get $n)) (i32.const 131072))
      (then (global.set $heap (i32.const 4096))))
    (local.set $p (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (global.get $heap) (local.get $n)) (i32.const 7)) (i32.const -8)))
    (local.get $p))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    ;; config bytes: pointer at 1000, size at 1004
    (drop (call $buf (i32.const 7) (i32.const 0) (i32.const 1024) (i32.const 1000) (i32.const 1004)))
    (drop (call $add (i32.const 0) (i32.const 16) (i32.const 15)
      (i32.load (i32.const 1000)) (i32.load (i32.const 1004))))
    (i32.const 0))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (drop (call $add (i32.const 2) (i32.const 48) (i32.const 8) (i32.const 64) (i32.const 5)))
    (i32.const 0))
)
