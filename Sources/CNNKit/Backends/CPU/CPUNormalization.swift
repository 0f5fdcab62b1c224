import CNNKitKernels

/// Batch norm, local response norm and the optimiser updates on the CPU.
extension CPUBackend {
  /// N, C and the spatial size of an NCHW or NC tensor.
  private func geometry(_ x: Tensor) -> (Int, Int, Int) {
    (x.shape[0], x.shape[1], x.rank == 4 ? x.shape[2] * x.shape[3] : 1)
  }

  func batchNormTraining(
    _ input: Tensor, weight: Tensor?, bias: Tensor?, runningMean: Tensor?, runningVar: Tensor?,
    momentum: Float, eps: Float
  ) throws -> (output: Tensor, mean: Tensor, invStd: Tensor) {
    let (n, c, spatial) = geometry(input)
    let out = Tensor(uninitializedShape: input.shape)
    let (mean, invStd) = (Tensor(zeros: [c]), Tensor(zeros: [c]))
    batchNormForwardTraining(
      batch: n, channels: c, spatial: spatial, input: input.storage.readOnlyPointer,
      weight: weight?.storage.readOnlyPointer, bias: bias?.storage.readOnlyPointer,
      runningMean: runningMean?.data, runningVar: runningVar?.data, momentum: momentum, eps: eps,
      output: out.data, saveMean: mean.data, saveInvStd: invStd.data)
    return (out, mean, invStd)
  }

  func batchNormTrainingBackward(
    input: Tensor, gradOutput: Tensor, weight: Tensor?, mean: Tensor, invStd: Tensor,
    needInput: Bool, needWeight: Bool, needBias: Bool
  ) throws -> (input: Tensor?, weight: Tensor?, bias: Tensor?) {
    let (n, c, spatial) = geometry(input)
    let dx = needInput ? Tensor(uninitializedShape: input.shape) : nil
    let dw = needWeight ? Tensor(zeros: [c]) : nil
    let db = needBias ? Tensor(zeros: [c]) : nil
    batchNormBackwardTraining(
      batch: n, channels: c, spatial: spatial, input: input.storage.readOnlyPointer,
      gradOutput: gradOutput.storage.readOnlyPointer, weight: weight?.storage.readOnlyPointer,
      saveMean: mean.storage.readOnlyPointer, saveInvStd: invStd.storage.readOnlyPointer, gradInput: dx?.data,
      gradWeight: dw?.data, gradBias: db?.data)
    return (dx, dw, db)
  }

  func batchNormInference(
    _ input: Tensor, weight: Tensor?, bias: Tensor?, mean: Tensor, variance: Tensor, eps: Float
  ) throws -> Tensor {
    let (n, c, spatial) = geometry(input)
    let out = Tensor(uninitializedShape: input.shape)
    batchNormForwardInference(
      batch: n, channels: c, spatial: spatial, input: input.storage.readOnlyPointer,
      weight: weight?.storage.readOnlyPointer, bias: bias?.storage.readOnlyPointer,
      mean: mean.storage.readOnlyPointer, variance: variance.storage.readOnlyPointer, eps: eps,
      output: out.data)
    return out
  }

  func batchNormInferenceBackward(
    input: Tensor, gradOutput: Tensor, weight: Tensor?, mean: Tensor, variance: Tensor, eps: Float,
    needInput: Bool, needWeight: Bool, needBias: Bool
  ) throws -> (input: Tensor?, weight: Tensor?, bias: Tensor?) {
    // Fixed statistics make the layer affine: dx = dy·γ/σ, dγ = Σ dy·x̂, dβ = Σ dy.
    let (n, c, spatial) = geometry(input)
    let dx = needInput ? Tensor(zeros: input.shape) : nil
    let dw = needWeight ? Tensor(zeros: [c]) : nil
    let db = needBias ? Tensor(zeros: [c]) : nil
    let (x, g) = (input.storage.readOnlyPointer, gradOutput.storage.readOnlyPointer)
    let (mu, v, gamma) = (
      mean.storage.readOnlyPointer, variance.storage.readOnlyPointer, weight?.storage.readOnlyPointer
    )
    let (dxp, dwp, dbp) = (dx?.data, dw?.data, db?.data)
    for ch in 0..<c {
      let inv = 1 / (v[ch] + eps).squareRoot()
      let scale = gamma?[ch] ?? 1
      var sumDy: Float = 0
      var sumDyXhat: Float = 0
      for b in 0..<n {
        let base = (b * c + ch) * spatial
        for i in 0..<spatial {
          let dy = g[base + i]
          sumDy += dy
          sumDyXhat += dy * (x[base + i] - mu[ch]) * inv
          dxp?[base + i] = dy * scale * inv
        }
      }
      dwp?[ch] = sumDyXhat
      dbp?[ch] = sumDy
    }
    return (dx, dw, db)
  }

  func localResponseNorm(
    _ input: Tensor, size: Int, coefficient: Float, beta: Float, k: Float
  ) throws -> (output: Tensor, scale: Tensor) {
    let (n, c) = (input.shape[0], input.shape[1])
    let (out, scale) = (Tensor(uninitializedShape: input.shape), Tensor(uninitializedShape: input.shape))
    localResponseNormForward(
      batch: n, channels: c, spatial: input.shape[2] * input.shape[3], size: size, coefficient: coefficient,
      beta: beta, k: k, input: input.storage.readOnlyPointer, output: out.data, scale: scale.data)
    return (out, scale)
  }

  func localResponseNormBackward(
    input: Tensor, scale: Tensor, gradOutput: Tensor, size: Int, coefficient: Float, beta: Float
  ) throws -> Tensor {
    let dx = Tensor(uninitializedShape: input.shape)
    CNNKitKernels.localResponseNormBackward(
      batch: input.shape[0], channels: input.shape[1], spatial: input.shape[2] * input.shape[3], size: size,
      coefficient: coefficient, beta: beta, input: input.storage.readOnlyPointer,
      scale: scale.storage.readOnlyPointer,
      gradOutput: gradOutput.storage.readOnlyPointer, gradInput: dx.data)
    return dx
  }

  func sgdStep(
    weight: Tensor, gradient: Tensor, velocity: Tensor?, learningRate: Float, momentum: Float,
    dampening: Float, weightDecay: Float, nesterov: Bool, firstStep: Bool
  ) throws {
    sgdUpdateKernel(
      count: weight.count, weight: weight.data, grad: gradient.storage.readOnlyPointer,
      velocity: velocity?.data,
      learningRate: learningRate, momentum: momentum, dampening: dampening, weightDecay: weightDecay,
      nesterov: nesterov, firstStep: firstStep)
  }

  func adamStep(
    weight: Tensor, gradient: Tensor, firstMoment: Tensor, secondMoment: Tensor, rule: AdamUpdate
  ) throws {
    adamUpdateKernel(
      count: weight.count, weight: weight.data, grad: gradient.storage.readOnlyPointer,
      expAvg: firstMoment.data,
      expAvgSq: secondMoment.data, rule: rule)
  }
}
