import ArgumentParser
import CNNKit
import Foundation

/// `cnnkit export`: writes a model's state dict as safetensors that PyTorch loads with
/// `load_state_dict(strict=True)`, or the whole model as an ONNX graph — freshly initialised from a
/// seed, or from other weights.
struct ExportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "export",
    abstract:
      "Write a model's weights as .safetensors (seeded initialisation, or --weights converted to F32), or the model as ONNX.",
    discussion: """
      --format onnx writes an ONNX graph (opset \(ONNXExportOptions.defaultOpset)) traced in eval mode at \
      --input: input `input` [batch, C, H, W] with a dynamic batch, output `logits` [batch, classes], \
      initializers named by the state-dict keys. Dropout disappears; batch norm keeps its running \
      statistics (folded into the convolution with --fold-bn).
      """)

  @Option(help: "Zoo model name (see `cnnkit list`).")
  var model: String

  @Option(help: "Number of output classes (default: the model's own).")
  var classes: Int?

  @Option(help: ArgumentHelp("Input size for --format onnx (default: the model's own).", valueName: "C,H,W"))
  var input: String?

  @Option(help: "Seed for the initialisation.")
  var seed: UInt64 = 0

  @Option(help: "Start from these weights instead of the initialisation (any float dtype).")
  var weights: String?

  @Option(help: "safetensors (the state dict) or onnx (the model as a graph).")
  var format: String = "safetensors"

  @Flag(name: .customLong("fold-bn"), help: "ONNX: fold each batch norm into the convolution before it.")
  var foldBN = false

  @Option(help: "Destination file (written atomically).")
  var output: String

  func run() throws {
    do {
      if let classes, classes < 1 { throw CLIError("--classes must be at least 1, got \(classes)") }
      let format = self.format.lowercased()
      guard ["safetensors", "onnx"].contains(format) else {
        throw CLIError("--format must be safetensors or onnx, got '\(self.format)'")
      }
      if format == "safetensors", input != nil || foldBN {
        throw CLIError("\(input != nil ? "--input" : "--fold-bn") applies to --format onnx only")
      }
      let entry = try CLIError.wrap { try Zoo.resolve(model) }
      let shape = try input.map(SummaryCommand.parseShape) ?? entry.defaultInput
      GlobalRandom.manualSeed(seed)
      let network = try CLIError.wrap { try Zoo.build(model, classes: classes, input: shape) }
      if let weights { try CLIError.wrap { try network.loadStateDict(contentsOf: weights) } }
      if format == "onnx" {
        var options = ONNXExportOptions()
        options.foldBatchNorm = foldBN
        let classCount = classes ?? entry.defaultClasses
        options.metadata = [
          "cnnkit.model": model, "cnnkit.classes": String(classCount),
          "cnnkit.input": shape.map(String.init).joined(separator: ","),
        ]
        let report = try CLIError.wrap {
          try ONNXExporter.export(network, input: shape, to: output, options: options)
        }
        let nodes = report.nodeCounts.values.reduce(0, +)
        print(
          "\(output): ONNX opset \(options.opset), \(nodes) nodes, \(report.initializerCount) initializers "
            + "(\(report.parameterElements) values); input [batch, \(shape.map(String.init).joined(separator: ", "))], "
            + "output [batch, \(classCount)]")
        print("accepts: \(report.inputNote)")
        if let side = report.externalDataPath { print("weights in \(side) (ONNX external data)") }
      } else {
        try CLIError.wrap { try network.saveStateDict(to: output, metadata: ["model": model]) }
        print("\(output): \(network.stateDict().count) tensors, \(network.parameterCount) parameters")
      }
    } catch let error as CLIError {
      throw error.report()
    }
  }
}
