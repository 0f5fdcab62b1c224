// The body of a 12×32 bf16 tile, included once per instruction set by bf16_tile.c. It expects:
//   TILE_NAME             the function's name
//   TILE_ATTRIBUTES       attributes before it (a target, or nothing)
//   vfloat, vpairs        16 fp32 lanes; 16 lanes of bf16 pairs
//   V_ZERO()              16 zeros
//   V_LOAD_PAIRS(p)       16 pairs (32 bf16) from p
//   V_BROADCAST_PAIR(p)   the pair at p in every lane
//   V_DOT(acc, a, b)      acc + a·b pairwise, as vdpbf16ps
//   V_STORE(c, v, n, add) the first n lanes of v to c, added to c when add

TILE_ATTRIBUTES void TILE_NAME(
  long kpairs, const uint16_t *a, const uint16_t *b, float *c, long ldc, int rows, int cols, int accumulate) {
  vfloat acc[CNNKIT_BF16_MR][2];
  for (int i = 0; i < CNNKIT_BF16_MR; i++) {
    acc[i][0] = V_ZERO();
    acc[i][1] = V_ZERO();
  }
  for (long q = 0; q < kpairs; q++) {
    const vpairs b0 = V_LOAD_PAIRS(b + 64 * q);
    const vpairs b1 = V_LOAD_PAIRS(b + 64 * q + 32);
    const uint16_t *aq = a + 2 * CNNKIT_BF16_MR * q;
    for (int i = 0; i < CNNKIT_BF16_MR; i++) {
      const vpairs ai = V_BROADCAST_PAIR(aq + 2 * i);
      acc[i][0] = V_DOT(acc[i][0], ai, b0);
      acc[i][1] = V_DOT(acc[i][1], ai, b1);
    }
  }
  const int low = cols < 16 ? cols : 16;
  const int high = cols > 16 ? cols - 16 : 0;
  for (int i = 0; i < rows; i++) {
    V_STORE(c + i * ldc, acc[i][0], low, accumulate);
    if (high > 0) V_STORE(c + i * ldc + 16, acc[i][1], high, accumulate);
  }
}
