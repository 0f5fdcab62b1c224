import Foundation

/// Sets an optimiser's learning rate epoch by epoch, as PyTorch's `torch.optim.lr_scheduler`.
///
/// Construction applies the epoch-0 rate. Call `step(metric:)` once after each epoch's training
/// (and validation): epoch-based schedulers ignore the metric, `ReduceLROnPlateau` needs it.
public protocol LearningRateScheduler: AnyObject {
  /// The optimiser whose `learningRate` this sets.
  var optimizer: Optimizer { get }
  /// The optimiser's learning rate when the scheduler was made (PyTorch's `base_lrs`).
  var baseLearningRate: Float { get }
  /// Epochs stepped since construction or `reset()`.
  var lastEpoch: Int { get }
  /// Whether `step(metric:)` must be given a metric.
  var needsMetric: Bool { get }
  /// Advances one epoch and sets the optimiser's learning rate for the next one.
  func step(metric: Double?)
  /// Returns to epoch 0 and sets its learning rate (PyTorch's `SequentialLR` does this when it
  /// hands over to a scheduler).
  func reset()
  /// The scheduler's state, for checkpoint metadata. Includes `"kind"`, checked on restore.
  func stateScalars() -> [String: String]
  /// Restores what `stateScalars` saved, and sets the optimiser's learning rate to match.
  func restore(scalars: [String: String]) throws
}

extension LearningRateScheduler {
  /// Advances one epoch without a metric (epoch-based schedulers).
  public func step() { step(metric: nil) }
}

/// Base of the closed-form schedulers: the rate at epoch `e` is `rate(base, e)`, computed in Double
/// from the base rate and rounded to Float once. Epoch counting and saved state live here; each
/// subclass supplies only its formula.
public class ClosedFormScheduler: LearningRateScheduler {
  let kind: String
  public let optimizer: Optimizer
  public private(set) var baseLearningRate: Float
  public private(set) var lastEpoch = 0
  public var needsMetric: Bool { false }
  private let rate: (_ base: Double, _ epoch: Int) -> Double

  init(kind: String, optimizer: Optimizer, rate: @escaping (_ base: Double, _ epoch: Int) -> Double) {
    self.kind = kind
    self.optimizer = optimizer
    self.baseLearningRate = optimizer.learningRate
    self.rate = rate
    apply()
  }

  /// The rate this schedule gives at `epoch`.
  public func learningRate(atEpoch epoch: Int) -> Float { Float(rate(Double(baseLearningRate), epoch)) }

  private func apply() { optimizer.learningRate = learningRate(atEpoch: lastEpoch) }

  public func step(metric: Double?) {
    lastEpoch += 1
    apply()
  }

  public func reset() {
    lastEpoch = 0
    apply()
  }

  public func stateScalars() -> [String: String] {
    ["kind": kind, "last_epoch": String(lastEpoch), "base_lr": String(describing: baseLearningRate)]
  }

  public func restore(scalars: [String: String]) throws {
    let values = try SchedulerState.read(scalars, kind: kind, keys: ["last_epoch", "base_lr"])
    guard let epoch = Int(values[0]), (0...StateParsing.maximumCount).contains(epoch),
      let base = Float(values[1])
    else {
      throw TrainingError.invalidState(message: "\(kind): bad last_epoch or base_lr in \(scalars)")
    }
    lastEpoch = epoch
    baseLearningRate = base
    apply()
  }
}

/// Checks shared by scheduler `restore`s.
enum SchedulerState {
  /// The values of `keys`, after checking `"kind"` and that nothing else is present.
  static func read(_ scalars: [String: String], kind: String, keys: [String]) throws -> [String] {
    guard scalars["kind"] == kind else {
      throw TrainingError.invalidState(
        message: "saved scheduler is \(scalars["kind"] ?? "unnamed"), not \(kind)")
    }
    try StateParsing.rejectUnknown(scalars.keys, allowed: Set(keys + ["kind"]), kind: "\(kind) state scalar")
    return try keys.map { key in
      guard let value = scalars[key] else {
        throw TrainingError.invalidState(message: "\(kind): missing \(key)")
      }
      return value
    }
  }

  /// Throws `invalidOption` unless `condition` holds.
  static func require(_ condition: Bool, _ name: String, _ message: @autoclosure () -> String) throws {
    if !condition { throw TrainingError.invalidOption(name: name, message: message()) }
  }
}

/// Keeps the learning rate fixed (the CLI's `none`); counts epochs so checkpoints look alike.
public final class ConstantLR: ClosedFormScheduler {

  /// Leaves `optimizer`'s learning rate as it is.
  public init(optimizer: Optimizer) {
    super.init(kind: "ConstantLR", optimizer: optimizer) { base, _ in base }
  }

}

/// Multiplies the rate by `gamma` every `stepSize` epochs: `lr = base·gamma^⌊epoch/stepSize⌋`
/// (PyTorch's `StepLR`; torchvision trains AlexNet with step 30, gamma 0.1).
public final class StepLR: ClosedFormScheduler {
  /// Epochs between decays.
  public let stepSize: Int
  /// Decay factor.
  public let gamma: Double

  /// Throws when `stepSize` < 1 or `gamma` is not positive.
  public init(optimizer: Optimizer, stepSize: Int, gamma: Double = 0.1) throws {
    try SchedulerState.require(stepSize >= 1, "step size", "\(stepSize) must be at least 1")
    try SchedulerState.require(gamma > 0 && gamma.isFinite, "gamma", "\(gamma) must be positive")
    self.stepSize = stepSize
    self.gamma = gamma
    super.init(kind: "StepLR", optimizer: optimizer) { base, epoch in
      base * pow(gamma, Double(epoch / stepSize))
    }
  }
}

/// Multiplies the rate by `gamma` at each milestone epoch: `lr = base·gamma^(milestones ≤ epoch)`
/// (PyTorch's `MultiStepLR`).
public final class MultiStepLR: ClosedFormScheduler {
  /// Epochs at which the rate decays, strictly increasing.
  public let milestones: [Int]
  /// Decay factor.
  public let gamma: Double

  /// Throws unless `milestones` is non-empty, positive and strictly increasing, and `gamma` > 0.
  public init(optimizer: Optimizer, milestones: [Int], gamma: Double = 0.1) throws {
    try SchedulerState.require(!milestones.isEmpty, "milestones", "give at least one epoch")
    try SchedulerState.require(
      milestones.allSatisfy { $0 >= 1 } && zip(milestones, milestones.dropFirst()).allSatisfy { $0 < $1 },
      "milestones", "\(milestones) must be positive and strictly increasing")
    try SchedulerState.require(gamma > 0 && gamma.isFinite, "gamma", "\(gamma) must be positive")
    self.milestones = milestones
    self.gamma = gamma
    super.init(kind: "MultiStepLR", optimizer: optimizer) { base, epoch in
      base * pow(gamma, Double(milestones.filter { $0 <= epoch }.count))
    }
  }
}

/// Cosine annealing from the base rate down to `etaMin` over `tMax` epochs, PyTorch's closed form
/// `lr = etaMin + (base − etaMin)·(1 + cos(π·epoch/tMax))/2` (past `tMax` it rises again, as in
/// PyTorch's `CosineAnnealingLR`).
public final class CosineAnnealingLR: ClosedFormScheduler {
  /// Epochs of the half cosine.
  public let tMax: Int
  /// Lowest learning rate.
  public let etaMin: Double

  /// Throws when `tMax` < 1 or `etaMin` is negative.
  public init(optimizer: Optimizer, tMax: Int, etaMin: Double = 0) throws {
    try SchedulerState.require(tMax >= 1, "T_max", "\(tMax) must be at least 1")
    try SchedulerState.require(etaMin >= 0 && etaMin.isFinite, "eta_min", "\(etaMin) must not be negative")
    self.tMax = tMax
    self.etaMin = etaMin
    super.init(kind: "CosineAnnealingLR", optimizer: optimizer) { base, epoch in
      etaMin + (base - etaMin) * (1 + cos(Double.pi * Double(epoch) / Double(tMax))) / 2
    }
  }
}

/// Linear warm-up before another scheduler, as PyTorch's `SequentialLR(schedulers: [LinearLR(
/// startFactor, total_iters: warmupEpochs), inner], milestones: [warmupEpochs])`: for epochs
/// `e < warmupEpochs` the rate is `base·(startFactor + (1 − startFactor)·e/warmupEpochs)`; at
/// `warmupEpochs` the inner scheduler restarts from its epoch 0 and runs from there.
public final class LinearWarmup: LearningRateScheduler {
  /// The scheduler that takes over after the warm-up.
  public let inner: LearningRateScheduler
  /// Fraction of the base rate at epoch 0.
  public let startFactor: Double
  /// Length of the warm-up in epochs.
  public let warmupEpochs: Int
  public var optimizer: Optimizer { inner.optimizer }
  public var baseLearningRate: Float { inner.baseLearningRate }
  public private(set) var lastEpoch = 0
  /// The inner scheduler's, though metrics given during the warm-up are ignored.
  public var needsMetric: Bool { inner.needsMetric }

  /// Wraps `inner` (already made on the optimiser). Throws unless 0 < `startFactor` ≤ 1 and
  /// `warmupEpochs` ≥ 1.
  public init(_ inner: LearningRateScheduler, startFactor: Double, warmupEpochs: Int) throws {
    try SchedulerState.require(
      startFactor > 0 && startFactor <= 1, "warm-up start factor", "\(startFactor) is not in (0, 1]")
    try SchedulerState.require(warmupEpochs >= 1, "warm-up epochs", "\(warmupEpochs) must be at least 1")
    self.inner = inner
    self.startFactor = startFactor
    self.warmupEpochs = warmupEpochs
    applyWarmup()
  }

  private func applyWarmup() {
    let fraction = startFactor + (1 - startFactor) * Double(lastEpoch) / Double(warmupEpochs)
    optimizer.learningRate = Float(Double(baseLearningRate) * fraction)
  }

  public func step(metric: Double?) {
    lastEpoch += 1
    if lastEpoch < warmupEpochs {
      applyWarmup()
    } else if lastEpoch == warmupEpochs {
      inner.reset()
    } else {
      inner.step(metric: metric)
    }
  }

  public func reset() {
    lastEpoch = 0
    inner.reset()
    applyWarmup()
  }

  /// Its own epoch and, prefixed `inner.`, the inner scheduler's state.
  public func stateScalars() -> [String: String] {
    var out = ["kind": "LinearWarmup", "last_epoch": String(lastEpoch)]
    for (key, value) in inner.stateScalars() { out["inner." + key] = value }
    return out
  }

  public func restore(scalars: [String: String]) throws {
    let own = scalars.filter { !$0.key.hasPrefix("inner.") }
    let values = try SchedulerState.read(own, kind: "LinearWarmup", keys: ["last_epoch"])
    guard let epoch = Int(values[0]), (0...StateParsing.maximumCount).contains(epoch) else {
      throw TrainingError.invalidState(message: "LinearWarmup: bad last_epoch \(values[0])")
    }
    var innerScalars: [String: String] = [:]
    for (key, value) in scalars where key.hasPrefix("inner.") {
      innerScalars[String(key.dropFirst(6))] = value
    }
    try inner.restore(scalars: innerScalars)
    lastEpoch = epoch
    if epoch < warmupEpochs { applyWarmup() }
  }
}
