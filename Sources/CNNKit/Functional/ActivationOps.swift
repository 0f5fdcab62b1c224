extension Functional {
  /// `max(x, 0)` elementwise.
  public static func relu(_ input: Tensor) -> Tensor {
    OperationTracer.record(.relu, inputs: [input]) { reluUntraced(input) }
  }

  private static func reluUntraced(_ input: Tensor) -> Tensor {
    Backends.inBackward {
      let backend = try Backends.backend("relu", input)
      let (out, saved) = try backend.relu(input, keepForBackward: GradMode.enabled && input.requiresGrad)
      guard let saved else { return out }
      return out.recording("relu", [input]) { g, owned in
        Backends.inBackward { [try backend.reluBackward(saved, gradient: g, owned: owned)] }
      }
    }
  }

  /// Inverted dropout: in training, zeroes each element with probability `p` and scales the rest by
  /// `1/(1-p)`, so eval mode is the identity.
  public static func dropout(
    _ input: Tensor, p: Float, training: Bool, using rng: inout RandomGenerator
  ) -> Tensor {
    var streams = [rng]
    defer { rng = streams[0] }
    return dropout(input, p: p, training: training, rowStreams: &streams)
  }

  /// Inverted dropout whose row `r` draws from `rowStreams[r]` (one generator per sample), or whose
  /// elements all draw in order from a single generator when `rowStreams` holds one.
  public static func dropout(
    _ input: Tensor, p: Float, training: Bool, rowStreams: inout [RandomGenerator]
  ) -> Tensor {
    guard training, p > 0 else { return input }
    precondition(
      rowStreams.count == 1 || (input.rank > 0 && rowStreams.count == input.shape[0]),
      "dropout: \(rowStreams.count) generators for \(input.shape.first ?? 0) rows")
    return Backends.inBackward {
      let backend = try Backends.backend("dropout", input)
      let (out, saved) = try backend.dropout(input, p: p, using: &rowStreams)
      return out.recording("dropout", [input]) { g, owned in
        Backends.inBackward { [try backend.dropoutBackward(saved, gradient: g, owned: owned)] }
      }
    }
  }

  /// Softmax over the last dimension.
  public static func softmax(_ input: Tensor) -> Tensor {
    OperationTracer.record(.softmax(log: false), inputs: [input]) { rowwise(input, log: false) }
  }

  /// Log-softmax over the last dimension.
  public static func logSoftmax(_ input: Tensor) -> Tensor {
    OperationTracer.record(.softmax(log: true), inputs: [input]) { rowwise(input, log: true) }
  }

  private static func rowwise(_ input: Tensor, log: Bool) -> Tensor {
    Backends.inBackward {
      let backend = try Backends.backend(log ? "log_softmax" : "softmax", input)
      let out = try backend.softmax(input, log: log)
      let saved = out.storage  // not `out`, which owns this closure
      return out.recording(log ? "log_softmax" : "softmax", [input]) { g in
        Backends.inBackward {
          [try backend.softmaxBackward(output: Tensor(shape: g.shape, storage: saved), gradient: g, log: log)]
        }
      }
    }
  }
}
