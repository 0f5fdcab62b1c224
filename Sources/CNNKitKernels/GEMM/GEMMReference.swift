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
  let aCount = transposeA ? (k - 1) * lda + m : (m - 1) * lda + k
  let bCount = transposeB ? (n - 1) * ldb + k : (k - 1) * ldb + n
  let roundedA = (0..<max(0, aCount)).map { BFloat16.rounded(a[$0]) }
  let roundedB = (0..<max(0, bCount)).map { BFloat16.rounded(b[$0]) }
  gemmReference(
    transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 1, a: roundedA, lda: lda,
    b: roundedB, ldb: ldb, beta: beta, c: c, ldc: ldc)
}
