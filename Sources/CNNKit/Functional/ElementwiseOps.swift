import CNNKitKernels

extension Functional {
  /// `a + b` for same-shaped tensors (residual connections).
  public static func add(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    guard a.shape == b.shape else {
      throw TensorError.shapeMismatch(
        operation: "add", message: "shapes \(shapeString(a.shape)) and \(shapeString(b.shape)) differ")
    }
    return try OperationTracer.record(.add, inputs: [a, b]) {
      try Backends.backend("add", a, b).add(a, b).recording("add", [a, b]) { g in [g, g] }
    }
  }

  /// `a · scalar`.
  public static func scale(_ a: Tensor, by factor: Float) -> Tensor {
    OperationTracer.record(.scale(factor), inputs: [a]) { scaleUntraced(a, by: factor) }
  }

  private static func scaleUntraced(_ a: Tensor, by factor: Float) -> Tensor {
    Backends.inBackward {
      let backend = try Backends.backend("scale", a)
      return try backend.scale(a, by: factor).recording("scale", [a]) { g in
        Backends.inBackward { [try backend.scale(g, by: factor)] }
      }
    }
  }

  /// The same elements viewed with another shape; one dimension may be −1 (inferred).
  public static func reshape(_ input: Tensor, _ shape: [Int]) throws -> Tensor {
    var resolved = shape
    let known = shape.filter { $0 != -1 }.reduce(1, *)
    if let i = shape.firstIndex(of: -1) {
      guard known > 0, input.count % known == 0 else {
        throw TensorError.shapeMismatch(
          operation: "reshape", message: "cannot view \(shapeString(input.shape)) as \(shapeString(shape))")
      }
      resolved[i] = input.count / known
    }
    guard resolved.reduce(1, *) == input.count, resolved.allSatisfy({ $0 >= 0 }) else {
      throw TensorError.shapeMismatch(
        operation: "reshape", message: "cannot view \(shapeString(input.shape)) as \(shapeString(shape))")
    }
    // A view: no backend work, the same storage under another shape (none for a meta tensor).
    return OperationTracer.record(.reshape(resolved), inputs: [input]) {
      if input.isMeta { return Tensor(metaShape: resolved) }
      let out = Tensor(shape: resolved, storage: input.storage)
      let inputShape = input.shape
      return out.recording("reshape", [input]) { g in [Tensor(shape: inputShape, storage: g.storage)] }
    }
  }

  /// Flattens dimensions `startDim...` into one, PyTorch's `torch.flatten(x, 1)` by default.
  public static func flatten(_ input: Tensor, startDim: Int = 1) throws -> Tensor {
    guard startDim < input.rank else { return input }
    let head = Array(input.shape.prefix(startDim))
    return try OperationTracer.record(.flatten(startDim: startDim), inputs: [input]) {
      try reshape(input, head + [input.shape.dropFirst(startDim).reduce(1, *)])
    }
  }

  /// Sum of all elements, as a one-element tensor.
  public static func sum(_ input: Tensor) -> Tensor {
    Backends.inBackward {
      let backend = try Backends.backend("sum", input)
      let shape = input.shape
      return try backend.sum(input).recording("sum", [input]) { g in
        Backends.inBackward { [try backend.broadcast(g, to: shape)] }
      }
    }
  }

  /// Mean of all elements, as a one-element tensor.
  public static func mean(_ input: Tensor) -> Tensor {
    scale(sum(input), by: 1 / Float(max(input.count, 1)))
  }
}
