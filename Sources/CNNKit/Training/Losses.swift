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
    let outShape = reduction == .none ? [targets.count] : [1]
    if logits.isMeta { return Tensor(metaShape: outShape) }
    return smoothedNLL(logSoftmax(logits), targets: targets, smoothing: labelSmoothing, reduction: reduction)
  }

  /// The label-smoothed negative log-likelihood of `logProbabilities` [N, C] (checked by the caller).
  static func smoothedNLL(
    _ logProbabilities: Tensor, targets: [Int], smoothing: Float, reduction: LossReduction
  ) -> Tensor {
    let (n, c) = (logProbabilities.shape[0], logProbabilities.shape[1])
    if logProbabilities.isAccelerated {
      return deviceSmoothedNLL(logProbabilities, targets: targets, smoothing: smoothing, reduction: reduction)
    }
    let eps = Double(smoothing)
    let lp = logProbabilities.data
    var perSample = [Double](repeating: 0, count: n)
    for (r, t) in targets.enumerated() {
      let row = lp + r * c
      var loss = -(1 - eps) * Double(row[t])
      if eps > 0 {
        var total: Double = 0
        for j in 0..<c { total -= Double(row[j]) }
        loss += eps * total / Double(c)
      }
      perSample[r] = loss
    }
    let out: Tensor
    switch reduction {
    case .none: out = Tensor(shape: [n], scalars: perSample.map { Float($0) })
    case .sum: out = Tensor(shape: [1], scalars: [Float(perSample.reduce(0, +))])
    case .mean: out = Tensor(shape: [1], scalars: [Float(perSample.reduce(0, +) / Double(max(n, 1)))])
    }
    let name = smoothing > 0 ? "cross_entropy(label_smoothing)" : "nll_loss"
    let shape = logProbabilities.shape
    return out.recording(name, [logProbabilities]) { g in
      // d loss_r / d logp[r, j] = −ε/C − (1 − ε)·[j = target_r]
      let dx = Tensor(zeros: shape)
      let spread = smoothing / Float(max(c, 1))
      let onTarget = 1 - smoothing
      let scale: Float = reduction == .mean ? 1 / Float(max(n, 1)) : 1
      for (r, t) in targets.enumerated() {
        let share = (reduction == .none ? g.data[r] : g.data[0]) * scale
        let row = dx.data + r * c
        if spread != 0 {
          for j in 0..<c { row[j] = -spread * share }
        }
        row[t] -= onTarget * share
      }
      return [dx]
    }
  }

  /// `smoothedNLL` on another device: per-sample losses there, reduced there.
  private static func deviceSmoothedNLL(
    _ logProbabilities: Tensor, targets: [Int], smoothing: Float, reduction: LossReduction
  ) -> Tensor {
    Backends.inBackward {
      let backend = try Backends.backend(for: logProbabilities.device)!
      let shape = logProbabilities.shape
      let perSample = try backend.smoothedNLL(logProbabilities, targets: targets, smoothing: smoothing)
      let scale: Float = reduction == .mean ? 1 / Float(max(shape[0], 1)) : 1
      let out = reduction == .none ? perSample : try backend.sum(perSample, scale: scale)
      let name = smoothing > 0 ? "cross_entropy(label_smoothing)" : "nll_loss"
      return out.recording(name, [logProbabilities]) { g in
        Backends.inBackward {
          [
            try backend.smoothedNLLBackward(
              gradient: g, targets: targets, shape: shape, smoothing: smoothing, scale: scale,
              perSample: reduction == .none)
          ]
        }
      }
    }
  }
}
