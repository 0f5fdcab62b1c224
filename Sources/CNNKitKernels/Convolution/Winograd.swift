import Foundation

/// Winograd F(4×4, 3×3) convolution (Lavin & Gray, 2015), forward only.
///
/// Each 4×4 output tile comes from a 6×6 input tile: `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`. Summed over
/// input channels, the element-wise product becomes 36 independent GEMMs
/// `[C_out × C_in] · [C_in × tiles]`, one per position in the 6×6 transformed tile: 144 multiplies
/// per tile and channel pair become 36 (4×). The transforms work on 8 tiles at once, one per SIMD lane.

/// Whether `conv2dWinogradForward` handles `s` and is expected to beat `conv2dForward`.
///
/// Needs a 3×3 kernel, stride 1, dilation 1 and no groups; then enough channels and tiles that the
/// 36 GEMMs are not dominated by transforming the weights on every call. With `weightsKept` (the
/// caller keeps the transformed weights across calls: inference) far fewer tiles pay off.
public func conv2dWinogradApplies(_ s: Conv2dShape, weightsKept: Bool = false) -> Bool {
  guard
    s.kernelHeight == 3, s.kernelWidth == 3, s.strideHeight == 1, s.strideWidth == 1,
    s.dilationHeight == 1, s.dilationWidth == 1, s.groups == 1,
    s.batch > 0, s.outHeight > 0, s.outWidth > 0
  else { return false }
  let plan = WinogradPlan(s, scratchBytes: 16 << 20)
  return s.inChannels >= WinogradPlan.minimumChannels && s.outChannels >= WinogradPlan.minimumChannels
    && plan.totalTiles >= (weightsKept ? WinogradPlan.minimumTilesKeptWeights : WinogradPlan.minimumTiles)
}

/// 3×3, stride-1, dilation-1, ungrouped convolution by Winograd F(4×4, 3×3); same contract as
/// `conv2dForward` (NCHW input, OIHW weight, optional bias, any padding). Writes every element of
/// `output`. Tiles are processed in chunks whose transformed input and products take about
/// `scratchBytes` (at least 8 tiles' worth), besides the transformed weights (36 · C_out · C_in floats).
///
/// `transformedWeight`, when given, is `weight` already through `conv2dWinogradTransformWeights`
/// (kept across calls while the weight is unchanged: transforming took 3–4 % of AlexNet's batch-32
/// inference).
public func conv2dWinogradForward(
  _ s: Conv2dShape, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
  bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, scratchBytes: Int = 16 << 20,
  transformedWeight: UnsafePointer<Float>? = nil
) {
  precondition(
    s.kernelHeight == 3 && s.kernelWidth == 3 && s.strideHeight == 1 && s.strideWidth == 1
      && s.dilationHeight == 1 && s.dilationWidth == 1 && s.groups == 1,
    "Winograd F(4×4, 3×3) needs a 3×3, stride-1, dilation-1, ungrouped convolution")
  if s.batch <= 0 || s.outHeight <= 0 || s.outWidth <= 0 || s.outChannels <= 0 { return }
  let plan = WinogradPlan(s, scratchBytes: scratchBytes)
  let (cin, cout) = (s.inChannels, s.outChannels)
  let ld = plan.chunkStride

  let weightFloats = transformedWeight == nil ? 36 * cout * cin : 0
  let layout = PackedTiles(cin: cin, tiles: plan.chunkTiles)
  // 8 floats of slack: a ragged last group of tiles loads a whole vector.
  WinogradScratch.with(floats: weightFloats + 36 * (layout.positionStride + cout * ld) + 8) { scratch in
    let u: WinogradWeights
    if let transformedWeight {
      u = .packed(transformedWeight, stride: gemmPackedACount(m: cout, k: cin))
    } else {
      winogradTransformWeights(cout: cout, cin: cin, weight: weight, u: scratch)
      u = .plain(scratch)
    }
    let v = scratch + weightFloats
    let m = v + 36 * layout.positionStride
    winogradForward(s, plan: plan, input: input, bias: bias, output: output, u: u, v: v, layout: layout, m: m)
  }
}

/// The transformed weights of one call: `U[position][co][ci]`, or kept packed for the GEMM
/// (`conv2dWinogradTransformWeights`), position `e` at `e · stride`.
private enum WinogradWeights {
  case plain(UnsafeMutablePointer<Float>)
  case packed(UnsafePointer<Float>, stride: Int)
}

/// Floats of `conv2dWinogradTransformWeights`'s result: 36 transformed positions of every filter,
/// each packed as the GEMM's A operand.
public func conv2dWinogradTransformedWeightCount(_ s: Conv2dShape) -> Int {
  36 * gemmPackedACount(m: s.outChannels, k: s.inChannels)
}

/// The weights as `conv2dWinogradForward` multiplies them, `U = G g Gᵀ` per filter, each of the 36
/// positions packed by `gemmPackA` (`conv2dWinogradTransformedWeightCount(s)` floats into `dst`).
public func conv2dWinogradTransformWeights(
  _ s: Conv2dShape, weight: UnsafePointer<Float>, dst: UnsafeMutablePointer<Float>
) {
  let (cout, cin) = (s.outChannels, s.inChannels)
  let stride = gemmPackedACount(m: cout, k: cin)
  GEMMWorkspace.with(floats: 36 * cout * cin) { u in
    winogradTransformWeights(cout: cout, cin: cin, weight: weight, u: u)
    Parallel.forEachDynamic(36) { e in
      gemmPackA(transposeA: false, m: cout, k: cin, a: u + e * cout * cin, lda: cin, dst: dst + e * stride)
    }
  }
}

/// The body of `conv2dWinogradForward` on its scratch: transformed weights `u`, inputs `v` (laid out
/// by `layout`), products `m`.
private func winogradForward(
  _ s: Conv2dShape, plan: WinogradPlan, input: UnsafePointer<Float>,
  bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
  u: WinogradWeights, v: UnsafeMutablePointer<Float>, layout: PackedTiles, m: UnsafeMutablePointer<Float>
) {
  let (cin, cout) = (s.inChannels, s.outChannels)
  let ld = plan.chunkStride
  let paddedCout = (cout + MicroKernel.mr - 1) / MicroKernel.mr * MicroKernel.mr

  var start = 0
  while start < plan.totalTiles {
    let count = min(plan.chunkTiles, plan.totalTiles - start)
    let groups = (count + 7) / 8
    let images = plan.images(firstTile: start, count: count)
    // Wide maps: runs of 8 tiles along a tile row, read with vector loads from a padded plane.
    // Narrow ones (fewer than `rowRunMinimum` tiles a row) would leave lanes idle: gather instead.
    if plan.rowRuns {
      Parallel.forRanges(images.count * cin, minimumChunk: 4) { items in
        let padded = PaddedPlane(s, plan: plan)
        defer { padded.free() }
        for item in items {
          let (j, c) = item.quotientAndRemainder(dividingBy: cin)
          let n = images.lowerBound + j
          padded.load(s, plane: input + (n * cin + c) * s.inHeight * s.inWidth)
          // A short run may store all 8 lanes when the extra ones belong to this image's later tiles:
          // this loop overwrites them afterwards, and full-vector stores are much cheaper.
          let end = min(start + count, (n + 1) * plan.tilesX * plan.tilesY) - start
          plan.forEachGroup(image: n, firstTile: start, count: count) { ty, tx0, lanes, offset in
            // A run crossing into the next sliver is stored in two parts.
            let split = layout.sliverColumns - offset % layout.sliverColumns
            winogradInputRun(
              padded, ty: ty, tx0: tx0, lanes: offset + 8 <= end ? 8 : lanes,
              v: v + layout.offset(channel: c, tile: offset), split: split,
              rest: v + layout.offset(channel: c, tile: offset + min(split, 8)),
              positionStride: layout.positionStride)
          }
        }
      }
    } else {
      Parallel.forRanges(cin * groups, minimumChunk: 16) { items in
        let gather = LaneGather(s, plan: plan)
        defer { gather.free() }
        for item in items {
          let c = item / groups
          let first = (item % groups) * 8
          winogradGatherInput(
            s, plan: plan, input: input, channel: c, firstTile: start + first,
            lanes: min(8, count - first), v: v + layout.offset(channel: c, tile: first),
            positionStride: layout.positionStride, gather: gather)
        }
      }
    }
    // One GEMM per thread at a time: each is too small to pay for splitting it across threads. The
    // transformed input is already in the GEMM's packed layout.
    Parallel.forEachDynamic(36) { position in
      let b = GEMMSourceB.prepacked(v + position * layout.positionStride, paddedColumns: layout.paddedTiles)
      let c = m + position * cout * ld
      switch u {
      case .plain(let u):
        PackedGEMM.run(
          kernel: MicroKernel.self, transposeA: false, m: cout, n: count, k: cin, alpha: 1,
          a: u + position * cout * cin, lda: cin, source: b, beta: 0, c: c, ldc: ld)
      case .packed(let u, let stride):
        PackedGEMM.run(
          kernel: MicroKernel.self, transposeA: false, m: cout, n: count, k: cin, alpha: 1,
          a: u + position * stride, lda: 1, source: b, beta: 0, c: c, ldc: ld,
          packedA: PrepackedA(pointer: u + position * stride, paddedRows: paddedCout))
      }
    }
    if plan.rowRuns {
      Parallel.forRanges(images.count * cout, minimumChunk: 4) { items in
        let t = UnsafeMutablePointer<Lanes>.allocate(capacity: 44)
        defer { t.deallocate() }
        for item in items {
          let (j, co) = item.quotientAndRemainder(dividingBy: cout)
          let n = images.lowerBound + j
          let plane = output + (n * cout + co) * s.outHeight * s.outWidth
          let b = bias.map { $0[co] } ?? 0
          plan.forEachGroup(image: n, firstTile: start, count: count) { ty, tx0, lanes, offset in
            winogradOutputRun(
              s, m: m + co * ld + offset, positionStride: cout * ld, bias: b, ty: ty, tx0: tx0, lanes: lanes,
              plane: plane, t: t)
          }
        }
      }
    } else {
      Parallel.forRanges(cout * groups, minimumChunk: 16) { items in
        let t = UnsafeMutablePointer<Lanes>.allocate(capacity: 40)
        defer { t.deallocate() }
        for item in items {
          let co = item / groups
          let first = (item % groups) * 8
          winogradScatterOutput(
            s, plan: plan, m: m + co * ld + first, positionStride: cout * ld, channel: co,
            bias: bias.map { $0[co] } ?? 0, firstTile: start + first, lanes: min(8, count - first),
            output: output, t: t)
        }
      }
    }
    start += count
  }
}

/// Tiling of the output into 4×4 tiles and of the tiles into chunks that bound the scratch memory.
struct WinogradPlan {
  // Measured against the AVX-512 im2col + GEMM on 2 Zen 4 cores; re-measure when either changes.
  /// With fewer input or output channels the transforms cost more than the GEMMs save
  /// (3 → 64 on 224² ran at 0.4× of im2col + GEMM, 8 or 16 → 64 on 32² at 0.7×).
  static let minimumChannels = 16
  /// Below this many tiles (batch · tiles per image) transforming the weights and the thin GEMMs
  /// cost more than they save: 16 tiles ran at 0.2–0.5×, 49–64 at 0.9–1.2×, 98 or more at 1.3–2×.
  static let minimumTiles = 96
  /// The same with the weights transformed once and kept (inference): the 14×14 layers of ResNet-18
  /// and VGG-16 and the 13×13 of AlexNet at batch 1 (16 tiles) then win too. At batch 1 on 2 AVX2
  /// cores, against a threshold of 96: ResNet-18 33 → 41–48 img/s, AlexNet 70–77 → 76–95, VGG-16
  /// 7.2–7.6 → 9.3–10.8. Not at 4 tiles (7×7): the transformed weights are 4× the bytes of the
  /// plain ones, and ResNet-18's 512-channel layers then wait on memory (2.3–2.5 ms against
  /// 2.0–2.2); F(2×2, 3×3) (`WinogradF2.swift`) takes those.
  static let minimumTilesKeptWeights = 16
  /// Tiles per row from which input and output are transformed in runs along tile rows.
  static let rowRunMinimum = 6

  let tilesX: Int
  let tilesY: Int
  let totalTiles: Int
  /// Tiles per chunk (the GEMMs' N).
  let chunkTiles: Int
  /// Row stride of the transformed input and GEMM output: `chunkTiles` rounded up to 8.
  let chunkStride: Int

  init(_ s: Conv2dShape, scratchBytes: Int) {
    tilesX = (s.outWidth + 3) / 4
    tilesY = (s.outHeight + 3) / 4
    totalTiles = s.batch * tilesX * tilesY
    let bytesPerTile = 36 * (s.inChannels + s.outChannels) * MemoryLayout<Float>.size
    let limit = max(8, scratchBytes / bytesPerTile / 8 * 8)
    // Equal chunks rather than full ones and a ragged last one.
    let chunks = (totalTiles + limit - 1) / limit
    let tiles = (totalTiles + chunks - 1) / chunks
    chunkTiles = chunks == 1 ? tiles : (tiles + 7) / 8 * 8
    chunkStride = (chunkTiles + 7) / 8 * 8
  }

  /// Whether tiles are transformed in runs along tile rows (else gathered 8 at a time).
  var rowRuns: Bool { tilesX >= Self.rowRunMinimum }

  /// The images that tiles `firstTile ..< firstTile + count` belong to.
  func images(firstTile: Int, count: Int) -> Range<Int> {
    let perImage = tilesX * tilesY
    return firstTile / perImage..<((firstTile + count - 1) / perImage + 1)
  }

  /// Calls `body(ty, tx0, lanes, offset)` for each run of at most 8 tiles of image `image` that lie
  /// in one tile row and in `firstTile ..< firstTile + count`; `offset` is the run's first tile
  /// counted from `firstTile`.
  @inline(__always)
  func forEachGroup(image: Int, firstTile: Int, count: Int, _ body: (Int, Int, Int, Int) -> Void) {
    let perImage = tilesX * tilesY
    let base = image * perImage
    let lo = max(firstTile, base) - base
    let hi = min(firstTile + count, base + perImage) - base
    var ty = lo / tilesX
    while ty * tilesX < hi {
      let rowStart = ty * tilesX
      var tx = max(lo, rowStart) - rowStart
      let txEnd = min(hi - rowStart, tilesX)
      while tx < txEnd {
        let lanes = min(8, txEnd - tx)
        body(ty, tx, lanes, base + rowStart + tx - firstTile)
        tx += lanes
      }
      ty += 1
    }
  }
}

/// Keeps the last scratch buffer for the next call.
///
/// A fresh buffer of tens of MiB comes from `mmap` and page-faults on first touch: for 512 channels
/// that cost more than the convolution. One buffer of at most `keepBytes` is kept; a call that finds
/// it in use (another thread convolving) or too small allocates its own.
enum WinogradScratch {
  private static let lock = NSLock()
  nonisolated(unsafe) private static var kept: (pointer: UnsafeMutableRawPointer, bytes: Int)?
  /// The transformed weights of a 512→512 layer (36 MiB) plus the default chunk scratch fit.
  static let keepBytes = 64 << 20

  /// Runs `body` with a 64-byte-aligned buffer of at least `floats` floats.
  static func with<R>(floats: Int, _ body: (UnsafeMutablePointer<Float>) -> R) -> R {
    let bytes = max(floats, 16) * MemoryLayout<Float>.stride
    lock.lock()
    var buffer = kept
    kept = nil
    lock.unlock()
    if let b = buffer, b.bytes < bytes {
      b.pointer.deallocate()
      buffer = nil
    }
    let (pointer, size) = buffer ?? (UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64), bytes)
    defer {
      lock.lock()
      if size <= keepBytes && (kept?.bytes ?? 0) < size {
        kept?.pointer.deallocate()
        kept = (pointer, size)
      } else {
        pointer.deallocate()
      }
      lock.unlock()
    }
    return body(pointer.bindMemory(to: Float.self, capacity: size / MemoryLayout<Float>.stride))
  }
}

private typealias Lanes = SIMD8<Float>

@inline(__always)
private func load(_ p: UnsafePointer<Float>) -> Lanes {
  UnsafeRawPointer(p).loadUnaligned(as: Lanes.self)
}

@inline(__always)
private func store(_ x: Lanes, _ p: UnsafeMutablePointer<Float>) {
  UnsafeMutableRawPointer(p).storeBytes(of: x, as: Lanes.self)
}

/// Stores the first `lanes` lanes of `x` from `p`.
@inline(__always)
private func storeLanes(_ x: Lanes, _ p: UnsafeMutablePointer<Float>, _ lanes: Int) {
  storeLanes(x, p, lanes, split: 8, rest: p)
}

/// Stores the first `lanes` lanes of `x`: those below `split` from `p`, the others from `rest`.
@inline(__always)
private func storeLanes(
  _ x: Lanes, _ p: UnsafeMutablePointer<Float>, _ lanes: Int, split: Int, rest: UnsafeMutablePointer<Float>
) {
  if lanes == 8 && split >= 8 {
    store(x, p)
    return
  }
  // Through memory: picking lanes out of the register splits the vector work into halves.
  withUnsafeTemporaryAllocation(of: Lanes.self, capacity: 1) { staged in
    staged[0] = x
    let floats = UnsafeRawPointer(staged.baseAddress!).assumingMemoryBound(to: Float.self)
    for k in 0..<min(lanes, split) { p[k] = floats[k] }
    for k in min(lanes, split)..<lanes { rest[k - split] = floats[k] }
  }
}

/// Where the transformed input of one position lies: `op(B)` of that position's GEMM (`cin × tiles`)
/// in the packed GEMM's layout (`gemmPackB`'s), so the transforms write it once and nothing repacks it.
struct PackedTiles {
  /// Input channels: the GEMMs' depth.
  let cin: Int
  /// Depth of one packed slice, as the packed GEMM cuts `cin`.
  let sliceDepth: Int
  /// Columns of one sliver.
  let sliverColumns: Int
  /// Tiles rounded up to whole slivers.
  let paddedTiles: Int
  /// Floats of one position.
  var positionStride: Int { paddedTiles * cin }

  init(cin: Int, tiles: Int) {
    self.cin = cin
    sliceDepth = PackedGEMM.blockSize(cin, limit: MicroKernel.kcMax, unit: 1)
    sliverColumns = MicroKernel.nr
    paddedTiles = (tiles + sliverColumns - 1) / sliverColumns * sliverColumns
  }

  /// Offset of (`channel`, `tile`) within a position; tiles of one sliver are consecutive.
  @inline(__always)
  func offset(channel: Int, tile: Int) -> Int {
    let (slice, row) = channel.quotientAndRemainder(dividingBy: sliceDepth)
    let depth = min(sliceDepth, cin - slice * sliceDepth)
    let (sliver, column) = tile.quotientAndRemainder(dividingBy: sliverColumns)
    return slice * sliceDepth * paddedTiles + (sliver * depth + row) * sliverColumns + column
  }
}

/// `Bᵀ d` along one line of 6 input values.
@inline(__always)
private func inputLine(
  _ d0: Lanes, _ d1: Lanes, _ d2: Lanes, _ d3: Lanes, _ d4: Lanes, _ d5: Lanes
) -> (Lanes, Lanes, Lanes, Lanes, Lanes, Lanes) {
  let d42 = d4 - d2
  let d31 = d3 - d1
  return (
    d42 + 4 * (d0 - d2),
    (d3 + d4) - 4 * (d1 + d2),
    (d4 - d3) + 4 * (d1 - d2),
    d42 + 2 * d31,
    d42 - 2 * d31,
    (d5 - d3) - 4 * d31
  )
}

/// `G g` along one line of 3 weights.
@inline(__always)
private func weightLine(_ g0: Lanes, _ g1: Lanes, _ g2: Lanes) -> (Lanes, Lanes, Lanes, Lanes, Lanes, Lanes) {
  let a = g0 + g2
  let b = g0 * (1 / 24) + g2 * (1 / 6)
  let c = g1 * (1 / 12)
  return (g0 * 0.25, (a + g1) * (-1 / 6), (a - g1) * (-1 / 6), b + c, b - c, g2)
}

/// `Aᵀ m` along one line of 6 products.
@inline(__always)
private func outputLine(
  _ m0: Lanes, _ m1: Lanes, _ m2: Lanes, _ m3: Lanes, _ m4: Lanes, _ m5: Lanes
) -> (Lanes, Lanes, Lanes, Lanes) {
  let a = m1 + m2
  let b = m1 - m2
  let c = m3 + m4
  let d = m3 - m4
  return (m0 + a + c, b + 2 * d, a + 4 * c, b + 8 * d + m5)
}

/// `U[position][co][ci] = (G g Gᵀ)[position]` for every filter, 8 input channels per SIMD lane.
private func winogradTransformWeights(
  cout: Int, cin: Int, weight: UnsafePointer<Float>, u: UnsafeMutablePointer<Float>
) {
  let groups = (cin + 7) / 8
  Parallel.forRanges(cout * groups, minimumChunk: 64) { items in
    let t = UnsafeMutablePointer<Lanes>.allocate(capacity: 27)
    defer { t.deallocate() }
    for item in items {
      let co = item / groups
      let ci0 = (item % groups) * 8
      let lanes = min(8, cin - ci0)
      // The 9 taps of 8 consecutive filters (72 contiguous floats), one filter per lane.
      let w = weight + (co * cin + ci0) * 9
      for tap in 0..<9 {
        if lanes == 8 {
          t[tap] = Lanes(
            w[tap], w[9 + tap], w[18 + tap], w[27 + tap], w[36 + tap], w[45 + tap], w[54 + tap], w[63 + tap])
        } else {
          var x = Lanes.zero
          for k in 0..<lanes { x[k] = w[9 * k + tap] }
          t[tap] = x
        }
      }
      // Along kernel columns: 3 rows become 6, in t[9 + 3i + kx].
      for kx in 0..<3 {
        let r = weightLine(t[kx], t[3 + kx], t[6 + kx])
        (t[9 + kx], t[12 + kx], t[15 + kx], t[18 + kx], t[21 + kx], t[24 + kx]) = r
      }
      // Along rows: 3 columns become 6, stored per position.
      let stride = cout * cin
      let base = u + co * cin + ci0
      for i in 0..<6 {
        let r = weightLine(t[9 + 3 * i], t[10 + 3 * i], t[11 + 3 * i])
        let p = base + 6 * i * stride
        storeLanes(r.0, p, lanes)
        storeLanes(r.1, p + stride, lanes)
        storeLanes(r.2, p + 2 * stride, lanes)
        storeLanes(r.3, p + 3 * stride, lanes)
        storeLanes(r.4, p + 4 * stride, lanes)
        storeLanes(r.5, p + 5 * stride, lanes)
      }
    }
  }
}

/// One thread's zero-bordered copy of an input plane, laid out so that every run of 8 tiles reads
/// its 6 rows with plain vector loads: padded pixel `(y, x)` is input pixel `(y − pad, x − pad)`.
/// 32 spare columns keep a run's 36-float row loads inside the buffer.
private struct PaddedPlane {
  let pointer: UnsafeMutablePointer<Float>
  let width: Int
  let height: Int
  /// Room for the 36 row-transformed vectors of one run of tiles.
  let rows: UnsafeMutablePointer<Lanes>

  init(_ s: Conv2dShape, plan: WinogradPlan) {
    width = 4 * plan.tilesX + 32
    height = 4 * plan.tilesY + 2
    pointer = .allocate(capacity: width * height)
    pointer.initialize(repeating: 0, count: width * height)
    rows = .allocate(capacity: 36)
  }

  /// Copies one input plane in; the border stays zero because every plane has the same geometry.
  func load(_ s: Conv2dShape, plane: UnsafePointer<Float>) {
    let rows = min(s.inHeight, height - s.padHeight)
    let cols = min(s.inWidth, width - s.padWidth)
    for y in 0..<rows {
      (pointer + (y + s.padHeight) * width + s.padWidth).update(from: plane + y * s.inWidth, count: cols)
    }
  }

  func free() {
    pointer.deallocate()
    rows.deallocate()
  }
}

@inline(__always)
private func even(_ a: Lanes, _ b: Lanes) -> Lanes { Lanes(a[0], a[2], a[4], a[6], b[0], b[2], b[4], b[6]) }
@inline(__always)
private func odd(_ a: Lanes, _ b: Lanes) -> Lanes { Lanes(a[1], a[3], a[5], a[7], b[1], b[3], b[5], b[7]) }
@inline(__always)
private func zipLow(_ a: Lanes, _ b: Lanes) -> Lanes { Lanes(a[0], b[0], a[1], b[1], a[2], b[2], a[3], b[3]) }
@inline(__always)
private func zipHigh(_ a: Lanes, _ b: Lanes) -> Lanes {
  Lanes(a[4], b[4], a[5], b[5], a[6], b[6], a[7], b[7])
}

/// Columns 0…5 of 8 consecutive tiles along one padded row starting at `p`: column `c` of tile `k`
/// is `p[4k + c]`, split out of contiguous loads by two rounds of even/odd unzips.
@inline(__always)
private func tileColumns(_ p: UnsafePointer<Float>) -> (Lanes, Lanes, Lanes, Lanes, Lanes, Lanes) {
  let (a0, a1, a2, a3) = (load(p), load(p + 8), load(p + 16), load(p + 24))
  let (b0, b1, b2, b3) = (load(p + 4), load(p + 12), load(p + 20), load(p + 28))
  let (e0, o0, e1, o1) = (even(a0, a1), odd(a0, a1), even(a2, a3), odd(a2, a3))
  let (f0, g0, f1, g1) = (even(b0, b1), odd(b0, b1), even(b2, b3), odd(b2, b3))
  return (even(e0, e1), even(o0, o1), odd(e0, e1), odd(o0, o1), even(f0, f1), even(g0, g1))
}

/// `Aᵀ M A + bias` for 8 tiles (one per lane) whose 36 products lie at `m[e · positionStride]`:
/// result row `y`, column `x` in `t[24 + 4y + x]` (`t[0..<24]` is scratch).
@inline(__always)
private func inverseTransform(
  _ m: UnsafePointer<Float>, positionStride: Int, bias: Float, t: UnsafeMutablePointer<Lanes>
) {
  // Rows of the 6×6 products to 6×4, in t[4i + x].
  for i in 0..<6 {
    let row = m + 6 * i * positionStride
    let o = outputLine(
      load(row), load(row + positionStride), load(row + 2 * positionStride),
      load(row + 3 * positionStride), load(row + 4 * positionStride), load(row + 5 * positionStride))
    (t[4 * i], t[4 * i + 1], t[4 * i + 2], t[4 * i + 3]) = o
  }
  let b = Lanes(repeating: bias)
  for x in 0..<4 {
    let o = outputLine(t[x], t[4 + x], t[8 + x], t[12 + x], t[16 + x], t[20 + x])
    (t[24 + x], t[28 + x], t[32 + x], t[36 + x]) = (o.0 + b, o.1 + b, o.2 + b, o.3 + b)
  }
}

/// Transforms tiles `tx0 ..< tx0 + lanes` of tile row `ty` of the plane in `padded`, one tile per
/// lane, and stores position `e` of lane `k` at `v[e · positionStride + k]`, or of lanes from `split`
/// on at `rest[e · positionStride + k − split]`.
@inline(__always)
private func winogradInputRun(
  _ padded: PaddedPlane, ty: Int, tx0: Int, lanes: Int, v: UnsafeMutablePointer<Float>, split: Int,
  rest: UnsafeMutablePointer<Float>, positionStride: Int
) {
  let d = padded.rows
  let w = padded.width
  let base = UnsafePointer(padded.pointer + 4 * ty * w + 4 * tx0)
  // Along each patch row first, into d[6r + j].
  for r in 0..<6 {
    let c = tileColumns(base + r * w)
    (d[6 * r], d[6 * r + 1], d[6 * r + 2], d[6 * r + 3], d[6 * r + 4], d[6 * r + 5]) = inputLine(
      c.0, c.1, c.2, c.3, c.4, c.5)
  }
  // Then down each column, straight to the transformed-input matrix.
  for c in 0..<6 {
    let o = inputLine(d[c], d[6 + c], d[12 + c], d[18 + c], d[24 + c], d[30 + c])
    @inline(__always) func put(_ x: Lanes, _ e: Int) {
      storeLanes(x, v + e * positionStride, lanes, split: split, rest: rest + e * positionStride)
    }
    put(o.0, c)
    put(o.1, 6 + c)
    put(o.2, 12 + c)
    put(o.3, 18 + c)
    put(o.4, 24 + c)
    put(o.5, 30 + c)
  }
}

/// Inverse-transforms tiles `tx0 ..< tx0 + lanes` of tile row `ty` of one output plane from
/// `m[e · positionStride + lane]`, adds `bias` and writes the in-bounds part of each 4×4 tile.
/// `t` is room for 44 vectors.
@inline(__always)
private func winogradOutputRun(
  _ s: Conv2dShape, m: UnsafePointer<Float>, positionStride: Int, bias: Float, ty: Int, tx0: Int,
  lanes: Int, plane: UnsafeMutablePointer<Float>, t: UnsafeMutablePointer<Lanes>
) {
  let (oh, ow) = (s.outHeight, s.outWidth)
  inverseTransform(m, positionStride: positionStride, bias: bias, t: t)
  // Each output row of the 8 tiles is interleaved into 32 floats.
  let y0 = 4 * ty
  let x0 = 4 * tx0
  let rows = min(4, oh - y0)
  let width = min(4 * lanes, ow - x0)
  for r in 0..<rows {
    let (c0, c1, c2, c3) = (t[24 + 4 * r], t[25 + 4 * r], t[26 + 4 * r], t[27 + 4 * r])
    let (u0, u1) = (zipLow(c0, c2), zipLow(c1, c3))
    let (u2, u3) = (zipHigh(c0, c2), zipHigh(c1, c3))
    let dst = plane + (y0 + r) * ow + x0
    if width == 32 {
      store(zipLow(u0, u1), dst)
      store(zipHigh(u0, u1), dst + 8)
      store(zipLow(u2, u3), dst + 16)
      store(zipHigh(u2, u3), dst + 24)
    } else {
      let staged = UnsafeMutableRawPointer(t + 40).assumingMemoryBound(to: Float.self)
      store(zipLow(u0, u1), staged)
      store(zipHigh(u0, u1), staged + 8)
      store(zipLow(u2, u3), staged + 16)
      store(zipHigh(u2, u3), staged + 24)
      // A short copy: a call to memmove would cost more than the copy.
      var x = 0
      while x + 4 <= width {
        UnsafeMutableRawPointer(dst + x).storeBytes(
          of: UnsafeRawPointer(staged + x).loadUnaligned(as: SIMD4<Float>.self), as: SIMD4<Float>.self)
        x += 4
      }
      while x < width {
        dst[x] = staged[x]
        x += 1
      }
    }
  }
}

/// One thread's buffers for gathering 8 input tiles into SIMD lanes.
///
/// Every lane reads its 6×6 patch from a zero-bordered copy of its plane (up to 8 planes, one per
/// image the 8 tiles touch), so tiles at the border need no bounds tests: on CIFAR's 8×8 and 16×16
/// maps most tiles are at a border, and building their patches element by element had cost more than
/// the transform. Unused lanes read zeros. Building each vector from 8 scalar loads avoids the
/// store-forwarding stalls of staging the patches through memory.
private struct LaneGather {
  /// 8 padded planes, `planeWidth × planeHeight` each; padded pixel (y, x) is input (y − pad, x − pad).
  let planes: UnsafeMutablePointer<Float>
  let planeWidth: Int
  let planeHeight: Int
  /// Which (image, channel) each plane holds, −1 when none.
  let loaded: UnsafeMutablePointer<(Int, Int)>
  /// 36 zeros for unused lanes.
  let zeros: UnsafeMutablePointer<Float>
  let bases: UnsafeMutablePointer<UnsafePointer<Float>>
  let strides: UnsafeMutablePointer<Int>
  let d: UnsafeMutablePointer<Lanes>

  init(_ s: Conv2dShape, plan: WinogradPlan) {
    planeWidth = 4 * plan.tilesX + 2
    planeHeight = 4 * plan.tilesY + 2
    planes = .allocate(capacity: 8 * planeWidth * planeHeight)
    planes.initialize(repeating: 0, count: 8 * planeWidth * planeHeight)
    loaded = .allocate(capacity: 8)
    loaded.initialize(repeating: (-1, -1), count: 8)
    zeros = .allocate(capacity: 36)
    zeros.initialize(repeating: 0, count: 36)
    bases = .allocate(capacity: 8)
    strides = .allocate(capacity: 8)
    d = .allocate(capacity: 36)
  }

  /// Slot `slot` holding image `n`, channel `channel` of `input`, copied in unless it already is.
  /// Only the interior is written: the border stays zero because every plane has the same geometry.
  func plane(
    _ slot: Int, _ s: Conv2dShape, input: UnsafePointer<Float>, image n: Int, channel: Int
  ) -> UnsafePointer<Float> {
    let dst = planes + slot * planeWidth * planeHeight
    if loaded[slot] != (n, channel) {
      let src = input + (n * s.inChannels + channel) * s.inHeight * s.inWidth
      let rows = min(s.inHeight, planeHeight - s.padHeight)
      let cols = min(s.inWidth, planeWidth - s.padWidth)
      for y in 0..<rows {
        (dst + (y + s.padHeight) * planeWidth + s.padWidth).update(from: src + y * s.inWidth, count: cols)
      }
      loaded[slot] = (n, channel)
    }
    return UnsafePointer(dst)
  }

  func free() {
    planes.deallocate()
    loaded.deallocate()
    zeros.deallocate()
    bases.deallocate()
    strides.deallocate()
    d.deallocate()
  }
}

/// Transforms `lanes` (≤ 8) consecutive tiles of one input channel, starting at global tile
/// `firstTile`, and stores position `e` of lane `k` at `v[e · positionStride + k]`. All 8 lanes are
/// stored; the caller's row stride leaves room for them.
@inline(__always)
private func winogradGatherInput(
  _ s: Conv2dShape, plan: WinogradPlan, input: UnsafePointer<Float>, channel: Int, firstTile: Int,
  lanes: Int, v: UnsafeMutablePointer<Float>, positionStride: Int, gather: LaneGather
) {
  let tilesPerImage = plan.tilesX * plan.tilesY
  var n = firstTile / tilesPerImage
  var ty = firstTile % tilesPerImage / plan.tilesX
  var tx = firstTile % plan.tilesX
  // Slot i holds the i-th image these tiles touch.
  var slot = 0
  var plane = gather.plane(0, s, input: input, image: n, channel: channel)
  for k in 0..<8 {
    if k >= lanes {
      gather.bases[k] = UnsafePointer(gather.zeros)
      gather.strides[k] = 6
      continue
    }
    gather.bases[k] = plane + 4 * ty * gather.planeWidth + 4 * tx
    gather.strides[k] = gather.planeWidth
    tx += 1
    if tx == plan.tilesX {
      tx = 0
      ty += 1
      if ty == plan.tilesY {
        ty = 0
        n += 1
        if k + 1 < lanes {
          slot += 1
          plane = gather.plane(slot, s, input: input, image: n, channel: channel)
        }
      }
    }
  }
  let d = gather.d
  // Along each patch row first, into d[6r + j].
  for r in 0..<6 {
    let p0 = gather.bases[0] + r * gather.strides[0]
    let p1 = gather.bases[1] + r * gather.strides[1]
    let p2 = gather.bases[2] + r * gather.strides[2]
    let p3 = gather.bases[3] + r * gather.strides[3]
    let p4 = gather.bases[4] + r * gather.strides[4]
    let p5 = gather.bases[5] + r * gather.strides[5]
    let p6 = gather.bases[6] + r * gather.strides[6]
    let p7 = gather.bases[7] + r * gather.strides[7]
    @inline(__always) func column(_ c: Int) -> Lanes {
      Lanes(p0[c], p1[c], p2[c], p3[c], p4[c], p5[c], p6[c], p7[c])
    }
    let o = inputLine(column(0), column(1), column(2), column(3), column(4), column(5))
    (d[6 * r], d[6 * r + 1], d[6 * r + 2], d[6 * r + 3], d[6 * r + 4], d[6 * r + 5]) = o
  }
  // Then columns, straight to the transformed-input matrix.
  for c in 0..<6 {
    let o = inputLine(d[c], d[6 + c], d[12 + c], d[18 + c], d[24 + c], d[30 + c])
    store(o.0, v + c * positionStride)
    store(o.1, v + (6 + c) * positionStride)
    store(o.2, v + (12 + c) * positionStride)
    store(o.3, v + (18 + c) * positionStride)
    store(o.4, v + (24 + c) * positionStride)
    store(o.5, v + (30 + c) * positionStride)
  }
}

/// Inverse-transforms `lanes` consecutive tiles of output channel `channel` from
/// `m[e · positionStride + lane]`, adds `bias` and writes the in-bounds part of each 4×4 tile.
/// `t` is room for 40 vectors.
@inline(__always)
private func winogradScatterOutput(
  _ s: Conv2dShape, plan: WinogradPlan, m: UnsafePointer<Float>, positionStride: Int, channel: Int,
  bias: Float, firstTile: Int, lanes: Int, output: UnsafeMutablePointer<Float>,
  t: UnsafeMutablePointer<Lanes>
) {
  let (oh, ow) = (s.outHeight, s.outWidth)
  let tilesPerImage = plan.tilesX * plan.tilesY
  inverseTransform(m, positionStride: positionStride, bias: bias, t: t)
  // Lane-major: tile k's 16 values at tiles[16k ..< 16k + 16], by two 8×8 transposes.
  let result = UnsafeMutableRawPointer(t + 24).assumingMemoryBound(to: Float.self)
  let tiles = UnsafeMutableRawPointer(t + 8).assumingMemoryBound(to: Float.self)
  transpose8x8(result, lds: 8, tiles, ldd: 16)
  transpose8x8(result + 64, lds: 8, tiles + 8, ldd: 16)
  // Scatter each lane's tile, clipped to the output.
  var n = firstTile / tilesPerImage
  var ty = firstTile % tilesPerImage / plan.tilesX
  var tx = firstTile % plan.tilesX
  for k in 0..<lanes {
    let (y0, x0) = (4 * ty, 4 * tx)
    let plane = output + (n * s.outChannels + channel) * oh * ow
    let rows = min(4, oh - y0)
    let cols = min(4, ow - x0)
    let tile = tiles + 16 * k
    for r in 0..<rows {
      let dst = plane + (y0 + r) * ow + x0
      if cols == 4 {
        UnsafeMutableRawPointer(dst).storeBytes(
          of: UnsafeRawPointer(tile + 4 * r).loadUnaligned(as: SIMD4<Float>.self), as: SIMD4<Float>.self)
      } else {
        for c in 0..<cols { dst[c] = tile[4 * r + c] }
      }
    }
    tx += 1
    if tx == plan.tilesX {
      tx = 0
      ty += 1
      if ty == plan.tilesY {
        ty = 0
        n += 1
      }
    }
  }
}
