import ArgumentParser
import CNNKit
import CNNKitKernels
import Foundation

/// One `cnnkit train` run set up from its merged options: everything cheap is checked first (flags,
/// the output folder, weights, class counts, the data pipeline's output size), then the data, model
/// and optimiser are built and the `Trainer` runs.
struct TrainingRun {
  let options: TrainingConfiguration

  // Keys with a default in `TrainingOption.all` always have a value; these read them.
  private func int(_ key: String) -> Int { options.int(key)! }
  private func float(_ key: String) -> Float { options.float(key)! }
  private func double(_ key: String) -> Double { options.double(key)! }
  private func string(_ key: String) -> String { options.string(key)! }

  private func atLeast(_ minimum: Int, _ key: String) throws -> Int {
    let value = int(key)
    guard value >= minimum else { throw CLIError("--\(key) must be at least \(minimum), got \(value)") }
    return value
  }

  private func optionalAtLeast(_ minimum: Int, _ key: String) throws -> Int? {
    guard let value = options.int(key) else { return nil }
    guard value >= minimum else { throw CLIError("--\(key) must be at least \(minimum), got \(value)") }
    return value
  }

  func start() throws {
    // Under mpirun this process is one rank of a data-parallel run; alone, nothing MPI is touched.
    let world = try CLIError.wrap { try Distributed.join() }
    // One writer: the other ranks keep their standard error (for errors) and drop their standard output.
    if !world.isPrimary { _ = freopen("/dev/null", "w", stdout) }
    let modelName = string("model")
    let datasetName = string("dataset")
    let seed = options.uint64("seed")!
    let epochs = try atLeast(1, "epochs")
    let batchSize = try atLeast(1, "batch-size")
    let workers = try atLeast(0, "workers")
    let keepLast = try atLeast(0, "keep-last")
    let stepLimit = try optionalAtLeast(1, "max-steps")
    let checkpointEvery = try optionalAtLeast(1, "checkpoint-every")
    let trainSubset = try optionalAtLeast(1, "train-subset")
    let validationSubset = try optionalAtLeast(1, "val-subset")
    if let threads = try optionalAtLeast(1, "threads") {
      Parallel.threadCount = threads
    } else if world.size > 1 {
      // Ranks sharing a machine share its cores.
      Parallel.threadCount = max(1, Parallel.threadCount / Distributed.processesOnThisMachine)
    }
    guard batchSize % world.size == 0 else {
      throw CLIError(
        "--batch-size \(batchSize) does not split over \(world.size) processes: pick a multiple of \(world.size) (it is the global batch)"
      )
    }
    let smoothing = float("label-smoothing")
    guard (0..<1).contains(smoothing) else {
      throw CLIError("--label-smoothing must be in [0, 1), got \(smoothing)")
    }
    let choices = try preprocessingChoices()
    let entry = try CLIError.wrap { try Zoo.resolve(modelName) }
    let modelInput = try options.string("input").map(SummaryCommand.parseShape) ?? entry.defaultInput

    // The output folder before anything heavy: a typo or a finished run is found in a second.
    let outputDirectory = options.string("output-dir") ?? "runs/\(entry.name)-\(datasetName)"
    let resumePath = options.string("resume").map(BuiltInData.checkpointPath)
    do {
      // Rank 0 alone checks and makes the folder: another rank could otherwise see rank 0's first files.
      if world.isPrimary {
        try RunFolder.prepare(
          outputDirectory, overwrite: options.bool("overwrite"), resuming: resumePath != nil)
      }
    } catch RunFolder.RunFolderError.holdsRun(let path, let file) {
      throw CLIError(
        "--output-dir \(path) already holds a run (\(file)): pass --overwrite to replace it, --resume \(path) to continue it, or another --output-dir"
      )
    } catch {
      throw CLIError("--output-dir: \(error)")
    }
    let tensorboardDirectory = options.string("tensorboard")
    if let directory = tensorboardDirectory {
      do {
        try RunFolder.makeWritableFolder(directory)
      } catch RunFolder.RunFolderError.unusable(let path, let reason) {
        throw CLIError("--tensorboard \(path): \(reason)")
      }
    }

    let root = try options.string("data-dir") ?? BuiltInData.defaultRoot(for: datasetName)
    GlobalRandom.manualSeed(seed)
    let skipCorrupt = options.bool("skip-corrupt")
    var trainSet = try CLIError.wrap {
      try Datasets.open(name: datasetName, root: root, train: true, skipCorrupt: skipCorrupt)
    }
    var validationSet =
      options.bool("no-validation")
      ? nil
      : try CLIError.wrap {
        try Datasets.open(name: datasetName, root: root, train: false, skipCorrupt: skipCorrupt)
      }
    if let trainSubset {
      trainSet = try CLIError.wrap(flag: "--train-subset") {
        try SubsetDataset(base: trainSet, randomCount: trainSubset)
      }
    }
    if let validationSubset, let full = validationSet {
      validationSet = try CLIError.wrap(flag: "--val-subset") {
        try SubsetDataset(base: full, randomCount: validationSubset)
      }
    }
    let datasetClasses = trainSet.classNames.count
    let classCount = options.int("classes") ?? datasetClasses
    // Labels run up to the dataset's class count: fewer outputs would fail at the first step.
    guard classCount >= datasetClasses else {
      throw CLIError(
        "--classes \(classCount) is fewer than the \(datasetClasses) classes of \(datasetName) (labels 0...\(datasetClasses - 1))"
      )
    }

    let network = try CLIError.wrap { try Zoo.build(modelName, classes: classCount, input: modelInput) }
    if let weights = options.string("weights") {
      let replaced = try CLIError.wrap { try FineTuning.loadWeights(from: weights, into: network) }
      if let head = replaced {
        let old = (try? SafeTensorsFile(path: weights)).flatMap { FineTuning.classCount(in: $0, head: head) }
        print(
          "New head: \(head) for \(classCount) classes replaces the \(old.map(String.init) ?? "?")-class head of \(weights)"
        )
      }
    }
    if let prefixes = options.string("freeze") {
      let list = prefixes.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
      let frozen = try CLIError.wrap(flag: "--freeze") { try FineTuning.freeze(network, prefixes: list) }
      print("Frozen: \(frozen.count) parameter tensors under \(list.joined(separator: ", "))")
    }
    let device = try DeviceOption.parse(device: string("device"), precision: options.string("precision"))
    if world.size > 1 && device != .cpu {
      throw CLIError("--device \(device): data-parallel training under mpirun runs on the CPU for now")
    }
    if options.bool("sync-bn") {
      for case let (_, norm as BatchNorm2d) in network.namedModules() { norm.synchronizer = world }
    }
    // Before the optimiser and a resume: both then find the parameters where they will stay.
    try CLIError.wrap { try network.to(device) }

    let sample = try CLIError.wrap { try trainSet.item(at: 0).image }
    let imageSize = (sample.height, sample.width, sample.channels)
    let trainPipeline = Preprocessing.pipeline(
      dataset: datasetName, imageSize: imageSize, modelInput: modelInput,
      augment: !options.bool("no-augment"),
      pcaColor: options.bool("pca-color"), choices: choices)
    let evalPipeline = Preprocessing.pipeline(
      dataset: datasetName, imageSize: imageSize, modelInput: modelInput, augment: false, choices: choices)
    try checkPipeline(trainPipeline, sample: sample, modelInput: modelInput, modelName: modelName)
    // Every rank walks the same batches and loads its consecutive share of each (DistributedSampler).
    let trainLoader = try CLIError.wrap {
      try DataLoader(
        dataset: trainSet, batchSize: batchSize, shuffle: !options.bool("no-shuffle"), seed: seed,
        dropLast: options.bool("drop-last"), pipeline: trainPipeline, workers: workers)
    }.sharded(rank: world.rank, of: world.size)
    let lastBatch = trainLoader.sampleCount % batchSize
    if options.bool("sync-bn"), world.size > 1, lastBatch > 0, lastBatch < world.size {
      throw CLIError(
        "--sync-bn: the last batch holds \(lastBatch) images, too few for \(world.size) processes; add --drop-last"
      )
    }
    guard trainLoader.batchCount > 0 else {
      throw CLIError("--drop-last leaves no batch: \(trainSet.count) images, batch size \(batchSize)")
    }
    let validationLoader = try validationSet.map { set in
      try CLIError.wrap {
        try DataLoader(dataset: set, batchSize: max(batchSize, 256), pipeline: evalPipeline, workers: workers)
      }.sharded(rank: world.rank, of: world.size)
    }

    let optimizerName = string("optimizer").lowercased()
    var optimizerOptions = OptimizerOptions()
    optimizerOptions.learningRate = float("lr")
    optimizerOptions.momentum = float("momentum")
    optimizerOptions.weightDecay = float("weight-decay")
    optimizerOptions.nesterov = options.bool("nesterov")
    let trainable = network.parameters().filter(\.requiresGrad)
    let opt = try flagged {
      try Optimizers.make(optimizerName, parameters: trainable, options: optimizerOptions)
    }
    let scheduler = try makeScheduler(optimizer: opt, epochs: epochs)

    let settings: [String: String] = [
      "model": modelName, "dataset": datasetName, "classes": String(classCount),
      "input": modelInput.map(String.init).joined(separator: ","), "batch-size": String(batchSize),
      "optimizer": optimizerName, "lr-scheduler": string("lr-scheduler"), "seed": String(seed),
      "epochs": String(epochs),
    ]
    let trainer = Trainer(
      model: network, optimizer: opt, scheduler: scheduler, trainLoader: trainLoader,
      validationLoader: validationLoader, epochs: epochs, labelSmoothing: smoothing,
      outputDirectory: outputDirectory, keepLast: keepLast, configuration: settings)
    trainer.communicator = world
    trainer.stepLimit = stepLimit
    trainer.checkpointEvery = checkpointEvery
    trainer.modelMetadata =
      ModelMetadata(
        model: modelName, classes: classCount,
        classNames: classCount == datasetClasses ? trainSet.classNames : nil, input: modelInput,
        normalize: evalPipeline.normalize
      ).entries
    if let path = resumePath {
      let saved = try CLIError.wrap { try Checkpoint.readState(from: path) }
      for key in ["model", "dataset", "classes", "input"] where saved.configuration[key] != settings[key] {
        throw CLIError(
          "\(path): checkpoint was trained with \(key) \(saved.configuration[key] ?? "?"), this run uses \(settings[key] ?? "?")"
        )
      }
      try CLIError.wrap { try trainer.resume(from: path) }
      print("Resuming \(path) at epoch \(trainer.state.epoch + 1), step \(trainer.state.globalStep)")
    }

    let trace = try CLIError.wrap { try ModelTrace(model: network, inputShape: [1] + modelInput) }
    print(trace.summary(.torchsummary, batchSize: -1, depth: 3), terminator: "")
    print("Train transform: \(trainPipeline)")
    if "\(evalPipeline)" != "\(trainPipeline)" && validationLoader != nil {
      print("Validation transform: \(evalPipeline)")
    }
    print(
      "Training \(entry.name) on \(datasetName) (\(trainSet.count) train, \(validationSet?.count ?? 0) validation images), "
        + "\(epochs) epochs, batch \(batchSize)"
        + (world.size > 1 ? " = \(world.size) processes × \(batchSize / world.size)" : "")
        + (options.bool("drop-last") ? " (last partial batch dropped)" : "") + ", "
        + "\(optimizerName) lr \(optimizerOptions.learningRate), "
        + (device == .cpu ? "\(Parallel.threadCount) threads" : "on \(device)")
        + (world.size > 1
          ? " per process" + (options.bool("sync-bn") ? ", synchronised batch norm" : "") : ""))
    // The event file is made only now, so a run refused above leaves no empty one behind.
    if let directory = tensorboardDirectory, world.isPrimary {
      let writer = try CLIError.wrap(flag: "--tensorboard") { try TensorBoardWriter(directory: directory) }
      trainer.onEpochEnd = { record, _ in try writer.add(record) }
    }
    try fit(trainer, batchSize: batchSize, outputDirectory: outputDirectory)
  }

  /// `--resize`, `--center-crop` and `--normalize`, parsed; errors name the flag.
  private func preprocessingChoices() throws -> PreprocessingChoices {
    var choices = PreprocessingChoices()
    if let text = options.string("resize") {
      choices.resize = try CLIError.wrap(flag: "--resize") { try Resize(parsing: text) }
    }
    if let text = options.string("center-crop") {
      choices.centerCrop = try CLIError.wrap(flag: "--center-crop") { try CenterCrop(parsing: text) }
    }
    if let text = options.string("normalize") {
      choices.normalize = try CLIError.wrap(flag: "--normalize") { try Normalize(parsing: text) }
    }
    return choices
  }

  /// Runs the pipeline on the first image: a size or channel count the model cannot take is found
  /// now, with the flags that fix it, rather than at the first step.
  private func checkPipeline(_ pipeline: ImagePipeline, sample: Image, modelInput: [Int], modelName: String)
    throws
  {
    // The channel check comes first: a mismatched Normalize would otherwise fail inside the
    // pipeline with a message that names no flag.
    if let normalize = pipeline.normalize, normalize.mean.count != 1, normalize.mean.count != modelInput[0] {
      throw CLIError("--normalize has \(normalize.mean.count) means for \(modelInput[0]) input channels")
    }
    var rng = RandomGenerator(seed: 0)
    let tensor: Tensor
    do {
      tensor = try pipeline.tensor(from: sample, using: &rng)
    } catch {
      throw CLIError("the data pipeline fails on the first image: \(error)")
    }
    guard tensor.shape == modelInput else {
      let made = tensor.shape.map(String.init).joined(separator: "×")
      let wanted = modelInput.map(String.init).joined(separator: "×")
      throw CLIError(
        "the data pipeline makes \(made) images but \(modelName) takes \(wanted); set --center-crop \(modelInput[1]) (after --resize if the images are smaller) or --input"
      )
    }
  }

  private func makeScheduler(optimizer: Optimizer, epochs: Int) throws -> LearningRateScheduler {
    var schedule = SchedulerOptions()
    schedule.epochs = epochs
    schedule.stepSize = int("lr-step-size")
    schedule.gamma = double("lr-gamma")
    schedule.factor = schedule.gamma
    if let text = options.string("lr-milestones") {
      schedule.milestones = try flagged { try SchedulerOptions.parseMilestones(text) }
    }
    schedule.warmupEpochs = int("lr-warmup-epochs")
    schedule.warmupStartFactor = double("lr-warmup-decay")
    schedule.etaMin = double("lr-min")
    schedule.minLR = schedule.etaMin
    schedule.patience = int("lr-patience")
    return try flagged {
      try Schedulers.make(string("lr-scheduler"), optimizer: optimizer, options: schedule)
    }
  }

  /// Runs `body`, turning a library `TrainingError` about a hyperparameter into the flag's words.
  private func flagged<T>(_ body: () throws -> T) throws -> T {
    do {
      return try body()
    } catch TrainingError.invalidOption(let name, let message) {
      let flags = [
        "learning rate": "--lr", "momentum": "--momentum", "weight decay": "--weight-decay",
        "nesterov": "--nesterov", "optimizer": "--optimizer", "milestones": "--lr-milestones",
        "step size": "--lr-step-size", "gamma": "--lr-gamma", "warm-up epochs": "--lr-warmup-epochs",
        "patience": "--lr-patience", "scheduler": "--lr-scheduler", "T_max": "--epochs",
        "eta_min": "--lr-min", "min lr": "--lr-min", "factor": "--lr-gamma",
      ]
      throw CLIError("\(flags[name] ?? name) \(message)")
    } catch {
      throw CLIError("\(error)")
    }
  }

  private func fit(_ trainer: Trainer, batchSize: Int, outputDirectory: String) throws {
    let interrupt = InterruptFlag.install()
    trainer.stopRequested = { interrupt.isSet }
    let start = Date()
    do {
      try trainer.fit()
    } catch let stop as TrainingStop {
      var message = "\(stop)"
      if case .interrupted(_, _, let checkpoint?) = stop {
        message += " (continue with --resume \(checkpoint))"
      }
      FileHandle.standardError.write(Data("error: \(message)\n".utf8))
      if case .interrupted = stop { throw ExitCode(130) }
      throw ExitCode.failure
    } catch let error as CUDAError {
      // Out of memory names the batch size that did not fit.
      throw CLIError("\(error)" + (error.isOutOfMemory ? " (batch size \(batchSize))" : ""))
    } catch {
      throw CLIError("\(error)")
    }
    let minutes = Date().timeIntervalSince(start) / 60
    let state = trainer.state
    if trainer.communicator.size > 1 {
      // Rank 0's view; waiting includes waiting for slower ranks.
      let total = minutes * 60
      var line = String(
        format: "Gradient exchange: waited %.2f s of %.1f s (%.0f%% of the run)", trainer.exchangeSeconds,
        total,
        100 * trainer.exchangeSeconds / max(total, 1e-9))
      if let overlap = trainer.overlappedExchange, overlap.exchangedSeconds > 0 {
        line += String(
          format: "; %.2f s of all-reduce, %.0f%% of it hidden behind backward", overlap.exchangedSeconds,
          100 * max(0, 1 - overlap.waitedSeconds / overlap.exchangedSeconds))
      } else {
        line += ", after backward (--sync-bn)"
      }
      print(line)
    }
    if state.epoch < trainer.epochs {
      print(
        "Stopped by --max-steps at step \(state.globalStep) (epoch \(state.epoch + 1), batch \(state.batchInEpoch)/\(trainer.trainLoader.batchCount)). "
          + "Checkpoint and model.safetensors in \(outputDirectory)/; metrics.csv lists complete epochs only."
      )
    } else if let last = state.history.records.last {
      let accuracy = last.validationAccuracy.map { String(format: "validation top-1 %.2f%%", $0 * 100) } ?? ""
      print(String(format: "Done in %.1f min. %@. Outputs in %@/", minutes, accuracy, outputDirectory))
    }
  }
}
