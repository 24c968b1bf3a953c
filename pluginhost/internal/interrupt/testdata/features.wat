;; Instructions from the proposals wazero enables by default: SIMD, bulk
;; memory, reference types, saturating truncation, sign extension and
;; multi-value, each next to a loop so a wrongly decoded immediate would
;; put a check in the wrong place.
(module
  (type $ii (func (param i32) (result i32)))
  (memory (export "memory") 1)
  (table $t 4 funcref)
  (table $ext 2 externref)
  (data $d "\01\02\03\04\05\06\07\08")
  (elem $e func $double $triple)
  (elem declare func $double)

  (func $double (type $ii) (i32.mul (local.get 0) (i32.const 2)))
  (func $triple (type $ii) (i32.mul (local.get 0) (i32.const 3)))

  ;; Sums the lanes of a vector computed with opcodes of one and two bytes
  ;; (i32x4.mul is 0xfd 0xb5 0x01), lane and memory immediates.
  (func (export "simd") (param $x i32) (result i32)
    (local $v v128) (local $i i32) (local $sum i32)
    (local.set $v (i32x4.add (v128.const i32x4 1 2 3 4) (i32x4.splat (local.get $x))))
    (local.set $v (i32x4.mul (local.get $v) (v128.const i32x4 1 10 100 1000)))
    (v128.store offset=16 (i32.const 48) (local.get $v))
    (local.set $v (v128.load offset=16 align=8 (i32.const 48)))
    (local.set $v (i8x16.shuffle 4 5 6 7 0 1 2 3 12 13 14 15 8 9 10 11 (local.get $v) (local.get $v)))
    (local.set $v (v128.load32_lane 2 (i32.const 64) (local.get $v)))
    (local.set $v (i32x4.replace_lane 3 (local.get $v) (i32.const 7)))
    (local.set $v (i16x8.add (local.get $v) (v128.load8_splat (i32.const 65))))
    (loop $lanes
      (local.set $sum (i32.add (local.get $sum) (i32x4.extract_lane 0 (local.get $v))))
      (local.set $v (i8x16.shuffle 4 5 6 7 8 9 10 11 12 13 14 15 0 1 2 3 (local.get $v) (local.get $v)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $lanes (i32.lt_u (local.get $i) (i32.const 4))))
    (i32.add (local.get $sum) (i32.const 0)))

  ;; Copies the data segment around and sums the bytes.
  (func (export "bulk") (result i32)
    (local $i i32) (local $sum i32)
    (memory.init $d (i32.const 0) (i32.const 0) (i32.const 8))
    (data.drop $d)
    (memory.copy (i32.const 100) (i32.const 0) (i32.const 8))
    (memory.fill (i32.const 108) (i32.const 9) (i32.const 4))
    (loop $bytes
      (local.set $sum (i32.add (local.get $sum) (i32.load8_u offset=100 (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $bytes (i32.lt_u (local.get $i) (i32.const 12))))
    (local.get $sum))

  ;; Fills the table with the element segment and calls through it.
  (func (export "refs") (param $x i32) (result i32)
    (local $i i32) (local $sum i32) (local $f funcref)
    (table.init $t $e (i32.const 0) (i32.const 0) (i32.const 2))
    (elem.drop $e)
    (table.copy $t $t (i32.const 2) (i32.const 0) (i32.const 2))
    (drop (table.grow $t (ref.null func) (i32.const 2)))
    (table.fill $t (i32.const 4) (ref.null func) (i32.const 2))
    (table.set $ext (i32.const 0) (ref.null extern))
    (local.set $f (select (result funcref) (ref.func $double) (table.get $t (i32.const 1)) (local.get $x)))
    (loop $calls
      (if (i32.eqz (ref.is_null (table.get $t (local.get $i))))
        (then
          (local.set $sum (i32.add (local.get $sum)
            (call_indirect $t (type $ii) (local.get $x) (local.get $i))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $calls (i32.lt_u (local.get $i) (table.size $t))))
    (i32.add (local.get $sum)
      (i32.add (ref.is_null (local.get $f)) (ref.is_null (table.get $ext (i32.const 0))))))

  ;; Saturating truncation, sign extension, a block with two results.
  (func (export "convert") (param $x f64) (result i64)
    (local $n i32) (local $w i64)
    (block $b (result i32 i64)
      (i32.trunc_sat_f64_s (local.get $x))
      (i64.trunc_sat_f64_u (local.get $x)))
    (local.set $w)
    (local.set $n)
    (i64.add (i64.extend32_s (i64.extend16_s (i64.extend8_s (local.get $w))))
      (i64.extend_i32_s (i32.extend8_s (i32.extend16_s (local.get $n))))))
)
