import ArgumentParser
import CNNKit
import Foundation

/// `cnnkit forward`: runs a model in eval mode on a tensor from a safetensors file — the tool for
/// comparing CNNKit's outputs with PyTorch's on the same input and weights.
struct ForwardCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "forward",
    abstract:
      "Run a zoo model (eval mode) on the tensor 'input' of a .safetensors file; write logits as 'output'.")

  @Option(help: "Zoo model name (see `cnnkit list`). Default: the one the weights record.")
  var model: String?

  @Option(help: "Number of output classes (default: the weights' recorded count, else the model's own).")
  var classes: Int?

  @Option(
    help: "Weights as .safetensors with torchvision state-dict names (default: the model's initialisation).")
  var weights: String?

  @Flag(help: "Load the weights that match and list the rest instead of failing.")
  var nonStrict = false

  @Option(help: "A .safetensors file holding an N×C×H×W tensor named 'input'.")
  var input: String

  @Option(help: "Where to write the tensor 'output' (.safetensors, written atomically).")
  var output: String

  @OptionGroup var deviceOption: DeviceOption

  func run() throws {
    do {
      let device = try deviceOption.parsed()
      let source = try CLIError.wrap { try SafeTensorsFile(path: input) }
      guard let entry = source.entry(named: "input") else {
        throw CLIError(
          "\(input): no tensor named 'input' (found: \(source.entries.map(\.name).joined(separator: ", ")))")
      }
      guard entry.shape.count == 4 else {
        throw CLIError("\(input): tensor 'input' must be N×C×H×W, got shape \(entry.shape)")
      }
      let x = try CLIError.wrap { try source.tensor(named: "input") }
      if let classes, classes < 1 { throw CLIError("--classes must be at least 1, got \(classes)") }
      let trained = try weights.map { try TrainedWeights(path: $0, model: model) }
      guard let modelName = try trained?.modelName(model, fallback: nil) ?? model else {
        throw CLIError("--model is required without --weights")
      }
      let network = try CLIError.wrap {
        try Zoo.build(
          modelName, classes: classes ?? trained?.metadata.classes, input: Array(entry.shape.dropFirst()))
      }
      if let trained { trained.warn(try trained.load(into: network, strict: !nonStrict)) }
      network.eval()
      let y = try CLIError.wrap {
        try network.to(device)
        return try GradMode.withNoGrad { try network(x.to(device)) }.to(.cpu)
      }
      try CLIError.wrap {
        try SafeTensorsWriter.write(
          [.init(name: "output", tensor: y)], metadata: ["model": modelName], to: output)
      }
      print("\(output): output \(y.shape)")
    } catch let error as CLIError {
      throw error.report()
    }
  }
}
