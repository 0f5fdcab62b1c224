#ifndef CKERNELBF16_H
#define CKERNELBF16_H

#include <stdint.h>

// The bf16 GEMM micro-kernel: Swift has no spelling for AVX-512 BF16's `vdpbf16ps`, so this one
// tile lives in C, compiled for that instruction set per function and chosen at run time.

/// Rows of C per tile (the height of a packed A sliver).
#define CNNKIT_BF16_MR 12
/// Columns of C per tile (the width of a packed B sliver).
#define CNNKIT_BF16_NR 32

/// 1 when this CPU and its operating system run AVX-512F and AVX-512 BF16 (`vdpbf16ps`), else 0.
int cnnkit_bf16_hardware(void);

/// `C[0..<rows, 0..<cols] (+)= A · B` over `kpairs` pairs of k steps, in fp32, from bf16 operands.
///
/// `a` holds `kpairs` groups of 12 rows × 2 bf16 (row `i`'s steps `2q`, `2q+1` at `a[24q + 2i]`,
/// `a[24q + 2i + 1]`); `b` holds `kpairs` groups of 32 columns × 2 (column `j` at `b[64q + 2j]`,
/// `b[64q + 2j + 1]`); both zero-padded. `accumulate` adds to C, else C is overwritten unread.
/// Each lane sums as `vdpbf16ps` does: the odd step's product, then the even one's, each added in
/// fp32 (products of bf16 values are exact in fp32). Needs `cnnkit_bf16_hardware()`.
void cnnkit_bf16_tile_avx512(
  long kpairs, const uint16_t *a, const uint16_t *b, float *c, long ldc, int rows, int cols, int accumulate);

/// The same tile, the same code and the same order of additions, on scalar C instead of AVX-512
/// registers: the twin that tests the hardware tile's indexing on any CPU.
void cnnkit_bf16_tile_emulated(
  long kpairs, const uint16_t *a, const uint16_t *b, float *c, long ldc, int rows, int cols, int accumulate);

#endif
