import CNNKitKernels

extension Functional {
  /// `a + b` for same-shaped tensors (residual connections).
  public static func add(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    guard a.shape == b.shape else {
      throw TensorError.shapeMismatch(
        operation: "add", message: "shapes \(shapeString(a.shape)) and \(shapeString(b.shape)) differ")
    }
    if a.isMeta || b.isMeta { return Tensor(metaShape: a.shape) }
    if let backend = try Backends.backend("add", a, b) {
      return try backend.add(a, b).recording("add", [a, b]) { g in [g, g] }
    }
    let out = Tensor(uninitializedShape: a.shape)
    addKernel(count: a.count, a.data, b.data, out.data)
    return out.recording("add", [a, b]) { g in [g, g] }
  }

  /// `a · scalar`.
  public static func scale(_ a: Tensor, by factor: Float) -> Tensor {
    if a.isMeta { return Tensor(metaShape: a.shape) }
    if a.isAccelerated {
      return Backends.inBackward {
        let backend = try Backends.backend(for: a.device)!
        return try backend.scale(a, by: factor).recording("scale", [a]) { g in
          Backends.inBackward { [try backend.scale(g, by: factor)] }
        }
      }
    }
    let out = Tensor(uninitializedShape: a.shape)
    scaleKernel(count: a.count, a.data, by: factor, out.data)
    let shape = a.shape
    return out.recording("scale", [a]) { g in
      let dx = Tensor(uninitializedShape: shape)
      scaleKernel(count: dx.count, g.data, by: factor, dx.data)
      return [dx]
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
    if input.isMeta { return Tensor(metaShape: resolved) }
    let out = Tensor(shape: resolved, storage: input.storage)
    let inputShape = input.shape
    return out.recording("reshape", [input]) { g in [Tensor(shape: inputShape, storage: g.storage)] }
  }

  /// Flattens dimensions `startDim...` into one, PyTorch's `torch.flatten(x, 1)` by default.
  public static func flatten(_ input: Tensor, startDim: Int = 1) throws -> Tensor {
    guard startDim < input.rank else { return input }
    let head = Array(input.shape.prefix(startDim))
    return try reshape(input, head + [input.shape.dropFirst(startDim).reduce(1, *)])
  }

  /// Sum of all elements, as a one-element tensor.
  public static func sum(_ input: Tensor) -> Tensor {
    if input.isMeta { return Tensor(metaShape: [1]) }
    if input.isAccelerated {
      return Backends.inBackward {
        let backend = try Backends.backend(for: input.device)!
        let shape = input.shape
        return try backend.sum(input, scale: 1).recording("sum", [input]) { g in
          Backends.inBackward {
            // Every input element gets g: g·1 spread by a scaled copy of a ones tensor.
            let ones = try backend.empty(shape)
            try backend.fill(ones, g.item)
            return [ones]
          }
        }
      }
    }
    let out = Tensor(shape: [1], scalars: [Float(sumKernel(count: input.count, input.data))])
    let shape = input.shape
    return out.recording("sum", [input]) { g in [Tensor(repeating: g.data[0], shape: shape)] }
  }

  /// Mean of all elements, as a one-element tensor.
  public static func mean(_ input: Tensor) -> Tensor {
    scale(sum(input), by: 1 / Float(max(input.count, 1)))
  }
}
