/// Rectified linear unit, PyTorch's `nn.ReLU`. No parameters: it only clips negatives to zero.
public final class ReLU: Module {
  public override init() { super.init() }
  public override func forward(_ input: Tensor) throws -> Tensor { Functional.relu(input) }
}

/// Inverted dropout, PyTorch's `nn.Dropout`: active only in training mode.
public final class Dropout: Module {
  public let p: Float

  /// Creates a dropout layer that zeroes each element with probability `p`.
  public init(_ p: Float = 0.5) {
    precondition(p >= 0 && p <= 1, "Dropout: p must be in [0, 1], got \(p)")
    self.p = p
    super.init()
  }

  public override func forward(_ input: Tensor) throws -> Tensor {
    // In a training step each sample has its own stream (see `SampleRandom`).
    if isTraining, p > 0, input.rank > 0, var streams = SampleRandom.rowStreams(rows: input.shape[0]) {
      return Functional.dropout(input, p: p, training: true, rowStreams: &streams)
    }
    return GlobalRandom.with { rng in Functional.dropout(input, p: p, training: isTraining, using: &rng) }
  }

  public override var extraDescription: String { "p=\(pythonFloat(p)), inplace=False" }
}

/// Softmax over the last dimension, PyTorch's `nn.Softmax(dim=-1)`.
public final class Softmax: Module {
  public override init() { super.init() }
  public override func forward(_ input: Tensor) throws -> Tensor { Functional.softmax(input) }
  public override var extraDescription: String { "dim=-1" }
}

/// Log-softmax over the last dimension, PyTorch's `nn.LogSoftmax(dim=-1)`.
public final class LogSoftmax: Module {
  public override init() { super.init() }
  public override func forward(_ input: Tensor) throws -> Tensor { Functional.logSoftmax(input) }
  public override var extraDescription: String { "dim=-1" }
}
