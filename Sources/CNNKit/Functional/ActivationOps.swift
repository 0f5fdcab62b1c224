import CNNKitKernels

extension Functional {
  /// `max(x, 0)` elementwise.
  public static func relu(_ input: Tensor) -> Tensor {
    if input.isMeta { return Tensor(metaShape: input.shape) }
    let out = Tensor(zeros: input.shape)
    reluForward(count: input.count, input: input.data, output: out.data)
    // Keep the output's storage, not the tensor: the tensor owns this closure, and capturing it
    // would make a cycle that leaks every graph never differentiated.
    let saved = out.storage
    return out.recording("relu", [input]) { g in
      let dx = Tensor(zeros: input.shape)
      reluBackward(count: input.count, output: saved.pointer, gradOutput: g.data, gradInput: dx.data)
      return [dx]
    }
  }

  /// Inverted dropout: in training, zeroes each element with probability `p` and scales the rest by
  /// `1/(1-p)`, so eval mode is the identity.
  public static func dropout(
    _ input: Tensor, p: Float, training: Bool, using rng: inout RandomGenerator
  ) -> Tensor {
    if input.isMeta { return Tensor(metaShape: input.shape) }
    guard training, p > 0 else { return input }
    let count = input.count
    let mask = Tensor(zeros: input.shape)
    if p < 1 {
      let keep = 1 / (1 - p)
      for i in 0..<count { mask.data[i] = rng.nextUniform() < p ? 0 : keep }
    }
    let out = Tensor(zeros: input.shape)
    for i in 0..<count { out.data[i] = input.data[i] * mask.data[i] }
    return out.recording("dropout", [input]) { g in
      let dx = Tensor(zeros: input.shape)
      for i in 0..<count { dx.data[i] = g.data[i] * mask.data[i] }
      return [dx]
    }
  }

  /// Softmax over the last dimension.
  public static func softmax(_ input: Tensor) -> Tensor {
    rowwise(input, "softmax", forward: softmaxForward, backward: softmaxBackward)
  }

  /// Log-softmax over the last dimension.
  public static func logSoftmax(_ input: Tensor) -> Tensor {
    rowwise(input, "log_softmax", forward: logSoftmaxForward, backward: logSoftmaxBackward)
  }

  private static func rowwise(
    _ input: Tensor, _ name: String,
    forward: (Int, Int, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void,
    backward:
      @escaping (Int, Int, UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void
  ) -> Tensor {
    if input.isMeta { return Tensor(metaShape: input.shape) }
    let columns = input.shape.last ?? 1
    let rows = columns == 0 ? 0 : input.count / columns
    let out = Tensor(zeros: input.shape)
    forward(rows, columns, input.data, out.data)
    let saved = out.storage  // not `out`, which owns this closure (see `relu`)
    return out.recording(name, [input]) { g in
      let dx = Tensor(zeros: input.shape)
      backward(rows, columns, saved.pointer, g.data, dx.data)
      return [dx]
    }
  }
}
