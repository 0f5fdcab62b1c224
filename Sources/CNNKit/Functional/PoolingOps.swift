import CNNKitKernels

/// Checks an NCHW input and builds the pooling geometry; an empty output is an error.
func pool2dShape(
  _ op: String, input: [Int], kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int), ceilMode: Bool
) throws -> Pool2dShape {
  guard input.count == 4 else {
    throw TensorError.shapeMismatch(operation: op, message: "expected NCHW input, got \(shapeString(input))")
  }
  guard padding.0 * 2 <= kernel.0, padding.1 * 2 <= kernel.1 else {
    throw TensorError.shapeMismatch(
      operation: op, message: "padding \(padding) must be at most half the kernel \(kernel)")
  }
  let s = Pool2dShape(
    batch: input[0], channels: input[1], inHeight: input[2], inWidth: input[3], kernelHeight: kernel.0,
    kernelWidth: kernel.1, strideHeight: stride.0, strideWidth: stride.1, padHeight: padding.0,
    padWidth: padding.1, ceilMode: ceilMode)
  guard s.outHeight > 0, s.outWidth > 0 else {
    throw TensorError.emptyOutput(
      operation: op,
      message:
        "input \(input[2])×\(input[3]) is smaller than the \(kernel.0)×\(kernel.1) window; output would be empty"
    )
  }
  return s
}

extension Functional {
  /// Max pooling, PyTorch's `F.max_pool2d` (padding counts as −∞).
  public static func maxPool2d(
    _ input: Tensor, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int) = (0, 0),
    ceilMode: Bool = false
  ) throws -> Tensor {
    try OperationTracer.record(
      .maxPool2d(kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode), inputs: [input]
    ) {
      try maxPool2dUntraced(input, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
    }
  }

  private static func maxPool2dUntraced(
    _ input: Tensor, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int), ceilMode: Bool
  ) throws -> Tensor {
    let s = try pool2dShape(
      "max_pool2d", input: input.shape, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
    let backend = try Backends.backend("max_pool2d", input)
    let (out, saved) = try backend.maxPool2d(
      s, input: input, keepForBackward: GradMode.enabled && input.requiresGrad)
    guard let saved else { return out }
    return out.recording("max_pool2d", [input]) { g in
      Backends.inBackward { [try backend.maxPool2dBackward(s, saved: saved, gradient: g)] }
    }
  }

  /// Average pooling, PyTorch's `F.avg_pool2d` (`count_include_pad` defaults to true there too).
  public static func avgPool2d(
    _ input: Tensor, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int) = (0, 0),
    ceilMode: Bool = false, countIncludePad: Bool = true
  ) throws -> Tensor {
    let s = try pool2dShape(
      "avg_pool2d", input: input.shape, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
    let backend = try Backends.backend("avg_pool2d", input)
    return try OperationTracer.record(
      .avgPool2d(
        kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode, countIncludePad: countIncludePad
      ),
      inputs: [input]
    ) {
      try backend.avgPool2d(s, input: input, countIncludePad: countIncludePad).recording(
        "avg_pool2d", [input]
      ) {
        g in
        Backends.inBackward {
          [try backend.avgPool2dBackward(s, gradOutput: g, countIncludePad: countIncludePad)]
        }
      }
    }
  }

  /// Adaptive average pooling to a fixed `outputSize`, PyTorch's `F.adaptive_avg_pool2d`.
  public static func adaptiveAvgPool2d(_ input: Tensor, outputSize: (Int, Int)) throws -> Tensor {
    guard input.rank == 4 else {
      throw TensorError.shapeMismatch(
        operation: "adaptive_avg_pool2d", message: "expected NCHW input, got \(shapeString(input.shape))")
    }
    guard input.shape[2] > 0, input.shape[3] > 0, outputSize.0 > 0, outputSize.1 > 0 else {
      throw TensorError.emptyOutput(
        operation: "adaptive_avg_pool2d", message: "input \(shapeString(input.shape)) is empty")
    }
    let (h, w) = (input.shape[2], input.shape[3])
    // Output size = input size: every window is one pixel (AlexNet's 6×6 at 224²), the identity,
    // returned as is like dropout in eval mode.
    return try OperationTracer.record(.adaptiveAvgPool2d(outputSize: outputSize), inputs: [input]) {
      if (h, w) == outputSize { return input }
      let backend = try Backends.backend("adaptive_avg_pool2d", input)
      let out = try backend.adaptiveAvgPool2d(input, outputSize: outputSize)
      let inputShape = input.shape
      return out.recording("adaptive_avg_pool2d", [input]) { g in
        Backends.inBackward { [try backend.adaptiveAvgPool2dBackward(gradOutput: g, inputShape: inputShape)] }
      }
    }
  }
}
