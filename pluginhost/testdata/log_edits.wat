;; Tries to change headers once its request is over, in proxy_on_log: it
;; replaces x-log in the response headers and adds x-log-req to the
;; request's with host calls, and leaves a batch setting x-log-area in
;; the edit area it lent the host when it started. The response is built
;; by then and goes out as the phases left it, so the host refuses all
;; three. The 64-byte area at 256 is the batch's length, then the batch.
(module
  (import "env" "proxy_call_foreign_function" (func $foreign (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_replace_header_map_value" (func $replace (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 16) "wasmgate.edit_area")                  ;; 18
  (data (i32.const 40) "\00\01\00\00\40\00\00\00")            ;; 256, 64
  (data (i32.const 48) "x-log")                               ;; 5
  (data (i32.const 56) "x-log-req")                           ;; 9
  (data (i32.const 72) "1")                                   ;; 1
  (data (i32.const 260) "srx-log-area\001")                    ;; 14
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
    (i32.eqz (call $foreign (i32.const 16) (i32.const 18) (i32.const 40) (i32.const 8) (i32.const 64) (i32.const 68))))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
  (func (export "proxy_on_log") (param i32)
    (drop (call $replace (i32.const 2) (i32.const 48) (i32.const 5) (i32.const 72) (i32.const 1)))
    (drop (call $add (i32.const 0) (i32.const 56) (i32.const 9) (i32.const 72) (i32.const 1)))
    (i32.store (i32.const 256) (i32.const 14)))
  (func (export "proxy_on_delete") (param i32))
)
