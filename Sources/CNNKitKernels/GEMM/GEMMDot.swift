/// `C = alpha · A · Bᵀ + beta · C` for a few rows of A: a fully connected layer (`x · Wᵀ`) at a small
/// batch. Packing B (the `n×k` weight) costs a read and a write of all of it, more than the products
/// when A has few rows, so here B streams from memory once, in place. A `kc`-deep slice of A stays in
/// L2 while every row of B passes it; each step takes 4 rows of B against 4 rows of A (16 dot
/// products), the 4 row slices of B staying in L1 across the rows of A.
enum GEMMDot {
  #if CNNKIT_AVX512
    typealias V = SIMD16<Float>
  #else
    typealias V = SIMD8<Float>
  #endif

  /// Depth of one slice: 32 rows of A × 2048 floats is 256 KiB (L2), 4 rows of B 32 KiB (L1).
  static let kc = 2048
  /// Rows of A up to which streaming B beats packing it (measured with `cnnkit bench --kernel gemm`).
  static let maximumRows = 32

  /// Whether `gemm` takes this path for `A · Bᵀ` of this size.
  static func applies(m: Int, n: Int, k: Int) -> Bool {
    m <= maximumRows && n >= 64 && k >= 256
  }

  static func run(
    m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    Parallel.forRanges(n, minimumChunk: 64) { columns in
      // Each thread owns columns of C: scale them by beta, then add each slice's products.
      for i in 0..<m {
        let row = c + i * ldc
        for j in columns { row[j] = beta == 0 ? 0 : beta * row[j] }
      }
      for p0 in stride(from: 0, to: k, by: kc) {
        let kb = min(kc, k - p0)
        var j = columns.lowerBound
        while j + 4 <= columns.upperBound {
          let w = b + j * ldb + p0
          var i = 0
          while i + 4 <= m {
            tile4x4(kb, a + i * lda + p0, lda, w, ldb, alpha, c + i * ldc + j, ldc)
            i += 4
          }
          while i < m {
            let (s0, s1, s2, s3) = GEMV.dot4(kb, w, w + ldb, w + 2 * ldb, w + 3 * ldb, a + i * lda + p0)
            let out = c + i * ldc + j
            out[0] += alpha * s0
            out[1] += alpha * s1
            out[2] += alpha * s2
            out[3] += alpha * s3
            i += 1
          }
          j += 4
        }
        while j < columns.upperBound {
          for i in 0..<m { c[i * ldc + j] += alpha * GEMV.dot1(kb, b + j * ldb + p0, a + i * lda + p0) }
          j += 1
        }
      }
    }
  }

  @inline(__always)
  static func load(_ p: UnsafePointer<Float>) -> V {
    UnsafeRawPointer(p).loadUnaligned(as: V.self)
  }

  /// `C[r][q] += alpha · dot(A row r, B row q)` over `kb` for 4 rows of A (stride `lda`) and 4 of B.
  @inline(__always)
  static func tile4x4(
    _ kb: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int, _ alpha: Float,
    _ c: UnsafeMutablePointer<Float>, _ ldc: Int
  ) {
    let (a0, a1, a2, a3) = (a, a + lda, a + 2 * lda, a + 3 * lda)
    let (b0, b1, b2, b3) = (b, b + ldb, b + 2 * ldb, b + 3 * ldb)
    var s00 = V(), s01 = V(), s02 = V(), s03 = V()
    var s10 = V(), s11 = V(), s12 = V(), s13 = V()
    var s20 = V(), s21 = V(), s22 = V(), s23 = V()
    var s30 = V(), s31 = V(), s32 = V(), s33 = V()
    var p = 0
    while p + V.scalarCount <= kb {
      let (w0, w1, w2, w3) = (load(b0 + p), load(b1 + p), load(b2 + p), load(b3 + p))
      var x = load(a0 + p)
      s00 = s00.addingProduct(x, w0)
      s01 = s01.addingProduct(x, w1)
      s02 = s02.addingProduct(x, w2)
      s03 = s03.addingProduct(x, w3)
      x = load(a1 + p)
      s10 = s10.addingProduct(x, w0)
      s11 = s11.addingProduct(x, w1)
      s12 = s12.addingProduct(x, w2)
      s13 = s13.addingProduct(x, w3)
      x = load(a2 + p)
      s20 = s20.addingProduct(x, w0)
      s21 = s21.addingProduct(x, w1)
      s22 = s22.addingProduct(x, w2)
      s23 = s23.addingProduct(x, w3)
      x = load(a3 + p)
      s30 = s30.addingProduct(x, w0)
      s31 = s31.addingProduct(x, w1)
      s32 = s32.addingProduct(x, w2)
      s33 = s33.addingProduct(x, w3)
      p += V.scalarCount
    }
    let sums = (
      s00.sum(), s01.sum(), s02.sum(), s03.sum(), s10.sum(), s11.sum(), s12.sum(), s13.sum(),
      s20.sum(), s21.sum(), s22.sum(), s23.sum(), s30.sum(), s31.sum(), s32.sum(), s33.sum()
    )
    withUnsafeBytes(of: sums) { raw in
      let total = raw.bindMemory(to: Float.self)
      for r in 0..<4 {
        let x = a + r * lda
        for q in 0..<4 {
          let w = b + q * ldb
          var s = total[4 * r + q]
          // The depth past the last whole vector.
          for t in p..<kb { s += x[t] * w[t] }
          c[r * ldc + q] += alpha * s
        }
      }
    }
  }
}
