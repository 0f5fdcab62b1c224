/// Convolution forward as im2col + GEMM per image and group. Writes `output`.
public func conv2dForward(
  _ s: Conv2dShape, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
  bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>
) {
  let spatial = s.outHeight * s.outWidth
  let kdim = s.inChannelsPerGroup * s.kernelHeight * s.kernelWidth
  let coutG = s.outChannelsPerGroup
  let columns = UnsafeMutablePointer<Float>.allocate(capacity: kdim * spatial)
  defer { columns.deallocate() }
  for n in 0..<s.batch {
    let image = input + n * s.inChannels * s.inHeight * s.inWidth
    let out = output + n * s.outChannels * spatial
    for g in 0..<s.groups {
      im2col(
        s, image: image, channelOffset: g * s.inChannelsPerGroup, channels: s.inChannelsPerGroup,
        columns: columns)
      gemm(
        transposeA: false, transposeB: false, m: coutG, n: spatial, k: kdim,
        alpha: 1, a: weight + g * coutG * kdim, lda: kdim, b: columns, ldb: spatial,
        beta: 0, c: out + g * coutG * spatial, ldc: spatial)
    }
    if let bias {
      Parallel.forEach(s.outChannels) { co in
        let b = bias[co]
        let plane = out + co * spatial
        for p in 0..<spatial { plane[p] += b }
      }
    }
  }
}

/// Gradient with respect to the input: `Wᵀ · dY` per group, folded back by col2im. Writes `gradInput`.
public func conv2dBackwardInput(
  _ s: Conv2dShape, gradOutput: UnsafePointer<Float>, weight: UnsafePointer<Float>,
  gradInput: UnsafeMutablePointer<Float>
) {
  let spatial = s.outHeight * s.outWidth
  let kdim = s.inChannelsPerGroup * s.kernelHeight * s.kernelWidth
  let coutG = s.outChannelsPerGroup
  let imageCount = s.inChannels * s.inHeight * s.inWidth
  gradInput.update(repeating: 0, count: s.inputCount)
  let columns = UnsafeMutablePointer<Float>.allocate(capacity: kdim * spatial)
  defer { columns.deallocate() }
  for n in 0..<s.batch {
    let dy = gradOutput + n * s.outChannels * spatial
    for g in 0..<s.groups {
      gemm(
        transposeA: true, transposeB: false, m: kdim, n: spatial, k: coutG,
        alpha: 1, a: weight + g * coutG * kdim, lda: kdim, b: dy + g * coutG * spatial, ldb: spatial,
        beta: 0, c: columns, ldc: spatial)
      col2imAccumulate(
        s, columns: columns, channelOffset: g * s.inChannelsPerGroup, channels: s.inChannelsPerGroup,
        image: gradInput + n * imageCount)
    }
  }
}

/// Gradients with respect to weight (`dY · colsᵀ`, summed over the batch) and bias. Writes both.
public func conv2dBackwardWeight(
  _ s: Conv2dShape, input: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
  gradWeight: UnsafeMutablePointer<Float>, gradBias: UnsafeMutablePointer<Float>?
) {
  let spatial = s.outHeight * s.outWidth
  let kdim = s.inChannelsPerGroup * s.kernelHeight * s.kernelWidth
  let coutG = s.outChannelsPerGroup
  let columns = UnsafeMutablePointer<Float>.allocate(capacity: kdim * spatial)
  defer { columns.deallocate() }
  for n in 0..<s.batch {
    let image = input + n * s.inChannels * s.inHeight * s.inWidth
    let dy = gradOutput + n * s.outChannels * spatial
    for g in 0..<s.groups {
      im2col(
        s, image: image, channelOffset: g * s.inChannelsPerGroup, channels: s.inChannelsPerGroup,
        columns: columns)
      gemm(
        transposeA: false, transposeB: true, m: coutG, n: kdim, k: spatial,
        alpha: 1, a: dy + g * coutG * spatial, lda: spatial, b: columns, ldb: spatial,
        beta: n == 0 ? 0 : 1, c: gradWeight + g * coutG * kdim, ldc: kdim)
    }
  }
  if let gradBias {
    Parallel.forEach(s.outChannels) { co in
      var sum: Float = 0
      for n in 0..<s.batch {
        let plane = gradOutput + (n * s.outChannels + co) * spatial
        for p in 0..<spatial { sum += plane[p] }
      }
      gradBias[co] = sum
    }
  }
}
