;; Authorizes each request with an HTTP callout to the upstream "auth":
;; POST /check with the request's x-token as the body. The request resumes
;; when auth answers 2xx and is answered 403 otherwise.
(module
  (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_http_call" (func $call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_send_local_response" (func $respond (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_continue_stream" (func $continue (param i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 16) "x-token")           ;; 7
  (data (i32.const 32) "auth")              ;; 4
  ;; two pairs: :path /check, :method POST (46 bytes)
  (data (i32.const 48) "\02\00\00\00\05\00\00\00\06\00\00\00\07\00\00\00\04\00\00\00:path\00/check\00:method\00POST\00")
  (data (i32.const 128) ":status")          ;; 7
  (data (i32.const 144) "denied by auth\n") ;; 15
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
    (if (i32.ne (call $get (i32.const 0) (i32.const 16) (i32.const 7) (i32.const 1000) (i32.const 1004)) (i32.const 0))
      (then (i32.store (i32.const 1000) (i32.const 0)) (i32.store (i32.const 1004) (i32.const 0))))
    (drop (call $call (i32.const 32) (i32.const 4) (i32.const 48) (i32.const 46)
      (i32.load (i32.const 1000)) (i32.load (i32.const 1004)) (i32.const 0) (i32.const 0)
      (i32.const 2000) (i32.const 1008)))
    (i32.const 1))
  (func (export "proxy_on_http_call_response") (param i32 i32 i32 i32 i32)
    (if (i32.eqz (call $get (i32.const 6) (i32.const 128) (i32.const 7) (i32.const 1016) (i32.const 1020)))
      (then
        (if (i32.eq (i32.load8_u (i32.load (i32.const 1016))) (i32.const 50)) ;; '2'
          (then (drop (call $continue (i32.const 0))) (return)))))
    (drop (call $respond (i32.const 403) (i32.const 0) (i32.const 0)
      (i32.const 144) (i32.const 15) (i32.const 0) (i32.const 0) (i32.const -1))))
)
