import CNNKitKernels
import Foundation

/// Why a training run stopped early.
public enum TrainingStop: Error, CustomStringConvertible {
  /// Loss or a gradient became NaN/Inf; the last good checkpoint is left as it was.
  case nonFinite(epoch: Int, step: Int, what: String, lastCheckpoint: String?)
  /// The user interrupted (SIGINT); a checkpoint was written at the step boundary.
  case interrupted(epoch: Int, step: Int, checkpoint: String?)

  public var description: String {
    switch self {
    case .nonFinite(let epoch, let step, let what, let checkpoint):
      let keep = checkpoint.map { "; the last good checkpoint is \($0)" } ?? ""
      return "training stopped at epoch \(epoch), step \(step): \(what) is not finite (NaN or Inf)\(keep)"
    case .interrupted(let epoch, let step, let checkpoint):
      let saved = checkpoint.map { "; checkpoint written to \($0)" } ?? ""
      return "interrupted at epoch \(epoch), step \(step)\(saved)"
    }
  }
}

/// The training loop behind `cnnkit train`, Keras' `fit` in spirit: epochs of shuffled batches with a
/// live progress line, validation after each epoch, a learning-rate schedule, a metrics log, a plot,
/// and an atomic checkpoint per epoch from which `resume` continues bit for bit.
public final class Trainer {
  public let model: Module
  public let optimizer: Optimizer
  public let scheduler: LearningRateScheduler
  public let trainLoader: DataLoader
  public let validationLoader: DataLoader?
  public let epochs: Int
  public let labelSmoothing: Float
  /// Folder for checkpoints, `metrics.csv`, `history.svg` and `model.safetensors`; nil writes nothing.
  public let outputDirectory: String?
  /// How many per-epoch checkpoint copies (`checkpoint-epoch-NNN.safetensors`) to keep besides the
  /// latest; none unless asked for, since each is as large as the model and its optimiser state.
  public let keepLast: Int
  /// Settings recorded in checkpoints (model name, dataset, flags).
  public let configuration: [String: String]
  /// Where progress lines go (standard output by default).
  public var output: (String) -> Void = {
    print($0)
    fflush(stdout)
  }
  /// Whether the progress line redraws in place (nil: when standard output is a terminal).
  public var interactiveProgress: Bool? = nil
  /// Checked after every step; when it returns true the loop checkpoints and stops (SIGINT).
  public var stopRequested: () -> Bool = { false }
  /// Stops after this many optimiser steps in total (tests of resuming; nil: run all epochs).
  public var stepLimit: Int? = nil
  /// Also checkpoints every this many steps inside an epoch (nil: only at epoch ends), so a crash
  /// in a long epoch loses little.
  public var checkpointEvery: Int? = nil
  /// Extra `__metadata__` for `model.safetensors` (see `ModelMetadata`), beside `format: pt`.
  public var modelMetadata: [String: String] = [:]
  /// Called after each epoch's record is complete (validation included), with the run's step count:
  /// where logs such as TensorBoard's are written.
  public var onEpochEnd: ((EpochRecord, Int) throws -> Void)? = nil

  /// The processes of a data-parallel run (one by default). With more than one, `trainLoader` and
  /// `validationLoader` must be this process's shards (`DataLoader.sharded`); gradients, metrics and
  /// the stop flag are summed over processes each step, and only rank 0 prints and writes files.
  public var communicator: any Communicator = SingleProcess()
  /// Seconds this process waited for the per-step exchanges (metrics, and gradients after backward)
  /// so far: what data parallelism costs the step.
  public private(set) var exchangeSeconds = 0.0
  /// The overlapped gradient sum of the last `fit()` (nil with one process, with `--sync-bn`, or
  /// with an MPI library that cannot take calls from a second thread): its `exchangedSeconds`
  /// against `waitedSeconds` say how much of the exchange backward hid.
  public private(set) var overlappedExchange: OverlappedGradientSum?

  /// Where the run stands.
  public private(set) var state: TrainingState

  /// Sets up a run from scratch; call `resume(from:)` before `fit()` to continue a saved one.
  public init(
    model: Module, optimizer: Optimizer, scheduler: LearningRateScheduler, trainLoader: DataLoader,
    validationLoader: DataLoader?, epochs: Int, labelSmoothing: Float = 0, outputDirectory: String?,
    keepLast: Int = 0, configuration: [String: String] = [:]
  ) {
    self.model = model
    self.optimizer = optimizer
    self.scheduler = scheduler
    self.trainLoader = trainLoader
    self.validationLoader = validationLoader
    self.epochs = epochs
    self.labelSmoothing = labelSmoothing
    self.outputDirectory = outputDirectory
    self.keepLast = keepLast
    self.configuration = configuration
    self.state = TrainingState(
      epoch: 0, batchInEpoch: 0, globalStep: 0, random: GlobalRandom.current, optimizerScalars: [:],
      schedulerState: [:], history: TrainingHistory(), configuration: configuration)
  }

  /// The latest checkpoint's path inside `outputDirectory`.
  public var checkpointPath: String? { outputDirectory.map { $0 + "/checkpoint.safetensors" } }

  /// Restores model, optimiser, scheduler, random generator and position from a checkpoint.
  public func resume(from path: String) throws {
    let saved = try Checkpoint.restore(from: path, model: model, optimizer: optimizer)
    try scheduler.restore(scalars: saved.schedulerState)
    GlobalRandom.current = saved.random
    state = saved
    state.configuration = configuration
  }

  /// Runs the remaining epochs. Throws `TrainingStop` when stopped early.
  public func fit() throws {
    let primary = communicator.isPrimary
    let distributed = communicator.size > 1
    if primary { removeStaleTemporaryFiles() }
    // A run resumed from the checkpoint written at its step limit has nothing left to do.
    if let limit = stepLimit, state.globalStep >= limit { return }
    // DDP's start: every process begins from rank 0's weights and buffers.
    if distributed {
      try GradientExchange.broadcast(model.stateDict().map(\.tensor), communicator: communicator)
    }
    let output: (String) -> Void = primary ? self.output : { _ in }
    // Gradients go out during backward, unless synchronised batch norm makes exchanges of its own
    // there or the MPI library cannot take calls from a second thread.
    let syncBatchNorm = model.namedModules().contains { ($0.module as? BatchNorm2d)?.synchronizer != nil }
    let overlap =
      distributed && !syncBatchNorm && communicator.allowsCallsFromAnotherThread
      ? OverlappedGradientSum(
        parameters: model.parameters().filter(\.requiresGrad), communicator: communicator)
      : nil
    overlappedExchange = overlap
    defer { overlap?.close() }
    while state.epoch < epochs {
      let epoch = state.epoch
      output("Epoch \(epoch + 1)/\(epochs)")
      model.train()
      let batches = try trainLoader.batches(epoch: epoch, skippingBatches: state.batchInEpoch)
      // On a terminal the bar's text goes out as it is, so each redraw overwrites the line (`output`
      // adds a newline, which would leave every redraw on a line of its own); elsewhere `output`
      // gets the finished line.
      let interactive = interactiveProgress ?? (isatty(STDOUT_FILENO) == 1)
      var bar = ProgressBar(
        total: trainLoader.batchCount, startingAt: state.batchInEpoch, interactive: interactive
      ) { [output] text in
        if !primary { return }
        if interactive {
          FileHandle.standardOutput.write(Data(text.utf8))
        } else {
          output(text.hasSuffix("\n") ? String(text.dropLast()) : text)
        }
      }
      // A resumed epoch goes on from its saved totals.
      var progress = state.batchInEpoch > 0 ? state.epochProgress ?? EpochProgress() : EpochProgress()
      let start = ProgressBar.now() - progress.seconds
      // The model's device: batches are copied there, logits come back for the metrics.
      let device = model.device
      while let batch = try batches.next() {
        let rows = batch.labels.count
        var lossTensor: Tensor? = nil
        // Loss·rows, correct, rows and the stop flag: summed over processes, so every process sees
        // the global values (and stops, or finds a NaN, at the same step as the others).
        var totals = [0, 0, Double(rows), stopRequested() ? 1 : 0]
        // A process's share of a short last batch may be empty; it still joins the exchanges.
        if rows > 0 {
          let logits = try SampleRandom.with(
            seed: trainLoader.seed, step: state.globalStep, firstRow: batch.firstRow
          ) {
            try model(batch.images.to(device))
          }
          let loss = try Functional.crossEntropy(
            logits, targets: batch.labels, labelSmoothing: labelSmoothing)
          totals[0] = Double(loss.item) * Double(rows)
          totals[1] = Double(try Metrics.topKCorrect(logits: logits.to(.cpu), labels: batch.labels, k: 1))
          lossTensor = loss
        }
        if distributed {
          let started = ProgressBar.now()
          totals = try communicator.allReduceSum(totals)
          exchangeSeconds += ProgressBar.now() - started
        }
        let globalRows = Int(totals[2])
        let globalLoss = totals[0] / Double(max(globalRows, 1))
        guard globalLoss.isFinite else {
          throw TrainingStop.nonFinite(
            epoch: epoch + 1, step: state.globalStep + 1, what: "the loss", lastCheckpoint: existingCheckpoint
          )
        }
        optimizer.zeroGrad()
        overlap?.beginStep()
        if let lossTensor {
          // Each process's mean loss weighted by its share: the gradients then sum to those of the
          // mean over the whole batch, whatever the shares are.
          if rows == batch.globalCount {
            lossTensor.backward()
          } else {
            lossTensor.backward(
              Tensor(repeating: Float(rows) / Float(batch.globalCount), shape: []).onDevice(of: lossTensor))
          }
        }
        if let overlap {
          let waited = overlap.waitedSeconds
          try overlap.finishStep()
          exchangeSeconds += overlap.waitedSeconds - waited
        } else if distributed {
          let started = ProgressBar.now()
          try GradientExchange.sumGradients(
            model.parameters().filter(\.requiresGrad), communicator: communicator)
          exchangeSeconds += ProgressBar.now() - started
        }
        if let bad = firstNonFiniteGradient() {
          throw TrainingStop.nonFinite(
            epoch: epoch + 1, step: state.globalStep + 1, what: "the gradient of \(bad)",
            lastCheckpoint: existingCheckpoint)
        }
        optimizer.step()
        state.globalStep += 1
        state.batchInEpoch += 1
        progress.loss.add(globalLoss, weight: globalRows)
        progress.correct += Int(totals[1])
        progress.seen += globalRows
        progress.seconds = ProgressBar.now() - start
        state.epochProgress = progress
        bar.update(
          step: state.batchInEpoch,
          values: [
            ("loss", progress.loss.mean),
            ("accuracy", Double(progress.correct) / Double(max(progress.seen, 1))),
          ],
          imagesPerSecond: Double(progress.seen) / max(progress.seconds, 1e-9))
        if let every = checkpointEvery, every > 0, state.globalStep % every == 0,
          state.batchInEpoch < trainLoader.batchCount
        {
          try saveCheckpoint(perEpochCopy: false)
        }
        let stopNow = totals[3] > 0
        if stopNow || (stepLimit.map { state.globalStep >= $0 } ?? false) {
          batches.close()
          if state.batchInEpoch < trainLoader.batchCount { bar.endLine() }
          let path = try saveCheckpoint(perEpochCopy: false)
          if stopNow {
            throw TrainingStop.interrupted(epoch: epoch + 1, step: state.globalStep, checkpoint: path)
          }
          // The step limit: the weights so far are a usable model too.
          try saveModel()
          return
        }
      }
      let seconds = ProgressBar.now() - start
      var record = EpochRecord(
        epoch: epoch + 1, trainLoss: progress.loss.mean,
        trainAccuracy: Double(progress.correct) / Double(max(progress.seen, 1)),
        learningRate: Double(optimizer.learningRate), seconds: seconds,
        imagesPerSecond: Double(progress.seen) / max(seconds, 1e-9))
      if let validationLoader {
        let result = try evaluate(model: model, loader: validationLoader, communicator: communicator)
        record.validationLoss = result.loss
        record.validationAccuracy = result.top1
        record.validationTop5 = result.top5
        // Top-5 is shown only where it can miss: with five classes or more.
        let top5 =
          result.confusion.classCount >= 5 ? String(format: " - top-5 %.2f%%", result.top5 * 100) : ""
        output(
          String(
            format: "  validation: loss %.4f - top-1 %.2f%%%@ (%d images)", result.loss, result.top1 * 100,
            top5,
            result.count))
      }
      scheduler.step(metric: scheduler.needsMetric ? (record.validationLoss ?? record.trainLoss) : nil)
      state.history.records.append(record)
      state.epoch += 1
      state.batchInEpoch = 0
      state.epochProgress = nil
      try saveCheckpoint(perEpochCopy: true)
      if primary { try onEpochEnd?(record, state.globalStep) }
    }
    try saveModel()
  }

  /// Writes `model.safetensors`: the state dict under torchvision names, with `modelMetadata`.
  private func saveModel() throws {
    guard let outputDirectory, communicator.isPrimary else { return }
    try model.saveStateDict(
      to: outputDirectory + "/model.safetensors", metadata: modelMetadata.merging(["format": "pt"]) { $1 })
  }

  /// A run killed while writing leaves `.NAME.tmp-*` files (see `AtomicFile`); the finished files
  /// are intact, so the leftovers are only clutter.
  private func removeStaleTemporaryFiles() {
    guard let outputDirectory,
      let names = try? FileManager.default.contentsOfDirectory(atPath: outputDirectory)
    else {
      return
    }
    for name in names
    where name.hasPrefix(".") && name.contains(".safetensors.tmp-") || name.hasPrefix(".metrics.csv.tmp-")
      || name.hasPrefix(".history.svg.tmp-")
    {
      try? FileManager.default.removeItem(atPath: outputDirectory + "/" + name)
    }
  }

  private var existingCheckpoint: String? {
    checkpointPath.flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil }
  }

  private func firstNonFiniteGradient() -> String? {
    for (name, p) in model.namedParameters() {
      guard let g = p.grad else { continue }
      if g.isAccelerated {
        // NaN or Inf anywhere makes the sum non-finite: one reduction and one float back.
        if !GradMode.withNoGrad({ Functional.sum(g) }).item.isFinite { return name }
        continue
      }
      // Read-only access: scanning must not invalidate anything derived from the gradient.
      if !allFinite(count: g.count, g.storage.readOnlyPointer) { return name }
    }
    return nil
  }

  /// Writes the checkpoint, the metrics log and the plot (each atomically); returns the checkpoint path.
  @discardableResult
  private func saveCheckpoint(perEpochCopy: Bool) throws -> String? {
    guard let outputDirectory, let checkpointPath else { return nil }
    // One writer: the other processes hold the same weights and state.
    guard communicator.isPrimary else { return checkpointPath }
    try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
    state.random = GlobalRandom.current
    state.optimizerScalars = optimizer.stateScalars()
    state.schedulerState = scheduler.stateScalars()
    try Checkpoint.save(to: checkpointPath, model: model, optimizer: optimizer, state: state)
    if perEpochCopy && keepLast > 0 {
      let name = String(format: "checkpoint-epoch-%03d.safetensors", state.epoch)
      try Checkpoint.save(to: outputDirectory + "/" + name, model: model, optimizer: optimizer, state: state)
      try pruneEpochCheckpoints(in: outputDirectory)
    }
    try AtomicFile.write(Data(state.history.csv.utf8), to: outputDirectory + "/metrics.csv")
    try AtomicFile.write(Data(state.history.svg.utf8), to: outputDirectory + "/history.svg")
    return checkpointPath
  }

  private func pruneEpochCheckpoints(in folder: String) throws {
    let names = try FileManager.default.contentsOfDirectory(atPath: folder)
      .filter { $0.hasPrefix("checkpoint-epoch-") && $0.hasSuffix(".safetensors") }.sorted()
    for name in names.dropLast(keepLast) { try? FileManager.default.removeItem(atPath: folder + "/" + name) }
  }
}
