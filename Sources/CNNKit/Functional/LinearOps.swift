import CNNKitKernels

extension Functional {
  /// Fully connected layer, PyTorch's `F.linear`: `y = x · Wᵀ + b` with x [N, in], W [out, in], b [out].
  public static func linear(_ input: Tensor, weight: Tensor, bias: Tensor?) throws -> Tensor {
    guard input.rank == 2, weight.rank == 2, input.shape[1] == weight.shape[1] else {
      throw TensorError.shapeMismatch(
        operation: "linear",
        message:
          "input \(shapeString(input.shape)) does not fit weight \(shapeString(weight.shape)) (expects [N, \(weight.shape.last ?? 0)])"
      )
    }
    let outF = weight.shape[0]
    if let bias, bias.shape != [outF] {
      throw TensorError.shapeMismatch(
        operation: "linear", message: "bias \(shapeString(bias.shape)) ≠ [\(outF)]")
    }
    return try OperationTracer.record(.linear, inputs: [input, weight] + (bias.map { [$0] } ?? [])) {
      try linearUntraced(input, weight: weight, bias: bias)
    }
  }

  private static func linearUntraced(_ input: Tensor, weight: Tensor, bias: Tensor?) throws -> Tensor {
    let backend = try Backends.backend("linear", input, weight, bias)
    let out = try backend.linearForward(
      input, weight: weight, bias: bias, weightFrozen: !(GradMode.enabled && weight.requiresGrad))
    return out.recording("linear", [input, weight] + (bias.map { [$0] } ?? [])) { g in
      Backends.inBackward {
        let (dx, dw, db) = try backend.linearBackward(
          input: input, weight: weight, gradOutput: g, needInput: input.requiresGrad,
          needWeight: weight.requiresGrad, needBias: bias != nil)
        return bias == nil ? [dx, dw] : [dx, dw, db]
      }
    }
  }
}
