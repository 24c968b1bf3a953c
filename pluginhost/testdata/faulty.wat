;; Misbehaves on request headers, as its vm_config says: "trap10" traps on
;; one request in ten, "loop" never returns, "grow" grows memory until it
;; cannot and then traps, "exit" calls proc_exit.
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (import "env" "proxy_get_buffer_bytes" (func $buf (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 4096))
  (global $mode (mut i32) (i32.const 0))
  (global $count (mut i32) (i32.const 0))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
    (local $p i32)
    (if (i32.gt_u (i32.add (global.get $heap) (local.get $n)) (i32.const 131072))
      (then (global.set $heap (i32.const 4096))))
    (local.set $p (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (global.get $heap) (local.get $n)) (i32.const 7)) (i32.const -8)))
    (local.get $p))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
    ;; The first byte of the VM configuration picks the mode.
    (drop (call $buf (i32.const 6) (i32.const 0) (i32.const 16) (i32.const 1000) (i32.const 1004)))
    (if (i32.gt_u (i32.load (i32.const 1004)) (i32.const 0))
      (then (global.set $mode (i32.load8_u (i32.load (i32.const 1000))))))
    (i32.const 1))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    ;; 't': trap on every tenth request
    (if (i32.eq (global.get $mode) (i32.const 116))
      (then (if (i32.eqz (i32.rem_u (global.get $count) (i32.const 10))) (then unreachable))))
    ;; 'l': loop forever
    (if (i32.eq (global.get $mode) (i32.const 108))
      (then (loop $forever (br $forever))))
    ;; 'g': grow until refused, then trap
    (if (i32.eq (global.get $mode) (i32.const 103))
      (then
        (block $done
          (loop $more
            (br_if $done (i32.eq (memory.grow (i32.const 16)) (i32.const -1)))
            (br $more)))
        unreachable))
    ;; 'e': proc_exit
    (if (i32.eq (global.get $mode) (i32.const 101))
      (then (call $exit (i32.const 3))))
    (i32.const 0))
)
