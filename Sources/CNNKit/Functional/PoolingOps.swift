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
    let s = try pool2dShape(
      "max_pool2d", input: input.shape, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
    let outShape = [s.batch, s.channels, s.outHeight, s.outWidth]
    if input.isMeta { return Tensor(metaShape: outShape) }
    if let backend = try Backends.backend("max_pool2d", input) {
      let record = GradMode.enabled && input.requiresGrad
      let (out, indices) = try backend.maxPool2d(s, input: input, keepIndices: record)
      guard let indices else { return out }
      return out.recording("max_pool2d", [input]) { g in
        Backends.inBackward { [try backend.maxPool2dBackward(s, gradOutput: g, indices: indices)] }
      }
    }
    let out = Tensor(uninitializedShape: outShape)
    guard GradMode.enabled && input.requiresGrad else {
      maxPool2dForwardValues(s, input: input.data, output: out.data)
      return out
    }
    // The argmax indices live in a pooled float buffer (Int32 has the same size and alignment).
    let keeper = TensorStorage(uninitializedCount: out.count)
    let indices = UnsafeMutableRawPointer(keeper.pointer).bindMemory(
      to: Int32.self, capacity: max(1, out.count))
    maxPool2dForward(s, input: input.data, output: out.data, indices: indices)
    let inputShape = input.shape
    guard maxPool2dWindowIndicesApply(s) else {
      return out.recording("max_pool2d", [input]) { g in
        let dx = Tensor(uninitializedShape: inputShape)
        let indices = UnsafeMutableRawPointer(keeper.pointer).assumingMemoryBound(to: Int32.self)
        maxPool2dBackward(s, gradOutput: g.data, indices: indices, gradInput: dx.data)
        return [dx]
      }
    }
    // Kept for backward as one byte per output (the winner's place in its window), not four.
    let compact = TensorStorage(uninitializedCount: (out.count + 3) / 4)
    let windowIndices = UnsafeMutableRawPointer(compact.pointer).bindMemory(
      to: UInt8.self, capacity: max(1, out.count))
    maxPool2dWindowIndices(s, indices: indices, windowIndices: windowIndices)
    return out.recording("max_pool2d", [input]) { g in
      let dx = Tensor(uninitializedShape: inputShape)
      let windowIndices = UnsafeRawPointer(compact.pointer).assumingMemoryBound(to: UInt8.self)
      maxPool2dBackward(s, gradOutput: g.data, windowIndices: windowIndices, gradInput: dx.data)
      return [dx]
    }
  }

  /// Average pooling, PyTorch's `F.avg_pool2d` (`count_include_pad` defaults to true there too).
  public static func avgPool2d(
    _ input: Tensor, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int) = (0, 0),
    ceilMode: Bool = false, countIncludePad: Bool = true
  ) throws -> Tensor {
    let s = try pool2dShape(
      "avg_pool2d", input: input.shape, kernel: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
    let outShape = [s.batch, s.channels, s.outHeight, s.outWidth]
    if input.isMeta { return Tensor(metaShape: outShape) }
    if let backend = try Backends.backend("avg_pool2d", input) {
      let out = try backend.avgPool2d(s, input: input, countIncludePad: countIncludePad)
      return out.recording("avg_pool2d", [input]) { g in
        Backends.inBackward {
          [try backend.avgPool2dBackward(s, gradOutput: g, countIncludePad: countIncludePad)]
        }
      }
    }
    let out = Tensor(uninitializedShape: outShape)
    avgPool2dForward(s, countIncludePad: countIncludePad, input: input.data, output: out.data)
    let inputShape = input.shape
    return out.recording("avg_pool2d", [input]) { g in
      let dx = Tensor(uninitializedShape: inputShape)
      avgPool2dBackward(s, countIncludePad: countIncludePad, gradOutput: g.data, gradInput: dx.data)
      return [dx]
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
    let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
    let outShape = [n, c, outputSize.0, outputSize.1]
    if input.isMeta { return Tensor(metaShape: outShape) }
    // Output size = input size: every window is one pixel (AlexNet's 6×6 at 224²), the identity,
    // returned as is like dropout in eval mode.
    if (h, w) == outputSize { return input }
    if let backend = try Backends.backend("adaptive_avg_pool2d", input) {
      let out = try backend.adaptiveAvgPool2d(input, outputSize: outputSize)
      let inputShape = input.shape
      return out.recording("adaptive_avg_pool2d", [input]) { g in
        Backends.inBackward { [try backend.adaptiveAvgPool2dBackward(gradOutput: g, inputShape: inputShape)] }
      }
    }
    let out = Tensor(uninitializedShape: outShape)
    adaptiveAvgPool2dForward(
      planes: n * c, inHeight: h, inWidth: w, outHeight: outputSize.0, outWidth: outputSize.1,
      input: input.data, output: out.data)
    let inputShape = input.shape
    return out.recording("adaptive_avg_pool2d", [input]) { g in
      let dx = Tensor(uninitializedShape: inputShape)
      adaptiveAvgPool2dBackward(
        planes: n * c, inHeight: h, inWidth: w, outHeight: outputSize.0, outWidth: outputSize.1,
        gradOutput: g.data, gradInput: dx.data)
      return [dx]
    }
  }
}
