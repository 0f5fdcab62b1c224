/// `dst[c·rows + r] = src[r·cols + c]`: a `rows × cols` row-major matrix into its `cols × rows`
/// transpose, in 8×8 SIMD blocks over 64-row bands (one band's destination rows stay in L1/L2 while
/// its source rows stream), bands on every thread.
public func transposeMatrix(rows: Int, cols: Int, src: UnsafePointer<Float>, dst: UnsafeMutablePointer<Float>)
{
  let band = 64
  Parallel.forEachDynamic((rows + band - 1) / band) { b in
    let r0 = b * band
    let r1 = min(rows, r0 + band)
    var c = 0
    while c + 8 <= cols {
      var r = r0
      while r + 8 <= r1 {
        transpose8x8(src + r * cols + c, lds: cols, dst + c * rows + r, ldd: rows)
        r += 8
      }
      for rr in r..<r1 {
        for cc in c..<c + 8 { dst[cc * rows + rr] = src[rr * cols + cc] }
      }
      c += 8
    }
    for cc in c..<cols {
      for rr in r0..<r1 { dst[cc * rows + rr] = src[rr * cols + cc] }
    }
  }
}

/// Naive `transposeMatrix`, for tests.
public func transposeMatrixReference(
  rows: Int, cols: Int, src: UnsafePointer<Float>, dst: UnsafeMutablePointer<Float>
) {
  for r in 0..<rows {
    for c in 0..<cols { dst[c * rows + r] = src[r * cols + c] }
  }
}
