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
    let backend = try Backends.backend("batch_norm", input, weight, bias, runningMean, runningVar)
    var inputs = [input]
    if let weight { inputs.append(weight) }
    if let bias { inputs.append(bias) }
    let (hasWeight, hasBias) = (weight != nil, bias != nil)
    func gradients(_ result: (input: Tensor?, weight: Tensor?, bias: Tensor?)) -> [Tensor?] {
      [result.input] + (hasWeight ? [result.weight] : []) + (hasBias ? [result.bias] : [])
    }
    guard training || runningMean == nil || runningVar == nil else {
      // Copies: the backward pass must see the statistics this pass used.
      let (mean, variance) = (runningMean!.copy(), runningVar!.copy())
      let out = try OperationTracer.record(
        .batchNorm(eps: eps, hasWeight: hasWeight, hasBias: hasBias),
        inputs: inputs + [runningMean!, runningVar!]
      ) {
        try backend.batchNormInference(
          input, weight: weight, bias: bias, mean: mean, variance: variance, eps: eps)
      }
      return out.recording("batch_norm", inputs) { g in
        Backends.inBackward {
          gradients(
            try backend.batchNormInferenceBackward(
              input: input, gradOutput: g, weight: weight, mean: mean, variance: variance, eps: eps,
              needInput: input.requiresGrad, needWeight: hasWeight, needBias: hasBias))
        }
      }
    }
    guard n * spatial > 1 || input.isMeta else {
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
    let coefficient = convention == .pytorch ? alpha / Float(size) : alpha
    let backend = try Backends.backend("local_response_norm", input)
    // α in the tracer's (ONNX's) convention: divided by `size`, whatever this call's convention.
    return try OperationTracer.record(
      .localResponseNorm(size: size, alpha: coefficient * Float(size), beta: beta, k: k), inputs: [input]
    ) {
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
  }
}
