import ArgumentParser
import CNNKit
import Foundation

/// `cnnkit predict IMAGE...`: the top classes of each image, with names.
struct PredictCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "predict",
    abstract: "Classify images (JPEG/PNG): top-5 classes with probabilities and names.",
    discussion: """
      Preprocessing is the standard one: Resize(256) / CenterCrop(224) / ImageNet Normalize, scaled to \
      the model's input size (a CNNKit-trained model.safetensors supplies its own normalisation). The \
      model, class count, input size and class names default to what the weights record; ImageNet's \
      names are built in for 1000-class models; otherwise pass --class-names (one name per line).
      """)

  @Argument(help: "Image files.") var images: [String]
  @Option(help: "Zoo model (see `cnnkit list`). Default: the one the weights record.") var model: String?
  @Option(help: "Weights: model.safetensors, a training checkpoint, or a torchvision state dict.")
  var weights: String
  @Option(help: "Number of output classes. Default: the model's (1000 for ImageNet models).") var classes:
    Int?
  @Option(help: ArgumentHelp("Model input size (default: the model's).", valueName: "C,H,W")) var input:
    String?
  @Option(help: "File of class names, one per line, in class-index order.") var classNames: String?
  @Option(help: "How many classes to show per image.") var top = 5

  @OptionGroup var deviceOption: DeviceOption

  func run() throws {
    do {
      try predict()
    } catch let error as CLIError {
      throw error.report()
    }
  }

  private func predict() throws {
    guard !images.isEmpty else { throw CLIError("give at least one image file") }
    guard top >= 1 else { throw CLIError("--top must be at least 1, got \(top)") }
    let trained = try TrainedWeights(path: weights, model: model)
    let model = try trained.modelName(model, fallback: nil)
    let entry = try CLIError.wrap { try Zoo.resolve(model) }
    let classCount = classes ?? trained.metadata.classes ?? entry.defaultClasses
    let modelInput = try input.map(SummaryCommand.parseShape) ?? trained.metadata.input ?? entry.defaultInput
    let network = try CLIError.wrap { try Zoo.build(model, classes: classCount, input: modelInput) }
    let device = try deviceOption.parsed()
    try trained.load(into: network, strict: true)
    try CLIError.wrap { try network.to(device) }
    network.eval()
    let names = try labels(count: classCount, recorded: trained.metadata.classNames)
    let pipeline = Preprocessing.pipeline(
      dataset: "photo", imageSize: nil, modelInput: modelInput, augment: false,
      choices: PreprocessingChoices(normalize: trained.metadata.normalize))
    var rng = RandomGenerator(seed: 0)
    for path in images {
      let image = try CLIError.wrap { try ImageDecoder.decode(path: path) }
      let x = try CLIError.wrap { try pipeline.tensor(from: image, using: &rng) }
      let logits = try CLIError.wrap {
        try GradMode.withNoGrad { try network(Functional.reshape(x, [1] + x.shape).to(device)) }
      }
      let probabilities = Functional.softmax(logits).scalars
      let ranked = probabilities.indices.sorted {
        probabilities[$0] > probabilities[$1] || (probabilities[$0] == probabilities[$1] && $0 < $1)
      }
      print(path)
      for c in ranked.prefix(top) {
        print(String(format: "  %6.2f%%  %4d  %@", probabilities[c] * 100, c, names[c]))
      }
    }
  }

  private func labels(count: Int, recorded: [String]?) throws -> [String] {
    if let classNames {
      guard let text = try? String(contentsOfFile: classNames, encoding: .utf8) else {
        throw CLIError("--class-names \(classNames): cannot read the file")
      }
      let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
      let names = lines.last == "" ? Array(lines.dropLast()) : lines
      guard names.count == count else {
        throw CLIError("--class-names \(classNames): \(names.count) names for a model with \(count) classes")
      }
      return names
    }
    if let recorded, recorded.count == count { return recorded }
    if count == 1000 { return ImageNetClasses.names }
    return (0..<count).map { "class \($0)" }
  }
}
