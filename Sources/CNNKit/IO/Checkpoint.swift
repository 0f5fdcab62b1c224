import Foundation

/// Everything besides tensors that a training run needs to continue exactly where it stopped.
public struct TrainingState: Codable, Equatable, Sendable {
  /// Epochs fully completed.
  public var epoch: Int
  /// Batches already done in the epoch after `epoch` (0 at an epoch boundary).
  public var batchInEpoch: Int
  /// Optimiser steps taken in the whole run.
  public var globalStep: Int
  /// The global random generator (dropout draws from it).
  public var randomState: [UInt64]
  /// Optimiser scalars (`Optimizer.stateScalars`).
  public var optimizerScalars: [String: String]
  /// Learning-rate scheduler state.
  public var schedulerState: [String: String]
  /// Per-epoch figures so far.
  public var history: TrainingHistory
  /// The run's settings (model, classes, dataset, flags), so `--resume` can check them.
  public var configuration: [String: String]
  /// The running figures of the epoch in progress (nil at an epoch boundary), so an epoch resumed
  /// half-way reports its loss, accuracy and time over all of its steps.
  public var epochProgress: EpochProgress?

  /// Creates a state record.
  public init(
    epoch: Int, batchInEpoch: Int, globalStep: Int, random: RandomGenerator,
    optimizerScalars: [String: String],
    schedulerState: [String: String], history: TrainingHistory, configuration: [String: String]
  ) {
    self.epoch = epoch
    self.batchInEpoch = batchInEpoch
    self.globalStep = globalStep
    self.randomState = [random.state.0, random.state.1, random.state.2, random.state.3]
    self.optimizerScalars = optimizerScalars
    self.schedulerState = schedulerState
    self.history = history
    self.configuration = configuration
  }

  /// The saved random generator.
  public var random: RandomGenerator {
    get {
      var generator = RandomGenerator(seed: 0)
      if randomState.count == 4 {
        generator.state = (randomState[0], randomState[1], randomState[2], randomState[3])
      }
      return generator
    }
    set { randomState = [newValue.state.0, newValue.state.1, newValue.state.2, newValue.state.3] }
  }
}

/// The running totals of a part-done epoch.
public struct EpochProgress: Codable, Equatable, Sendable {
  /// Training loss, weighted by batch size.
  public var loss = RunningMean()
  /// Top-1 hits so far.
  public var correct = 0
  /// Images seen so far.
  public var seen = 0
  /// Seconds spent on the epoch's steps so far.
  public var seconds: Double = 0

  /// Nothing done yet.
  public init() {}
}

extension TrainingState {
  /// What makes a decoded state unusable, or nil when it is fine: negative or absurd counts, which
  /// would overflow or misplace the resumed run, and a missing or all-zero generator state (which
  /// xoshiro never leaves).
  var problem: String? {
    let limit = StateParsing.maximumCount
    for (name, value) in [("epoch", epoch), ("batchInEpoch", batchInEpoch), ("globalStep", globalStep)]
    where !(0...limit).contains(value) {
      return "\(name) \(value) is outside 0...\(limit)"
    }
    if randomState.count != 4 || randomState.allSatisfy({ $0 == 0 }) {
      return "randomState must be four 64-bit words, not all zero"
    }
    if let progress = epochProgress,
      progress.correct < 0 || progress.seen < progress.correct || progress.loss.count < 0
        || !progress.seconds.isFinite || progress.seconds < 0 || !progress.loss.sum.isFinite
    {
      return "epochProgress holds impossible counts"
    }
    for record in history.records where !(0...limit).contains(record.epoch) {
      return "history epoch \(record.epoch) is outside 0...\(limit)"
    }
    return nil
  }
}

/// A training checkpoint: one safetensors file holding the model's state dict under torchvision
/// names, the optimiser's state under `optimizer.*`, and a `TrainingState` as JSON in the metadata
/// key `cnnkit.training_state`. Written atomically, so a crash leaves the previous file intact.
public enum Checkpoint {
  static let stateKey = "cnnkit.training_state"
  static let optimizerPrefix = "optimizer."

  /// Errors specific to checkpoints; they name the file.
  public enum CheckpointError: Error, CustomStringConvertible {
    case notACheckpoint(path: String, reason: String)
    public var description: String {
      switch self {
      case .notACheckpoint(let path, let reason): return "\(path): not a CNNKit checkpoint: \(reason)"
      }
    }
  }

  /// Writes `model`, `optimizer` and `state` to `path` atomically.
  public static func save(to path: String, model: Module, optimizer: Optimizer, state: TrainingState) throws {
    var items = model.stateDict().map { name, tensor in
      SafeTensorsWriter.Item(
        name: name, tensor: tensor, dtype: name.hasSuffix("num_batches_tracked") ? .i64 : .f32)
    }
    for (name, tensor) in optimizer.stateTensors() {
      items.append(SafeTensorsWriter.Item(name: optimizerPrefix + name, tensor: tensor))
    }
    let json = try JSONEncoder().encode(state)
    try SafeTensorsWriter.write(items, metadata: [stateKey: String(decoding: json, as: UTF8.self)], to: path)
  }

  /// Reads only the `TrainingState` of a checkpoint (to check settings before building anything).
  public static func readState(from path: String) throws -> TrainingState {
    try readState(SafeTensorsFile(path: path))
  }

  /// Reads and checks the `TrainingState` in an opened file's metadata.
  public static func readState(_ file: SafeTensorsFile) throws -> TrainingState {
    guard let text = file.metadata[stateKey] else {
      throw CheckpointError.notACheckpoint(
        path: file.path, reason: "no \(stateKey) metadata (a plain weights file?)")
    }
    let state: TrainingState
    do {
      state = try JSONDecoder().decode(TrainingState.self, from: Data(text.utf8))
    } catch {
      throw CheckpointError.notACheckpoint(path: file.path, reason: "training state is not valid (\(error))")
    }
    if let problem = state.problem {
      throw CheckpointError.notACheckpoint(path: file.path, reason: "training state is not valid: \(problem)")
    }
    return state
  }

  /// Restores `model` and `optimizer` from `path` (strictly: every tensor must fit) and returns the
  /// saved state. A model that does not fit is left unchanged; call this before training starts.
  @discardableResult
  public static func restore(from path: String, model: Module, optimizer: Optimizer) throws -> TrainingState {
    try restore(from: SafeTensorsFile(path: path), model: model, optimizer: optimizer)
  }

  /// Restores from an opened file, as `restore(from:model:optimizer:)` does.
  @discardableResult
  public static func restore(from file: SafeTensorsFile, model: Module, optimizer: Optimizer) throws
    -> TrainingState
  {
    let state = try readState(file)
    let modelEntries = file.entries.filter { !$0.name.hasPrefix(optimizerPrefix) }
    var optimizerTensors: [String: Tensor] = [:]
    for entry in file.entries where entry.name.hasPrefix(optimizerPrefix) {
      // Read from the entry itself: looking each one up by name would be quadratic in the entries.
      let tensor = Tensor(zeros: entry.shape)
      file.read(entry, into: tensor.data)
      optimizerTensors[String(entry.name.dropFirst(optimizerPrefix.count))] = tensor
    }
    try model.loadStateDict(from: file, entries: modelEntries, strict: true)
    try optimizer.restore(tensors: optimizerTensors, scalars: state.optimizerScalars)
    return state
  }
}

extension Checkpoint {
  /// Loads model weights from a plain weights file or from a checkpoint (whose optimiser tensors are
  /// ignored): what `cnnkit eval` and `predict` accept as `--weights`.
  @discardableResult
  public static func loadWeights(from path: String, into model: Module, strict: Bool = true) throws
    -> StateDictLoadReport
  {
    let file = try SafeTensorsFile(path: path)
    let isCheckpoint = file.metadata[stateKey] != nil
    let entries = file.entries.filter { !(isCheckpoint && $0.name.hasPrefix(optimizerPrefix)) }
    return try model.loadStateDict(from: file, entries: entries, strict: strict)
  }
}
