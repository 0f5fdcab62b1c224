/// Convolution as im2col + GEMM, several images per GEMM.
///
/// Images sit side by side in one wide `(C/g·kh·kw) × (images·oh·ow)` unfolded matrix, so small
/// feature maps (13×13 in AlexNet's conv3–5) still give the GEMM wide, well-filled tiles. The number
/// of images per GEMM is bounded so scratch stays within `columnBudget` floats.
public enum Conv2dPlan {
  /// Most floats of unfolded input held at once (16 MiB by default). Settable so tests can force
  /// several chunks on small shapes.
  nonisolated(unsafe) public static var columnBudget = 4 << 20

  /// Images per GEMM for this geometry: as many as keep both the unfolded input (backward) and the
  /// staged output (forward) within the budget, at least one.
  public static func imagesPerChunk(_ s: Conv2dShape) -> Int {
    let kdim = s.inChannelsPerGroup * s.kernelHeight * s.kernelWidth
    let perImage = max(1, max(kdim, s.outChannelsPerGroup) * s.outHeight * s.outWidth)
    return max(1, min(s.batch, columnBudget / perImage))
  }
}

/// Copies channels `[channelStart, channelStart + channels)` of `count` NCHW images starting at
/// `firstImage` into a `channels × (count·spatial)` matrix (image `j` at column `j·spatial`).
func gatherChannels(
  _ src: UnsafePointer<Float>, totalChannels: Int, spatial: Int, firstImage: Int, count: Int,
  channelStart: Int, channels: Int, dst: UnsafeMutablePointer<Float>
) {
  Parallel.forRanges(channels * count, minimumChunk: max(1, 4096 / max(1, spatial))) { range in
    for index in range {
      let (c, j) = index.quotientAndRemainder(dividingBy: count)
      let from = src + ((firstImage + j) * totalChannels + channelStart + c) * spatial
      (dst + c * count * spatial + j * spatial).update(from: from, count: spatial)
    }
  }
}

/// The inverse of `gatherChannels`, adding `bias[channelStart + c]` on the way when given.
func scatterChannels(
  _ src: UnsafePointer<Float>, bias: UnsafePointer<Float>?, totalChannels: Int, spatial: Int,
  firstImage: Int, count: Int, channelStart: Int, channels: Int, dst: UnsafeMutablePointer<Float>
) {
  Parallel.forRanges(channels * count, minimumChunk: max(1, 4096 / max(1, spatial))) { range in
    for index in range {
      let (c, j) = index.quotientAndRemainder(dividingBy: count)
      let to = dst + ((firstImage + j) * totalChannels + channelStart + c) * spatial
      let from = src + c * count * spatial + j * spatial
      if let bias {
        let b = bias[channelStart + c]
        for p in 0..<spatial { to[p] = from[p] + b }
      } else {
        to.update(from: from, count: spatial)
      }
    }
  }
}

/// `dY` of group `group` for images `firstImage ..< firstImage + count` as a
/// `C_out/g × (count·oh·ow)` matrix: read in place for one image, else gathered into `staged`.
func groupGradient(
  _ s: Conv2dShape, _ gradOutput: UnsafePointer<Float>, firstImage: Int, count: Int, group: Int,
  staged: UnsafeMutablePointer<Float>
) -> UnsafePointer<Float> {
  let spatial = s.outHeight * s.outWidth
  let coutG = s.outChannelsPerGroup
  if count == 1 { return gradOutput + (firstImage * s.outChannels + group * coutG) * spatial }
  gatherChannels(
    gradOutput, totalChannels: s.outChannels, spatial: spatial, firstImage: firstImage, count: count,
    channelStart: group * coutG, channels: coutG, dst: staged)
  return UnsafePointer(staged)
}

/// Adds `bias[c]` to every pixel of channel `c` of `count` NCHW images from `firstImage`.
func addChannelBias(
  _ bias: UnsafePointer<Float>, channels: Int, spatial: Int, firstImage: Int, count: Int,
  output: UnsafeMutablePointer<Float>
) {
  Parallel.forRanges(channels * count, minimumChunk: max(1, 4096 / max(1, spatial))) { range in
    for index in range {
      let plane = output + (firstImage * channels + index) * spatial
      let b = bias[index % channels]
      for p in 0..<spatial { plane[p] += b }
    }
  }
}

/// Convolution forward. Writes every element of `output`.
///
/// Implicit im2col: the GEMM's B slivers are built straight from the input (`packIm2col`), so the
/// unfolded matrix never exists in memory. Several images share one GEMM; their result is staged as
/// `C_out/g × (images·oh·ow)` and scattered to NCHW (with the bias) — one image writes in place.
///
/// `packedWeight`, from `conv2dPackWeights`, spares the GEMM path packing the weight on every call
/// (it is ignored by the other paths, which read `weight`).
public func conv2dForward(
  _ s: Conv2dShape, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
  bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
  packedWeight: UnsafePointer<Float>? = nil
) {
  if conv2dDirectApplies(s) {
    conv2dDirectForward(s, input: input, weight: weight, bias: bias, output: output)
    return
  }
  if conv2dTiledPreferred(s) {
    conv2dTiledForward(s, input: input, weight: weight, bias: bias, output: output)
    return
  }
  if conv2dSpaceToDepthApplies(s) {
    conv2dSpaceToDepthForward(s, input: input, weight: weight, bias: bias, output: output)
    return
  }
  let kdim = s.inChannelsPerGroup * s.kernelHeight * s.kernelWidth
  let coutG = s.outChannelsPerGroup
  let packedStride = gemmPackedACount(m: coutG, k: kdim)
  let packedRows = (coutG + MicroKernel.mr - 1) / MicroKernel.mr * MicroKernel.mr
  conv2dImplicitGEMM(s, input: input, bias: bias, output: output) { g, width, source, c in
    PackedGEMM.run(
      kernel: MicroKernel.self, transposeA: false, m: coutG, n: width, k: kdim, alpha: 1,
      a: weight + g * coutG * kdim, lda: kdim, source: source, beta: 0, c: c, ldc: width,
      packedA: packedWeight.map { PrepackedA(pointer: $0 + g * packedStride, paddedRows: packedRows) })
  }
}

/// The implicit-im2col forward convolution around a GEMM: for each chunk of images and each group,
/// `gemm(group, width, source, c)` must write `C = W_group · op(B)` (`C_out/g × width`, row stride
/// `width`) with `op(B)` the unfolded chunk read from `source`; the result is scattered to NCHW with
/// the bias (one image is written in place). Shared by the fp32 GEMM and the bf16 tile.
func conv2dImplicitGEMM(
  _ s: Conv2dShape, input: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
  output: UnsafeMutablePointer<Float>,
  gemm: (Int, Int, GEMMSourceB, UnsafeMutablePointer<Float>) -> Void
) {
  let spatial = s.outHeight * s.outWidth
  let coutG = s.outChannelsPerGroup
  let chunk = Conv2dPlan.imagesPerChunk(s)
  let stagedFloats = chunk > 1 ? (coutG * chunk * spatial + 15) / 16 * 16 : 0
  let paddedFloats = unfoldsPadded(s) ? PaddedImages.floats(s, count: chunk, phased: true) : 0
  GEMMWorkspace.with(floats: stagedFloats + paddedFloats) { workspace in
    let staged = workspace
    for n0 in stride(from: 0, to: s.batch, by: chunk) {
      let count = min(chunk, s.batch - n0)
      for g in 0..<s.groups {
        let direct = count == 1
        let channelOffset = g * s.inChannelsPerGroup
        let padded = paddedChunk(
          s, input: input, firstImage: n0, count: count, channelOffset: channelOffset,
          dst: paddedFloats == 0 ? nil : workspace + stagedFloats)
        let source = GEMMSourceB.packer { colStart, cols, p0, kc, nr, dst in
          packIm2col(
            s, input: input, firstImage: n0, channelOffset: channelOffset, padded: padded,
            colStart: colStart, cols: cols, p0: p0, kc: kc, nr: nr, dst: dst)
        }
        gemm(
          g, count * spatial, source, direct ? output + (n0 * s.outChannels + g * coutG) * spatial : staged)
        if !direct {
          scatterChannels(
            staged, bias: bias, totalChannels: s.outChannels, spatial: spatial, firstImage: n0,
            count: count, channelStart: g * coutG, channels: coutG, dst: output)
        }
      }
      if count == 1, let bias {
        addChannelBias(
          bias, channels: s.outChannels, spatial: spatial, firstImage: n0, count: 1, output: output)
      }
    }
  }
}

/// Whether `conv2dForward` runs `s` as an implicit-im2col GEMM, the path that reads a weight packed
/// by `conv2dPackWeights`.
public func conv2dRunsAsGEMM(_ s: Conv2dShape) -> Bool {
  !conv2dDirectApplies(s) && !conv2dTiledPreferred(s) && !conv2dSpaceToDepthApplies(s)
}

/// Floats `conv2dPackWeights` writes: every group's weight as a packed GEMM A operand.
public func conv2dPackedWeightCount(_ s: Conv2dShape) -> Int {
  s.groups
    * gemmPackedACount(m: s.outChannelsPerGroup, k: s.inChannelsPerGroup * s.kernelHeight * s.kernelWidth)
}

/// Packs an OIHW weight once for `conv2dForward(…, packedWeight:)`: a frozen layer's weight then
/// skips the per-call packing (3–5 % of AlexNet's per-image convolution GEMMs).
public func conv2dPackWeights(
  _ s: Conv2dShape, weight: UnsafePointer<Float>, dst: UnsafeMutablePointer<Float>
) {
  let kdim = s.inChannelsPerGroup * s.kernelHeight * s.kernelWidth
  let coutG = s.outChannelsPerGroup
  let stride = gemmPackedACount(m: coutG, k: kdim)
  for g in 0..<s.groups {
    gemmPackA(
      transposeA: false, m: coutG, k: kdim, a: weight + g * coutG * kdim, lda: kdim, dst: dst + g * stride)
  }
}

/// Whether the implicit GEMMs unfold `s` from a padded (and, when strided, phase-split) copy of the
/// input: no dilation, and a kernel wider than one pixel or padding. A 1×1 unpadded layer reads one
/// pixel in `sw` along a row however it is copied, and its copy would be all the phases.
func unfoldsPadded(_ s: Conv2dShape) -> Bool {
  PaddedImages.applies(s) && (s.kernelHeight * s.kernelWidth > 1 || s.padHeight + s.padWidth > 0)
}

/// The padded copy of one chunk of images and one group's channels into `dst`, or nil when the
/// geometry unfolds from the bare input (no room was reserved).
func paddedChunk(
  _ s: Conv2dShape, input: UnsafePointer<Float>, firstImage: Int, count: Int, channelOffset: Int,
  dst: UnsafeMutablePointer<Float>?
) -> PaddedImages? {
  dst.map {
    PaddedImages(
      s, input: input, firstImage: firstImage, count: count, channelOffset: channelOffset, dst: $0,
      phased: true)
  }
}

/// Gradient with respect to the input: `Wᵀ · dY` per group, folded back by col2im. Writes `gradInput`.
public func conv2dBackwardInput(
  _ s: Conv2dShape, gradOutput: UnsafePointer<Float>, weight: UnsafePointer<Float>,
  gradInput: UnsafeMutablePointer<Float>
) {
  // As a convolution only where its GEMM is well shaped (Winograd, or enough input channels to fill
  // the micro-kernel's rows); LeNet's 6-channel layers are faster through col2im.
  if let t = conv2dInputGradientShape(s), conv2dWinogradApplies(t) || s.inChannelsPerGroup >= 48 {
    conv2dBackwardInputAsConvolution(s, t, gradOutput: gradOutput, weight: weight, gradInput: gradInput)
    return
  }
  if conv2dSpaceToDepthApplies(s) {
    conv2dSpaceToDepthBackwardInput(s, gradOutput: gradOutput, weight: weight, gradInput: gradInput)
    return
  }
  let spatial = s.outHeight * s.outWidth
  let kdim = s.inChannelsPerGroup * s.kernelHeight * s.kernelWidth
  let coutG = s.outChannelsPerGroup
  let chunk = Conv2dPlan.imagesPerChunk(s)
  gradInput.update(repeating: 0, count: s.inputCount)
  let columnFloats = (kdim * chunk * spatial + 15) / 16 * 16
  let stagedFloats = chunk > 1 ? coutG * chunk * spatial : 0
  GEMMWorkspace.with(floats: columnFloats + stagedFloats) { workspace in
    let columns = workspace
    let staged = workspace + columnFloats
    for n0 in stride(from: 0, to: s.batch, by: chunk) {
      let count = min(chunk, s.batch - n0)
      let width = count * spatial
      for g in 0..<s.groups {
        let dy = groupGradient(s, gradOutput, firstImage: n0, count: count, group: g, staged: staged)
        gemm(
          transposeA: true, transposeB: false, m: kdim, n: width, k: coutG,
          alpha: 1, a: weight + g * coutG * kdim, lda: kdim, b: dy, ldb: width,
          beta: 0, c: columns, ldc: width)
        col2imBatchAccumulate(
          s, columns: columns, firstImage: n0, count: count, channelOffset: g * s.inChannelsPerGroup,
          channels: s.inChannelsPerGroup, input: gradInput)
      }
    }
  }
}

/// For a stride-1, undilated convolution, the input gradient is itself a convolution: of `dY`,
/// padded by `k − 1 − p`, with the kernel rotated 180° and its in/out channels swapped. Its geometry,
/// or nil where that does not hold (strides, dilation, or padding wider than the kernel).
public func conv2dInputGradientShape(_ s: Conv2dShape) -> Conv2dShape? {
  guard s.strideHeight == 1, s.strideWidth == 1, s.dilationHeight == 1, s.dilationWidth == 1,
    s.padHeight < s.kernelHeight, s.padWidth < s.kernelWidth
  else { return nil }
  return Conv2dShape(
    batch: s.batch, inChannels: s.outChannels, inHeight: s.outHeight, inWidth: s.outWidth,
    outChannels: s.inChannels, kernelHeight: s.kernelHeight, kernelWidth: s.kernelWidth,
    padHeight: s.kernelHeight - 1 - s.padHeight, padWidth: s.kernelWidth - 1 - s.padWidth, groups: s.groups)
}

/// `conv2dBackwardInput` as a forward convolution (no col2im), Winograd where it applies.
func conv2dBackwardInputAsConvolution(
  _ s: Conv2dShape, _ t: Conv2dShape, gradOutput: UnsafePointer<Float>, weight: UnsafePointer<Float>,
  gradInput: UnsafeMutablePointer<Float>
) {
  let (kh, kw) = (s.kernelHeight, s.kernelWidth)
  let (cinG, coutG) = (s.inChannelsPerGroup, s.outChannelsPerGroup)
  let flipped = UnsafeMutablePointer<Float>.allocate(capacity: s.weightCount)
  defer { flipped.deallocate() }
  // flipped[g·cinG + ci][co][ky][kx] = weight[g·coutG + co][ci][kh−1−ky][kw−1−kx]
  Parallel.forRanges(s.groups * cinG, minimumChunk: 8) { range in
    for row in range {
      let (g, ci) = row.quotientAndRemainder(dividingBy: cinG)
      for co in 0..<coutG {
        let src = weight + ((g * coutG + co) * cinG + ci) * kh * kw
        let dst = flipped + (row * coutG + co) * kh * kw
        for i in 0..<(kh * kw) { dst[i] = src[kh * kw - 1 - i] }
      }
    }
  }
  conv2dForwardWithWinograd(t, input: gradOutput, weight: flipped, bias: nil, output: gradInput)
}

/// A forward convolution by Winograd where it applies, else by `conv2dForward`: for convolutions the
/// kernels run internally (input gradients, phase images), whose weights change on every call.
func conv2dForwardWithWinograd(
  _ s: Conv2dShape, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
  bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>
) {
  if conv2dWinogradApplies(s) {
    conv2dWinogradForward(s, input: input, weight: weight, bias: bias, output: output)
  } else {
    conv2dForward(s, input: input, weight: weight, bias: bias, output: output)
  }
}

/// Gradients with respect to weight (`dY · colsᵀ`, summed over the batch) and bias. Writes both.
/// `colsᵀ` is packed straight from the input (`packIm2colTransposed`); the unfolded matrix never exists.
public func conv2dBackwardWeight(
  _ s: Conv2dShape, input: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
  gradWeight: UnsafeMutablePointer<Float>, gradBias: UnsafeMutablePointer<Float>?
) {
  if conv2dDirectApplies(s) {
    conv2dDirectBackwardWeight(
      s, input: input, gradOutput: gradOutput, gradWeight: gradWeight, gradBias: gradBias)
    return
  }
  if conv2dSpaceToDepthApplies(s) {
    conv2dSpaceToDepthBackwardWeight(
      s, input: input, gradOutput: gradOutput, gradWeight: gradWeight, gradBias: gradBias)
    return
  }
  let spatial = s.outHeight * s.outWidth
  let kdim = s.inChannelsPerGroup * s.kernelHeight * s.kernelWidth
  let coutG = s.outChannelsPerGroup
  let chunk = Conv2dPlan.imagesPerChunk(s)
  let stagedFloats = chunk > 1 ? (coutG * chunk * spatial + 15) / 16 * 16 : 0
  let paddedFloats = unfoldsPadded(s) ? PaddedImages.floats(s, count: chunk, phased: true) : 0
  GEMMWorkspace.with(floats: stagedFloats + paddedFloats) { workspace in
    for n0 in stride(from: 0, to: s.batch, by: chunk) {
      let count = min(chunk, s.batch - n0)
      let width = count * spatial
      for g in 0..<s.groups {
        let dy = groupGradient(s, gradOutput, firstImage: n0, count: count, group: g, staged: workspace)
        let channelOffset = g * s.inChannelsPerGroup
        let padded = paddedChunk(
          s, input: input, firstImage: n0, count: count, channelOffset: channelOffset,
          dst: paddedFloats == 0 ? nil : workspace + stagedFloats)
        PackedGEMM.run(
          kernel: MicroKernel.self, transposeA: false, m: coutG, n: kdim, k: width, alpha: 1, a: dy,
          lda: width,
          source: .packer { rowStart, rows, p0, kc, nr, dst in
            packIm2colTransposed(
              s, input: input, firstImage: n0, channelOffset: channelOffset, padded: padded,
              rowStart: rowStart, rows: rows, p0: p0, kc: kc, nr: nr, dst: dst)
          },
          beta: n0 == 0 ? 0 : 1, c: gradWeight + g * coutG * kdim, ldc: kdim)
      }
    }
  }
  if let gradBias { conv2dBiasGradient(s, gradOutput: gradOutput, gradBias: gradBias) }
}

/// The bias gradient: `dY` summed over images and pixels, per output channel. Writes `gradBias`.
func conv2dBiasGradient(
  _ s: Conv2dShape, gradOutput: UnsafePointer<Float>, gradBias: UnsafeMutablePointer<Float>
) {
  let spatial = s.outHeight * s.outWidth
  Parallel.forEach(s.outChannels) { co in
    var sum: Double = 0
    for n in 0..<s.batch {
      sum += sumKernel(count: spatial, gradOutput + (n * s.outChannels + co) * spatial)
    }
    gradBias[co] = Float(sum)
  }
}
