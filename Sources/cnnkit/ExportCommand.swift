import ArgumentParser
import CNNKit
import Foundation

/// `cnnkit export`: writes a model's state dict as safetensors that PyTorch loads with
/// `load_state_dict(strict=True)` — freshly initialised from a seed, or converted from other weights.
struct ExportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "export",
    abstract:
      "Write a model's weights (seeded initialisation, or --weights converted to F32) as .safetensors.")

  @Option(help: "Zoo model name (see `cnnkit list`).")
  var model: String

  @Option(help: "Number of output classes (default: the model's own).")
  var classes: Int?

  @Option(help: "Seed for the initialisation.")
  var seed: UInt64 = 0

  @Option(help: "Start from these weights instead of the initialisation (any float dtype).")
  var weights: String?

  @Option(help: "Destination .safetensors file (written atomically).")
  var output: String

  func run() throws {
    do {
      if let classes, classes < 1 { throw CLIError("--classes must be at least 1, got \(classes)") }
      GlobalRandom.manualSeed(seed)
      let network = try CLIError.wrap { try Zoo.build(model, classes: classes) }
      if let weights { try CLIError.wrap { try network.loadStateDict(contentsOf: weights) } }
      try CLIError.wrap { try network.saveStateDict(to: output, metadata: ["model": model]) }
      print("\(output): \(network.stateDict().count) tensors, \(network.parameterCount) parameters")
    } catch let error as CLIError {
      throw error.report()
    }
  }
}
