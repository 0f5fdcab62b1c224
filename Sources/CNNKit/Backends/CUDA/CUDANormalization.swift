import CNNKitKernels

/// Batch norm, local response norm and the optimizer updates on CUDA (kernels in `CUDAKernelSource`).
extension CUDABackend {
  /// N, C and the spatial size of an NCHW or NC tensor.
  private func geometry(_ x: Tensor) -> (Int32, Int32, Int32) {
    let spatial = x.rank == 4 ? x.shape[2] * x.shape[3] : 1
    return (Int32(x.shape[0]), Int32(x.shape[1]), Int32(spatial))
  }

  private func optional(_ t: Tensor?) -> CUDAContext.Argument { .pointer(t.map { address($0) } ?? 0) }

  func batchNormTraining(
    _ input: Tensor, weight: Tensor?, bias: Tensor?, runningMean: Tensor?, runningVar: Tensor?,
    momentum: Float, eps: Float
  ) throws -> (output: Tensor, mean: Tensor, invStd: Tensor) {
    let (n, c, spatial) = geometry(input)
    let out = try empty(input.shape)
    let (mean, invStd) = (try empty([Int(c)]), try empty([Int(c)]))
    try context.launch(
      "batch_norm_train_forward", grid: Int(c), block: 512,
      [
        .pointer(address(input)), optional(weight), optional(bias), optional(runningMean),
        optional(runningVar),
        .pointer(address(out)), .pointer(address(mean)), .pointer(address(invStd)), .int(n), .int(c),
        .int(spatial), .float(momentum), .float(eps),
      ])
    return (out, mean, invStd)
  }

  func batchNormTrainingBackward(
    input: Tensor, gradOutput: Tensor, weight: Tensor?, mean: Tensor, invStd: Tensor,
    needInput: Bool, needWeight: Bool, needBias: Bool
  ) throws -> (input: Tensor?, weight: Tensor?, bias: Tensor?) {
    let (n, c, spatial) = geometry(input)
    let dx = needInput ? try empty(input.shape) : nil
    let dw = needWeight ? try empty([Int(c)]) : nil
    let db = needBias ? try empty([Int(c)]) : nil
    try context.launch(
      "batch_norm_train_backward", grid: Int(c), block: 512,
      [
        .pointer(address(input)), .pointer(address(gradOutput)), optional(weight), .pointer(address(mean)),
        .pointer(address(invStd)), optional(dx), optional(dw), optional(db), .int(n), .int(c), .int(spatial),
      ])
    return (dx, dw, db)
  }

  func batchNormInference(
    _ input: Tensor, weight: Tensor?, bias: Tensor?, mean: Tensor, variance: Tensor, eps: Float
  ) throws -> Tensor {
    let (_, c, spatial) = geometry(input)
    let out = try empty(input.shape)
    try context.launch(
      "batch_norm_eval_forward", grid: CUDAContext.blocks(for: input.count),
      [
        .pointer(address(input)), optional(weight), optional(bias), .pointer(address(mean)),
        .pointer(address(variance)), .pointer(address(out)), .int(c), .int(spatial), .float(eps),
        .int64(Int64(input.count)),
      ])
    return out
  }

  func batchNormInferenceBackward(
    input: Tensor, gradOutput: Tensor, weight: Tensor?, mean: Tensor, variance: Tensor, eps: Float,
    needInput: Bool, needWeight: Bool, needBias: Bool
  ) throws -> (input: Tensor?, weight: Tensor?, bias: Tensor?) {
    let (n, c, spatial) = geometry(input)
    let dx = needInput ? try empty(input.shape) : nil
    let dw = needWeight ? try empty([Int(c)]) : nil
    let db = needBias ? try empty([Int(c)]) : nil
    try context.launch(
      "batch_norm_eval_backward", grid: Int(c), block: 512,
      [
        .pointer(address(input)), .pointer(address(gradOutput)), optional(weight), .pointer(address(mean)),
        .pointer(address(variance)), optional(dx), optional(dw), optional(db), .int(n), .int(c),
        .int(spatial),
        .float(eps),
      ])
    return (dx, dw, db)
  }

  func localResponseNorm(
    _ input: Tensor, size: Int, coefficient: Float, beta: Float, k: Float
  ) throws -> (output: Tensor, scale: Tensor) {
    let (_, c, spatial) = geometry(input)
    let (out, scale) = (try empty(input.shape), try empty(input.shape))
    try context.launch(
      "lrn_forward", grid: CUDAContext.blocks(for: input.count),
      [
        .pointer(address(input)), .pointer(address(out)), .pointer(address(scale)), .int(c), .int(spatial),
        .int(Int32(size)), .float(coefficient), .float(beta), .float(k), .int64(Int64(input.count)),
      ])
    return (out, scale)
  }

  func localResponseNormBackward(
    input: Tensor, scale: Tensor, gradOutput: Tensor, size: Int, coefficient: Float, beta: Float
  ) throws -> Tensor {
    let (_, c, spatial) = geometry(input)
    let dx = try empty(input.shape)
    try context.launch(
      "lrn_backward", grid: CUDAContext.blocks(for: input.count),
      [
        .pointer(address(input)), .pointer(address(scale)), .pointer(address(gradOutput)),
        .pointer(address(dx)),
        .int(c), .int(spatial), .int(Int32(size)), .float(coefficient), .float(beta),
        .int64(Int64(input.count)),
      ])
    return dx
  }

  func sgdStep(
    weight: Tensor, gradient: Tensor, velocity: Tensor?, learningRate: Float, momentum: Float,
    dampening: Float, weightDecay: Float, nesterov: Bool, firstStep: Bool
  ) throws {
    try context.launch(
      "sgd_step", grid: CUDAContext.blocks(for: weight.count),
      [
        .pointer(address(weight)), .pointer(address(gradient)), optional(velocity), .float(learningRate),
        .float(momentum), .float(dampening), .float(weightDecay), .int(nesterov ? 1 : 0),
        .int(firstStep ? 1 : 0),
        .int64(Int64(weight.count)),
      ])
  }

  func adamStep(
    weight: Tensor, gradient: Tensor, firstMoment: Tensor, secondMoment: Tensor, rule: AdamUpdate
  ) throws {
    try context.launch(
      "adam_step", grid: CUDAContext.blocks(for: weight.count),
      [
        .pointer(address(weight)), .pointer(address(gradient)), .pointer(address(firstMoment)),
        .pointer(address(secondMoment)), .float(rule.applyDecay ? rule.decay : 1), .float(rule.weightDecay),
        .float(rule.weight1), .float(rule.beta2), .float(rule.weight2), .float(rule.stepSize),
        .float(rule.correction2), .float(rule.eps), .int64(Int64(weight.count)),
      ])
  }
}
