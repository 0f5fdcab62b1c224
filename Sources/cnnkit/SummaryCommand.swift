import ArgumentParser
import CNNKit
import Foundation

/// `cnnkit summary MODEL`: the layer table torchsummary, torchinfo or Keras would print.
struct SummaryCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "summary",
    abstract: "Print a model's layer table as torchsummary, torchinfo or Keras would.",
    discussion: """
      torchsummary prints the batch as -1 unless --batch is given; torchinfo traces a batch of 1 by \
      default; Keras always prints None. --explain adds the arithmetic behind every row, in English \
      or, with --lang ko, in Korean; under a Keras table it names the rows as that table does.

      Keras layouts (--format keras): tf2 (default) is TF 2.9-2.12's table, rows indented and long \
      cells wrapped, as in study note 000 (`cnnkit summary alexnet-bn --format keras`); legacy is \
      Keras 2.2's, numbered conv2d_1, conv2d_2, ..., as in study note 004 (`--keras-layout legacy`); \
      keras3 is Keras 3's box-drawn table with sizes. Each layout numbers layers as its Keras did \
      unless --keras-naming says otherwise, and the model is named "sequential" as Keras names a \
      Sequential model unless --model-name says otherwise.
      """)

  @Argument(help: "Model name (see `cnnkit list`) or model file (net.json).")
  var modelArgument: String?

  @Option(
    name: .customLong("model"), help: "The model, as the other commands take it: a name or a .json file.")
  var modelOption: String?

  /// The model named either way.
  var model: String { modelArgument ?? modelOption ?? "" }

  @Option(help: "Number of output classes (default: the model's own).")
  var classes: Int?

  @Option(help: ArgumentHelp("Input size as C,H,W (default: the model's natural input).", valueName: "C,H,W"))
  var input: String?

  @Option(help: "Batch size (torchsummary's batch_size, torchinfo's leading dimension).")
  var batch: Int?

  @Option(help: "Table layout: torchsummary, torchinfo or keras.")
  var format: String = SummaryFormat.torchsummary.rawValue

  @Option(help: "Keras table layout: tf2, legacy or keras3.")
  var kerasLayout: String = KerasReport.Layout.tf2.rawValue

  @Option(
    help:
      "Keras layer numbering: legacy (conv2d_1, conv2d_2) or current (conv2d, conv2d_1); default: the layout's own."
  )
  var kerasNaming: String?

  @Option(help: "Name printed in Keras' `Model: \"...\"` line.")
  var modelName: String = "sequential"

  @Option(help: "Deepest level torchinfo shows.")
  var depth: Int = 3

  @Flag(help: "Also explain the arithmetic of every layer.")
  var explain = false

  @Option(help: "Language of the --explain text: en or ko (Korean).")
  var lang: String = LayerExplanation.Language.en.rawValue

  func run() throws {
    do {
      print(try render(), terminator: "")
    } catch let error as CLIError {
      throw error.report()
    }
  }

  /// Validates the options, traces the model and renders the requested text.
  func render() throws -> String {
    guard let format = SummaryFormat(rawValue: format) else {
      let choices = SummaryFormat.allCases.map(\.rawValue).joined(separator: ", ")
      throw CLIError("unknown --format '\(self.format)'; choose one of \(choices)")
    }
    guard let kerasLayout = KerasReport.Layout(rawValue: kerasLayout) else {
      let choices = KerasReport.Layout.allCases.map(\.rawValue).joined(separator: ", ")
      throw CLIError("unknown --keras-layout '\(self.kerasLayout)'; choose one of \(choices)")
    }
    let naming = try kerasNaming.map { word in
      guard let naming = KerasReport.Naming(rawValue: word) else {
        let choices = KerasReport.Naming.allCases.map(\.rawValue).joined(separator: ", ")
        throw CLIError("unknown --keras-naming '\(word)'; choose one of \(choices)")
      }
      return naming
    }
    guard let language = LayerExplanation.Language(rawValue: lang) else {
      let choices = LayerExplanation.Language.allCases.map(\.rawValue).joined(separator: ", ")
      throw CLIError("unknown --lang '\(lang)'; choose one of \(choices)")
    }
    if modelArgument != nil, modelOption != nil {
      throw CLIError("name the model once: either as the argument or with --model")
    }
    if model.isEmpty {
      throw CLIError("no model given: name one (see `cnnkit list`) or pass --model net.json")
    }
    let entry: ZooEntry
    do {
      entry = try Zoo.resolve(model)
    } catch {
      throw CLIError("\(error)")
    }
    if let classes, classes < 1 { throw CLIError("--classes must be at least 1, got \(classes)") }
    if let batch, batch < 1 { throw CLIError("--batch must be at least 1, got \(batch)") }
    if depth < 0 { throw CLIError("--depth must be at least 0, got \(depth)") }
    let shape = try input.map(Self.parseShape) ?? entry.defaultInput
    let network: Module
    do {
      network = try Zoo.build(model, classes: classes, input: shape)
    } catch {
      throw CLIError("cannot build \(model): \(error)")
    }
    let trace: ModelTrace
    let shapeText = shape.map(String.init).joined(separator: ",")
    do {
      trace = try ModelTrace(model: network, inputShape: [batch ?? 1] + shape)
    } catch {
      throw CLIError("--input \(shapeText) does not fit \(model): \(error)")
    }
    var text = trace.summary(
      format, batchSize: batch ?? -1, depth: depth, kerasLayout: kerasLayout, kerasNaming: naming,
      modelName: modelName)
    if explain {
      // Under a Keras table, rows are named as that table names them: same numbering as it used.
      let kerasNaming = format == .keras ? naming ?? kerasLayout.defaultNaming : nil
      text += "\n" + LayerExplanation(trace: trace, language: language, kerasNaming: kerasNaming).text
    }
    return text
  }

  /// Largest C·H·W accepted: far above any real input (3·8192·8192 is 2²⁷·⁶), and low enough that
  /// the shape arithmetic of every layer and batch stays far from overflowing.
  static let maximumInputElements = 1 << 30

  /// Parses `3,224,224` into three positive sizes.
  static func parseShape(_ text: String) throws -> [Int] {
    let parts = text.split(separator: ",", omittingEmptySubsequences: false)
    let sizes = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard parts.count == 3, sizes.count == 3, sizes.allSatisfy({ $0 > 0 }) else {
      throw CLIError("--input expects three positive integers C,H,W (e.g. 3,224,224), got '\(text)'")
    }
    var elements = 1
    for size in sizes {
      let (product, overflow) = elements.multipliedReportingOverflow(by: size)
      guard !overflow, product <= maximumInputElements else {
        throw CLIError("--input \(text) has more than \(maximumInputElements) elements")
      }
      elements = product
    }
    return sizes
  }
}
