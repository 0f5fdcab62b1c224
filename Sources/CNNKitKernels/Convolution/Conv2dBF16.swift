/// Convolution on the bf16 GEMM tile (`BF16GEMM`): the implicit-im2col GEMM of `conv2dForward`
/// with the unfolded input rounded to bf16 as it is packed and the weight packed once into bf16 pairs.
/// For `--precision bf16` on CPUs with AVX-512 BF16; elsewhere bf16 runs as rounded operands on the
/// fp32 kernels.

/// bf16 values of `conv2dBF16PackWeights`'s result: each group's weight as a packed bf16 A operand.
public func conv2dBF16PackedWeightCount(_ s: Conv2dShape) -> Int {
  s.groups
    * BF16GEMM.packedACount(
      m: s.outChannelsPerGroup, k: s.inChannelsPerGroup * s.kernelHeight * s.kernelWidth)
}

/// Packs an OIHW weight, rounded to bf16, for `conv2dBF16Forward`.
public func conv2dBF16PackWeights(
  _ s: Conv2dShape, weight: UnsafePointer<Float>, dst: UnsafeMutablePointer<UInt16>
) {
  let kdim = s.inChannelsPerGroup * s.kernelHeight * s.kernelWidth
  let coutG = s.outChannelsPerGroup
  let stride = BF16GEMM.packedACount(m: coutG, k: kdim)
  for g in 0..<s.groups {
    BF16GEMM.packA(
      transposeA: false, m: coutG, k: kdim, a: weight + g * coutG * kdim, lda: kdim, dst: dst + g * stride)
  }
}

/// `conv2dForward` with both operands rounded to bf16 and fp32 accumulation, on `tile`; `packedWeight`
/// from `conv2dBF16PackWeights`. Writes every element of `output`.
public func conv2dBF16Forward(
  _ s: Conv2dShape, input: UnsafePointer<Float>, packedWeight: UnsafePointer<UInt16>,
  bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, tile: BF16Tile
) {
  let spatial = s.outHeight * s.outWidth
  let kdim = s.inChannelsPerGroup * s.kernelHeight * s.kernelWidth
  let coutG = s.outChannelsPerGroup
  let chunk = Conv2dPlan.imagesPerChunk(s)
  let packedStride = BF16GEMM.packedACount(m: coutG, k: kdim)
  let stagedFloats = chunk > 1 ? (coutG * chunk * spatial + 15) / 16 * 16 : 0
  let paddedFloats = unfoldsPadded(s) ? PaddedImages.floats(s, count: chunk, phased: true) : 0
  GEMMWorkspace.with(floats: stagedFloats + paddedFloats) { workspace in
    for n0 in stride(from: 0, to: s.batch, by: chunk) {
      let count = min(chunk, s.batch - n0)
      for g in 0..<s.groups {
        let direct = count == 1
        let channelOffset = g * s.inChannelsPerGroup
        let padded = paddedChunk(
          s, input: input, firstImage: n0, count: count, channelOffset: channelOffset,
          dst: paddedFloats == 0 ? nil : workspace + stagedFloats)
        BF16GEMM.run(
          m: coutG, n: count * spatial, k: kdim, packedA: packedWeight + g * packedStride,
          source: .packer { colStart, cols, p0, kc, nr, dst in
            packIm2col(
              s, input: input, firstImage: n0, channelOffset: channelOffset, padded: padded,
              colStart: colStart, cols: cols, p0: p0, kc: kc, nr: nr, dst: dst)
          },
          c: direct ? output + (n0 * s.outChannels + g * coutG) * spatial : workspace, ldc: count * spatial,
          accumulate: false, tile: tile)
        if !direct {
          scatterChannels(
            workspace, bias: bias, totalChannels: s.outChannels, spatial: spatial, firstImage: n0,
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
