import CNNKitKernels

extension Functional {
  /// `max(x, 0)` elementwise.
  public static func relu(_ input: Tensor) -> Tensor {
    if input.isMeta { return Tensor(metaShape: input.shape) }
    let out = Tensor(uninitializedShape: input.shape)
    reluForward(count: input.count, input: input.data, output: out.data)
    // Keep the output's storage, not the tensor: the tensor owns this closure, and capturing it
    // would make a cycle that leaks every graph never differentiated. Not the input either, so
    // its buffer is freed once the forward pass moves on.
    let saved = out.storage
    let shape = input.shape
    return out.recording("relu", [input]) { g in
      let dx = Tensor(uninitializedShape: shape)
      reluBackward(count: dx.count, output: saved.pointer, gradOutput: g.data, gradInput: dx.data)
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
      let m = mask.data
      for i in 0..<count { m[i] = rng.nextUniform() < p ? 0 : keep }
    }
    let out = Tensor(uninitializedShape: input.shape)
    multiplyKernel(count: count, input.data, mask.data, out.data)
    let shape = input.shape
    return out.recording("dropout", [input]) { g in
      let dx = Tensor(uninitializedShape: shape)
      multiplyKernel(count: count, g.data, mask.data, dx.data)
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
    let out = Tensor(uninitializedShape: input.shape)
    forward(rows, columns, input.data, out.data)
    let saved = out.storage  // not `out`, which owns this closure (see `relu`)
    let shape = input.shape
    return out.recording(name, [input]) { g in
      let dx = Tensor(uninitializedShape: shape)
      backward(rows, columns, saved.pointer, g.data, dx.data)
      return [dx]
    }
  }
}
