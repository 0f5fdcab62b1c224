/// Winograd F(2×2, 3×3) convolution (Lavin & Gray, 2015), forward only, for small maps whose weights
/// are transformed once and kept (inference).
///
/// Each 2×2 output tile comes from a 4×4 input tile: `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`, so a 3×3
/// convolution becomes 16 GEMMs `[C_out × C_in] · [C_in × tiles]` with 16 instead of 36 multiplies
/// per tile and channel pair (2.25×). F(4×4, 3×3) (`Winograd.swift`) saves 4× but leaves a 7×7 map
/// with 4 tiles: its 36 thin GEMMs then read 4× the plain weights' bytes for a GEMM of N = 4 padded
/// to a 16-wide sliver. Here a 7×7 map is 16 tiles, exactly one sliver, and the transformed weights
/// are 16/9 of the plain ones.

/// Whether `conv2dWinogradF2Forward` is expected to beat both the im2col GEMM and F(4×4, 3×3) on
/// `s`: a 3×3, stride-1, dilation-1, ungrouped convolution with wide channels, weights kept across
/// calls, and a map too small for F(4×4, 3×3) (ResNet's 7×7 layers at batch 1 and 2), where the
/// AVX-512 build's output-channel tiles do not take the layer.
public func conv2dWinogradF2Applies(_ s: Conv2dShape, weightsKept: Bool) -> Bool {
  guard
    weightsKept, s.kernelHeight == 3, s.kernelWidth == 3, s.strideHeight == 1, s.strideWidth == 1,
    s.dilationHeight == 1, s.dilationWidth == 1, s.groups == 1, s.batch > 0, s.outHeight > 0, s.outWidth > 0,
    !conv2dWinogradApplies(s, weightsKept: true),
    // AVX-512 builds keep their 64-channel tiles there: measured against those on 2 AVX2 cores only.
    !conv2dTiledPreferred(s)
  else { return false }
  let tiles = WinogradF2Plan(s).totalTiles
  return s.inChannels >= WinogradF2Plan.minimumChannels && s.outChannels >= WinogradF2Plan.minimumChannels
    && tiles >= WinogradF2Plan.minimumTiles
}

/// Floats of `conv2dWinogradF2TransformWeights`'s result: 16 transformed positions of every filter,
/// each packed as the GEMM's A operand.
public func conv2dWinogradF2TransformedWeightCount(_ s: Conv2dShape) -> Int {
  16 * gemmPackedACount(m: s.outChannels, k: s.inChannels)
}

/// The weights as `conv2dWinogradF2Forward` multiplies them, `U = G g Gᵀ` per filter, each of the 16
/// positions packed by `gemmPackA` (`conv2dWinogradF2TransformedWeightCount(s)` floats into `dst`).
public func conv2dWinogradF2TransformWeights(
  _ s: Conv2dShape, weight: UnsafePointer<Float>, dst: UnsafeMutablePointer<Float>
) {
  let (cout, cin) = (s.outChannels, s.inChannels)
  let stride = gemmPackedACount(m: cout, k: cin)
  GEMMWorkspace.with(floats: 16 * cout * cin) { u in
    winogradF2TransformWeights(cout: cout, cin: cin, weight: weight, u: u)
    Parallel.forEachDynamic(16) { e in
      gemmPackA(transposeA: false, m: cout, k: cin, a: u + e * cout * cin, lda: cin, dst: dst + e * stride)
    }
  }
}

/// 3×3, stride-1, dilation-1, ungrouped convolution by Winograd F(2×2, 3×3); same contract as
/// `conv2dForward` (NCHW input, OIHW weight, optional bias, any padding). Writes every element of
/// `output`. `transformedWeight`, when given, is `weight` through `conv2dWinogradF2TransformWeights`;
/// without it the weights are transformed on this call.
public func conv2dWinogradF2Forward(
  _ s: Conv2dShape, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
  bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
  transformedWeight: UnsafePointer<Float>? = nil
) {
  precondition(
    s.kernelHeight == 3 && s.kernelWidth == 3 && s.strideHeight == 1 && s.strideWidth == 1
      && s.dilationHeight == 1 && s.dilationWidth == 1 && s.groups == 1,
    "Winograd F(2×2, 3×3) needs a 3×3, stride-1, dilation-1, ungrouped convolution")
  if s.batch <= 0 || s.outHeight <= 0 || s.outWidth <= 0 || s.outChannels <= 0 { return }
  let plan = WinogradF2Plan(s)
  let (cin, cout) = (s.inChannels, s.outChannels)
  let layout = PackedTiles(cin: cin, tiles: plan.chunkTiles)
  let packedStride = gemmPackedACount(m: cout, k: cin)
  let weightFloats = transformedWeight == nil ? 16 * packedStride : 0
  let scratchFloats = weightFloats + 16 * (layout.positionStride + cout * plan.chunkTiles)
  WinogradScratch.with(floats: scratchFloats) { scratch in
    let u: UnsafePointer<Float>
    if let transformedWeight {
      u = transformedWeight
    } else {
      conv2dWinogradF2TransformWeights(s, weight: weight, dst: scratch)
      u = UnsafePointer(scratch)
    }
    let v = scratch + weightFloats
    let m = v + 16 * layout.positionStride
    let paddedRows = (cout + MicroKernel.mr - 1) / MicroKernel.mr * MicroKernel.mr
    // The padding columns of the last sliver feed only discarded results, but must not be NaN
    // garbage from an earlier call either (a NaN there is harmless, yet zero keeps the GEMM's
    // inputs defined).
    v.initialize(repeating: 0, count: 16 * layout.positionStride)
    var start = 0
    while start < plan.totalTiles {
      let count = min(plan.chunkTiles, plan.totalTiles - start)
      Parallel.forRanges(cin, minimumChunk: 16) { channels in
        for c in channels {
          for t in 0..<count {
            winogradF2InputTile(
              s, plan: plan, input: input, channel: c, tile: start + t,
              v: v + layout.offset(channel: c, tile: t), positionStride: layout.positionStride)
          }
        }
      }
      // One GEMM per thread at a time, each on one position's prepacked operands.
      Parallel.forEachDynamic(16) { e in
        PackedGEMM.run(
          kernel: MicroKernel.self, transposeA: false, m: cout, n: count, k: cin, alpha: 1,
          a: u + e * packedStride, lda: 1,
          source: .prepacked(v + e * layout.positionStride, paddedColumns: layout.paddedTiles),
          beta: 0, c: m + e * cout * plan.chunkTiles, ldc: plan.chunkTiles,
          packedA: PrepackedA(pointer: u + e * packedStride, paddedRows: paddedRows))
      }
      Parallel.forRanges(cout, minimumChunk: 16) { channels in
        for co in channels {
          let b = bias.map { $0[co] } ?? 0
          for t in 0..<count {
            winogradF2OutputTile(
              s, plan: plan, m: m + co * plan.chunkTiles + t, positionStride: cout * plan.chunkTiles, bias: b,
              channel: co, tile: start + t, output: output)
          }
        }
      }
      start += count
    }
  }
}

/// Tiling of the output into 2×2 tiles and of the tiles into chunks.
struct WinogradF2Plan {
  // Measured at batch 1 on 2 AVX2 cores (ResNet-18's 512-channel 7×7 layers: 2.0 ms by im2col GEMM,
  // 2.3–2.5 by F(4×4, 3×3)); re-measure when the GEMM changes.
  /// Narrower layers leave the 16 GEMMs too thin to pay for the transforms.
  static let minimumChannels = 64
  /// One full GEMM sliver of tiles: a 7×7 map at batch 1.
  static let minimumTiles = 16
  /// Tiles per chunk: the transformed input and products of 512 + 512 channels take 16 MiB.
  static let maximumChunkTiles = 256

  let tilesX: Int
  let tilesY: Int
  let totalTiles: Int
  /// Tiles per chunk (the GEMMs' N).
  let chunkTiles: Int

  init(_ s: Conv2dShape) {
    tilesX = (s.outWidth + 1) / 2
    tilesY = (s.outHeight + 1) / 2
    totalTiles = s.batch * tilesX * tilesY
    let chunks = (totalTiles + Self.maximumChunkTiles - 1) / Self.maximumChunkTiles
    chunkTiles = max(1, (totalTiles + chunks - 1) / max(1, chunks))
  }

  /// Image, tile row and tile column of global tile `tile`.
  @inline(__always)
  func locate(_ tile: Int) -> (n: Int, ty: Int, tx: Int) {
    let perImage = tilesX * tilesY
    let (n, rest) = tile.quotientAndRemainder(dividingBy: perImage)
    let (ty, tx) = rest.quotientAndRemainder(dividingBy: tilesX)
    return (n, ty, tx)
  }
}

/// `U[position][co][ci] = (G g Gᵀ)[position]` for every filter, with
/// `G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]]`.
private func winogradF2TransformWeights(
  cout: Int, cin: Int, weight: UnsafePointer<Float>, u: UnsafeMutablePointer<Float>
) {
  let stride = cout * cin
  Parallel.forRanges(cout, minimumChunk: 16) { filters in
    for co in filters {
      for ci in 0..<cin {
        let g = weight + (co * cin + ci) * 9
        @inline(__always) func row(_ y: Int) -> SIMD4<Float> {
          SIMD4(g[3 * y], g[3 * y + 1], g[3 * y + 2], 0)
        }
        // `G g`: 3 kernel rows become 4, each row along its 3 columns.
        let (g0, g1, g2) = (row(0), row(1), row(2))
        let half = 0.5 * (g0 + g2)
        let rows = (g0, half + 0.5 * g1, half - 0.5 * g1, g2)
        // Then `· Gᵀ` along each row: 3 columns become 4, stored per position 4·row + column.
        @inline(__always) func put(_ r: SIMD4<Float>, _ i: Int) {
          let h = 0.5 * (r[0] + r[2])
          let base = u + co * cin + ci + 4 * i * stride
          base[0] = r[0]
          base[stride] = h + 0.5 * r[1]
          base[2 * stride] = h - 0.5 * r[1]
          base[3 * stride] = r[2]
        }
        put(rows.0, 0)
        put(rows.1, 1)
        put(rows.2, 2)
        put(rows.3, 3)
      }
    }
  }
}

/// `Bᵀ d B` of one 4×4 input patch, with `Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0],
/// [0, 1, 0, −1]]`; position `e` stored at `v[e · positionStride]`.
@inline(__always)
private func winogradF2InputTile(
  _ s: Conv2dShape, plan: WinogradF2Plan, input: UnsafePointer<Float>, channel: Int, tile: Int,
  v: UnsafeMutablePointer<Float>, positionStride: Int
) {
  let (n, ty, tx) = plan.locate(tile)
  let plane = input + (n * s.inChannels + channel) * s.inHeight * s.inWidth
  let y0 = 2 * ty - s.padHeight
  let x0 = 2 * tx - s.padWidth
  var d = SIMD16<Float>.zero
  if y0 >= 0 && x0 >= 0 && y0 + 4 <= s.inHeight && x0 + 4 <= s.inWidth {
    for i in 0..<4 {
      let row = plane + (y0 + i) * s.inWidth + x0
      for j in 0..<4 { d[4 * i + j] = row[j] }
    }
  } else {
    for i in 0..<4 where (0..<s.inHeight).contains(y0 + i) {
      let row = plane + (y0 + i) * s.inWidth
      for j in 0..<4 where (0..<s.inWidth).contains(x0 + j) { d[4 * i + j] = row[x0 + j] }
    }
  }
  // Down the columns (all four at once as 4-lane rows), then along each row.
  let r0 = d.lowHalf.lowHalf
  let r1 = d.lowHalf.highHalf
  let r2 = d.highHalf.lowHalf
  let r3 = d.highHalf.highHalf
  @inline(__always) func put(_ r: SIMD4<Float>, _ i: Int) {
    let p = v + 4 * i * positionStride
    p[0] = r[0] - r[2]
    p[positionStride] = r[1] + r[2]
    p[2 * positionStride] = r[2] - r[1]
    p[3 * positionStride] = r[1] - r[3]
  }
  put(r0 - r2, 0)
  put(r1 + r2, 1)
  put(r2 - r1, 2)
  put(r1 - r3, 3)
}

/// `Aᵀ M A + bias` of one tile's 16 products (`m[e · positionStride]`), with
/// `Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]]`; writes the in-bounds part of the 2×2 output tile.
@inline(__always)
private func winogradF2OutputTile(
  _ s: Conv2dShape, plan: WinogradF2Plan, m: UnsafePointer<Float>, positionStride: Int, bias: Float,
  channel: Int, tile: Int, output: UnsafeMutablePointer<Float>
) {
  var p = SIMD16<Float>.zero
  for e in 0..<16 { p[e] = m[e * positionStride] }
  let (m0, m1, m2, m3) = (p.lowHalf.lowHalf, p.lowHalf.highHalf, p.highHalf.lowHalf, p.highHalf.highHalf)
  let t0 = m0 + m1 + m2
  let t1 = m1 - m2 - m3
  let y00 = t0[0] + t0[1] + t0[2] + bias
  let y01 = t0[1] - t0[2] - t0[3] + bias
  let y10 = t1[0] + t1[1] + t1[2] + bias
  let y11 = t1[1] - t1[2] - t1[3] + bias
  let (n, ty, tx) = plan.locate(tile)
  let (oh, ow) = (s.outHeight, s.outWidth)
  let plane = output + (n * s.outChannels + channel) * oh * ow
  let (y, x) = (2 * ty, 2 * tx)
  plane[y * ow + x] = y00
  if x + 1 < ow { plane[y * ow + x + 1] = y01 }
  if y + 1 < oh {
    plane[(y + 1) * ow + x] = y10
    if x + 1 < ow { plane[(y + 1) * ow + x + 1] = y11 }
  }
}
