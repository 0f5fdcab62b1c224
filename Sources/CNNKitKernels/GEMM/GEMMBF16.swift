import CKernelBF16
import Foundation

/// bfloat16: the top half of an fp32 (8-bit exponent, 7-bit mantissa), the operand type of mixed
/// precision (`--precision bf16`): products of two bf16 values are exact in fp32, so a GEMM of bf16
/// operands accumulated in fp32 loses only the operands' rounding.
public enum BFloat16 {
  /// `x` rounded to the nearest bf16 (ties to even), as its 16 bits; a NaN stays a (quiet) NaN.
  @inline(__always)
  public static func bits(_ x: Float) -> UInt16 {
    let b = x.bitPattern
    if b & 0x7FFF_FFFF > 0x7F80_0000 { return UInt16(truncatingIfNeeded: (b | 0x0040_0000) >> 16) }
    return UInt16(truncatingIfNeeded: (b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16)
  }

  /// The fp32 value of bf16 bits `h` (exact).
  @inline(__always)
  public static func value(_ h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }

  /// `x` rounded to bf16 precision, kept as fp32.
  @inline(__always)
  public static func rounded(_ x: Float) -> Float { value(bits(x)) }

  /// `dst[i] = rounded(src[i])` for `count` elements (`dst` may be `src`), 8 at a time.
  public static func round(count: Int, _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>) {
    typealias U = SIMD8<UInt32>
    Parallel.forRanges((count + 7) / 8, minimumChunk: 4096) { vectors in
      var i = vectors.lowerBound * 8
      let end = min(count, vectors.upperBound * 8)
      while i + 8 <= end {
        let b = UnsafeRawPointer(src + i).loadUnaligned(as: U.self)
        var r = (b &+ 0x7FFF &+ ((b &>> 16) & 1)) & 0xFFFF_0000
        r.replace(with: (b | 0x0040_0000) & 0xFFFF_0000, where: (b & 0x7FFF_FFFF) .> 0x7F80_0000)
        UnsafeMutableRawPointer(dst + i).storeBytes(of: r, as: U.self)
        i += 8
      }
      while i < end {
        dst[i] = rounded(src[i])
        i += 1
      }
    }
  }

  /// Whether this CPU multiplies bf16 in hardware (AVX-512 BF16's `vdpbf16ps`), so that bf16 runs
  /// faster than fp32. `CNNKIT_BF16_HARDWARE=0` turns it off (to compare against the fp32 route).
  public static let hardware: Bool =
    cnnkit_bf16_hardware() != 0 && ProcessInfo.processInfo.environment["CNNKIT_BF16_HARDWARE"] != "0"
}

/// Which tile `BF16GEMM` multiplies with.
public enum BF16Tile: Sendable {
  /// AVX-512 BF16 (`BFloat16.hardware` must be true).
  case hardware
  /// The same tile in plain C, for tests on any CPU (slow).
  case emulated
}

/// A GEMM on bf16 operands with fp32 accumulation, blocked like `PackedGEMM` around the 12×32 tile
/// of `CKernelBF16`: A (the weights) packed once into pairs of k steps, B packed per block from any
/// fp32 source (a matrix or an implicit-im2col packer) and rounded as it is packed.
public enum BF16GEMM {
  /// Rows and columns of one tile.
  static let mr = Int(CNNKIT_BF16_MR)
  static let nr = Int(CNNKIT_BF16_NR)
  /// Depth of one packed slice (even): a 32-column B sliver of it (24 KiB) stays in L1.
  static let kc = 384
  /// Columns of one packed B block.
  static let nc = 2048

  /// bf16 values (`UInt16`s) of `packA`'s result for an `m × k` A.
  public static func packedACount(m: Int, k: Int) -> Int {
    (m + mr - 1) / mr * 2 * mr * ((k + 1) / 2)
  }

  /// Packs `op(A)` (`m × k`; `Aᵀ` when `transposeA`) rounded to bf16: for each `kc`-deep slice
  /// starting at `p0`, sliver `s` (12 rows) at `(p0/2 · slivers + s · pairs) · 24`, where `pairs` is
  /// the slice's depth in pairs; pair `q` of row `i` at `24q + 2i` (even step) and `+ 1` (odd step).
  public static func packA(
    transposeA: Bool, m: Int, k: Int, a: UnsafePointer<Float>, lda: Int, dst: UnsafeMutablePointer<UInt16>
  ) {
    let slivers = (m + mr - 1) / mr
    Parallel.forRanges(slivers, minimumChunk: 8) { range in
      for s in range {
        for p0 in stride(from: 0, to: k, by: kc) {
          let depth = min(kc, k - p0)
          let pairs = (depth + 1) / 2
          let out = dst + (p0 / 2 * slivers + s * pairs) * 2 * mr
          for q in 0..<pairs {
            for i in 0..<mr {
              let row = s * mr + i
              for half in 0..<2 {
                let p = p0 + 2 * q + half
                var v: Float = 0
                if row < m && p < k { v = transposeA ? a[p * lda + row] : a[row * lda + p] }
                out[2 * mr * q + 2 * i + half] = BFloat16.bits(v)
              }
            }
          }
        }
      }
    }
  }

  /// `C = op(A) · op(B)` (or `C += …` when `accumulate`), A packed by `packA` (`m × k`), `op(B)`
  /// (`k × n`) read from `source` (`.matrix` or `.packer`), C row-major with stride `ldc`.
  static func run(
    m: Int, n: Int, k: Int, packedA: UnsafePointer<UInt16>, source: GEMMSourceB,
    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, tile: BF16Tile
  ) {
    if m <= 0 || n <= 0 { return }
    if k <= 0 {
      if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
      return
    }
    precondition(tile == .emulated || BFloat16.hardware, "BF16GEMM: no AVX-512 BF16 on this CPU")
    let kernel = tile == .hardware ? cnnkit_bf16_tile_avx512 : cnnkit_bf16_tile_emulated
    let mSlivers = (m + mr - 1) / mr
    let blockSlivers = (min(nc, n) + nr - 1) / nr
    let pairsMax = (min(kc, k) + 1) / 2
    // The packed B block; each thread packs a sliver in fp32 first (on its stack), then rounds it.
    let blockHalves = blockSlivers * pairsMax * 2 * nr
    let stagingFloats = min(kc, k) * nr
    GEMMWorkspace.with(floats: (blockHalves + 1) / 2) { workspace in
      let block = UnsafeMutableRawPointer(workspace).assumingMemoryBound(to: UInt16.self)
      for j0 in stride(from: 0, to: n, by: nc) {
        let cols = min(nc, n - j0)
        let slivers = (cols + nr - 1) / nr
        for p0 in stride(from: 0, to: k, by: kc) {
          let depth = min(kc, k - p0)
          let pairs = (depth + 1) / 2
          Parallel.forRanges(slivers) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: stagingFloats) { staging in
              let fp32 = staging.baseAddress!
              for t in range {
                let colStart = j0 + t * nr
                packSliver(
                  source, colStart: colStart, cols: min(nr, n - colStart), p0: p0, kc: depth, fp32: fp32)
                interleavePairs(fp32, depth: depth, dst: block + t * pairs * 2 * nr)
              }
            }
          }
          let a = packedA + p0 / 2 * mSlivers * 2 * mr
          Parallel.forRanges(slivers * mSlivers) { tiles in
            for index in tiles {
              let (t, s) = index.quotientAndRemainder(dividingBy: mSlivers)
              let (row, col) = (s * mr, j0 + t * nr)
              kernel(
                pairs, a + s * pairs * 2 * mr, block + t * pairs * 2 * nr, c + row * ldc + col, ldc,
                Int32(min(mr, m - row)), Int32(min(nr, n - col)), accumulate || p0 > 0 ? 1 : 0)
            }
          }
        }
      }
    }
  }

  /// One 32-column fp32 sliver of `op(B)[p0 ..< p0 + kc, colStart ..< colStart + cols]` into `fp32`
  /// (`kc × 32`, k-major, zero-padded).
  private static func packSliver(
    _ source: GEMMSourceB, colStart: Int, cols: Int, p0: Int, kc: Int, fp32: UnsafeMutablePointer<Float>
  ) {
    switch source {
    case .packer(let pack):
      pack(colStart, cols, p0, kc, nr, fp32)
    case .matrix(let b, let ld, let transposed):
      for p in 0..<kc {
        let row = fp32 + p * nr
        for j in 0..<nr {
          row[j] =
            j < cols ? (transposed ? b[(colStart + j) * ld + p0 + p] : b[(p0 + p) * ld + colStart + j]) : 0
        }
      }
    case .prepacked:
      preconditionFailure("BF16GEMM packs B itself")
    }
  }

  /// A `kc × 32` fp32 sliver as bf16 pairs of k steps: step `2q + h` of column `j` at `64q + 2j + h`,
  /// an odd last step paired with zero.
  private static func interleavePairs(
    _ fp32: UnsafePointer<Float>, depth: Int, dst: UnsafeMutablePointer<UInt16>
  ) {
    for q in 0..<(depth + 1) / 2 {
      let even = fp32 + 2 * q * nr
      let odd = 2 * q + 1 < depth ? fp32 + (2 * q + 1) * nr : nil
      let out = dst + q * 2 * nr
      for j in 0..<nr {
        out[2 * j] = BFloat16.bits(even[j])
        out[2 * j + 1] = odd.map { BFloat16.bits($0[j]) } ?? 0
      }
    }
  }
}

/// `C = op(A) · op(B) + beta · C` (`beta` 0 or 1) with both operands rounded to bf16 and fp32
/// accumulation: on the bf16 tile (`tile`), or with no tile given by rounding copies of both and
/// multiplying those in fp32 (the route on CPUs without AVX-512 BF16; the same products, summed in
/// another order).
public func gemmBF16(
  transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
  b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int,
  tile: BF16Tile? = BFloat16.hardware ? .hardware : nil
) {
  precondition(beta == 0 || beta == 1, "gemmBF16: beta must be 0 or 1")
  guard let tile else {
    // Every element up to the last one read: rows of stride `ld`, the last one only as long as used.
    let aCount = transposeA ? (k - 1) * lda + m : (m - 1) * lda + k
    let bCount = transposeB ? (n - 1) * ldb + k : (k - 1) * ldb + n
    if m <= 0 || n <= 0 || k <= 0 {
      gemm(
        transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 1, a: a, lda: lda, b: b,
        ldb: ldb, beta: beta, c: c, ldc: ldc)
      return
    }
    GEMMWorkspace.with(floats: aCount + bCount) { copies in
      BFloat16.round(count: aCount, a, copies)
      BFloat16.round(count: bCount, b, copies + aCount)
      gemm(
        transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 1, a: copies, lda: lda,
        b: copies + aCount, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }
    return
  }
  let halves = BF16GEMM.packedACount(m: m, k: k)
  GEMMWorkspace.with(floats: (halves + 1) / 2) { packed in
    let pairs = UnsafeMutableRawPointer(packed).assumingMemoryBound(to: UInt16.self)
    BF16GEMM.packA(transposeA: transposeA, m: m, k: k, a: a, lda: lda, dst: pairs)
    BF16GEMM.run(
      m: m, n: n, k: k, packedA: pairs, source: .matrix(b, ld: ldb, transposed: transposeB), c: c, ldc: ldc,
      accumulate: beta == 1, tile: tile)
  }
}

/// `C = A · op(B)` (`C += …` when `accumulate`) on the bf16 tile, with A (`m × k`) packed once by
/// `BF16GEMM.packA` and `op(B)` (`k × n`; `Bᵀ` when `transposeB`) rounded as it is packed.
public func gemmBF16Prepacked(
  m: Int, n: Int, k: Int, packedA: UnsafePointer<UInt16>, b: UnsafePointer<Float>, ldb: Int, transposeB: Bool,
  c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, tile: BF16Tile
) {
  BF16GEMM.run(
    m: m, n: n, k: k, packedA: packedA, source: .matrix(b, ld: ldb, transposed: transposeB), c: c, ldc: ldc,
    accumulate: accumulate, tile: tile)
}
