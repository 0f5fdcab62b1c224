/// Packing of GEMM operands into the k-major, zero-padded slivers the micro-kernel streams.
/// Transposes are resolved here, so the kernel only ever sees one layout.
enum GEMMPacking {
  /// Packs `op(A)[rowStart..<rowStart+rows, p0..<p0+kc]` into `mr`-row slivers: sliver `s` occupies
  /// `dst[s·mr·kc ..< (s+1)·mr·kc]`, element `(r, p)` at `p·mr + r`. Rows past `rows` are zero.
  static func packA<K: GEMMMicroKernel>(
    _ kernel: K.Type, transposed: Bool, a: UnsafePointer<Float>, lda: Int, rowStart: Int, rows: Int,
    p0: Int, kc: Int, dst: UnsafeMutablePointer<Float>
  ) {
    let mr = K.mr
    var i = 0
    var out = dst
    while i < rows {
      let h = min(mr, rows - i)
      if transposed {
        // op(A)[r, p] = a[p·lda + r]: each k step is a short contiguous run.
        var src = a + p0 * lda + rowStart + i
        if h == mr {
          for p in 0..<kc {
            let o = out + p * mr
            for r in 0..<mr { o[r] = src[r] }
            src += lda
          }
        } else {
          for p in 0..<kc {
            let o = out + p * mr
            for r in 0..<h { o[r] = src[r] }
            for r in h..<mr { o[r] = 0 }
            src += lda
          }
        }
      } else {
        // Rows are contiguous along k: read each row straight, write with stride `mr` (stays in L1).
        for r in 0..<h {
          let src = a + (rowStart + i + r) * lda + p0
          var o = out + r
          for p in 0..<kc {
            o.pointee = src[p]
            o += mr
          }
        }
        for r in h..<mr {
          var o = out + r
          for _ in 0..<kc {
            o.pointee = 0
            o += mr
          }
        }
      }
      i += mr
      out += mr * kc
    }
  }

  /// Packs `op(B)[p0..<p0+kc, colStart..<colStart+cols]` into `nr`-column slivers: sliver `s` occupies
  /// `dst[s·nr·kc ..< (s+1)·nr·kc]`, element `(p, j)` at `p·nr + j`. Columns past `cols` are zero.
  static func packB<K: GEMMMicroKernel>(
    _ kernel: K.Type, transposed: Bool, b: UnsafePointer<Float>, ldb: Int, colStart: Int, cols: Int,
    p0: Int, kc: Int, dst: UnsafeMutablePointer<Float>
  ) {
    let nr = K.nr
    typealias V = SIMD8<Float>
    var j = 0
    var out = dst
    while j < cols {
      let w = min(nr, cols - j)
      if !transposed {
        // op(B)[p, j] = b[p·ldb + j]: each k step copies a contiguous run of `nr`.
        var src = b + p0 * ldb + colStart + j
        if w == nr {
          for p in 0..<kc {
            let s = UnsafeRawPointer(src)
            let o = UnsafeMutableRawPointer(out + p * nr)
            for v in stride(from: 0, to: nr * 4, by: 32) {
              o.storeBytes(of: s.loadUnaligned(fromByteOffset: v, as: V.self), toByteOffset: v, as: V.self)
            }
            src += ldb
          }
        } else {
          for p in 0..<kc {
            let o = out + p * nr
            for c in 0..<w { o[c] = src[c] }
            for c in w..<nr { o[c] = 0 }
            src += ldb
          }
        }
      } else {
        // op(B)[p, j] = b[j·ldb + p]: read each stored row straight, scatter with stride `nr`.
        for c in 0..<w {
          let src = b + (colStart + j + c) * ldb + p0
          var o = out + c
          for p in 0..<kc {
            o.pointee = src[p]
            o += nr
          }
        }
        for c in w..<nr {
          var o = out + c
          for _ in 0..<kc {
            o.pointee = 0
            o += nr
          }
        }
      }
      j += nr
      out += nr * kc
    }
  }
}
