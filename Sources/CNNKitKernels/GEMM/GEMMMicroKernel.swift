import CKernelSupport

/// A register-tiled inner kernel of the packed GEMM: `C[tile] = alpha · Asliver · Bsliver + beta · C[tile]`.
///
/// The driver and the packing are generic over it, so one kernel per instruction set can be chosen at
/// build time (`MicroKernel`) while tests still run every kernel against the reference.
protocol GEMMMicroKernel {
  /// Rows of C per tile (the height of a packed A sliver).
  static var mr: Int { get }
  /// Columns of C per tile (the width of a packed B sliver).
  static var nr: Int { get }
  /// Depth of one packed slice, chosen so a `kc×nr` B sliver and an `mr×kc` A sliver fit in L1.
  static var kcMax: Int { get }
  /// Rows and columns an edge tile's work is rounded up to (a kernel with half-size edge loops does
  /// half the work of a full tile there); for balancing threads.
  static var edgeRows: Int { get }
  static var edgeCols: Int { get }

  /// `run` on a full `mr × nr` tile with B read from the matrix itself (step `p` at `b + p·ldb`,
  /// `nr` contiguous floats) that also writes the packed sliver to `packed`, for the calls that
  /// follow on the same columns.
  static func runPackingB(
    kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int, packed: UnsafeMutablePointer<Float>,
    c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float)

  /// `C[0..<rows, 0..<cols] = alpha · A · B + beta · C` over `kc` packed steps.
  ///
  /// `a` holds `kc` groups of `mr` floats, `b` holds `kc` groups of `nr` floats (both zero-padded).
  /// Partial tiles go through `scratch` (`mr·nr` floats) so the hot loop never branches on size.
  /// `beta == 0` overwrites C without reading it, so NaN or garbage there is ignored.
  static func run(
    kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
    c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, cols: Int,
    alpha: Float, beta: Float, scratch: UnsafeMutablePointer<Float>)
}

extension GEMMMicroKernel {
  static var edgeRows: Int { mr }
  static var edgeCols: Int { nr }
}

/// How many k steps ahead `runPackingB` prefetches B's rows: a row stride of a page or more
/// defeats the hardware prefetcher, and about 30 steps of FMAs cover a trip to memory.
private let prefetchSteps = 32

#if CNNKIT_AVX512
  /// The kernel this build uses: 12×32 in zmm registers (AVX-512 build).
  typealias MicroKernel = MicroKernel12x32
#else
  /// The kernel this build uses: 6×16 in ymm registers (AVX2 build, and the portable fallback).
  typealias MicroKernel = MicroKernel6x16
#endif

/// Which GEMM micro-kernel and instruction set this build runs (for benchmark reports).
public enum GEMMKernelInfo {
  /// Instruction set the package was built for: `avx512`, `avx2` or `generic`.
  public static var isa: String {
    #if CNNKIT_AVX512
      return "avx512"
    #elseif CNNKIT_AVX2
      return "avx2"
    #else
      return "generic"
    #endif
  }

  /// The micro-kernel tile, e.g. `12x32`.
  public static var tile: String { "\(MicroKernel.mr)x\(MicroKernel.nr)" }

  /// How the packed GEMM splits an `m×n×k` product over `Parallel.threadCount` threads: its task
  /// grid, and whether B is first packed once for all of them. For tests and profiles. `storedB`: B
  /// is a stored, untransposed matrix, which the kernel packs in its loop; otherwise it is
  /// transposed or built by a packer (a convolution's implicit im2col).
  public static func threadSplit(m: Int, n: Int, k: Int, packedA: Bool, storedB: Bool = false) -> (
    rowTasks: Int, columnTasks: Int, sharesB: Bool
  ) {
    let plan = PackedGEMM.threadPlan(
      MicroKernel.self, m: m, n: n, k: k, aPacked: packedA, bFused: storedB)
    return (plan.rowTasks, plan.columnTasks, plan.sharesB)
  }
}

/// Stores one row of a tile, `width` SIMD vectors wide, applying alpha and beta.
@inline(__always)
private func storeTileRow<V: SIMD>(
  _ c: UnsafeMutablePointer<Float>, _ x: V, offset: Int, _ alpha: Float, _ beta: Float
) where V.Scalar == Float {
  let p = UnsafeMutableRawPointer(c)
  if beta == 0 {
    p.storeBytes(of: x * alpha, toByteOffset: offset, as: V.self)
  } else if beta == 1 {
    let y = p.loadUnaligned(fromByteOffset: offset, as: V.self)
    p.storeBytes(of: y.addingProduct(x, alpha), toByteOffset: offset, as: V.self)
  } else {
    let y = p.loadUnaligned(fromByteOffset: offset, as: V.self) * beta
    p.storeBytes(of: y.addingProduct(x, alpha), toByteOffset: offset, as: V.self)
  }
}

/// Scalar write-back of the valid part of a partial tile; kept out of line so it stays cold.
@inline(never)
private func storeTileEdge(
  _ tile: UnsafePointer<Float>, nr: Int, _ c: UnsafeMutablePointer<Float>, _ ldc: Int,
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

/// Six rows by two vectors of accumulators: the 6×16 tile (ymm), or half of the 12×32 tile (zmm),
/// whose short edge is one. Inlined into the loops, its fields live in registers.
struct SixRows<Vector: SIMD> where Vector.Scalar == Float {
  var c00 = Vector(), c01 = Vector(), c10 = Vector(), c11 = Vector(), c20 = Vector(), c21 = Vector()
  var c30 = Vector(), c31 = Vector(), c40 = Vector(), c41 = Vector(), c50 = Vector(), c51 = Vector()

  /// One k step: the six A values at `a` broadcast against the two B vectors.
  @inline(__always)
  mutating func step(_ a: UnsafeRawPointer, _ b0: Vector, _ b1: Vector) {
    var av = Vector(repeating: a.load(as: Float.self))
    c00 = c00.addingProduct(av, b0)
    c01 = c01.addingProduct(av, b1)
    av = Vector(repeating: a.load(fromByteOffset: 4, as: Float.self))
    c10 = c10.addingProduct(av, b0)
    c11 = c11.addingProduct(av, b1)
    av = Vector(repeating: a.load(fromByteOffset: 8, as: Float.self))
    c20 = c20.addingProduct(av, b0)
    c21 = c21.addingProduct(av, b1)
    av = Vector(repeating: a.load(fromByteOffset: 12, as: Float.self))
    c30 = c30.addingProduct(av, b0)
    c31 = c31.addingProduct(av, b1)
    av = Vector(repeating: a.load(fromByteOffset: 16, as: Float.self))
    c40 = c40.addingProduct(av, b0)
    c41 = c41.addingProduct(av, b1)
    av = Vector(repeating: a.load(fromByteOffset: 20, as: Float.self))
    c50 = c50.addingProduct(av, b0)
    c51 = c51.addingProduct(av, b1)
  }

  /// Writes the six rows to `out` (row stride `ld`) through `storeTileRow`.
  @inline(__always)
  func store(_ out: UnsafeMutablePointer<Float>, _ ld: Int, _ alpha: Float, _ beta: Float) {
    let width = MemoryLayout<Vector>.size
    storeTileRow(out, c00, offset: 0, alpha, beta)
    storeTileRow(out, c01, offset: width, alpha, beta)
    storeTileRow(out + ld, c10, offset: 0, alpha, beta)
    storeTileRow(out + ld, c11, offset: width, alpha, beta)
    storeTileRow(out + 2 * ld, c20, offset: 0, alpha, beta)
    storeTileRow(out + 2 * ld, c21, offset: width, alpha, beta)
    storeTileRow(out + 3 * ld, c30, offset: 0, alpha, beta)
    storeTileRow(out + 3 * ld, c31, offset: width, alpha, beta)
    storeTileRow(out + 4 * ld, c40, offset: 0, alpha, beta)
    storeTileRow(out + 4 * ld, c41, offset: width, alpha, beta)
    storeTileRow(out + 5 * ld, c50, offset: 0, alpha, beta)
    storeTileRow(out + 5 * ld, c51, offset: width, alpha, beta)
  }
}

/// 6×16 tile in twelve `SIMD8<Float>` accumulators: 12 + 2 B vectors + 1 broadcast = 15 of the 16
/// ymm registers on AVX2.
enum MicroKernel6x16: GEMMMicroKernel {
  static var mr: Int { 6 }
  static var nr: Int { 16 }
  static var kcMax: Int { 384 }
  typealias Vector = SIMD8<Float>

  @inline(__always)
  static func run(
    kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
    c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, cols: Int,
    alpha: Float, beta: Float, scratch: UnsafeMutablePointer<Float>
  ) {
    var tile = SixRows<Vector>()
    var pa = UnsafeRawPointer(a)
    var pb = UnsafeRawPointer(b)
    for _ in 0..<kc {
      tile.step(pa, pb.loadUnaligned(as: Vector.self), pb.loadUnaligned(fromByteOffset: 32, as: Vector.self))
      pa += 24
      pb += 64
    }
    let full = rows == mr && cols == nr
    let (out, ld) = full ? (c, ldc) : (scratch, nr)
    let (al, be): (Float, Float) = full ? (alpha, beta) : (1, 0)
    tile.store(out, ld, al, be)
    if !full { storeTileEdge(scratch, nr: nr, c, ldc, rows, cols, alpha, beta) }
  }

  /// The full tile with B read from the matrix, each step's two vectors stored to the packed sliver.
  @inline(never)
  static func runPackingB(
    kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int, packed: UnsafeMutablePointer<Float>,
    c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float
  ) {
    var tile = SixRows<Vector>()
    var pa = UnsafeRawPointer(a)
    var pb = UnsafeRawPointer(b)
    var out = UnsafeMutableRawPointer(packed)
    let ahead = prefetchSteps * ldb * 4
    for _ in 0..<kc {
      cnnkit_prefetch_l2(pb + ahead)
      cnnkit_prefetch_l2(pb + ahead + 63)
      let b0 = pb.loadUnaligned(as: Vector.self)
      let b1 = pb.loadUnaligned(fromByteOffset: 32, as: Vector.self)
      out.storeBytes(of: b0, as: Vector.self)
      out.storeBytes(of: b1, toByteOffset: 32, as: Vector.self)
      tile.step(pa, b0, b1)
      pa += 24
      pb += ldb * 4
      out += 64
    }
    tile.store(c, ldc, alpha, beta)
  }
}

/// 12×32 tile in twenty-four `SIMD16<Float>` accumulators: 24 + 2 B vectors + 1 broadcast = 27 of
/// the 32 zmm registers on AVX-512. Built for other targets it still computes the right answer, only
/// slowly (the accumulators spill), which lets the tests check it everywhere.
///
/// Edge tiles of at most 16 columns or 6 rows run half-size loops (`runNarrow`, `runShort`) on the
/// same packed slivers: a 13×13 map (N = 169) otherwise spends 23 of its last 32 columns, 12 % of
/// the GEMM, on padding.
enum MicroKernel12x32: GEMMMicroKernel {
  static var mr: Int { 12 }
  static var nr: Int { 32 }
  // A 256×32 B sliver (32 KiB) plus a 12×256 A sliver (12 KiB) fit Zen 5's 48 KiB L1.
  static var kcMax: Int { 256 }
  static var edgeRows: Int { 6 }
  static var edgeCols: Int { 16 }
  typealias Vector = SIMD16<Float>

  @inline(__always)
  static func run(
    kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
    c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, cols: Int,
    alpha: Float, beta: Float, scratch: UnsafeMutablePointer<Float>
  ) {
    if cols <= 16 {
      runNarrow(
        kc: kc, a: a, b: b, c: c, ldc: ldc, rows: rows, cols: cols, alpha: alpha, beta: beta, scratch: scratch
      )
      return
    }
    if rows <= 6 {
      runShort(
        kc: kc, a: a, b: b, c: c, ldc: ldc, rows: rows, cols: cols, alpha: alpha, beta: beta, scratch: scratch
      )
      return
    }
    var top = SixRows<Vector>(), bottom = SixRows<Vector>()
    var pa = UnsafeRawPointer(a)
    var pb = UnsafeRawPointer(b)
    for _ in 0..<kc {
      let b0 = pb.loadUnaligned(as: Vector.self)
      let b1 = pb.loadUnaligned(fromByteOffset: 64, as: Vector.self)
      top.step(pa, b0, b1)
      bottom.step(pa + 24, b0, b1)
      pa += 48
      pb += 128
    }
    let full = rows == mr && cols == nr
    let (out, ld) = full ? (c, ldc) : (scratch, nr)
    let (al, be): (Float, Float) = full ? (alpha, beta) : (1, 0)
    top.store(out, ld, al, be)
    bottom.store(out + 6 * ld, ld, al, be)
    if !full { storeTileEdge(scratch, nr: nr, c, ldc, rows, cols, alpha, beta) }
  }

  /// The full tile with B read from the matrix: two vector stores per step pack the sliver on the
  /// way, nearly free in a loop bound by its 24 FMAs (a separate pass cost 5–13 % of AlexNet's
  /// per-image conv GEMMs).
  @inline(never)
  static func runPackingB(
    kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int, packed: UnsafeMutablePointer<Float>,
    c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float
  ) {
    var top = SixRows<Vector>(), bottom = SixRows<Vector>()
    var pa = UnsafeRawPointer(a)
    var pb = UnsafeRawPointer(b)
    var out = UnsafeMutableRawPointer(packed)
    let step = ldb * 4
    let ahead = prefetchSteps * step
    for _ in 0..<kc {
      cnnkit_prefetch_l2(pb + ahead)
      cnnkit_prefetch_l2(pb + ahead + 64)
      cnnkit_prefetch_l2(pb + ahead + 127)
      let b0 = pb.loadUnaligned(as: Vector.self)
      let b1 = pb.loadUnaligned(fromByteOffset: 64, as: Vector.self)
      out.storeBytes(of: b0, as: Vector.self)
      out.storeBytes(of: b1, toByteOffset: 64, as: Vector.self)
      top.step(pa, b0, b1)
      bottom.step(pa + 24, b0, b1)
      pa += 48
      pb += step
      out += 128
    }
    top.store(c, ldc, alpha, beta)
    bottom.store(c + 6 * ldc, ldc, alpha, beta)
  }

  /// The left 16 columns of a tile (`cols ≤ 16`): twelve accumulators, one B vector per step.
  @inline(never)
  static func runNarrow(
    kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
    c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, cols: Int,
    alpha: Float, beta: Float, scratch: UnsafeMutablePointer<Float>
  ) {
    var c0 = Vector(), c1 = Vector(), c2 = Vector(), c3 = Vector()
    var c4 = Vector(), c5 = Vector(), c6 = Vector(), c7 = Vector()
    var c8 = Vector(), c9 = Vector(), ca = Vector(), cb = Vector()
    var pa = UnsafeRawPointer(a)
    var pb = UnsafeRawPointer(b)
    for _ in 0..<kc {
      let b0 = pb.loadUnaligned(as: Vector.self)
      c0 = c0.addingProduct(Vector(repeating: pa.load(as: Float.self)), b0)
      c1 = c1.addingProduct(Vector(repeating: pa.load(fromByteOffset: 4, as: Float.self)), b0)
      c2 = c2.addingProduct(Vector(repeating: pa.load(fromByteOffset: 8, as: Float.self)), b0)
      c3 = c3.addingProduct(Vector(repeating: pa.load(fromByteOffset: 12, as: Float.self)), b0)
      c4 = c4.addingProduct(Vector(repeating: pa.load(fromByteOffset: 16, as: Float.self)), b0)
      c5 = c5.addingProduct(Vector(repeating: pa.load(fromByteOffset: 20, as: Float.self)), b0)
      c6 = c6.addingProduct(Vector(repeating: pa.load(fromByteOffset: 24, as: Float.self)), b0)
      c7 = c7.addingProduct(Vector(repeating: pa.load(fromByteOffset: 28, as: Float.self)), b0)
      c8 = c8.addingProduct(Vector(repeating: pa.load(fromByteOffset: 32, as: Float.self)), b0)
      c9 = c9.addingProduct(Vector(repeating: pa.load(fromByteOffset: 36, as: Float.self)), b0)
      ca = ca.addingProduct(Vector(repeating: pa.load(fromByteOffset: 40, as: Float.self)), b0)
      cb = cb.addingProduct(Vector(repeating: pa.load(fromByteOffset: 44, as: Float.self)), b0)
      pa += 48
      pb += 128
    }
    let full = rows == mr && cols == 16
    let (out, ld) = full ? (c, ldc) : (scratch, nr)
    let (al, be): (Float, Float) = full ? (alpha, beta) : (1, 0)
    storeTileRow(out, c0, offset: 0, al, be)
    storeTileRow(out + ld, c1, offset: 0, al, be)
    storeTileRow(out + 2 * ld, c2, offset: 0, al, be)
    storeTileRow(out + 3 * ld, c3, offset: 0, al, be)
    storeTileRow(out + 4 * ld, c4, offset: 0, al, be)
    storeTileRow(out + 5 * ld, c5, offset: 0, al, be)
    storeTileRow(out + 6 * ld, c6, offset: 0, al, be)
    storeTileRow(out + 7 * ld, c7, offset: 0, al, be)
    storeTileRow(out + 8 * ld, c8, offset: 0, al, be)
    storeTileRow(out + 9 * ld, c9, offset: 0, al, be)
    storeTileRow(out + 10 * ld, ca, offset: 0, al, be)
    storeTileRow(out + 11 * ld, cb, offset: 0, al, be)
    if !full { storeTileEdge(scratch, nr: nr, c, ldc, rows, cols, alpha, beta) }
  }

  /// The top 6 rows of a tile (`rows ≤ 6`, `cols > 16`): twelve accumulators, six broadcasts per step.
  @inline(never)
  static func runShort(
    kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
    c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, cols: Int,
    alpha: Float, beta: Float, scratch: UnsafeMutablePointer<Float>
  ) {
    if rows <= 4 {
      runFour(
        kc: kc, a: a, b: b, c: c, ldc: ldc, rows: rows, cols: cols, alpha: alpha, beta: beta, scratch: scratch
      )
      return
    }
    var top = SixRows<Vector>()
    var pa = UnsafeRawPointer(a)
    var pb = UnsafeRawPointer(b)
    for _ in 0..<kc {
      top.step(pa, pb.loadUnaligned(as: Vector.self), pb.loadUnaligned(fromByteOffset: 64, as: Vector.self))
      pa += 48
      pb += 128
    }
    let full = rows == 6 && cols == nr
    let (out, ld) = full ? (c, ldc) : (scratch, nr)
    let (al, be): (Float, Float) = full ? (alpha, beta) : (1, 0)
    top.store(out, ld, al, be)
    if !full { storeTileEdge(scratch, nr: nr, c, ldc, rows, cols, alpha, beta) }
  }

  /// At most 4 rows by 32 columns: eight accumulators, still enough to hide the FMA latency. A
  /// 64-row GEMM (64 output channels) ends in 4 rows, which the 6-row loop spends 6 rows of work on.
  @inline(never)
  static func runFour(
    kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
    c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, cols: Int,
    alpha: Float, beta: Float, scratch: UnsafeMutablePointer<Float>
  ) {
    var c00 = Vector(), c01 = Vector(), c10 = Vector(), c11 = Vector()
    var c20 = Vector(), c21 = Vector(), c30 = Vector(), c31 = Vector()
    var pa = UnsafeRawPointer(a)
    var pb = UnsafeRawPointer(b)
    for _ in 0..<kc {
      let b0 = pb.loadUnaligned(as: Vector.self)
      let b1 = pb.loadUnaligned(fromByteOffset: 64, as: Vector.self)
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
      pa += 48
      pb += 128
    }
    // Rows past `rows` hold zero padding; only the first `rows` are copied out.
    storeTileRow(scratch, c00, offset: 0, 1, 0)
    storeTileRow(scratch, c01, offset: 64, 1, 0)
    storeTileRow(scratch + nr, c10, offset: 0, 1, 0)
    storeTileRow(scratch + nr, c11, offset: 64, 1, 0)
    storeTileRow(scratch + 2 * nr, c20, offset: 0, 1, 0)
    storeTileRow(scratch + 2 * nr, c21, offset: 64, 1, 0)
    storeTileRow(scratch + 3 * nr, c30, offset: 0, 1, 0)
    storeTileRow(scratch + 3 * nr, c31, offset: 64, 1, 0)
    storeTileEdge(scratch, nr: nr, c, ldc, rows, cols, alpha, beta)
  }
}
