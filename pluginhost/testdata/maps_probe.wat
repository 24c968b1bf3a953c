;; Exercises the rest of the host: header map replace, remove, size, pairs
;; (get and set), buffer status, time, status, effective context, done.
;; On request headers it replaces x-a, removes x-b, then reads all pairs
;; and sets them back (adding x-set); the response gets x-probe with one
;; status digit per call and x-pairs-bytes: "1" when the pairs it read
;; were as large as proxy_get_header_map_size said.
(module
  (import "env" "proxy_replace_header_map_value" (func $replace (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_remove_header_map_value" (func $remove (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_size" (func $size (param i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_pairs" (func $pairs (param i32 i32 i32) (result i32)))
  (import "env" "proxy_set_header_map_pairs" (func $setpairs (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_status" (func $bufstatus (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_current_time_nanoseconds" (func $now (param i32) (result i32)))
  (import "env" "proxy_get_status" (func $status (param i32 i32 i32) (result i32)))
  (import "env" "proxy_set_effective_context" (func $effective (param i32) (result i32)))
  (import "env" "proxy_done" (func $done (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 4096))
  (global $seen (mut i32) (i32.const 0))
  (data (i32.const 16) "x-a")               ;; 3
  (data (i32.const 24) "new-a")             ;; 5
  (data (i32.const 32) "x-b")               ;; 3
  (data (i32.const 40) "x-probe")           ;; 7
  (data (i32.const 48) "x-pairs-bytes")     ;; 13
  ;; one pair: x-set: 1 (4 + 8 + 6 + 2 = 20 bytes)
  (data (i32.const 64) "\01\00\00\00\05\00\00\00\01\00\00\00x-set\001\00")
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
    (local $p i32)
    (if (i32.gt_u (i32.add (global.get $heap) (local.get $n)) (i32.const 131072))
      (then (global.set $heap (i32.const 4096))))
    (local.set $p (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (global.get $heap) (local.get $n)) (i32.const 7)) (i32.const -8)))
    (local.get $p))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func $digit (param $st i32) (param $at i32)
    (i32.store8 (local.get $at) (i32.add (i32.const 48) (local.get $st))))
  (func (export "proxy_on_request_headers") (param $ctx i32) (param i32 i32) (result i32)
    (call $digit (call $effective (local.get $ctx)) (i32.const 300))
    (call $digit (call $replace (i32.const 0) (i32.const 16) (i32.const 3) (i32.const 24) (i32.const 5)) (i32.const 301))
    (call $digit (call $remove (i32.const 0) (i32.const 32) (i32.const 3)) (i32.const 302))
    (call $digit (call $size (i32.const 0) (i32.const 1100)) (i32.const 303))
    (call $digit (call $pairs (i32.const 0) (i32.const 1104) (i32.const 1108)) (i32.const 304))
    ;; the size said is the size got
    (global.set $seen (i32.eq (i32.load (i32.const 1100)) (i32.load (i32.const 1108))))
    ;; set the pairs back as they were, then replace them all with x-set: 1
    (call $digit (call $setpairs (i32.const 0) (i32.load (i32.const 1104)) (i32.load (i32.const 1108))) (i32.const 305))
    (call $digit (call $setpairs (i32.const 0) (i32.const 64) (i32.const 20)) (i32.const 306))
    (call $digit (call $bufstatus (i32.const 7) (i32.const 1112) (i32.const 1116)) (i32.const 307))
    (call $digit (call $now (i32.const 1120)) (i32.const 308))
    (call $digit (call $status (i32.const 1128) (i32.const 1132) (i32.const 1136)) (i32.const 309))
    (call $digit (call $done) (i32.const 310))
    (i32.const 0))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (call $digit (global.get $seen) (i32.const 320))
    (drop (call $add (i32.const 2) (i32.const 40) (i32.const 7) (i32.const 300) (i32.const 11)))
    (drop (call $add (i32.const 2) (i32.const 48) (i32.const 13) (i32.const 320) (i32.const 1)))
    (i32.const 0))
)
