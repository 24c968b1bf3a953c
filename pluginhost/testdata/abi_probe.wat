;; Calls host functions with bad pointers and lengths and reports each
;; status in a response header (x-status: a,b,c as decimal digits), so the
;; test can check the host answered InvalidMemoryAccess (6) or NotFound (1)
;; rather than crashing.
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_property" (func $prop (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_call_foreign_function" (func $foreign (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_http_call" (func $call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 16) "x-status")          ;; 8
  (data (i32.const 32) "nope")              ;; 4
  (data (i32.const 48) "plugin_name")       ;; 11
  (data (i32.const 64) "x-plugin-name")     ;; 13
  (func (export "proxy_abi_version_0_2_0"))
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (if (i32.gt_u (i32.add (global.get $heap) (local.get $n)) (i32.const 131072))
      (then (global.set $heap (i32.const 4096))))
    (local.set $p (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (global.get $heap) (local.get $n)) (i32.const 7)) (i32.const -8)))
    (local.get $p))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func $digit (param $st i32) (param $at i32)
    (i32.store8 (local.get $at) (i32.add (i32.const 48) (local.get $st))))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    ;; 1: proxy_log with a pointer past the end of memory
    (call $digit (call $log (i32.const 2) (i32.const 0x7ffffff0) (i32.const 64)) (i32.const 200))
    ;; 2: a header lookup whose key length runs off the end
    (call $digit (call $get (i32.const 0) (i32.const 131000) (i32.const 4096) (i32.const 1000) (i32.const 1004)) (i32.const 201))
    ;; 3: a missing header
    (call $digit (call $get (i32.const 0) (i32.const 32) (i32.const 4) (i32.const 1000) (i32.const 1004)) (i32.const 202))
    ;; 4: an unknown foreign function
    (call $digit (call $foreign (i32.const 32) (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 1000) (i32.const 1004)) (i32.const 203))
    ;; 5: a return pointer outside memory
    (call $digit (call $prop (i32.const 48) (i32.const 11) (i32.const 0x7ffffff0) (i32.const 1004)) (i32.const 204))
    ;; the plugin's own name through a good property call
    (drop (call $prop (i32.const 48) (i32.const 11) (i32.const 1008) (i32.const 1012)))
    (drop (call $add (i32.const 2) (i32.const 64) (i32.const 13) (i32.load (i32.const 1008)) (i32.load (i32.const 1012))))
    (drop (call $add (i32.const 2) (i32.const 16) (i32.const 8) (i32.const 200) (i32.const 5)))
    (i32.const 0))
)
