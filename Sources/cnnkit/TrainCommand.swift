import ArgumentParser
import CNNKit
import CNNKitKernels
import Foundation

/// `cnnkit train`: trains a zoo model on a dataset, as torchvision's reference `train.py` does, with
/// Keras-style progress. With no flags at all it trains `alexnet-mnist` on the MNIST subset that
/// ships inside the tool.
struct TrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train",
    abstract: "Train a model (default: alexnet-mnist on the built-in MNIST subset, no download).",
    discussion: """
      Flags are named as in torchvision's reference training script. A JSON --config file may set any \
      of them (keys without the leading dashes, e.g. {"model": "lenet5", "batch-size": 128}); flags on \
      the command line win. Writes checkpoint.safetensors (weights + optimiser + scheduler + RNG state), \
      checkpoint-epoch-NNN.safetensors, model.safetensors (torchvision names), metrics.csv and \
      history.svg into --output-dir.
      """)

  @Option(help: "Zoo model (see `cnnkit list`). Default: alexnet-mnist.") var model: String?
  @Option(help: "Dataset: \(Datasets.names.joined(separator: ", ")). Default: mnist.") var dataset: String?
  @Option(help: "Dataset folder. Default for mnist: the built-in 12,000/2,000-image subset.") var dataDir:
    String?
  @Option(parsing: .unconditional, help: "Number of output classes. Default: the dataset's.") var classes:
    Int?
  @Option(help: ArgumentHelp("Model input size (default: the model's).", valueName: "C,H,W")) var input:
    String?
  @Option(parsing: .unconditional, help: "Epochs to train. Default: 5.") var epochs: Int?
  @Option(name: [.customShort("b"), .long], parsing: .unconditional, help: "Batch size. Default: 32.")
  var batchSize: Int?
  @Option(parsing: .unconditional, help: "Initial learning rate. Default: 0.02.") var lr: Float?
  @Option(parsing: .unconditional, help: "SGD momentum. Default: 0.9.") var momentum: Float?
  @Option(
    name: [.customLong("weight-decay"), .customLong("wd")], parsing: .unconditional,
    help: "Weight decay. Default: 5e-4.")
  var weightDecay: Float?
  @Option(help: "sgd, adam or adamw. Default: sgd.") var optimizer: String?
  @Flag(help: "Nesterov momentum (SGD).") var nesterov = false
  @Option(help: "step, multistep, cosine, plateau or none. Default: step.") var lrScheduler: String?
  @Option(parsing: .unconditional, help: "StepLR period in epochs. Default: 4.") var lrStepSize: Int?
  @Option(parsing: .unconditional, help: "Decay factor of step, multistep and plateau. Default: 0.1.")
  var lrGamma: Double?
  @Option(help: "MultiStepLR milestones, e.g. 30,60,90.") var lrMilestones: String?
  @Option(parsing: .unconditional, help: "Epochs of linear warm-up. Default: 0.") var lrWarmupEpochs: Int?
  @Option(parsing: .unconditional, help: "Warm-up start factor. Default: 0.01.") var lrWarmupDecay: Double?
  @Option(parsing: .unconditional, help: "Cosine eta_min / plateau min_lr. Default: 0.") var lrMin: Double?
  @Option(parsing: .unconditional, help: "ReduceLROnPlateau patience in epochs. Default: 10.") var lrPatience:
    Int?
  @Option(parsing: .unconditional, help: "Cross-entropy label smoothing. Default: 0.") var labelSmoothing:
    Float?
  @Option(help: "Where checkpoints and logs go. Default: runs/MODEL-DATASET.") var outputDir: String?
  @Option(help: "Continue from a checkpoint file (or an output folder holding checkpoint.safetensors).")
  var resume: String?
  @Option(
    parsing: .unconditional, help: "Seed for initialisation, shuffling, augmentation and dropout. Default: 0."
  ) var seed: UInt64?
  @Option(parsing: .unconditional, help: "Threads for the kernels. Default: all cores.") var threads: Int?
  @Option(
    name: [.customShort("j"), .long], parsing: .unconditional, help: "Data-loading threads. Default: 2.")
  var workers: Int?
  @Option(parsing: .unconditional, help: "Per-epoch checkpoints to keep. Default: 1.") var keepLast: Int?
  @Option(parsing: .unconditional, help: "Stop after this many optimiser steps (checkpoint written).")
  var maxSteps: Int?
  @Option(parsing: .unconditional, help: "Also checkpoint every this many steps within an epoch.")
  var checkpointEvery: Int?
  @Flag(help: "No training augmentation.") var noAugment = false
  @Flag(help: "Add the AlexNet paper's PCA colour augmentation (RGB photo datasets).") var pcaColor = false
  @Flag(help: "Skip corrupt images in an ImageFolder (with a warning) instead of failing.") var skipCorrupt =
    false
  @Flag(help: "Skip validation after each epoch.") var noValidation = false
  @Option(help: "JSON file with any of these options.") var config: String?
  @OptionGroup var deviceOption: DeviceOption

  func run() throws {
    do {
      try train()
    } catch let error as CLIError {
      throw error.report()
    }
  }

  private func train() throws {
    let file = try TrainingConfiguration.load(path: config)
    let modelName = model ?? file.string("model") ?? "alexnet-mnist"
    let datasetName = dataset ?? file.string("dataset") ?? "mnist"
    let seed = seed ?? file.uint64("seed") ?? 0
    let epochs = try positive(epochs ?? file.int("epochs") ?? 5, "--epochs")
    let batchSize = try positive(batchSize ?? file.int("batch-size") ?? 32, "--batch-size")
    let learningRate = lr ?? file.float("lr") ?? 0.02
    guard learningRate > 0, learningRate.isFinite else {
      throw CLIError("--lr must be positive, got \(learningRate)")
    }
    let workers = workers ?? file.int("workers") ?? 2
    guard workers >= 0 else { throw CLIError("--workers must be 0 or more, got \(workers)") }
    let keepLast = keepLast ?? file.int("keep-last") ?? 1
    guard keepLast >= 0 else { throw CLIError("--keep-last must be 0 or more, got \(keepLast)") }
    if let threads = threads ?? file.int("threads") {
      guard threads >= 1 else { throw CLIError("--threads must be at least 1, got \(threads)") }
      Parallel.threadCount = threads
    }
    let root = try dataDir ?? file.string("data-dir") ?? BuiltInData.defaultRoot(for: datasetName)

    GlobalRandom.manualSeed(seed)
    let trainSet = try CLIError.wrap {
      try Datasets.open(
        name: datasetName, root: root, train: true, skipCorrupt: skipCorrupt || file.bool("skip-corrupt"))
    }
    let validationSet =
      noValidation || file.bool("no-validation")
      ? nil
      : try CLIError.wrap {
        try Datasets.open(
          name: datasetName, root: root, train: false, skipCorrupt: skipCorrupt || file.bool("skip-corrupt"))
      }
    let classCount = classes ?? file.int("classes") ?? trainSet.classNames.count
    let entry = try CLIError.wrap { try Zoo.entry(named: modelName) }
    let inputText = input ?? file.string("input")
    let modelInput = try inputText.map(SummaryCommand.parseShape) ?? entry.defaultInput
    let network = try CLIError.wrap { try Zoo.build(modelName, classes: classCount, input: modelInput) }
    let device = try deviceOption.parsed(fallback: file.string("device"))
    // Before the optimiser and a resume: both then find the parameters where they will stay.
    try CLIError.wrap { try network.to(device) }
    let sample = try CLIError.wrap { try trainSet.item(at: 0).image }
    let imageSize = (sample.height, sample.width, sample.channels)
    let augment = !(noAugment || file.bool("no-augment"))
    let trainPipeline = Preprocessing.pipeline(
      dataset: datasetName, imageSize: imageSize, modelInput: modelInput, augment: augment,
      pcaColor: pcaColor || file.bool("pca-color"))
    let evalPipeline = Preprocessing.pipeline(
      dataset: datasetName, imageSize: imageSize, modelInput: modelInput, augment: false)
    let trainLoader = try CLIError.wrap {
      try DataLoader(
        dataset: trainSet, batchSize: batchSize, shuffle: true, seed: seed, dropLast: false,
        pipeline: trainPipeline,
        workers: workers)
    }
    let validationLoader = try validationSet.map { set in
      try CLIError.wrap {
        try DataLoader(dataset: set, batchSize: max(batchSize, 256), pipeline: evalPipeline, workers: workers)
      }
    }

    let optimizerName = (optimizer ?? file.string("optimizer") ?? "sgd").lowercased()
    let momentum = momentum ?? file.float("momentum") ?? 0.9
    let weightDecay = weightDecay ?? file.float("weight-decay") ?? 5e-4
    let nesterov = nesterov || file.bool("nesterov")
    // PyTorch's optimisers refuse these too ("Invalid momentum value", "Invalid weight_decay value").
    guard momentum >= 0 else { throw CLIError("--momentum must not be negative, got \(momentum)") }
    guard weightDecay >= 0 else { throw CLIError("--weight-decay must not be negative, got \(weightDecay)") }
    let params = network.parameters()
    let opt: Optimizer
    switch optimizerName {
    case "sgd":
      if nesterov && momentum == 0 { throw CLIError("--nesterov needs a non-zero --momentum") }
      opt = SGD(
        parameters: params, learningRate: learningRate, momentum: momentum, weightDecay: weightDecay,
        nesterov: nesterov)
    case "adam": opt = Adam(parameters: params, learningRate: learningRate, weightDecay: weightDecay)
    case "adamw": opt = AdamW(parameters: params, learningRate: learningRate, weightDecay: weightDecay)
    default: throw CLIError("--optimizer must be sgd, adam or adamw, got '\(optimizerName)'")
    }
    var options = SchedulerOptions()
    options.epochs = epochs
    options.stepSize = lrStepSize ?? file.int("lr-step-size") ?? 4
    options.gamma = lrGamma ?? file.double("lr-gamma") ?? options.gamma
    options.factor = options.gamma
    if let text = lrMilestones ?? file.string("lr-milestones") {
      options.milestones = try CLIError.wrap { try SchedulerOptions.parseMilestones(text) }
    }
    options.warmupEpochs = lrWarmupEpochs ?? file.int("lr-warmup-epochs") ?? 0
    options.warmupStartFactor = lrWarmupDecay ?? file.double("lr-warmup-decay") ?? 0.01
    options.etaMin = lrMin ?? file.double("lr-min") ?? 0
    options.minLR = options.etaMin
    options.patience = lrPatience ?? file.int("lr-patience") ?? options.patience
    let schedulerName = lrScheduler ?? file.string("lr-scheduler") ?? "step"
    let scheduler = try CLIError.wrap { try Schedulers.make(schedulerName, optimizer: opt, options: options) }
    let smoothing = labelSmoothing ?? file.float("label-smoothing") ?? 0
    guard (0..<1).contains(smoothing) else {
      throw CLIError("--label-smoothing must be in [0, 1), got \(smoothing)")
    }

    let outputDirectory = outputDir ?? file.string("output-dir") ?? "runs/\(modelName)-\(datasetName)"
    let settings: [String: String] = [
      "model": modelName, "dataset": datasetName, "classes": String(classCount),
      "input": modelInput.map(String.init).joined(separator: ","), "batch-size": String(batchSize),
      "optimizer": optimizerName, "lr-scheduler": schedulerName, "seed": String(seed),
      "epochs": String(epochs),
    ]
    let trainer = Trainer(
      model: network, optimizer: opt, scheduler: scheduler, trainLoader: trainLoader,
      validationLoader: validationLoader, epochs: epochs, labelSmoothing: smoothing,
      outputDirectory: outputDirectory,
      keepLast: keepLast, configuration: settings)
    trainer.stepLimit = maxSteps ?? file.int("max-steps")
    trainer.checkpointEvery = checkpointEvery ?? file.int("checkpoint-every")
    if let every = trainer.checkpointEvery, every < 1 {
      throw CLIError("--checkpoint-every must be at least 1, got \(every)")
    }
    if let resume = resume ?? file.string("resume") {
      let path = BuiltInData.checkpointPath(resume)
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
    print(
      "Training \(modelName) on \(datasetName) (\(trainSet.count) train, \(validationSet?.count ?? 0) validation images), "
        + "\(epochs) epochs, batch \(batchSize), \(optimizerName) lr \(learningRate), "
        + (device == .cpu ? "\(Parallel.threadCount) threads" : "on \(device)")
    )
    let interrupt = InterruptFlag.install()
    trainer.stopRequested = { interrupt.isSet }
    let start = Date()
    do {
      try trainer.fit()
    } catch let stop as TrainingStop {
      FileHandle.standardError.write(Data("error: \(stop)\n".utf8))
      if case .interrupted = stop { throw ExitCode(130) }
      throw ExitCode.failure
    } catch let error as CUDAError {
      // Out of memory names the batch size that did not fit.
      throw CLIError("\(error)" + (error.isOutOfMemory ? " (batch size \(batchSize))" : ""))
    } catch {
      throw CLIError("\(error)")
    }
    let minutes = Date().timeIntervalSince(start) / 60
    if let last = trainer.state.history.records.last {
      let accuracy = last.validationAccuracy.map { String(format: "validation top-1 %.2f%%", $0 * 100) } ?? ""
      print(String(format: "Done in %.1f min. %@. Outputs in %@/", minutes, accuracy, outputDirectory))
    }
  }

  private func positive(_ value: Int, _ flag: String) throws -> Int {
    guard value >= 1 else { throw CLIError("\(flag) must be at least 1, got \(value)") }
    return value
  }
}
