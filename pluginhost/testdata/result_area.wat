;; Lends the host a result area while it starts (the foreign function
;; wasmgate.result_area: 4096 bytes at 65536), then reads a request header
;; and reports where the host put the value (x-where: "area" or "alloc")
;; and how often the host called proxy_on_memory_allocate (x-allocs, one
;; digit).
(module
  (import "env" "proxy_call_foreign_function" (func $foreign (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 4096))
  (global $allocs (mut i32) (i32.const 0))
  (data (i32.const 16) "wasmgate.result_area")          ;; 20
  (data (i32.const 40) "\00\00\01\00\00\10\00\00")      ;; 65536, 4096
  (data (i32.const 64) "x-in")                          ;; 4
  (data (i32.const 72) "x-where")                       ;; 7
  (data (i32.const 80) "area")                          ;; 4
  (data (i32.const 88) "alloc")                         ;; 5
  (data (i32.const 96) "x-allocs")                      ;; 8
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
    (local $p i32)
    (global.set $allocs (i32.add (global.get $allocs) (i32.const 1)))
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (i32.const 256)))
    (if (i32.gt_u (global.get $heap) (i32.const 60000))
      (then (global.set $heap (i32.const 4096))))
    (local.get $p))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $foreign (i32.const 16) (i32.const 20) (i32.const 40) (i32.const 8) (i32.const 200) (i32.const 204)))
    (i32.const 1))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (local $p i32)
    (drop (call $get (i32.const 0) (i32.const 64) (i32.const 4) (i32.const 300) (i32.const 304)))
    (local.set $p (i32.load (i32.const 300)))
    (if (i32.and (i32.ge_u (local.get $p) (i32.const 65536)) (i32.lt_u (local.get $p) (i32.const 69632)))
      (then (drop (call $add (i32.const 0) (i32.const 72) (i32.const 7) (i32.const 80) (i32.const 4))))
      (else (drop (call $add (i32.const 0) (i32.const 72) (i32.const 7) (i32.const 88) (i32.const 5)))))
    (i32.store8 (i32.const 320) (i32.add (i32.const 48) (global.get $allocs)))
    (drop (call $add (i32.const 0) (i32.const 96) (i32.const 8) (i32.const 320) (i32.const 1)))
    (i32.const 0))
  (func (export "proxy_on_delete") (param i32))
)
