import ArgumentParser
import CNNKit
import Foundation

/// `cnnkit train`: trains a zoo model on a dataset, as torchvision's reference `train.py` does, with
/// Keras-style progress. With no flags at all it trains `alexnet-mnist` on the MNIST subset that
/// ships inside the tool. Every flag's type, default and help come from `TrainingOption.all`, which
/// the `--config` file is checked against too.
struct TrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train",
    abstract: "Train a model (default: alexnet-mnist on the built-in MNIST subset, no download).",
    discussion: """
      Flags are named as in torchvision's reference training script. A JSON --config file may set any \
      of them (keys without the leading dashes, e.g. {"model": "lenet5", "batch-size": 128}); flags on \
      the command line win. Writes checkpoint.safetensors (weights + optimiser + scheduler + RNG state), \
      model.safetensors (torchvision names, with the model, class names, input size and normalisation \
      in its metadata), metrics.csv and history.svg into --output-dir; --keep-last N also keeps per-epoch \
      copies; --tensorboard DIR adds TensorBoard event files. The run's header prints the data pipeline as torchvision's Compose would.
      """)

  @Option(help: help("model")) var model: String?
  @Option(help: help("dataset")) var dataset: String?
  @Option(help: help("data-dir")) var dataDir: String?
  @Option(parsing: .unconditional, help: help("classes")) var classes: Int?
  @Option(help: help("input", valueName: "C,H,W")) var input: String?
  @Option(help: help("weights")) var weights: String?
  @Option(help: help("freeze", valueName: "PREFIX[,PREFIX...]")) var freeze: String?
  @Option(help: help("resize", valueName: "N|H,W")) var resize: String?
  @Option(help: help("center-crop", valueName: "N|H,W")) var centerCrop: String?
  @Option(help: help("normalize", valueName: "MEAN/STD")) var normalize: String?
  @Flag(help: help("no-shuffle")) var noShuffle = false
  @Flag(help: help("drop-last")) var dropLast = false
  @Flag(help: help("sync-bn")) var syncBn = false
  @Option(parsing: .unconditional, help: help("train-subset")) var trainSubset: Int?
  @Option(parsing: .unconditional, help: help("val-subset")) var valSubset: Int?
  @Flag(help: help("no-augment")) var noAugment = false
  @Flag(help: help("pca-color")) var pcaColor = false
  @Flag(help: help("skip-corrupt")) var skipCorrupt = false
  @Flag(help: help("no-validation")) var noValidation = false
  @Option(parsing: .unconditional, help: help("epochs")) var epochs: Int?
  @Option(name: [.customShort("b"), .long], parsing: .unconditional, help: help("batch-size"))
  var batchSize: Int?
  @Option(parsing: .unconditional, help: help("lr")) var lr: Float?
  @Option(parsing: .unconditional, help: help("momentum")) var momentum: Float?
  @Option(
    name: [.customLong("weight-decay"), .customLong("wd")], parsing: .unconditional,
    help: help("weight-decay"))
  var weightDecay: Float?
  @Option(help: help("optimizer")) var optimizer: String?
  @Flag(help: help("nesterov")) var nesterov = false
  @Option(help: help("lr-scheduler")) var lrScheduler: String?
  @Option(parsing: .unconditional, help: help("lr-step-size")) var lrStepSize: Int?
  @Option(parsing: .unconditional, help: help("lr-gamma")) var lrGamma: Double?
  @Option(help: help("lr-milestones")) var lrMilestones: String?
  @Option(parsing: .unconditional, help: help("lr-warmup-epochs")) var lrWarmupEpochs: Int?
  @Option(parsing: .unconditional, help: help("lr-warmup-decay")) var lrWarmupDecay: Double?
  @Option(parsing: .unconditional, help: help("lr-min")) var lrMin: Double?
  @Option(parsing: .unconditional, help: help("lr-patience")) var lrPatience: Int?
  @Option(parsing: .unconditional, help: help("label-smoothing")) var labelSmoothing: Float?
  @Option(help: help("output-dir")) var outputDir: String?
  @Option(help: help("tensorboard", valueName: "DIR")) var tensorboard: String?
  @Flag(help: help("overwrite")) var overwrite = false
  @Option(help: help("resume")) var resume: String?
  @Option(parsing: .unconditional, help: help("seed")) var seed: UInt64?
  @Option(parsing: .unconditional, help: help("threads")) var threads: Int?
  @Option(name: [.customShort("j"), .long], parsing: .unconditional, help: help("workers")) var workers: Int?
  @Option(parsing: .unconditional, help: help("keep-last")) var keepLast: Int?
  @Option(parsing: .unconditional, help: help("max-steps")) var maxSteps: Int?
  @Option(parsing: .unconditional, help: help("checkpoint-every")) var checkpointEvery: Int?
  @Option(help: "JSON file with any of these options.") var config: String?
  @OptionGroup var deviceOption: DeviceOption

  private static func help(_ key: String, valueName: String? = nil) -> ArgumentHelp {
    ArgumentHelp(TrainingOption.help(key), valueName: valueName)
  }

  /// The options the command line sets, by key; merged over the `--config` file's.
  var commandLineValues: [String: TrainingConfiguration.Value] {
    var values: [String: TrainingConfiguration.Value] = [:]
    let strings: [(String, String?)] = [
      ("model", model), ("dataset", dataset), ("data-dir", dataDir), ("input", input), ("weights", weights),
      ("freeze", freeze), ("resize", resize), ("center-crop", centerCrop), ("normalize", normalize),
      ("optimizer", optimizer), ("lr-scheduler", lrScheduler), ("lr-milestones", lrMilestones),
      ("output-dir", outputDir), ("tensorboard", tensorboard), ("resume", resume),
      ("device", deviceOption.device),
      ("precision", deviceOption.precision),
    ]
    for case (let key, let value?) in strings { values[key] = .string(value) }
    let integers: [(String, Int?)] = [
      ("classes", classes), ("train-subset", trainSubset), ("val-subset", valSubset), ("epochs", epochs),
      ("batch-size", batchSize), ("lr-step-size", lrStepSize), ("lr-warmup-epochs", lrWarmupEpochs),
      ("lr-patience", lrPatience), ("threads", threads), ("workers", workers), ("keep-last", keepLast),
      ("max-steps", maxSteps), ("checkpoint-every", checkpointEvery),
    ]
    for case (let key, let value?) in integers { values[key] = .integer(value) }
    let numbers: [(String, Double?)] = [
      ("lr", lr.map(Double.init)), ("momentum", momentum.map(Double.init)),
      ("weight-decay", weightDecay.map(Double.init)), ("lr-gamma", lrGamma),
      ("lr-warmup-decay", lrWarmupDecay),
      ("lr-min", lrMin), ("label-smoothing", labelSmoothing.map(Double.init)),
    ]
    for case (let key, let value?) in numbers { values[key] = .number(value) }
    values["seed"] = seed.map { .unsignedInteger($0) }
    // A flag left off says nothing, so a file's `true` stands.
    let flags: [(String, Bool)] = [
      ("no-shuffle", noShuffle), ("drop-last", dropLast), ("no-augment", noAugment), ("pca-color", pcaColor),
      ("skip-corrupt", skipCorrupt), ("no-validation", noValidation), ("nesterov", nesterov),
      ("overwrite", overwrite), ("sync-bn", syncBn),
    ]
    for (key, on) in flags where on { values[key] = .flag(true) }
    return values
  }

  func run() throws {
    do {
      let file = try TrainingConfiguration.load(path: config)
      let flags = try CLIError.wrap {
        try TrainingConfiguration(values: commandLineValues, source: "command line")
      }
      try TrainingRun(options: file.overridden(by: flags)).start()
    } catch let error as CLIError {
      throw error.report()
    }
  }
}
