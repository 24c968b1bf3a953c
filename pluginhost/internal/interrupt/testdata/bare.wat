;; No global and no export section: Instrument creates both. The start
;; function never returns, so the original module cannot even be
;; instantiated without an interrupt.
(module
  (memory 1)
  (func $forever (loop $l (br $l)))
  (start $forever))
