import CNNKitKernels

extension Functional {
  /// `max(x, 0)` elementwise.
  public static func relu(_ input: Tensor) -> Tensor {
    if input.isMeta { return Tensor(metaShape: input.shape) }
    if input.isAccelerated {
      return Backends.inBackward {
        let backend = try Backends.backend(for: input.device)!
        let out = try backend.relu(input)
        let saved = out.storage
        return out.recording("relu", [input]) { g in
          Backends.inBackward {
            [try backend.reluBackward(output: Tensor(shape: g.shape, storage: saved), gradient: g)]
          }
        }
      }
    }
    let out = Tensor(uninitializedShape: input.shape)
    guard GradMode.enabled && input.requiresGrad else {
      reluForward(count: input.count, input: input.data, output: out.data)
      return out
    }
    // A bit mask, not the output or the input: both are freed once the forward pass moves on.
    let mask = ReLUMask(applyingReLUTo: out, input: input)
    return out.recording("relu", [input]) { g, owned in [mask.backward(g, owned: owned)] }
  }

  /// Inverted dropout: in training, zeroes each element with probability `p` and scales the rest by
  /// `1/(1-p)`, so eval mode is the identity.
  public static func dropout(
    _ input: Tensor, p: Float, training: Bool, using rng: inout RandomGenerator
  ) -> Tensor {
    if input.isMeta { return Tensor(metaShape: input.shape) }
    guard training, p > 0 else { return input }
    if input.isAccelerated {
      // One seed from the generator, so a seeded run draws the same masks again.
      let seed = rng.next()
      return Backends.inBackward {
        let backend = try Backends.backend(for: input.device)!
        let (out, factors) = try backend.dropout(input, p: p, seed: seed)
        return out.recording("dropout", [input]) { g in
          Backends.inBackward { [try backend.multiply(g, factors)] }
        }
      }
    }
    let count = input.count
    // One keep bit per element (the same draws as a float mask would take, in order).
    let words = TensorStorage(count: reluMaskWords(count: count))
    let mask = UnsafeMutableRawPointer(words.pointer).bindMemory(
      to: UInt32.self, capacity: max(1, words.count))
    if p < 1 {
      for i in 0..<count where !(rng.nextUniform() < p) { mask[i / 32] |= 1 << UInt32(i % 32) }
    }
    let keep = p < 1 ? 1 / (1 - p) : 0
    let out = Tensor(uninitializedShape: input.shape)
    maskedScaleKernel(count: count, mask: mask, scale: keep, input: input.data, output: out.data)
    return out.recording("dropout", [input]) { g, owned in
      let dx = owned ? g : Tensor(uninitializedShape: g.shape)
      let mask = UnsafeRawPointer(words.pointer).assumingMemoryBound(to: UInt32.self)
      maskedScaleKernel(count: count, mask: mask, scale: keep, input: g.data, output: dx.data)
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
    if input.isAccelerated {
      let log = name == "log_softmax"
      return Backends.inBackward {
        let backend = try Backends.backend(for: input.device)!
        let out = try backend.softmax(input, log: log)
        let saved = out.storage
        return out.recording(name, [input]) { g in
          Backends.inBackward {
            [
              try backend.softmaxBackward(
                output: Tensor(shape: g.shape, storage: saved), gradient: g, log: log)
            ]
          }
        }
      }
    }
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

/// Which elements of a ReLU's output are positive, one bit each: what its backward needs, at 1/32 of
/// the output's size, so the output itself is freed as soon as the next layer is done with it.
final class ReLUMask {
  private let words: TensorStorage
  private let count: Int
  private let shape: [Int]

  /// Applies ReLU to `tensor` in place; returns its mask when autograd will record an op on `inputs`.
  static func applyReLU(to tensor: Tensor, inputs: [Tensor]) -> ReLUMask? {
    guard GradMode.enabled, inputs.contains(where: { $0.requiresGrad }) else {
      reluForward(count: tensor.count, input: tensor.data, output: tensor.data)
      return nil
    }
    return ReLUMask(applyingReLUTo: tensor, input: tensor)
  }

  /// Writes `relu(input)` into `output` (which may be `input`) and records its mask.
  init(applyingReLUTo output: Tensor, input: Tensor) {
    count = output.count
    shape = output.shape
    words = TensorStorage(uninitializedCount: reluMaskWords(count: count))
    reluForwardMasked(count: count, input: input.data, output: output.data, mask: bits)
  }

  private var bits: UnsafeMutablePointer<UInt32> {
    UnsafeMutableRawPointer(words.pointer).assumingMemoryBound(to: UInt32.self)
  }

  /// The gradient of the ReLU's input from `g`, its output's: written into `g` when the backward pass
  /// owns it, else into a new tensor.
  func backward(_ g: Tensor, owned: Bool) -> Tensor {
    let dx = owned ? g : Tensor(uninitializedShape: shape)
    reluBackwardMasked(count: count, mask: bits, gradOutput: g.data, gradInput: dx.data)
    return dx
  }
}
