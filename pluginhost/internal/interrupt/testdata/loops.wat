;; wat2wasm-flags: --debug-names
;; Functions that loop forever, recurse without a loop, and compute with
;; loops. Imports two globals and defines two, so the interrupt flag is
;; global 4. Assembled with a name section, which Instrument must copy.
(module
  (import "env" "base" (global $base i32))
  (import "env" "counter" (global $counter (mut i32)))
  (type $step (func (param i32) (result i32)))
  (global $calls (mut i32) (i32.const 0))
  (global $ten i32 (i32.const 10))
  (memory (export "memory") 1)

  ;; Never returns.
  (func (export "spin")
    (loop $forever
      (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
      (br $forever)))

  ;; 2^n calls and no loop: tree(60) would run for years.
  (func $tree (export "tree") (param $n i32) (result i64)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (if (result i64) (i32.eqz (local.get $n))
      (then (i64.const 1))
      (else
        (i64.add
          (call $tree (i32.sub (local.get $n) (i32.const 1)))
          (call $tree (i32.sub (local.get $n) (i32.const 1)))))))

  ;; 1 + 2 + ... + n
  (func (export "sum") (param $n i32) (result i64)
    (local $acc i64)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (local.get $n))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $acc))

  ;; fib(n), iteratively
  (func (export "fib") (param $n i32) (result i64)
    (local $a i64) (local $b i64) (local $t i64)
    (local.set $b (i64.const 1))
    (loop $next
      (if (local.get $n)
        (then
          (local.set $t (i64.add (local.get $a) (local.get $b)))
          (local.set $a (local.get $b))
          (local.set $b (local.get $t))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $next))))
    (local.get $a))

  ;; How many primes are below n: nested loops, trial division.
  (func (export "primes") (param $n i32) (result i32)
    (local $i i32) (local $d i32) (local $count i32)
    (local.set $i (i32.const 2))
    (block $done
      (loop $candidates
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $d (i32.const 2))
        (block $composite
          (loop $divisors
            (if (i32.gt_u (i32.mul (local.get $d) (local.get $d)) (local.get $i))
              (then
                (local.set $count (i32.add (local.get $count) (i32.const 1)))
                (br $composite)))
            (br_if $composite (i32.eqz (i32.rem_u (local.get $i) (local.get $d))))
            (local.set $d (i32.add (local.get $d) (i32.const 1)))
            (br $divisors)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $candidates)))
    (local.get $count))

  ;; Collatz steps from n to 1, with a loop that takes and returns a value
  ;; (a block type that is a type index), and a br_table.
  (func (export "collatz") (param $n i32) (result i32)
    (local $steps i32)
    (local.get $n)
    (loop $next (type $step)
      (local.set $n)
      (if (i32.le_u (local.get $n) (i32.const 1))
        (then (return (local.get $steps))))
      (local.set $steps (i32.add (local.get $steps) (i32.const 1)))
      (block $odd
        (block $even
          (br_table $even $odd (i32.and (local.get $n) (i32.const 1))))
        (br $next (i32.shr_u (local.get $n) (i32.const 1))))
      (br $next (i32.add (i32.mul (local.get $n) (i32.const 3)) (i32.const 1))))
    (unreachable))

  ;; The globals keep their indexes: base + 10 + calls so far.
  (func (export "globals") (result i32)
    (i32.add (global.get $base) (i32.add (global.get $ten) (global.get $calls))))
)
