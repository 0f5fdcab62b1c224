/// The register-tiled inner kernel of the packed GEMM: a 6×16 tile of C held in twelve `SIMD8<Float>`
/// accumulators (12 + 2 B vectors + 1 broadcast = 15 of the 16 ymm registers on AVX2).
enum MicroKernel {
  /// Rows of C per tile (the height of a packed A sliver).
  static let mr = 6
  /// Columns of C per tile (the width of a packed B sliver).
  static let nr = 16

  typealias Vector = SIMD8<Float>

  /// `C[0..<rows, 0..<cols] = alpha · Asliver · Bsliver + beta · C` over `kc` packed steps.
  ///
  /// `a` holds `kc` groups of `mr` floats, `b` holds `kc` groups of `nr` floats (both zero-padded).
  /// Partial tiles go through `scratch` (`mr·nr` floats) so the hot loop never branches on size.
  /// `beta == 0` overwrites C without reading it, so NaN or garbage there is ignored.
  @inline(__always)
  static func run(
    kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
    c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, cols: Int,
    alpha: Float, beta: Float, scratch: UnsafeMutablePointer<Float>
  ) {
    // Separate locals, not an array: they must live in registers for the whole loop.
    var c00 = Vector(), c01 = Vector()
    var c10 = Vector(), c11 = Vector()
    var c20 = Vector(), c21 = Vector()
    var c30 = Vector(), c31 = Vector()
    var c40 = Vector(), c41 = Vector()
    var c50 = Vector(), c51 = Vector()
    var pa = UnsafeRawPointer(a)
    var pb = UnsafeRawPointer(b)
    for _ in 0..<kc {
      let b0 = pb.loadUnaligned(as: Vector.self)
      let b1 = pb.loadUnaligned(fromByteOffset: 32, as: Vector.self)
      var av = Vector(repeating: pa.load(as: Float.self))
      c00 = c00.addingProduct(av, b0)
      c01 = c01.addingProduct(av, b1)
      av = Vector(repeating: pa.load(fromByteOffset: 4, as: Float.self))
      c10 = c10.addingProduct(av, b0)
      c11 = c11.addingProduct(av, b1)
      av = Vector(repeating: pa.load(fromByteOffset: 8, as: Float.self))
      c20 = c20.addingProduct(av, b0)
      c21 = c21.addingProduct(av, b1)
      av = Vector(repeating: pa.load(fromByteOffset: 12, as: Float.self))
      c30 = c30.addingProduct(av, b0)
      c31 = c31.addingProduct(av, b1)
      av = Vector(repeating: pa.load(fromByteOffset: 16, as: Float.self))
      c40 = c40.addingProduct(av, b0)
      c41 = c41.addingProduct(av, b1)
      av = Vector(repeating: pa.load(fromByteOffset: 20, as: Float.self))
      c50 = c50.addingProduct(av, b0)
      c51 = c51.addingProduct(av, b1)
      pa += 24
      pb += 64
    }
    if rows == mr && cols == nr {
      storeRow(c, c00, c01, alpha, beta)
      storeRow(c + ldc, c10, c11, alpha, beta)
      storeRow(c + 2 * ldc, c20, c21, alpha, beta)
      storeRow(c + 3 * ldc, c30, c31, alpha, beta)
      storeRow(c + 4 * ldc, c40, c41, alpha, beta)
      storeRow(c + 5 * ldc, c50, c51, alpha, beta)
      return
    }
    let s = UnsafeMutableRawPointer(scratch)
    s.storeBytes(of: c00, toByteOffset: 0, as: Vector.self)
    s.storeBytes(of: c01, toByteOffset: 32, as: Vector.self)
    s.storeBytes(of: c10, toByteOffset: 64, as: Vector.self)
    s.storeBytes(of: c11, toByteOffset: 96, as: Vector.self)
    s.storeBytes(of: c20, toByteOffset: 128, as: Vector.self)
    s.storeBytes(of: c21, toByteOffset: 160, as: Vector.self)
    s.storeBytes(of: c30, toByteOffset: 192, as: Vector.self)
    s.storeBytes(of: c31, toByteOffset: 224, as: Vector.self)
    s.storeBytes(of: c40, toByteOffset: 256, as: Vector.self)
    s.storeBytes(of: c41, toByteOffset: 288, as: Vector.self)
    s.storeBytes(of: c50, toByteOffset: 320, as: Vector.self)
    s.storeBytes(of: c51, toByteOffset: 352, as: Vector.self)
    storeEdge(scratch, c, ldc, rows, cols, alpha, beta)
  }

  @inline(__always)
  static func storeRow(
    _ c: UnsafeMutablePointer<Float>, _ x0: Vector, _ x1: Vector, _ alpha: Float, _ beta: Float
  ) {
    let p = UnsafeMutableRawPointer(c)
    if beta == 0 {
      p.storeBytes(of: x0 * alpha, toByteOffset: 0, as: Vector.self)
      p.storeBytes(of: x1 * alpha, toByteOffset: 32, as: Vector.self)
    } else if beta == 1 {
      let y0 = p.loadUnaligned(fromByteOffset: 0, as: Vector.self)
      let y1 = p.loadUnaligned(fromByteOffset: 32, as: Vector.self)
      p.storeBytes(of: y0.addingProduct(x0, alpha), toByteOffset: 0, as: Vector.self)
      p.storeBytes(of: y1.addingProduct(x1, alpha), toByteOffset: 32, as: Vector.self)
    } else {
      let y0 = p.loadUnaligned(fromByteOffset: 0, as: Vector.self) * beta
      let y1 = p.loadUnaligned(fromByteOffset: 32, as: Vector.self) * beta
      p.storeBytes(of: y0.addingProduct(x0, alpha), toByteOffset: 0, as: Vector.self)
      p.storeBytes(of: y1.addingProduct(x1, alpha), toByteOffset: 32, as: Vector.self)
    }
  }

  /// Scalar write-back of the valid part of a partial tile; kept out of line so it stays cold.
  @inline(never)
  static func storeEdge(
    _ tile: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, _ ldc: Int,
    _ rows: Int, _ cols: Int, _ alpha: Float, _ beta: Float
  ) {
    for r in 0..<rows {
      let src = tile + r * nr
      let dst = c + r * ldc
      if beta == 0 {
        for j in 0..<cols { dst[j] = alpha * src[j] }
      } else {
        for j in 0..<cols { dst[j] = alpha * src[j] + beta * dst[j] }
      }
    }
  }
}
