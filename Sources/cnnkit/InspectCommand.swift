import ArgumentParser
import CNNKit
import Foundation

/// `cnnkit inspect FILE`: the tensors of a safetensors file, or an ONNX model's inputs, outputs,
/// opset and nodes.
struct InspectCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "inspect",
    abstract:
      "List the tensors of a .safetensors file (name, dtype, shape, size), or an .onnx file's inputs, outputs, opset and nodes."
  )

  @Argument(help: "A .safetensors or .onnx file.")
  var file: String

  func run() throws {
    do {
      if file.lowercased().hasSuffix(".onnx") {
        try inspectONNX()
        return
      }
      let st = try CLIError.wrap { try SafeTensorsFile(path: file) }
      let nameWidth = max(6, st.entries.map(\.name.count).max() ?? 0)
      print(
        "name".padding(toLength: nameWidth, withPad: " ", startingAt: 0)
          + "  dtype  shape                 elements")
      var total = 0
      for e in st.entries {
        let shape = "[" + e.shape.map(String.init).joined(separator: ", ") + "]"
        print(
          e.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  "
            + e.dtype.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0) + "  "
            + shape.padding(toLength: max(20, shape.count), withPad: " ", startingAt: 0) + "  " + "\(e.count)"
        )
        total += e.count
      }
      let bytes = st.entries.reduce(0) { $0 + $1.byteRange.count }
      print("\(st.entries.count) tensors, \(total) elements, \(bytes) bytes of data")
      for key in st.metadata.keys.sorted() { print("metadata \(key): \(st.metadata[key]!)") }
    } catch let error as CLIError {
      throw error.report()
    }
  }

  private func inspectONNX() throws {
    let onnx = try CLIError.wrap { try ONNXFile(path: file) }
    let model = onnx.model
    print(
      "ONNX IR version \(model.irVersion), opset \(onnx.opset), producer \(model.producerName) \(model.producerVersion)"
    )
    for (kind, values) in [("input", onnx.inputs), ("output", onnx.outputs)] {
      for value in values { print("\(kind) \(value.name) [\(value.dimensions.joined(separator: ", "))]") }
    }
    let counts = onnx.nodeCounts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
    print(
      "\(model.graph.node.count) nodes: " + counts.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
    let elements = model.graph.initializer.reduce(0) { $0 + Int($1.dims.reduce(1, *)) }
    print("\(model.graph.initializer.count) initializers, \(elements) values")
    for entry in model.metadataProps { print("metadata \(entry.key): \(entry.value)") }
  }
}
