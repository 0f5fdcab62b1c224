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
        // Rows are contiguous along k. Full slivers go through SIMD transposes of 8 k steps: 8 rows at
        // a time, then 4 (12 = 8 + 4; 6 = 4 + 4 overlapping in rows [2, 4), written twice alike).
        var p = 0
        if h == mr && mr >= 4 {
          let src = a + (rowStart + i) * lda + p0
          while p + 8 <= kc {
            var r0 = 0
            while r0 < mr {
              if mr - r0 >= 8 {
                transpose8x8(src + r0 * lda + p, lds: lda, out + p * mr + r0, ldd: mr)
                r0 += 8
              } else {
                let first = min(r0, mr - 4)
                transpose4x8(src + first * lda + p, lds: lda, out + p * mr + first, ldd: mr)
                r0 = first + 4
              }
            }
            p += 8
          }
        }
        // The rest: read each row straight, write with stride `mr` (stays in L1).
        for r in 0..<h {
          let src = a + (rowStart + i + r) * lda + p0
          var o = out + p * mr + r
          for q in p..<kc {
            o.pointee = src[q]
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
        // op(B)[p, j] = b[j·ldb + p]: full slivers in 8×8 SIMD transposes, the rest element-wise.
        var p = 0
        if w == nr && nr % 8 == 0 {
          let src = b + (colStart + j) * ldb + p0
          while p + 8 <= kc {
            for c0 in stride(from: 0, to: nr, by: 8) {
              transpose8x8(src + c0 * ldb + p, lds: ldb, out + p * nr + c0, ldd: nr)
            }
            p += 8
          }
        }
        for c in 0..<w {
          let src = b + (colStart + j + c) * ldb + p0
          var o = out + p * nr + c
          for q in p..<kc {
            o.pointee = src[q]
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

/// `dst[p·ldd + r] = src[r·lds + p]` for an 8×8 block: three rounds of even/odd unzips of row pairs
/// (each round rotates the 6-bit element index by one bit; three swap row and column bits).
@inline(__always)
func transpose8x8(_ src: UnsafePointer<Float>, lds: Int, _ dst: UnsafeMutablePointer<Float>, ldd: Int) {
  typealias V = SIMD8<Float>
  @inline(__always) func even(_ a: V, _ b: V) -> V { SIMD16(lowHalf: a, highHalf: b).evenHalf }
  @inline(__always) func odd(_ a: V, _ b: V) -> V { SIMD16(lowHalf: a, highHalf: b).oddHalf }
  let s = UnsafeRawPointer(src)
  let stride = lds * 4
  var r0 = s.loadUnaligned(as: V.self)
  var r1 = s.loadUnaligned(fromByteOffset: stride, as: V.self)
  var r2 = s.loadUnaligned(fromByteOffset: 2 * stride, as: V.self)
  var r3 = s.loadUnaligned(fromByteOffset: 3 * stride, as: V.self)
  var r4 = s.loadUnaligned(fromByteOffset: 4 * stride, as: V.self)
  var r5 = s.loadUnaligned(fromByteOffset: 5 * stride, as: V.self)
  var r6 = s.loadUnaligned(fromByteOffset: 6 * stride, as: V.self)
  var r7 = s.loadUnaligned(fromByteOffset: 7 * stride, as: V.self)
  for _ in 0..<3 {
    (r0, r1, r2, r3, r4, r5, r6, r7) = (
      even(r0, r1), even(r2, r3), even(r4, r5), even(r6, r7),
      odd(r0, r1), odd(r2, r3), odd(r4, r5), odd(r6, r7)
    )
  }
  let d = UnsafeMutableRawPointer(dst)
  let out = ldd * 4
  d.storeBytes(of: r0, as: V.self)
  d.storeBytes(of: r1, toByteOffset: out, as: V.self)
  d.storeBytes(of: r2, toByteOffset: 2 * out, as: V.self)
  d.storeBytes(of: r3, toByteOffset: 3 * out, as: V.self)
  d.storeBytes(of: r4, toByteOffset: 4 * out, as: V.self)
  d.storeBytes(of: r5, toByteOffset: 5 * out, as: V.self)
  d.storeBytes(of: r6, toByteOffset: 6 * out, as: V.self)
  d.storeBytes(of: r7, toByteOffset: 7 * out, as: V.self)
}

/// `dst[p·ldd + r] = src[r·lds + p]` for 4 rows by 8 columns: the same even/odd unzips on four
/// vectors leave columns `2j` and `2j+1` in vector `j`, one per half.
@inline(__always)
func transpose4x8(_ src: UnsafePointer<Float>, lds: Int, _ dst: UnsafeMutablePointer<Float>, ldd: Int) {
  typealias V = SIMD8<Float>
  @inline(__always) func even(_ a: V, _ b: V) -> V { SIMD16(lowHalf: a, highHalf: b).evenHalf }
  @inline(__always) func odd(_ a: V, _ b: V) -> V { SIMD16(lowHalf: a, highHalf: b).oddHalf }
  let s = UnsafeRawPointer(src)
  let stride = lds * 4
  var r0 = s.loadUnaligned(as: V.self)
  var r1 = s.loadUnaligned(fromByteOffset: stride, as: V.self)
  var r2 = s.loadUnaligned(fromByteOffset: 2 * stride, as: V.self)
  var r3 = s.loadUnaligned(fromByteOffset: 3 * stride, as: V.self)
  for _ in 0..<3 {
    (r0, r1, r2, r3) = (even(r0, r1), even(r2, r3), odd(r0, r1), odd(r2, r3))
  }
  let d = UnsafeMutableRawPointer(dst)
  let out = ldd * 4
  typealias H = SIMD4<Float>
  d.storeBytes(of: r0.lowHalf, as: H.self)
  d.storeBytes(of: r0.highHalf, toByteOffset: out, as: H.self)
  d.storeBytes(of: r1.lowHalf, toByteOffset: 2 * out, as: H.self)
  d.storeBytes(of: r1.highHalf, toByteOffset: 3 * out, as: H.self)
  d.storeBytes(of: r2.lowHalf, toByteOffset: 4 * out, as: H.self)
  d.storeBytes(of: r2.highHalf, toByteOffset: 5 * out, as: H.self)
  d.storeBytes(of: r3.lowHalf, toByteOffset: 6 * out, as: H.self)
  d.storeBytes(of: r3.highHalf, toByteOffset: 7 * out, as: H.self)
}
