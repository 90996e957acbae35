//go:build amd64 && !purego

#include "textflag.h"

// Four independent accumulators hide the FMA latency; the loads are
// unaligned because vectors live at arbitrary offsets inside a slab.
// Tails shorter than a register are finished with scalar SSE after
// VZEROUPPER, so no dimension count is special.

// func dotAVX2(a, b unsafe.Pointer, n int) float32
TEXT ·dotAVX2(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

d2loop32:
	CMPQ CX, $32
	JLT  d2loop8
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JMP         d2loop32

d2loop8:
	CMPQ CX, $8
	JLT  d2reduce
	VMOVUPS     (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         d2loop8

d2reduce:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VZEROUPPER

d2tail:
	TESTQ CX, CX
	JEQ   d2done
	MOVSS (SI), X1
	MULSS (DI), X1
	ADDSS X1, X0
	ADDQ  $4, SI
	ADDQ  $4, DI
	DECQ  CX
	JMP   d2tail

d2done:
	MOVSS X0, ret+24(FP)
	RET

// func l2AVX2(a, b unsafe.Pointer, n int) float32
TEXT ·l2AVX2(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

l2loop32:
	CMPQ CX, $32
	JLT  l2loop8
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VSUBPS      (DI), Y4, Y4
	VSUBPS      32(DI), Y5, Y5
	VSUBPS      64(DI), Y6, Y6
	VSUBPS      96(DI), Y7, Y7
	VFMADD231PS Y4, Y4, Y0
	VFMADD231PS Y5, Y5, Y1
	VFMADD231PS Y6, Y6, Y2
	VFMADD231PS Y7, Y7, Y3
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JMP         l2loop32

l2loop8:
	CMPQ CX, $8
	JLT  l2reduce
	VMOVUPS     (SI), Y4
	VSUBPS      (DI), Y4, Y4
	VFMADD231PS Y4, Y4, Y0
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         l2loop8

l2reduce:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VZEROUPPER

l2tail:
	TESTQ CX, CX
	JEQ   l2done
	MOVSS (SI), X1
	SUBSS (DI), X1
	MULSS X1, X1
	ADDSS X1, X0
	ADDQ  $4, SI
	ADDQ  $4, DI
	DECQ  CX
	JMP   l2tail

l2done:
	MOVSS X0, ret+24(FP)
	RET

// func dotI8AVX2(a, b unsafe.Pointer, n int) float32
// a is float32, b is int8: each group of 8 codes is sign-extended to int32
// and converted to float32 before the FMA.
TEXT ·dotI8AVX2(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

q2loop32:
	CMPQ CX, $32
	JLT  q2loop8
	VPMOVSXBD   (DI), Y4
	VPMOVSXBD   8(DI), Y5
	VPMOVSXBD   16(DI), Y6
	VPMOVSXBD   24(DI), Y7
	VCVTDQ2PS   Y4, Y4
	VCVTDQ2PS   Y5, Y5
	VCVTDQ2PS   Y6, Y6
	VCVTDQ2PS   Y7, Y7
	VFMADD231PS (SI), Y4, Y0
	VFMADD231PS 32(SI), Y5, Y1
	VFMADD231PS 64(SI), Y6, Y2
	VFMADD231PS 96(SI), Y7, Y3
	ADDQ        $128, SI
	ADDQ        $32, DI
	SUBQ        $32, CX
	JMP         q2loop32

q2loop8:
	CMPQ CX, $8
	JLT  q2reduce
	VPMOVSXBD   (DI), Y4
	VCVTDQ2PS   Y4, Y4
	VFMADD231PS (SI), Y4, Y0
	ADDQ        $32, SI
	ADDQ        $8, DI
	SUBQ        $8, CX
	JMP         q2loop8

q2reduce:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VZEROUPPER

q2tail:
	TESTQ    CX, CX
	JEQ      q2done
	MOVBLSX  (DI), AX
	CVTSL2SS AX, X1
	MULSS    (SI), X1
	ADDSS    X1, X0
	ADDQ     $4, SI
	ADDQ     $1, DI
	DECQ     CX
	JMP      q2tail

q2done:
	MOVSS X0, ret+24(FP)
	RET

// func dotAVX512(a, b unsafe.Pointer, n int) float32
TEXT ·dotAVX512(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

d5loop64:
	CMPQ CX, $64
	JLT  d5loop16
	VMOVUPS     (SI), Z4
	VMOVUPS     64(SI), Z5
	VMOVUPS     128(SI), Z6
	VMOVUPS     192(SI), Z7
	VFMADD231PS (DI), Z4, Z0
	VFMADD231PS 64(DI), Z5, Z1
	VFMADD231PS 128(DI), Z6, Z2
	VFMADD231PS 192(DI), Z7, Z3
	ADDQ        $256, SI
	ADDQ        $256, DI
	SUBQ        $64, CX
	JMP         d5loop64

d5loop16:
	CMPQ CX, $16
	JLT  d5half
	VMOVUPS     (SI), Z4
	VFMADD231PS (DI), Z4, Z0
	ADDQ        $64, SI
	ADDQ        $64, DI
	SUBQ        $16, CX
	JMP         d5loop16

d5half:
	VADDPS        Z1, Z0, Z0
	VADDPS        Z3, Z2, Z2
	VADDPS        Z2, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS        Y1, Y0, Y0
	CMPQ          CX, $8
	JLT           d5reduce
	VMOVUPS       (SI), Y4
	VFMADD231PS   (DI), Y4, Y0
	ADDQ          $32, SI
	ADDQ          $32, DI
	SUBQ          $8, CX

d5reduce:
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VZEROUPPER

d5tail:
	TESTQ CX, CX
	JEQ   d5done
	MOVSS (SI), X1
	MULSS (DI), X1
	ADDSS X1, X0
	ADDQ  $4, SI
	ADDQ  $4, DI
	DECQ  CX
	JMP   d5tail

d5done:
	MOVSS X0, ret+24(FP)
	RET

// func l2AVX512(a, b unsafe.Pointer, n int) float32
TEXT ·l2AVX512(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

l5loop64:
	CMPQ CX, $64
	JLT  l5loop16
	VMOVUPS     (SI), Z4
	VMOVUPS     64(SI), Z5
	VMOVUPS     128(SI), Z6
	VMOVUPS     192(SI), Z7
	VSUBPS      (DI), Z4, Z4
	VSUBPS      64(DI), Z5, Z5
	VSUBPS      128(DI), Z6, Z6
	VSUBPS      192(DI), Z7, Z7
	VFMADD231PS Z4, Z4, Z0
	VFMADD231PS Z5, Z5, Z1
	VFMADD231PS Z6, Z6, Z2
	VFMADD231PS Z7, Z7, Z3
	ADDQ        $256, SI
	ADDQ        $256, DI
	SUBQ        $64, CX
	JMP         l5loop64

l5loop16:
	CMPQ CX, $16
	JLT  l5half
	VMOVUPS     (SI), Z4
	VSUBPS      (DI), Z4, Z4
	VFMADD231PS Z4, Z4, Z0
	ADDQ        $64, SI
	ADDQ        $64, DI
	SUBQ        $16, CX
	JMP         l5loop16

l5half:
	VADDPS        Z1, Z0, Z0
	VADDPS        Z3, Z2, Z2
	VADDPS        Z2, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS        Y1, Y0, Y0
	CMPQ          CX, $8
	JLT           l5reduce
	VMOVUPS       (SI), Y4
	VSUBPS        (DI), Y4, Y4
	VFMADD231PS   Y4, Y4, Y0
	ADDQ          $32, SI
	ADDQ          $32, DI
	SUBQ          $8, CX

l5reduce:
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VZEROUPPER

l5tail:
	TESTQ CX, CX
	JEQ   l5done
	MOVSS (SI), X1
	SUBSS (DI), X1
	MULSS X1, X1
	ADDSS X1, X0
	ADDQ  $4, SI
	ADDQ  $4, DI
	DECQ  CX
	JMP   l5tail

l5done:
	MOVSS X0, ret+24(FP)
	RET

// func dotI8AVX512(a, b unsafe.Pointer, n int) float32
TEXT ·dotI8AVX512(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

q5loop64:
	CMPQ CX, $64
	JLT  q5loop16
	VPMOVSXBD   (DI), Z4
	VPMOVSXBD   16(DI), Z5
	VPMOVSXBD   32(DI), Z6
	VPMOVSXBD   48(DI), Z7
	VCVTDQ2PS   Z4, Z4
	VCVTDQ2PS   Z5, Z5
	VCVTDQ2PS   Z6, Z6
	VCVTDQ2PS   Z7, Z7
	VFMADD231PS (SI), Z4, Z0
	VFMADD231PS 64(SI), Z5, Z1
	VFMADD231PS 128(SI), Z6, Z2
	VFMADD231PS 192(SI), Z7, Z3
	ADDQ        $256, SI
	ADDQ        $64, DI
	SUBQ        $64, CX
	JMP         q5loop64

q5loop16:
	CMPQ CX, $16
	JLT  q5half
	VPMOVSXBD   (DI), Z4
	VCVTDQ2PS   Z4, Z4
	VFMADD231PS (SI), Z4, Z0
	ADDQ        $64, SI
	ADDQ        $16, DI
	SUBQ        $16, CX
	JMP         q5loop16

q5half:
	VADDPS        Z1, Z0, Z0
	VADDPS        Z3, Z2, Z2
	VADDPS        Z2, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS        Y1, Y0, Y0
	CMPQ          CX, $8
	JLT           q5reduce
	VPMOVSXBD     (DI), Y4
	VCVTDQ2PS     Y4, Y4
	VFMADD231PS   (SI), Y4, Y0
	ADDQ          $32, SI
	ADDQ          $8, DI
	SUBQ          $8, CX

q5reduce:
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VZEROUPPER

q5tail:
	TESTQ    CX, CX
	JEQ      q5done
	MOVBLSX  (DI), AX
	CVTSL2SS AX, X1
	MULSS    (SI), X1
	ADDSS    X1, X0
	ADDQ     $4, SI
	ADDQ     $1, DI
	DECQ     CX
	JMP      q5tail

q5done:
	MOVSS X0, ret+24(FP)
	RET

// func prefetch(p unsafe.Pointer)
// Starts loading the cache line at p (and the next, which the kernel needs
// right after) while the caller keeps working.
TEXT ·prefetch(SB), NOSPLIT, $0-8
	MOVQ       p+0(FP), AX
	PREFETCHT0 (AX)
	PREFETCHT0 64(AX)
	RET

// func prefetchLines(p unsafe.Pointer, n int)
TEXT ·prefetchLines(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), AX
	MOVQ n+8(FP), CX
pfloop:
	TESTQ      CX, CX
	JLE        pfdone
	PREFETCHT0 (AX)
	ADDQ       $64, AX
	DECQ       CX
	JMP        pfloop
pfdone:
	RET

// func prefetch1(p unsafe.Pointer)
TEXT ·prefetch1(SB), NOSPLIT, $0-8
	MOVQ       p+0(FP), AX
	PREFETCHT0 (AX)
	RET
