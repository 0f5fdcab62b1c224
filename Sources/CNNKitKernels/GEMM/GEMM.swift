/// Row-major single-precision GEMM: `C = alpha * op(A) * op(B) + beta * C`.
///
/// Same contract as `gemmReference`. Placeholder i-k-j loop, parallel over rows of C; the packed
/// SIMD version replaces it.
public func gemm(
  transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
  alpha: Float, a: UnsafePointer<Float>, lda: Int,
  b: UnsafePointer<Float>, ldb: Int,
  beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
  if m == 0 || n == 0 { return }
  Parallel.forRanges(m, minimumChunk: 8) { rows in
    for i in rows {
      let ci = c + i * ldc
      if beta == 0 {
        ci.update(repeating: 0, count: n)
      } else if beta != 1 {
        for j in 0..<n { ci[j] *= beta }
      }
      for p in 0..<k {
        let av = alpha * (transposeA ? a[p * lda + i] : a[i * lda + p])
        if transposeB {
          for j in 0..<n { ci[j] += av * b[j * ldb + p] }
        } else {
          let bp = b + p * ldb
          for j in 0..<n { ci[j] += av * bp[j] }
        }
      }
    }
  }
}
