;; Lends the host an edit area (wasmgate.edit_area) when it starts, and
;; leaves its header edits there instead of calling the host: for each
;; request, x-area: yes on the request and x-late: 1 for the response. A
;; request with an x-bad header gets a batch cut short, which the host
;; drops; one with x-skip gets no edits (the area is left as the host left
;; it). The 256-byte area at 256 is the batch's length, then the batch.
(module
  (import "env" "proxy_call_foreign_function" (func $foreign (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 16) "wasmgate.edit_area")                  ;; 18
  (data (i32.const 40) "\00\01\00\00\00\01\00\00")            ;; 256, 256
  (data (i32.const 48) "x-bad")                               ;; 5
  (data (i32.const 56) "x-skip")                              ;; 6
  (data (i32.const 260) "qrx-area\00yes\00srx-late\001")       ;; 23
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
    (i32.eqz (call $foreign (i32.const 16) (i32.const 18) (i32.const 40) (i32.const 8) (i32.const 64) (i32.const 68))))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (if (i32.eqz (call $get (i32.const 0) (i32.const 56) (i32.const 6) (i32.const 72) (i32.const 76)))
      (then (return (i32.const 0))))
    (if (i32.eqz (call $get (i32.const 0) (i32.const 48) (i32.const 5) (i32.const 72) (i32.const 76)))
      (then (i32.store (i32.const 256) (i32.const 5)))
      (else (i32.store (i32.const 256) (i32.const 23))))
    (i32.const 0))
)
