import Foundation

/// Options for `Schedulers.make`, one field per CLI flag; each scheduler reads the fields it uses.
public struct SchedulerOptions: Sendable, Equatable {
  /// `step`: epochs between decays.
  public var stepSize: Int = 30
  /// `step`, `multistep`: decay factor.
  public var gamma: Double = 0.1
  /// `multistep`: decay epochs (required), e.g. parsed from "30,60,90" by `parseMilestones`.
  public var milestones: [Int] = []
  /// `cosine`: epochs of the half cosine; nil means the epochs left after warm-up (needs `epochs`).
  public var tMax: Int? = nil
  /// `cosine`: lowest learning rate.
  public var etaMin: Double = 0
  /// `plateau`: `min` for a loss or error, `max` for an accuracy.
  public var mode: ReduceLROnPlateau.Mode = .min
  /// `plateau`: multiplier on a plateau.
  public var factor: Double = 0.1
  /// `plateau`: epochs without improvement tolerated.
  public var patience: Int = 10
  /// `plateau`: relative improvement that counts.
  public var threshold: Double = 1e-4
  /// `plateau`: epochs after a reduction before counting again.
  public var cooldown: Int = 0
  /// `plateau`: lower bound on the learning rate.
  public var minLR: Double = 0
  /// Linear warm-up epochs before the scheduler (0: none).
  public var warmupEpochs: Int = 0
  /// Warm-up's first-epoch fraction of the base rate.
  public var warmupStartFactor: Double = 0.1
  /// Total training epochs, when known (for `cosine` without `tMax`).
  public var epochs: Int? = nil

  /// All defaults.
  public init() {}

  /// Parses a comma-separated list of epochs such as "30,60,90".
  public static func parseMilestones(_ text: String) throws -> [Int] {
    let parts = text.split(separator: ",", omittingEmptySubsequences: false)
      .map { $0.trimmingCharacters(in: .whitespaces) }
    let values = parts.compactMap { Int($0) }
    guard !parts.isEmpty, values.count == parts.count else {
      throw TrainingError.invalidOption(
        name: "milestones", message: "\"\(text)\" is not a comma-separated list of epochs")
    }
    return values
  }
}

/// Makes schedulers from their CLI names.
public enum Schedulers {
  /// The names `make` accepts.
  public static let names = ["step", "multistep", "cosine", "plateau", "none"]

  /// Makes scheduler `name` on `optimizer`, wrapped in `LinearWarmup` when
  /// `options.warmupEpochs` > 0. Throws `TrainingError.invalidOption` for an unknown name or a bad
  /// option value, naming the option.
  public static func make(
    _ name: String, optimizer: Optimizer, options: SchedulerOptions = SchedulerOptions()
  ) throws -> LearningRateScheduler {
    try SchedulerState.require(
      options.warmupEpochs >= 0, "warm-up epochs", "\(options.warmupEpochs) must not be negative")
    let scheduler: LearningRateScheduler
    switch name.lowercased() {
    case "step":
      scheduler = try StepLR(optimizer: optimizer, stepSize: options.stepSize, gamma: options.gamma)
    case "multistep":
      scheduler = try MultiStepLR(optimizer: optimizer, milestones: options.milestones, gamma: options.gamma)
    case "cosine":
      guard let tMax = options.tMax ?? options.epochs.map({ $0 - options.warmupEpochs }) else {
        throw TrainingError.invalidOption(
          name: "T_max", message: "cosine needs T_max or the number of epochs")
      }
      scheduler = try CosineAnnealingLR(optimizer: optimizer, tMax: tMax, etaMin: options.etaMin)
    case "plateau":
      scheduler = try ReduceLROnPlateau(
        optimizer: optimizer, mode: options.mode, factor: options.factor, patience: options.patience,
        threshold: options.threshold, cooldown: options.cooldown, minLR: options.minLR)
    case "none":
      scheduler = ConstantLR(optimizer: optimizer)
    default:
      throw TrainingError.invalidOption(
        name: "scheduler", message: "unknown \"\(name)\"; choose one of \(names.joined(separator: ", "))")
    }
    guard options.warmupEpochs > 0 else { return scheduler }
    return try LinearWarmup(
      scheduler, startFactor: options.warmupStartFactor, warmupEpochs: options.warmupEpochs)
  }
}
