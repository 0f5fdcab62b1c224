import CNNKitKernels

/// Builds the kernel geometry for `input` (NCHW) and `weight` (OIHW), checking that they fit.
func conv2dShape(
  input: [Int], weight: [Int], stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), groups: Int
) throws -> Conv2dShape {
  let op = "conv2d"
  guard input.count == 4 else {
    throw TensorError.shapeMismatch(operation: op, message: "expected NCHW input, got \(shapeString(input))")
  }
  guard weight.count == 4, groups > 0, weight[0] % groups == 0, input[1] % groups == 0 else {
    throw TensorError.shapeMismatch(
      operation: op, message: "weight \(shapeString(weight)) with groups \(groups) is not valid")
  }
  guard input[1] == weight[1] * groups else {
    throw TensorError.shapeMismatch(
      operation: op,
      message:
        "input \(shapeString(input)) has \(input[1]) channels, weight \(shapeString(weight)) with groups \(groups) expects \(weight[1] * groups)"
    )
  }
  let s = Conv2dShape(
    batch: input[0], inChannels: input[1], inHeight: input[2], inWidth: input[3], outChannels: weight[0],
    kernelHeight: weight[2], kernelWidth: weight[3], strideHeight: stride.0, strideWidth: stride.1,
    padHeight: padding.0, padWidth: padding.1, dilationHeight: dilation.0, dilationWidth: dilation.1,
    groups: groups)
  let effectiveH = input[2] + 2 * padding.0 - dilation.0 * (weight[2] - 1)
  let effectiveW = input[3] + 2 * padding.1 - dilation.1 * (weight[3] - 1)
  guard effectiveH > 0, effectiveW > 0 else {
    throw TensorError.emptyOutput(
      operation: op,
      message:
        "input \(input[2])×\(input[3]) with padding \(padding.0) is smaller than the \(weight[2])×\(weight[3]) kernel; output would be empty"
    )
  }
  return s
}

extension Functional {
  /// 2-D convolution, PyTorch's `F.conv2d`: input NCHW, weight OIHW (I = C_in / groups), bias [O].
  public static func conv2d(
    _ input: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int) = (1, 1),
    padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1
  ) throws -> Tensor {
    try OperationTracer.record(
      .conv2d(stride: stride, padding: padding, dilation: dilation, groups: groups, relu: false),
      inputs: [input, weight] + (bias.map { [$0] } ?? [])
    ) {
      try convolution(
        input, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation,
        groups: groups, relu: false)
    }
  }

  /// `relu(conv2d(...))` in one output buffer: the ReLU runs in place on the convolution's result and
  /// its backward mask comes from that same buffer, so no second activation is allocated.
  public static func conv2dReLU(
    _ input: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int) = (1, 1),
    padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1
  ) throws -> Tensor {
    try OperationTracer.record(
      .conv2d(stride: stride, padding: padding, dilation: dilation, groups: groups, relu: true),
      inputs: [input, weight] + (bias.map { [$0] } ?? [])
    ) {
      try convolution(
        input, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation,
        groups: groups, relu: true)
    }
  }

  private static func convolution(
    _ input: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int), padding: (Int, Int),
    dilation: (Int, Int), groups: Int, relu: Bool
  ) throws -> Tensor {
    let s = try conv2dShape(
      input: input.shape, weight: weight.shape, stride: stride, padding: padding, dilation: dilation,
      groups: groups)
    if let bias, bias.shape != [weight.shape[0]] {
      throw TensorError.shapeMismatch(
        operation: "conv2d", message: "bias \(shapeString(bias.shape)) ≠ [\(weight.shape[0])]")
    }
    let backend = try Backends.backend("conv2d", input, weight, bias)
    var inputs = [input, weight]
    if let bias { inputs.append(bias) }
    let recording = GradMode.enabled && inputs.contains { $0.requiresGrad }
    // A weight that cannot change within this pass may keep derived forms (reordered, transformed).
    let (out, reluSaved) = try backend.conv2dForward(
      s, input: input, weight: weight, bias: bias, relu: relu, recording: recording,
      weightFrozen: !(GradMode.enabled && weight.requiresGrad))
    return out.recording(relu ? "conv2d_relu" : "conv2d", inputs) { gradient, owned in
      Backends.inBackward {
        let g =
          try reluSaved.map { try backend.reluBackward($0, gradient: gradient, owned: owned) } ?? gradient
        let dx = input.requiresGrad ? try backend.conv2dBackwardInput(s, gradOutput: g, weight: weight) : nil
        var (dw, db): (Tensor?, Tensor?) = (nil, nil)
        if weight.requiresGrad || (bias?.requiresGrad ?? false) {
          (dw, db) = try backend.conv2dBackwardWeight(s, input: input, gradOutput: g, bias: bias != nil)
        }
        return bias == nil ? [dx, dw] : [dx, dw, db]
      }
    }
  }
}
