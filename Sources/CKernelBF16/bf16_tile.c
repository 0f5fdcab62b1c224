#include "CKernelBF16.h"

#include <string.h>

// ---- The emulated tile: plain C, any CPU. ----

typedef struct {
  float lane[16];
} emulated_float;
typedef struct {
  uint16_t half[32];
} emulated_pairs;

static inline float bf16_value(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

static inline emulated_float emulated_zero(void) {
  emulated_float v;
  for (int i = 0; i < 16; i++) v.lane[i] = 0;
  return v;
}

static inline emulated_pairs emulated_load(const uint16_t *p) {
  emulated_pairs v;
  memcpy(v.half, p, sizeof v.half);
  return v;
}

static inline emulated_pairs emulated_broadcast(const uint16_t *p) {
  emulated_pairs v;
  for (int i = 0; i < 16; i++) {
    v.half[2 * i] = p[0];
    v.half[2 * i + 1] = p[1];
  }
  return v;
}

// Intel's definition of vdpbf16ps: the odd product is added first, then the even one.
static inline emulated_float emulated_dot(emulated_float acc, emulated_pairs a, emulated_pairs b) {
  for (int i = 0; i < 16; i++) {
    float sum = acc.lane[i];
    sum += bf16_value(a.half[2 * i + 1]) * bf16_value(b.half[2 * i + 1]);
    sum += bf16_value(a.half[2 * i]) * bf16_value(b.half[2 * i]);
    acc.lane[i] = sum;
  }
  return acc;
}

static inline void emulated_store(float *c, emulated_float v, int n, int add) {
  for (int j = 0; j < n; j++) c[j] = add ? c[j] + v.lane[j] : v.lane[j];
}

#define TILE_NAME cnnkit_bf16_tile_emulated
#define TILE_ATTRIBUTES
#define vfloat emulated_float
#define vpairs emulated_pairs
#define V_ZERO() emulated_zero()
#define V_LOAD_PAIRS(p) emulated_load(p)
#define V_BROADCAST_PAIR(p) emulated_broadcast(p)
#define V_DOT(acc, a, b) emulated_dot(acc, a, b)
#define V_STORE(c, v, n, add) emulated_store(c, v, n, add)
#include "bf16_tile_body.h"
#undef TILE_NAME
#undef TILE_ATTRIBUTES
#undef vfloat
#undef vpairs
#undef V_ZERO
#undef V_LOAD_PAIRS
#undef V_BROADCAST_PAIR
#undef V_DOT
#undef V_STORE

// ---- The AVX-512 BF16 tile. ----

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

int cnnkit_bf16_hardware(void) {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 27))) return 0;  // OSXSAVE
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  // The OS saves SSE, AVX, opmask and both halves of the zmm registers.
  if ((lo & 0xE6u) != 0xE6u) return 0;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) || !(ebx & (1u << 16))) return 0;  // AVX-512F
  if (eax < 1) return 0;
  __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx);
  return (eax & (1u << 5)) ? 1 : 0;  // AVX512_BF16
}

#define AVX512_BF16 __attribute__((target("avx512f,avx512bf16")))

AVX512_BF16 static inline __m512 hardware_load_pairs_as_float(const uint16_t *p) {
  return _mm512_castsi512_ps(_mm512_loadu_si512((const void *)p));
}

AVX512_BF16 static inline __m512 hardware_broadcast_pair(const uint16_t *p) {
  uint32_t pair;
  memcpy(&pair, p, sizeof pair);
  return _mm512_castsi512_ps(_mm512_set1_epi32((int)pair));
}

AVX512_BF16 static inline __m512 hardware_dot(__m512 acc, __m512 a, __m512 b) {
  return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b);
}

AVX512_BF16 static inline void hardware_store(float *c, __m512 v, int n, int add) {
  const __mmask16 mask = (__mmask16)(n >= 16 ? 0xFFFFu : ((1u << n) - 1u));
  if (add) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, c));
  _mm512_mask_storeu_ps(c, mask, v);
}

#define TILE_NAME cnnkit_bf16_tile_avx512
#define TILE_ATTRIBUTES AVX512_BF16
#define vfloat __m512
#define vpairs __m512
#define V_ZERO() _mm512_setzero_ps()
#define V_LOAD_PAIRS(p) hardware_load_pairs_as_float(p)
#define V_BROADCAST_PAIR(p) hardware_broadcast_pair(p)
#define V_DOT(acc, a, b) hardware_dot(acc, a, b)
#define V_STORE(c, v, n, add) hardware_store(c, v, n, add)
#include "bf16_tile_body.h"

#else

int cnnkit_bf16_hardware(void) { return 0; }

void cnnkit_bf16_tile_avx512(
  long kpairs, const uint16_t *a, const uint16_t *b, float *c, long ldc, int rows, int cols, int accumulate) {
  cnnkit_bf16_tile_emulated(kpairs, a, b, c, ldc, rows, cols, accumulate);
}

#endif
