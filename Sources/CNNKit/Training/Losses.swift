/// How a loss combines its per-sample values (PyTorch's `reduction`).
public enum LossReduction: String, Sendable, CaseIterable {
  /// Average over the batch: a one-element tensor.
  case mean
  /// Sum over the batch: a one-element tensor.
  case sum
  /// No reduction: one value per sample, shape [N].
  case none
}

extension Functional {
  /// Cross-entropy of raw `logits` [N, C] against integer class `targets`: log-softmax followed by
  /// the negative log-likelihood, as PyTorch's `F.cross_entropy`. With `labelSmoothing` ε the target
  /// distribution is (1 − ε)·one-hot + ε/C, so each sample's loss is
  ///
  ///     (1 − ε)·(−log p[target]) + ε · mean over classes of (−log p[c])
  ///
  /// Differentiable with respect to `logits`. Throws on mismatched shapes, out-of-range targets, or
  /// ε outside [0, 1]. An empty batch gives 0 with `.mean` (PyTorch gives NaN).
  public static func crossEntropy(
    _ logits: Tensor, targets: [Int], labelSmoothing: Float = 0, reduction: LossReduction = .mean
  ) throws -> Tensor {
    guard logits.rank == 2, logits.shape[0] == targets.count else {
      throw TensorError.shapeMismatch(
        operation: "cross_entropy",
        message: "input \(shapeString(logits.shape)) needs one target per row, got \(targets.count)")
    }
    let classes = logits.shape[1]
    if let bad = targets.first(where: { $0 < 0 || $0 >= classes }) {
      throw TensorError.shapeMismatch(
        operation: "cross_entropy", message: "target \(bad) is out of range for \(classes) classes")
    }
    guard (0...1).contains(labelSmoothing) else {
      throw TrainingError.invalidOption(
        name: "label smoothing", message: "\(labelSmoothing) is not in [0, 1]")
    }
    return smoothedNLL(logSoftmax(logits), targets: targets, smoothing: labelSmoothing, reduction: reduction)
  }

  /// The label-smoothed negative log-likelihood of `logProbabilities` [N, C] (checked by the caller).
  static func smoothedNLL(
    _ logProbabilities: Tensor, targets: [Int], smoothing: Float, reduction: LossReduction
  ) -> Tensor {
    Backends.inBackward {
      let backend = try Backends.backend("nll_loss", logProbabilities)
      let shape = logProbabilities.shape
      let out = try backend.smoothedNLL(
        logProbabilities, targets: targets, smoothing: smoothing, reduction: reduction)
      let name = smoothing > 0 ? "cross_entropy(label_smoothing)" : "nll_loss"
      return out.recording(name, [logProbabilities]) { g in
        Backends.inBackward {
          [
            try backend.smoothedNLLBackward(
              gradient: g, targets: targets, shape: shape, smoothing: smoothing, reduction: reduction)
          ]
        }
      }
    }
  }
}
