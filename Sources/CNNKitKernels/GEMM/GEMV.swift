/// Matrix-vector kernels for GEMMs with one row or one column (batch-1 fully connected layers).
/// They are bound by memory bandwidth, so they stream the matrix once and never pack it.
enum GEMV {
  #if CNNKIT_AVX512
    /// Full-width vectors: streaming a 151 MB matrix ran at 45 GB/s on 2 threads against 39 GB/s
    /// with 8-float vectors.
    typealias V = SIMD16<Float>
  #else
    typealias V = SIMD8<Float>
  #endif
  static let width = V.scalarCount

  /// Below this many matrix elements one thread streams faster than two can be woken.
  static let parallelThreshold = 1 << 15

  /// `y[j·incy] = alpha · dot(M[j·ld ..< j·ld + k], x) + beta · y[j·incy]` for `j` in `0..<count`.
  /// `x` is contiguous.
  static func dotRows(
    count: Int, k: Int, alpha: Float, m: UnsafePointer<Float>, ld: Int,
    x: UnsafePointer<Float>, beta: Float, y: UnsafeMutablePointer<Float>, incy: Int
  ) {
    let minimumChunk = max(4, parallelThreshold / max(k, 1))
    Parallel.forRanges(count, minimumChunk: minimumChunk) { range in
      var j = range.lowerBound
      // Four rows at a time share each load of x.
      while j + 4 <= range.upperBound {
        let r0 = m + j * ld
        let (s0, s1, s2, s3) = dot4(k, r0, r0 + ld, r0 + 2 * ld, r0 + 3 * ld, x)
        write(y + j * incy, s0, alpha, beta)
        write(y + (j + 1) * incy, s1, alpha, beta)
        write(y + (j + 2) * incy, s2, alpha, beta)
        write(y + (j + 3) * incy, s3, alpha, beta)
        j += 4
      }
      while j < range.upperBound {
        write(y + j * incy, dot1(k, m + j * ld, x), alpha, beta)
        j += 1
      }
    }
  }

  /// `y[j·incy] = alpha · Σₚ x[p] · M[p·ld + j] + beta · y[j·incy]` for `j` in `0..<count`.
  /// `x` is contiguous; threads split the columns so each owns its part of `y`. Rows of M whose
  /// `x[p]` is zero are skipped, never read (as reference BLAS's `sgemv` does): after a ReLU, half of a
  /// fully connected layer's inputs are zero, and so half of its weight need not come from memory.
  static func axpyRows(
    count: Int, k: Int, alpha: Float, m: UnsafePointer<Float>, ld: Int,
    x: UnsafePointer<Float>, beta: Float, y: UnsafeMutablePointer<Float>, incy: Int
  ) {
    let rows = UnsafeMutablePointer<Int>.allocate(capacity: max(k, 1))
    defer { rows.deallocate() }
    var used = 0
    for p in 0..<k where x[p] != 0 {
      rows[used] = p
      used += 1
    }
    let live = used
    let minimumChunk = max(64, parallelThreshold / max(live, 1))
    Parallel.forRanges(count, minimumChunk: minimumChunk) { range in
      // The 16 KiB accumulator row stays in L1 while M streams past in long contiguous runs.
      let chunk = 4096
      let acc = UnsafeMutablePointer<Float>.allocate(capacity: chunk)
      defer { acc.deallocate() }
      var j0 = range.lowerBound
      while j0 < range.upperBound {
        let w = min(chunk, range.upperBound - j0)
        acc.update(repeating: 0, count: w)
        var t = 0
        while t + 4 <= live {
          let (p0, p1, p2, p3) = (rows[t], rows[t + 1], rows[t + 2], rows[t + 3])
          axpy4(
            w, x[p0], x[p1], x[p2], x[p3], m + p0 * ld + j0, m + p1 * ld + j0, m + p2 * ld + j0,
            m + p3 * ld + j0, acc)
          t += 4
        }
        while t < live {
          let p = rows[t]
          let xp = x[p]
          let row = m + p * ld + j0
          for j in 0..<w { acc[j] += xp * row[j] }
          t += 1
        }
        for j in 0..<w { write(y + (j0 + j) * incy, acc[j], alpha, beta) }
        j0 += w
      }
    }
  }

  @inline(__always)
  static func write(_ y: UnsafeMutablePointer<Float>, _ s: Float, _ alpha: Float, _ beta: Float) {
    y.pointee = beta == 0 ? alpha * s : alpha * s + beta * y.pointee
  }

  @inline(__always)
  static func load(_ p: UnsafePointer<Float>, _ i: Int) -> V {
    UnsafeRawPointer(p + i).loadUnaligned(as: V.self)
  }

  static func dot1(_ k: Int, _ r: UnsafePointer<Float>, _ x: UnsafePointer<Float>) -> Float {
    var a0 = V()
    var a1 = V()
    var p = 0
    while p + 2 * width <= k {
      a0 = a0.addingProduct(load(r, p), load(x, p))
      a1 = a1.addingProduct(load(r, p + width), load(x, p + width))
      p += 2 * width
    }
    var s = (a0 + a1).sum()
    while p < k {
      s += r[p] * x[p]
      p += 1
    }
    return s
  }

  static func dot4(
    _ k: Int, _ r0: UnsafePointer<Float>, _ r1: UnsafePointer<Float>, _ r2: UnsafePointer<Float>,
    _ r3: UnsafePointer<Float>, _ x: UnsafePointer<Float>
  ) -> (Float, Float, Float, Float) {
    var a0 = V(), a1 = V(), a2 = V(), a3 = V()
    var b0 = V(), b1 = V(), b2 = V(), b3 = V()
    var p = 0
    while p + 2 * width <= k {
      let x0 = load(x, p)
      let x1 = load(x, p + width)
      a0 = a0.addingProduct(load(r0, p), x0)
      b0 = b0.addingProduct(load(r0, p + width), x1)
      a1 = a1.addingProduct(load(r1, p), x0)
      b1 = b1.addingProduct(load(r1, p + width), x1)
      a2 = a2.addingProduct(load(r2, p), x0)
      b2 = b2.addingProduct(load(r2, p + width), x1)
      a3 = a3.addingProduct(load(r3, p), x0)
      b3 = b3.addingProduct(load(r3, p + width), x1)
      p += 2 * width
    }
    var s0 = (a0 + b0).sum()
    var s1 = (a1 + b1).sum()
    var s2 = (a2 + b2).sum()
    var s3 = (a3 + b3).sum()
    while p < k {
      let xp = x[p]
      s0 += r0[p] * xp
      s1 += r1[p] * xp
      s2 += r2[p] * xp
      s3 += r3[p] * xp
      p += 1
    }
    return (s0, s1, s2, s3)
  }

  /// `acc[0..<w] += x0·r0 + x1·r1 + x2·r2 + x3·r3` (four rows of M).
  static func axpy4(
    _ w: Int, _ x0: Float, _ x1: Float, _ x2: Float, _ x3: Float,
    _ r0: UnsafePointer<Float>, _ r1: UnsafePointer<Float>, _ r2: UnsafePointer<Float>,
    _ r3: UnsafePointer<Float>, _ acc: UnsafeMutablePointer<Float>
  ) {
    let (v0, v1, v2, v3) = (V(repeating: x0), V(repeating: x1), V(repeating: x2), V(repeating: x3))
    let out = UnsafeMutableRawPointer(acc)
    var j = 0
    while j + width <= w {
      var s = out.loadUnaligned(fromByteOffset: j * 4, as: V.self)
      s = s.addingProduct(v0, load(r0, j))
      s = s.addingProduct(v1, load(r1, j))
      s = s.addingProduct(v2, load(r2, j))
      s = s.addingProduct(v3, load(r3, j))
      out.storeBytes(of: s, toByteOffset: j * 4, as: V.self)
      j += width
    }
    while j < w {
      acc[j] += x0 * r0[j] + x1 * r1[j] + x2 * r2[j] + x3 * r3[j]
      j += 1
    }
  }
}
