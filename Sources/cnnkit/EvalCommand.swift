import ArgumentParser
import CNNKit
import CNNKitKernels
import Foundation

/// `cnnkit eval`: top-1/top-5 accuracy, per-class accuracy and the confusion matrix of trained weights
/// on a dataset's test (or validation) split.
struct EvalCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "eval",
    abstract: "Evaluate weights on a dataset's test split: top-1/top-5, per-class accuracy, confusion matrix."
  )

  @Option(help: "Zoo model (see `cnnkit list`). Default: the one the weights record, else alexnet-mnist.")
  var model: String?
  @Option(help: "Weights: model.safetensors, a training checkpoint, or a torchvision state dict.")
  var weights: String
  @Option(help: "Dataset: \(Datasets.names.joined(separator: ", ")).") var dataset = "mnist"
  @Option(help: "Dataset folder. Default for mnist: the built-in subset.") var dataDir: String?
  @Option(help: "Number of output classes. Default: the weights' recorded count, else the dataset's.")
  var classes: Int?
  @Option(
    help: ArgumentHelp(
      "Model input size (default: the weights' recorded size, else the model's).", valueName: "C,H,W"))
  var input: String?
  @Option(name: [.customShort("b"), .long], help: "Batch size.") var batchSize = 256
  @Flag(help: "The AlexNet paper's ten-crop evaluation (corners, centre and mirrors, softmax averaged).")
  var tenCrop = false
  @Flag(help: "Evaluate on the training split instead.") var trainSplit = false
  @Flag(help: "Load matching weights and list the rest instead of failing.") var nonStrict = false
  @Option(help: "Threads for the kernels. Default: all cores.") var threads: Int?
  @Option(name: [.customShort("j"), .long], help: "Data-loading threads.") var workers = 2
  @Option(
    help: ArgumentHelp(
      "Also draw the confusion matrix (counts, class names, accuracy) into this SVG file.",
      valueName: "FILE.svg"))
  var plot: String?

  @OptionGroup var deviceOption: DeviceOption

  func run() throws {
    do {
      try evaluateWeights()
    } catch let error as CLIError {
      throw error.report()
    }
  }

  private func evaluateWeights() throws {
    guard batchSize >= 1 else { throw CLIError("--batch-size must be at least 1, got \(batchSize)") }
    guard workers >= 0 else { throw CLIError("--workers must be 0 or more, got \(workers)") }
    if let threads {
      guard threads >= 1 else { throw CLIError("--threads must be at least 1, got \(threads)") }
      Parallel.threadCount = threads
    }
    // A wrong plot name is found before the evaluation, not after it.
    if let plot { try CLIError.wrap(flag: "--plot") { try ConfusionMatrixPlot.checkDestination(plot) } }
    let root = try dataDir ?? BuiltInData.defaultRoot(for: dataset)
    let data = try CLIError.wrap { try Datasets.open(name: dataset, root: root, train: trainSplit) }
    let trained = try TrainedWeights(path: weights, model: model)
    let model = try trained.modelName(model, fallback: "alexnet-mnist")
    let classCount = classes ?? trained.metadata.classes ?? data.classNames.count
    if let classes, classes < 1 { throw CLIError("--classes must be at least 1, got \(classes)") }
    let entry = try CLIError.wrap { try Zoo.resolve(model) }
    let modelInput = try input.map(SummaryCommand.parseShape) ?? trained.metadata.input ?? entry.defaultInput
    let network = try CLIError.wrap { try Zoo.build(model, classes: classCount, input: modelInput) }
    trained.warn(try trained.load(into: network, strict: !nonStrict))
    let device = try deviceOption.parsed()
    try CLIError.wrap { try network.to(device) }
    let sample = try CLIError.wrap { try data.item(at: 0).image }
    let pipeline = Preprocessing.pipeline(
      dataset: dataset, imageSize: (sample.height, sample.width, sample.channels), modelInput: modelInput,
      augment: false, choices: PreprocessingChoices(normalize: trained.metadata.normalize))
    print(
      "Evaluating \(model) (\(weights)) on \(dataset) \(trainSplit ? "train" : "test") split, \(data.count) images"
    )
    let result: EvaluationResult
    if tenCrop {
      result = try CLIError.wrap {
        try evaluateTenCrop(
          model: network, dataset: data, crop: (modelInput[1], modelInput[2]), channels: modelInput[0],
          normalize: pipeline.normalize)
      }
    } else {
      let loader = try CLIError.wrap {
        try DataLoader(dataset: data, batchSize: batchSize, pipeline: pipeline, workers: workers)
      }
      result = try CLIError.wrap { try evaluate(model: network, loader: loader) }
    }
    // Top-5 means nothing with fewer than five classes (it is always 100 %).
    let top5 = result.confusion.classCount >= 5 ? String(format: "  top-5 %.2f%%", result.top5 * 100) : ""
    print(
      String(
        format: "top-1 %.2f%%%@  loss %.4f  (%d images%@)", result.top1 * 100, top5, result.loss,
        result.count,
        tenCrop ? ", ten-crop" : ""))
    print(result.confusion.rendered())
    if let plot {
      try CLIError.wrap(flag: "--plot") {
        try ConfusionMatrixPlot.write(
          result.confusion, title: "\(model) on \(dataset) \(trainSplit ? "train" : "test")", to: plot)
      }
      print("Confusion matrix plot: \(plot)")
    }
  }
}
