import ArgumentParser
import CNNKit
import Foundation

/// `cnnkit inspect FILE`: the tensors of a safetensors file.
struct InspectCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "inspect", abstract: "List the tensors of a .safetensors file: name, dtype, shape, size.")

  @Argument(help: "A .safetensors file.")
  var file: String

  func run() throws {
    do {
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
}
