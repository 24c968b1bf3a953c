;; Pauses, with nothing that could resume it, every request that carries
;; x-stall; answers any other request itself with status 200 + the number
;; of request contexts the host has created and not yet deleted (its own
;; included). A host that forgets a stalled context leaves it counted.
(module
  (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_send_local_response" (func $respond (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 4096))
  (global $live (mut i32) (i32.const 0))
  (data (i32.const 16) "x-stall")           ;; 7 bytes
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
    (local $p i32)
    (if (i32.gt_u (i32.add (global.get $heap) (local.get $n)) (i32.const 131072))
      (then (global.set $heap (i32.const 4096))))
    (local.set $p (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (global.get $heap) (local.get $n)) (i32.const 7)) (i32.const -8)))
    (local.get $p))
  ;; A request context has the root as its parent; the root has none.
  (func (export "proxy_on_context_create") (param $id i32) (param $parent i32)
    (if (local.get $parent)
      (then (global.set $live (i32.add (global.get $live) (i32.const 1))))))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (if (i32.eqz (call $get (i32.const 0) (i32.const 16) (i32.const 7) (i32.const 1000) (i32.const 1004)))
      (then (return (i32.const 1))))
    (drop (call $respond (i32.add (i32.const 200) (global.get $live)) (i32.const 0) (i32.const 0)
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const -1)))
    (i32.const 1))
  (func (export "proxy_on_delete") (param i32)
    (if (global.get $live)
      (then (global.set $live (i32.sub (global.get $live) (i32.const 1))))))
)
