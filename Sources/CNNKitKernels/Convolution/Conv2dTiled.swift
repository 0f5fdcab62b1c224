import CKernelSupport

/// Direct convolution with output channels in SIMD lanes.
///
/// A tile is 64 output channels (four 16-float vectors) by 6 consecutive pixels of the output plane
/// (a tile may wrap to the next row, so 13-wide maps waste no lanes): 24 accumulators. Each step of
/// the reduction over (input channel, ky, kx) loads four weight vectors and broadcasts six input
/// pixels from a zero-bordered copy of the input, so no pixel is unfolded or packed; only the weights
/// are reordered to `[block][ci][ky][kx][64]`, per call or kept while they do not change. ONNX Runtime's
/// blocked-layout kernels work this way; on AlexNet at batch 1 they ran near 80 % of this machine's
/// peak where the implicit-im2col GEMM, whose packing each weight element pays for only 64 times when
/// a layer has 64 output channels, ran near half.
public func conv2dTiledApplies(_ s: Conv2dShape) -> Bool {
  s.dilationHeight == 1 && s.dilationWidth == 1 && s.outChannelsPerGroup % ConvTile.channels == 0
}

/// Whether `conv2dForward` runs `s` by output-channel tiles: where they apply, on AVX-512 builds (the
/// 24 accumulators need its 32 vector registers). Measured on AlexNet's layers, forward: conv1
/// 1.1 → 0.5 ms at batch 1 and 106–131 → 71–84 ms at batch 128, conv2 1.6–1.7 → 1.1–1.2 ms and
/// 141–155 → 123–128 ms, conv3–5 at batch 1 1.0–1.5 → 0.65–1.0 ms (Winograd stays ahead at batch 32).
public func conv2dTiledPreferred(_ s: Conv2dShape) -> Bool {
  #if CNNKIT_AVX512
    return conv2dTiledApplies(s)
  #else
    return false
  #endif
}

/// Tile sizes and weight prefetching of `conv2dTiledForward`.
public enum ConvTile {
  /// Output channels per tile (four vectors).
  public static let channels = 64
  /// Output pixels per tile (consecutive in the plane).
  public static let pixels = 6
  /// Reduction steps per pass over a range of tiles: 128 KiB of weights.
  public static let stepsPerSlice = 512

  /// The reordered weights a task reads next, prefetched while slice `slice` (`steps` deep, of
  /// `kdim`) of task `task` (of `tasks`, each a block of `blocksPerGroup` in group `group` times one
  /// of `ranges` pixel ranges) runs: a float offset into the reordered weights and a depth in steps
  /// of 64 floats, 0 when nothing is ahead. That is the block's next slice, or after its last the
  /// first slice of the task this thread will likely claim next, when that is another block.
  public static func prefetchAhead(
    slice: Int, steps: Int, kdim: Int, task: Int, tasks: Int, ranges: Int, blocksPerGroup: Int, group: Int
  ) -> (offset: Int, steps: Int) {
    let block = group * blocksPerGroup + task / ranges % blocksPerGroup
    if slice + steps < kdim {
      return ((block * kdim + slice + steps) * channels, min(stepsPerSlice, kdim - slice - steps))
    }
    // Threads claim tasks in order, so each takes about every `threadCount`-th one.
    let later = task + Parallel.threadCount
    if later >= tasks { return (0, 0) }
    let nextBlock = group * blocksPerGroup + later / ranges % blocksPerGroup
    if nextBlock == block { return (0, 0) }
    return (nextBlock * kdim * channels, min(stepsPerSlice, kdim))
  }
}

/// Forward convolution by output-channel tiles (where `conv2dTiledApplies`); same contract as
/// `conv2dForward`. Writes every element of `output`. `reorderedWeight`, when given, is `weight`
/// already through `conv2dTiledReorderWeights` (kept across calls while the weight is unchanged: the
/// reordering otherwise took about a third of AlexNet's conv3–5 time at batch 1). `relu` applies
/// `reluForward` to the result on the way out (a Conv2d → ReLU pair in inference).
public func conv2dTiledForward(
  _ s: Conv2dShape, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
  bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
  reorderedWeight: UnsafePointer<Float>? = nil, relu: Bool = false
) {
  precondition(conv2dTiledApplies(s), "conv2dTiledForward: unsupported geometry")
  let (kh, kw) = (s.kernelHeight, s.kernelWidth)
  let (oh, ow) = (s.outHeight, s.outWidth)
  let cinG = s.inChannelsPerGroup
  let kdim = cinG * kh * kw
  let blocksPerGroup = s.outChannelsPerGroup / ConvTile.channels
  let (hp, wp) = (s.inHeight + 2 * s.padHeight, s.inWidth + 2 * s.padWidth)
  // Images per padded copy: bounded like the implicit GEMM's unfolded columns.
  let chunk = max(1, min(s.batch, Conv2dPlan.columnBudget / max(1, cinG * hp * wp)))
  // The last tile of a row reads up to 5 strides past it, beyond the last padded row.
  let paddedFloats = PaddedImages.floats(s, count: chunk) + ConvTile.pixels * s.strideWidth
  let weightFloats = reorderedWeight == nil ? s.weightCount : 0
  let offsets = UnsafeMutablePointer<Int>.allocate(capacity: kdim)
  defer { offsets.deallocate() }
  // Step t = (ci, ky, kx) reads the input at `offsets[t]` from the tile's first window.
  for t in 0..<kdim {
    let (ci, tap) = t.quotientAndRemainder(dividingBy: kh * kw)
    let (ky, kx) = tap.quotientAndRemainder(dividingBy: kw)
    offsets[t] = (ci * hp + ky) * wp + kx
  }
  // Window of output pixel p (row-major over the plane): a tile's 6 pixels may span two rows, so
  // narrow maps (13 wide) waste no lanes. 5 spare entries give the last tile somewhere to read.
  let plane = oh * ow
  let starts = UnsafeMutablePointer<Int>.allocate(capacity: plane + ConvTile.pixels)
  defer { starts.deallocate() }
  for p in 0..<plane {
    let (y, x) = p.quotientAndRemainder(dividingBy: ow)
    starts[p] = y * s.strideHeight * wp + x * s.strideWidth
  }
  (starts + plane).update(repeating: 0, count: ConvTile.pixels)
  GEMMWorkspace.with(floats: weightFloats + paddedFloats) { workspace in
    let tiledWeight = reorderedWeight ?? UnsafePointer(workspace)
    if reorderedWeight == nil { conv2dTiledReorderWeights(s, weight: weight, dst: workspace) }
    let paddedBuffer = workspace + weightFloats
    for n0 in stride(from: 0, to: s.batch, by: chunk) {
      let count = min(chunk, s.batch - n0)
      for g in 0..<s.groups {
        let padded = PaddedImages(
          s, input: input, firstImage: n0, count: count, channelOffset: g * cinG, dst: paddedBuffer)
        // Pixel ranges in multiples of 24 (whole tiles and whole 8×8 transposes), enough of them
        // for the threads to balance.
        let unit = 24
        let units = (plane + unit - 1) / unit
        let tasksWanted = max(1, 8 * Parallel.threadCount / max(1, count * blocksPerGroup))
        let rangeUnits = max(1, min(units, (units + tasksWanted - 1) / tasksWanted, 512 / unit))
        let ranges = (units + rangeUnits - 1) / rangeUnits
        Parallel.forEachDynamic(count * blocksPerGroup * ranges) { task in
          let (item, r) = task.quotientAndRemainder(dividingBy: ranges)
          let (j, b) = item.quotientAndRemainder(dividingBy: blocksPerGroup)
          let block = g * blocksPerGroup + b
          let firstChannel = block * ConvTile.channels
          let p0 = r * rangeUnits * unit
          let p1 = min(plane, p0 + rangeUnits * unit)
          let blockWeight = tiledWeight + block * kdim * ConvTile.channels
          let image = padded.base + j * cinG * hp * wp
          withUnsafeTemporaryAllocation(of: Float.self, capacity: rangeUnits * unit * ConvTile.channels) {
            buffer in
            let pixels = buffer.baseAddress!
            let tiles = (p1 - p0 + ConvTile.pixels - 1) / ConvTile.pixels
            // Steps in slices whose weights (`stepsPerSlice` × 256 B) stay in L2 across the tiles.
            for t0 in stride(from: 0, to: kdim, by: ConvTile.stepsPerSlice) {
              let steps = min(ConvTile.stepsPerSlice, kdim - t0)
              // While this slice's tiles run, the weights read next come into L2: the next slice, or
              // after the last the first slice of the task this thread is likely to claim next. At batch
              // 1 the weights are cold (the classifier streamed since) and this hides their fetch.
              let ahead = ConvTile.prefetchAhead(
                slice: t0, steps: steps, kdim: kdim, task: task, tasks: count * blocksPerGroup * ranges,
                ranges: ranges, blocksPerGroup: blocksPerGroup, group: g)
              let pairs = ahead.steps * ConvTile.channels * 4 / 128
              let pairsPerTile = (pairs + tiles - 1) / tiles
              let every = max(1, steps / max(1, pairsPerTile))
              var next = UnsafeRawPointer(tiledWeight + ahead.offset)
              var left = pairs
              for p in stride(from: p0, to: p1, by: ConvTile.pixels) {
                let issue = min(left, steps / every)
                convTile(
                  steps: steps, image: image, starts: starts + p, offsets: offsets + t0,
                  weight: blockWeight + t0 * ConvTile.channels, accumulate: t0 > 0,
                  out: pixels + (p - p0) * ConvTile.channels, prefetch: next, prefetchEvery: every,
                  prefetchPairs: issue)
                next += 128 * issue
                left -= issue
              }
            }
            storeTiledPixels(
              pixels, count: p1 - p0,
              output: output + ((n0 + j) * s.outChannels + firstChannel) * plane + p0, plane: plane,
              bias: bias.map { $0 + firstChannel }, relu: relu)
          }
        }
      }
    }
  }
}

/// The weights as `conv2dTiledForward` reads them (`s.weightCount` floats into `dst`):
/// `dst[block][t][c] = weight[block·64 + c][t]` for every 64-channel block, by 8×8 transposes.
public func conv2dTiledReorderWeights(
  _ s: Conv2dShape, weight: UnsafePointer<Float>, dst: UnsafeMutablePointer<Float>
) {
  precondition(conv2dTiledApplies(s), "conv2dTiledReorderWeights: unsupported geometry")
  let n = ConvTile.channels
  let blocks = s.outChannels / n
  let kdim = s.inChannelsPerGroup * s.kernelHeight * s.kernelWidth
  Parallel.forEach(blocks * (n / 8)) { task in
    let (block, c8) = task.quotientAndRemainder(dividingBy: n / 8)
    let src = weight + (block * n + c8 * 8) * kdim
    let out = dst + block * kdim * n + c8 * 8
    var t = 0
    while t + 8 <= kdim {
      transpose8x8(src + t, lds: kdim, out + t * n, ldd: n)
      t += 8
    }
    while t < kdim {
      for c in 0..<8 { out[t * n + c] = src[c * kdim + t] }
      t += 1
    }
  }
}

/// Moves `count` output pixels of a 64-channel block from pixel-major `pixels` (`pixels[x·64 + c]`)
/// to the 64 NCHW planes at `output` (`output[c·plane + x]`), adding the bias and, when `relu`,
/// applying `reluForward`'s rule (NaN passes) while the values are in cache.
@inline(__always)
func storeTiledPixels(
  _ pixels: UnsafePointer<Float>, count: Int, output: UnsafeMutablePointer<Float>, plane: Int,
  bias: UnsafePointer<Float>?, relu: Bool
) {
  let n = ConvTile.channels
  var x = 0
  while x + 8 <= count {
    for c in stride(from: 0, to: n, by: 8) {
      transpose8x8(pixels + x * n + c, lds: n, output + c * plane + x, ldd: plane)
    }
    x += 8
  }
  // A ragged end: 8-wide stores would run into the next plane.
  for c in 0..<n {
    for xx in x..<count { output[c * plane + xx] = pixels[xx * n + c] }
  }
  if bias == nil && !relu { return }
  for c in 0..<n {
    let line = output + c * plane
    let b = bias?[c] ?? 0
    if relu {
      // `<=` is false for NaN, so NaN survives; −0 becomes +0, as in `reluForward`.
      for xx in 0..<count {
        let v = line[xx] + b
        line[xx] = v <= 0 ? 0 : v
      }
    } else {
      for xx in 0..<count { line[xx] += b }
    }
  }
}

/// One tile: 64 output channels × 6 pixels whose windows start at `image + starts[i]`, summed over
/// `steps` steps of `offsets` and `weight` (64 floats per step). Writes `out[i·64 + c]`, or adds to
/// it when `accumulate`. On the way it prefetches `prefetchPairs` pairs of cache lines from
/// `prefetch` into L2, one pair every `prefetchEvery` steps, so the fetch hides behind the FMAs.
@inline(__always)
func convTile(
  steps: Int, image: UnsafePointer<Float>, starts: UnsafePointer<Int>, offsets: UnsafePointer<Int>,
  weight: UnsafePointer<Float>, accumulate: Bool, out: UnsafeMutablePointer<Float>,
  prefetch: UnsafeRawPointer, prefetchEvery: Int, prefetchPairs: Int
) {
  typealias V = SIMD16<Float>
  let dst = UnsafeMutableRawPointer(out)
  @inline(__always) func initial(_ i: Int) -> V {
    accumulate ? dst.loadUnaligned(fromByteOffset: 64 * i, as: V.self) : V()
  }
  // Separate locals, not an array: they must live in registers for the whole loop.
  var c00 = initial(0), c01 = initial(1), c02 = initial(2), c03 = initial(3)
  var c10 = initial(4), c11 = initial(5), c12 = initial(6), c13 = initial(7)
  var c20 = initial(8), c21 = initial(9), c22 = initial(10), c23 = initial(11)
  var c30 = initial(12), c31 = initial(13), c32 = initial(14), c33 = initial(15)
  var c40 = initial(16), c41 = initial(17), c42 = initial(18), c43 = initial(19)
  var c50 = initial(20), c51 = initial(21), c52 = initial(22), c53 = initial(23)
  let (x0, x1, x2) = (image + starts[0], image + starts[1], image + starts[2])
  let (x3, x4, x5) = (image + starts[3], image + starts[4], image + starts[5])
  var w = UnsafeRawPointer(weight)
  var ahead = prefetch
  var countdown = prefetchEvery
  var left = prefetchPairs
  for t in 0..<steps {
    countdown -= 1
    if countdown == 0 && left > 0 {
      cnnkit_prefetch_l2(ahead)
      cnnkit_prefetch_l2(ahead + 64)
      ahead += 128
      left -= 1
      countdown = prefetchEvery
    }
    let o = offsets[t]
    let w0 = w.loadUnaligned(as: V.self)
    let w1 = w.loadUnaligned(fromByteOffset: 64, as: V.self)
    let w2 = w.loadUnaligned(fromByteOffset: 128, as: V.self)
    let w3 = w.loadUnaligned(fromByteOffset: 192, as: V.self)
    var b = V(repeating: x0[o])
    c00 = c00.addingProduct(b, w0)
    c01 = c01.addingProduct(b, w1)
    c02 = c02.addingProduct(b, w2)
    c03 = c03.addingProduct(b, w3)
    b = V(repeating: x1[o])
    c10 = c10.addingProduct(b, w0)
    c11 = c11.addingProduct(b, w1)
    c12 = c12.addingProduct(b, w2)
    c13 = c13.addingProduct(b, w3)
    b = V(repeating: x2[o])
    c20 = c20.addingProduct(b, w0)
    c21 = c21.addingProduct(b, w1)
    c22 = c22.addingProduct(b, w2)
    c23 = c23.addingProduct(b, w3)
    b = V(repeating: x3[o])
    c30 = c30.addingProduct(b, w0)
    c31 = c31.addingProduct(b, w1)
    c32 = c32.addingProduct(b, w2)
    c33 = c33.addingProduct(b, w3)
    b = V(repeating: x4[o])
    c40 = c40.addingProduct(b, w0)
    c41 = c41.addingProduct(b, w1)
    c42 = c42.addingProduct(b, w2)
    c43 = c43.addingProduct(b, w3)
    b = V(repeating: x5[o])
    c50 = c50.addingProduct(b, w0)
    c51 = c51.addingProduct(b, w1)
    c52 = c52.addingProduct(b, w2)
    c53 = c53.addingProduct(b, w3)
    w += 256
  }
  dst.storeBytes(of: c00, toByteOffset: 0, as: V.self)
  dst.storeBytes(of: c01, toByteOffset: 64, as: V.self)
  dst.storeBytes(of: c02, toByteOffset: 128, as: V.self)
  dst.storeBytes(of: c03, toByteOffset: 192, as: V.self)
  dst.storeBytes(of: c10, toByteOffset: 256, as: V.self)
  dst.storeBytes(of: c11, toByteOffset: 320, as: V.self)
  dst.storeBytes(of: c12, toByteOffset: 384, as: V.self)
  dst.storeBytes(of: c13, toByteOffset: 448, as: V.self)
  dst.storeBytes(of: c20, toByteOffset: 512, as: V.self)
  dst.storeBytes(of: c21, toByteOffset: 576, as: V.self)
  dst.storeBytes(of: c22, toByteOffset: 640, as: V.self)
  dst.storeBytes(of: c23, toByteOffset: 704, as: V.self)
  dst.storeBytes(of: c30, toByteOffset: 768, as: V.self)
  dst.storeBytes(of: c31, toByteOffset: 832, as: V.self)
  dst.storeBytes(of: c32, toByteOffset: 896, as: V.self)
  dst.storeBytes(of: c33, toByteOffset: 960, as: V.self)
  dst.storeBytes(of: c40, toByteOffset: 1024, as: V.self)
  dst.storeBytes(of: c41, toByteOffset: 1088, as: V.self)
  dst.storeBytes(of: c42, toByteOffset: 1152, as: V.self)
  dst.storeBytes(of: c43, toByteOffset: 1216, as: V.self)
  dst.storeBytes(of: c50, toByteOffset: 1280, as: V.self)
  dst.storeBytes(of: c51, toByteOffset: 1344, as: V.self)
  dst.storeBytes(of: c52, toByteOffset: 1408, as: V.self)
  dst.storeBytes(of: c53, toByteOffset: 1472, as: V.self)
}
