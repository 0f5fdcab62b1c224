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
    let c = logProbabilities.shape[1]
    if let bad = targets.first(where: { $0 < 0 || $0 >= c }) {
      throw TensorError.shapeMismatch(
        operation: "nll_loss", message: "target \(bad) is out of range for \(c) classes")
    }
    return smoothedNLL(logProbabilities, targets: targets, smoothing: 0, reduction: .mean)
  }
}
