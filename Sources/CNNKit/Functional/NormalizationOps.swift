import CNNKitKernels

/// Which formula a local response normalisation follows; the two differ by a factor `size` in α.
public enum LRNConvention: String, Sendable, Equatable {
  /// PyTorch's `nn.LocalResponseNorm`: `k + (α / n) · Σ x²`.
  case pytorch
  /// The 2012 AlexNet paper (and Caffe's `WITHIN_CHANNEL`-free cross-map form): `k + α · Σ x²`.
  case paper
}

extension Functional {
  /// Batch normalisation over NCHW (or NC) input, PyTorch's `F.batch_norm`. In training mode it
  /// normalises by batch statistics and updates the running buffers in place (when given); in eval
  /// mode it uses the running buffers.
  public static func batchNorm(
    _ input: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?, bias: Tensor?,
    training: Bool, momentum: Float = 0.1, eps: Float = 1e-5
  ) throws -> Tensor {
    guard input.rank == 4 || input.rank == 2 else {
      throw TensorError.shapeMismatch(
        operation: "batch_norm", message: "expected NCHW or NC input, got \(shapeString(input.shape))")
    }
    let (n, c) = (input.shape[0], input.shape[1])
    let spatial = input.rank == 4 ? input.shape[2] * input.shape[3] : 1
    for (name, t) in [
      ("weight", weight), ("bias", bias), ("running_mean", runningMean), ("running_var", runningVar),
    ] {
      if let t, t.shape != [c] {
        throw TensorError.shapeMismatch(
          operation: "batch_norm",
          message:
            "\(name) \(shapeString(t.shape)) does not match \(c) channels of input \(shapeString(input.shape))"
        )
      }
    }
    if input.isMeta { return Tensor(metaShape: input.shape) }
    if let backend = try Backends.backend("batch_norm", input, weight, bias, runningMean, runningVar) {
      return try deviceBatchNorm(
        backend, input, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
        training: training, momentum: momentum, eps: eps)
    }
    let out = Tensor(uninitializedShape: input.shape)
    var inputs = [input]
    if let weight { inputs.append(weight) }
    if let bias { inputs.append(bias) }
    let hasWeight = weight != nil
    let hasBias = bias != nil

    if training || runningMean == nil || runningVar == nil {
      guard n * spatial > 1 else {
        throw TensorError.shapeMismatch(
          operation: "batch_norm",
          message: "training needs more than one value per channel, got input \(shapeString(input.shape))")
      }
      let mean = Tensor(zeros: [c])
      let invStd = Tensor(zeros: [c])
      batchNormForwardTraining(
        batch: n, channels: c, spatial: spatial, input: input.data, weight: weight?.data, bias: bias?.data,
        runningMean: training ? runningMean?.data : nil, runningVar: training ? runningVar?.data : nil,
        momentum: momentum, eps: eps, output: out.data, saveMean: mean.data, saveInvStd: invStd.data)
      return out.recording("batch_norm", inputs) { g in
        let dx = input.requiresGrad ? Tensor(uninitializedShape: input.shape) : nil
        let dw = hasWeight ? Tensor(zeros: [c]) : nil
        let db = hasBias ? Tensor(zeros: [c]) : nil
        batchNormBackwardTraining(
          batch: n, channels: c, spatial: spatial, input: input.data, gradOutput: g.data,
          weight: weight?.data,
          saveMean: mean.data, saveInvStd: invStd.data, gradInput: dx?.data, gradWeight: dw?.data,
          gradBias: db?.data)
        var grads: [Tensor?] = [dx]
        if hasWeight { grads.append(dw) }
        if hasBias { grads.append(db) }
        return grads
      }
    }

    let mean = runningMean!.copy()
    let variance = runningVar!.copy()
    batchNormForwardInference(
      batch: n, channels: c, spatial: spatial, input: input.data, weight: weight?.data, bias: bias?.data,
      mean: mean.data, variance: variance.data, eps: eps, output: out.data)
    return out.recording("batch_norm", inputs) { g in
      // Fixed statistics make the layer affine: dx = dy·γ/σ, dγ = Σ dy·x̂, dβ = Σ dy.
      let dx = input.requiresGrad ? Tensor(zeros: input.shape) : nil
      let dw = hasWeight ? Tensor(zeros: [c]) : nil
      let db = hasBias ? Tensor(zeros: [c]) : nil
      for ch in 0..<c {
        let inv = 1 / (variance.data[ch] + eps).squareRoot()
        let gamma = weight?.data[ch] ?? 1
        var sumDy: Float = 0
        var sumDyXhat: Float = 0
        for b in 0..<n {
          let base = (b * c + ch) * spatial
          for i in 0..<spatial {
            let dy = g.data[base + i]
            sumDy += dy
            sumDyXhat += dy * (input.data[base + i] - mean.data[ch]) * inv
            dx?.data[base + i] = dy * gamma * inv
          }
        }
        dw?.data[ch] = sumDyXhat
        db?.data[ch] = sumDy
      }
      var grads: [Tensor?] = [dx]
      if hasWeight { grads.append(dw) }
      if hasBias { grads.append(db) }
      return grads
    }
  }

  /// Local response normalisation across channels. `convention` says how `alpha` is applied:
  /// `.pytorch` divides it by `size` (PyTorch's `LocalResponseNorm`), `.paper` uses it as written.
  public static func localResponseNorm(
    _ input: Tensor, size: Int, alpha: Float = 1e-4, beta: Float = 0.75, k: Float = 1,
    convention: LRNConvention = .pytorch
  ) throws -> Tensor {
    guard input.rank == 4 else {
      throw TensorError.shapeMismatch(
        operation: "local_response_norm", message: "expected NCHW input, got \(shapeString(input.shape))")
    }
    guard size > 0 else {
      throw TensorError.shapeMismatch(
        operation: "local_response_norm", message: "size must be positive, got \(size)")
    }
    if input.isMeta { return Tensor(metaShape: input.shape) }
    let (n, c) = (input.shape[0], input.shape[1])
    let spatial = input.shape[2] * input.shape[3]
    let coefficient = convention == .pytorch ? alpha / Float(size) : alpha
    if let backend = try Backends.backend("local_response_norm", input) {
      let (out, scale) = try backend.localResponseNorm(
        input, size: size, coefficient: coefficient, beta: beta, k: k)
      return out.recording("local_response_norm", [input]) { g in
        Backends.inBackward {
          [
            try backend.localResponseNormBackward(
              input: input, scale: scale, gradOutput: g, size: size, coefficient: coefficient, beta: beta)
          ]
        }
      }
    }
    let out = Tensor(uninitializedShape: input.shape)
    let scale = Tensor(uninitializedShape: input.shape)
    localResponseNormForward(
      batch: n, channels: c, spatial: spatial, size: size, coefficient: coefficient, beta: beta, k: k,
      input: input.data, output: out.data, scale: scale.data)
    return out.recording("local_response_norm", [input]) { g in
      let dx = Tensor(uninitializedShape: input.shape)
      localResponseNormBackward(
        batch: n, channels: c, spatial: spatial, size: size, coefficient: coefficient, beta: beta,
        input: input.data, scale: scale.data, gradOutput: g.data, gradInput: dx.data)
      return [dx]
    }
  }

  /// `batchNorm` on another device: the same two modes and the same gradients.
  private static func deviceBatchNorm(
    _ backend: any Backend, _ input: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?,
    bias: Tensor?, training: Bool, momentum: Float, eps: Float
  ) throws -> Tensor {
    var inputs = [input]
    if let weight { inputs.append(weight) }
    if let bias { inputs.append(bias) }
    let (hasWeight, hasBias) = (weight != nil, bias != nil)
    func gradients(_ result: (input: Tensor?, weight: Tensor?, bias: Tensor?)) -> [Tensor?] {
      [result.input] + (hasWeight ? [result.weight] : []) + (hasBias ? [result.bias] : [])
    }
    guard training || runningMean == nil || runningVar == nil else {
      let (mean, variance) = (runningMean!.copy(), runningVar!.copy())
      let out = try backend.batchNormInference(
        input, weight: weight, bias: bias, mean: mean, variance: variance, eps: eps)
      return out.recording("batch_norm", inputs) { g in
        Backends.inBackward {
          gradients(
            try backend.batchNormInferenceBackward(
              input: input, gradOutput: g, weight: weight, mean: mean, variance: variance, eps: eps,
              needInput: input.requiresGrad, needWeight: hasWeight, needBias: hasBias))
        }
      }
    }
    guard input.shape[0] * (input.rank == 4 ? input.shape[2] * input.shape[3] : 1) > 1 else {
      throw TensorError.shapeMismatch(
        operation: "batch_norm",
        message: "training needs more than one value per channel, got input \(shapeString(input.shape))")
    }
    let (out, mean, invStd) = try backend.batchNormTraining(
      input, weight: weight, bias: bias, runningMean: training ? runningMean : nil,
      runningVar: training ? runningVar : nil, momentum: momentum, eps: eps)
    return out.recording("batch_norm", inputs) { g in
      Backends.inBackward {
        gradients(
          try backend.batchNormTrainingBackward(
            input: input, gradOutput: g, weight: weight, mean: mean, invStd: invStd,
            needInput: input.requiresGrad, needWeight: hasWeight, needBias: hasBias))
      }
    }
  }
}
