/// Divides the learning rate when a validation metric stops improving — the AlexNet paper's "divide
/// the learning rate by 10 when the validation error stopped improving" — with PyTorch's
/// `ReduceLROnPlateau` rules:
///
/// - a metric is an improvement when it beats the best so far by `threshold` (relative:
///   `best·(1 ∓ threshold)`, absolute: `best ∓ threshold`);
/// - after more than `patience` epochs without one, `lr = max(lr·factor, minLR)` (skipped when that
///   changes it by `eps` or less), then `cooldown` epochs pass before bad epochs count again.
public final class ReduceLROnPlateau: LearningRateScheduler {
  /// Whether lower (`min`, a loss or error) or higher (`max`, an accuracy) metrics are better.
  public enum Mode: String, Sendable, CaseIterable {
    case min, max
  }

  /// How `threshold` is applied to the best metric.
  public enum ThresholdMode: String, Sendable, CaseIterable {
    case rel, abs
  }

  public let optimizer: Optimizer
  public let mode: Mode
  /// Multiplier applied on a plateau, in (0, 1).
  public let factor: Double
  /// Epochs without improvement tolerated before reducing.
  public let patience: Int
  /// Minimum change that counts as an improvement.
  public let threshold: Double
  public let thresholdMode: ThresholdMode
  /// Epochs after a reduction during which bad epochs are not counted.
  public let cooldown: Int
  /// Lower bound on the learning rate.
  public let minLR: Double
  /// Reductions smaller than this are skipped.
  public let eps: Double
  public private(set) var baseLearningRate: Float
  public private(set) var lastEpoch = 0
  /// Best metric seen (±infinity before the first).
  public private(set) var best: Double
  /// Consecutive epochs without improvement.
  public private(set) var badEpochs = 0
  /// Cooldown epochs left.
  public private(set) var cooldownCounter = 0
  public var needsMetric: Bool { true }

  /// Throws unless 0 < `factor` < 1 and the counts, `threshold`, `minLR` and `eps` are not negative.
  public init(
    optimizer: Optimizer, mode: Mode = .min, factor: Double = 0.1, patience: Int = 10,
    threshold: Double = 1e-4, thresholdMode: ThresholdMode = .rel, cooldown: Int = 0, minLR: Double = 0,
    eps: Double = 1e-8
  ) throws {
    try SchedulerState.require(factor > 0 && factor < 1, "factor", "\(factor) is not in (0, 1)")
    try SchedulerState.require(patience >= 0, "patience", "\(patience) must not be negative")
    try SchedulerState.require(
      threshold >= 0 && threshold.isFinite, "threshold", "\(threshold) must not be negative")
    try SchedulerState.require(cooldown >= 0, "cooldown", "\(cooldown) must not be negative")
    try SchedulerState.require(minLR >= 0 && minLR.isFinite, "min lr", "\(minLR) must not be negative")
    try SchedulerState.require(eps >= 0 && eps.isFinite, "eps", "\(eps) must not be negative")
    self.optimizer = optimizer
    self.mode = mode
    self.factor = factor
    self.patience = patience
    self.threshold = threshold
    self.thresholdMode = thresholdMode
    self.cooldown = cooldown
    self.minLR = minLR
    self.eps = eps
    baseLearningRate = optimizer.learningRate
    best = mode == .min ? .infinity : -.infinity
  }

  /// Whether `metric` improves on `best`.
  public func isImprovement(_ metric: Double) -> Bool {
    switch (mode, thresholdMode) {
    case (.min, .rel): return metric < best * (1 - threshold)
    case (.min, .abs): return metric < best - threshold
    case (.max, .rel): return metric > best * (threshold + 1)
    case (.max, .abs): return metric > best + threshold
    }
  }

  /// Records this epoch's metric and reduces the rate after a plateau. `metric` must not be nil.
  public func step(metric: Double?) {
    guard let metric else { preconditionFailure("ReduceLROnPlateau.step needs a validation metric") }
    lastEpoch += 1
    if isImprovement(metric) {
      best = metric
      badEpochs = 0
    } else {
      badEpochs += 1
    }
    if cooldownCounter > 0 {
      cooldownCounter -= 1
      badEpochs = 0
    }
    if badEpochs > patience {
      let old = Double(optimizer.learningRate)
      let new = Swift.max(old * factor, minLR)
      if old - new > eps { optimizer.learningRate = Float(new) }
      cooldownCounter = cooldown
      badEpochs = 0
    }
  }

  /// Back to the base rate with no history.
  public func reset() {
    lastEpoch = 0
    best = mode == .min ? .infinity : -.infinity
    badEpochs = 0
    cooldownCounter = 0
    optimizer.learningRate = baseLearningRate
  }

  /// Counters, best metric, base rate and the current rate `"lr"` (the rate depends on the history).
  public func stateScalars() -> [String: String] {
    [
      "kind": "ReduceLROnPlateau", "last_epoch": String(lastEpoch), "best": String(describing: best),
      "num_bad_epochs": String(badEpochs), "cooldown_counter": String(cooldownCounter),
      "base_lr": String(describing: baseLearningRate), "lr": String(describing: optimizer.learningRate),
    ]
  }

  public func restore(scalars: [String: String]) throws {
    let keys = ["last_epoch", "best", "num_bad_epochs", "cooldown_counter", "base_lr", "lr"]
    let values = try SchedulerState.read(scalars, kind: "ReduceLROnPlateau", keys: keys)
    guard let epoch = Int(values[0]), let best = Double(values[1]), let bad = Int(values[2]),
      let cooling = Int(values[3]), let base = Float(values[4]), let lr = Float(values[5]),
      [epoch, bad, cooling].allSatisfy({ (0...StateParsing.maximumCount).contains($0) })
    else { throw TrainingError.invalidState(message: "ReduceLROnPlateau: bad values in \(scalars)") }
    lastEpoch = epoch
    self.best = best
    badEpochs = bad
    cooldownCounter = cooling
    baseLearningRate = base
    optimizer.learningRate = lr
  }
}
