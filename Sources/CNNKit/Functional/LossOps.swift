extension Functional {
  /// Negative log-likelihood of `logProbabilities` [N, C] at integer `targets`, averaged over N
  /// (PyTorch's `F.nll_loss` with `reduction='mean'`). `crossEntropy` (Training/Losses.swift) adds
  /// label smoothing and other reductions.
  public static func nllLoss(_ logProbabilities: Tensor, targets: [Int]) throws -> Tensor {
    guard logProbabilities.rank == 2, logProbabilities.shape[0] == targets.count else {
      throw TensorError.shapeMismatch(
        operation: "nll_loss",
        message: "input \(shapeString(logProbabilities.shape)) needs one target per row, got \(targets.count)"
      )
    }
    let (n, c) = (logProbabilities.shape[0], logProbabilities.shape[1])
    if let bad = targets.first(where: { $0 < 0 || $0 >= c }) {
      throw TensorError.shapeMismatch(
        operation: "nll_loss", message: "target \(bad) is out of range for \(c) classes")
    }
    if logProbabilities.isAccelerated {
      return smoothedNLL(logProbabilities, targets: targets, smoothing: 0, reduction: .mean)
    }
    var total: Double = 0
    for (r, t) in targets.enumerated() { total -= Double(logProbabilities.data[r * c + t]) }
    let out = Tensor(shape: [1], scalars: [Float(total / Double(max(n, 1)))])
    let shape = logProbabilities.shape
    return out.recording("nll_loss", [logProbabilities]) { g in
      let dx = Tensor(zeros: shape)
      let share = -g.data[0] / Float(max(n, 1))
      for (r, t) in targets.enumerated() { dx.data[r * c + t] = share }
      return [dx]
    }
  }
}
