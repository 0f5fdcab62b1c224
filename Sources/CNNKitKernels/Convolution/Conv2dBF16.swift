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
  let kdim = s.inChannelsPerGroup * s.kernelHeight * s.kernelWidth
  let coutG = s.outChannelsPerGroup
  let packedStride = BF16GEMM.packedACount(m: coutG, k: kdim)
  conv2dImplicitGEMM(s, input: input, bias: bias, output: output) { g, width, source, c in
    BF16GEMM.run(
      m: coutG, n: width, k: kdim, packedA: packedWeight + g * packedStride, source: source, c: c, ldc: width,
      accumulate: false, tile: tile)
  }
}
