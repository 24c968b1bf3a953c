;; Exercises metrics, shared data with CAS, a foreign function and a
;; property on request headers, and reports what the host answered:
;; x-host-status holds one status digit per call, x-foreign the foreign
;; function's answer, x-path the request.path property, x-counter the
;; counter's value after adding 2, then 3 in a batch (wasmgate.edits), x-sha256 wasmgate.sha256 of "ping" in
;; hex. It also sends header edits (wasmgate.edits): x-edit: 1 for
;; the response, and an edit of :status, which is refused; then a batch of
;; two edits in one call (x-b: one, two), a batch whose second edit is of
;; :status, refused whole (no x-c), and a batch of request edits (x-q: yes
;; set, x-drop removed).
(module
  (import "env" "proxy_define_metric" (func $define (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_increment_metric" (func $incr (param i32 i64) (result i32)))
  (import "env" "proxy_get_metric" (func $getm (param i32 i32) (result i32)))
  (import "env" "proxy_set_shared_data" (func $setsd (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_shared_data" (func $getsd (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_call_foreign_function" (func $foreign (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_property" (func $prop (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_log_level" (func $level (param i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 16) "hits")              ;; 4
  (data (i32.const 24) "k")                 ;; 1
  (data (i32.const 28) "v1")                ;; 2
  (data (i32.const 32) "wasmgate.echo")     ;; 13
  (data (i32.const 48) "ping")              ;; 4
  (data (i32.const 56) "request\00path")    ;; 12
  (data (i32.const 72) "x-host-status")     ;; 13
  (data (i32.const 88) "x-foreign")         ;; 9
  (data (i32.const 100) "x-path")           ;; 6
  (data (i32.const 108) "x-counter")        ;; 9
  (data (i32.const 120) "wasmgate.sha256")   ;; 15
  (data (i32.const 136) "x-sha256")          ;; 8
  (data (i32.const 144) "0123456789abcdef")
  (data (i32.const 160) "wasmgate.edits")          ;; 14
  (data (i32.const 184) "srx-edit\001")               ;; 10
  (data (i32.const 196) "sr:status\00500")            ;; 13
  (data (i32.const 212) "sax-b\00one\00sax-b\00two")     ;; 19
  (data (i32.const 232) "srx-c\00v\00sr:status\00500")   ;; 21
  (data (i32.const 256) "qrx-q\00yes\00qdx-drop\00")    ;; 19
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
    (local $p i32)
    (if (i32.gt_u (i32.add (global.get $heap) (local.get $n)) (i32.const 131072))
      (then (global.set $heap (i32.const 4096))))
    (local.set $p (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (global.get $heap) (local.get $n)) (i32.const 7)) (i32.const -8)))
    (local.get $p))
  (func (export "proxy_on_context_create") (param i32 i32))
  ;; dec writes n in decimal at dst and returns how many digits it wrote.
  (func $dec (param $n i32) (param $dst i32) (result i32)
    (local $len i32) (local $m i32) (local $i i32)
    (local.set $m (local.get $n))
    (loop $count
      (local.set $len (i32.add (local.get $len) (i32.const 1)))
      (local.set $m (i32.div_u (local.get $m) (i32.const 10)))
      (br_if $count (local.get $m)))
    (local.set $i (local.get $len))
    (loop $write
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (i32.store8 (i32.add (local.get $dst) (local.get $i))
        (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $write (local.get $i)))
    (local.get $len))
  (func $digit (param $st i32) (param $at i32)
    (i32.store8 (local.get $at) (i32.add (i32.const 48) (local.get $st))))
  ;; hex writes the n bytes at src as 2n hex digits at dst.
  (func $hex (param $src i32) (param $n i32) (param $dst i32)
    (local $i i32) (local $b i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $b (i32.load8_u (i32.add (local.get $src) (local.get $i))))
        (i32.store8 (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 1)))
          (i32.load8_u (i32.add (i32.const 144) (i32.shr_u (local.get $b) (i32.const 4)))))
        (i32.store8 (i32.add (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 1))) (i32.const 1))
          (i32.load8_u (i32.add (i32.const 144) (i32.and (local.get $b) (i32.const 15)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (local $n i32)
    ;; 1: define a counter (id at 1100)
    (call $digit (call $define (i32.const 0) (i32.const 16) (i32.const 4) (i32.const 1100)) (i32.const 300))
    ;; 2: add 2 to it
    (call $digit (call $incr (i32.load (i32.const 1100)) (i64.const 2)) (i32.const 301))
    ;; 15: add 3 in a batch: "ma", the id, NUL, "3" at 1400
    (i32.store16 (i32.const 1400) (i32.const 0x616d)) ;; "ma"
    (local.set $n (call $dec (i32.load (i32.const 1100)) (i32.const 1402)))
    (i32.store16 (i32.add (i32.const 1402) (local.get $n)) (i32.const 0x3300)) ;; NUL, "3"
    (call $digit (call $foreign (i32.const 160) (i32.const 14) (i32.const 1400)
      (i32.add (local.get $n) (i32.const 4)) (i32.const 1160) (i32.const 1164)) (i32.const 314))
    ;; 3: read it back (u64 at 1104), reported as a digit
    (call $digit (call $getm (i32.load (i32.const 1100)) (i32.const 1104)) (i32.const 302))
    (call $digit (i32.wrap_i64 (i64.load (i32.const 1104))) (i32.const 320))
    ;; 4: set shared data without a cas, then 5: read it (value 1120/1124, cas 1128)
    (call $digit (call $setsd (i32.const 24) (i32.const 1) (i32.const 28) (i32.const 2) (i32.const 0)) (i32.const 303))
    (call $digit (call $getsd (i32.const 24) (i32.const 1) (i32.const 1120) (i32.const 1124) (i32.const 1128)) (i32.const 304))
    ;; 6: a set with a stale cas must fail with CasMismatch (8)
    (call $digit (call $setsd (i32.const 24) (i32.const 1) (i32.const 28) (i32.const 2)
      (i32.add (i32.load (i32.const 1128)) (i32.const 5))) (i32.const 305))
    ;; 7: the foreign echo (result 1132/1136)
    (call $digit (call $foreign (i32.const 32) (i32.const 13) (i32.const 48) (i32.const 4) (i32.const 1132) (i32.const 1136)) (i32.const 306))
    ;; 8: request.path (result 1140/1144)
    (call $digit (call $prop (i32.const 56) (i32.const 12) (i32.const 1140) (i32.const 1144)) (i32.const 307))
    ;; 9: the log level
    (call $digit (call $level (i32.const 1148)) (i32.const 308))
    ;; 10: a response header edit, 11: one of a pseudo-header (BadArgument, 2)
    (call $digit (call $foreign (i32.const 160) (i32.const 14) (i32.const 184) (i32.const 10) (i32.const 1160) (i32.const 1164)) (i32.const 309))
    (call $digit (call $foreign (i32.const 160) (i32.const 14) (i32.const 196) (i32.const 13) (i32.const 1160) (i32.const 1164)) (i32.const 310))
    ;; 12: a batch of two edits, 13: a batch with a bad edit (BadArgument, 2)
    (call $digit (call $foreign (i32.const 160) (i32.const 14) (i32.const 212) (i32.const 19) (i32.const 1160) (i32.const 1164)) (i32.const 311))
    (call $digit (call $foreign (i32.const 160) (i32.const 14) (i32.const 232) (i32.const 21) (i32.const 1160) (i32.const 1164)) (i32.const 312))
    ;; 14: request edits
    (call $digit (call $foreign (i32.const 160) (i32.const 14) (i32.const 256) (i32.const 19) (i32.const 1160) (i32.const 1164)) (i32.const 313))
    (drop (call $add (i32.const 0) (i32.const 72) (i32.const 13) (i32.const 300) (i32.const 15)))
    (drop (call $add (i32.const 0) (i32.const 88) (i32.const 9) (i32.load (i32.const 1132)) (i32.load (i32.const 1136))))
    (drop (call $add (i32.const 0) (i32.const 100) (i32.const 6) (i32.load (i32.const 1140)) (i32.load (i32.const 1144))))
    (drop (call $add (i32.const 0) (i32.const 108) (i32.const 9) (i32.const 320) (i32.const 1)))
    ;; wasmgate.sha256 of "ping" (result 1152/1156), as 64 hex digits at 1200
    (if (i32.eqz (call $foreign (i32.const 120) (i32.const 15) (i32.const 48) (i32.const 4) (i32.const 1152) (i32.const 1156)))
      (then
        (call $hex (i32.load (i32.const 1152)) (i32.load (i32.const 1156)) (i32.const 1200))
        (drop (call $add (i32.const 0) (i32.const 136) (i32.const 8) (i32.const 1200)
          (i32.shl (i32.load (i32.const 1156)) (i32.const 1))))))
    (i32.const 0))
)
