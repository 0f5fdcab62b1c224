/// Naive row-major GEMM: `C = alpha * op(A) * op(B) + beta * C`, one dot product per element.
///
/// `op(A)` is `m×k` (A stored `k×m` when `transposeA`), `op(B)` is `k×n` (B stored `n×k` when
/// `transposeB`). The reference the fast `gemm` is tested against; slow on purpose.
public func gemmReference(
  transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
  alpha: Float, a: UnsafePointer<Float>, lda: Int,
  b: UnsafePointer<Float>, ldb: Int,
  beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
  for i in 0..<m {
    for j in 0..<n {
      var sum: Double = 0
      for p in 0..<k {
        let av = transposeA ? a[p * lda + i] : a[i * lda + p]
        let bv = transposeB ? b[j * ldb + p] : b[p * ldb + j]
        sum += Double(av) * Double(bv)
      }
      let scaled = alpha * Float(sum)
      c[i * ldc + j] = beta == 0 ? scaled : scaled + beta * c[i * ldc + j]
    }
  }
}

/// `gemmReference` on operands rounded to bf16 (`BFloat16.rounded`), summed in double: what every
/// bf16 GEMM route (`gemmBF16`) is tested against.
public func gemmBF16Reference(
  transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
  b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
  for i in 0..<m {
    for j in 0..<n {
      var sum: Double = 0
      for p in 0..<k {
        let av = transposeA ? a[p * lda + i] : a[i * lda + p]
        let bv = transposeB ? b[j * ldb + p] : b[p * ldb + j]
        sum += Double(BFloat16.rounded(av)) * Double(BFloat16.rounded(bv))
      }
      c[i * ldc + j] = beta == 0 ? Float(sum) : Float(sum) + beta * c[i * ldc + j]
    }
  }
}
