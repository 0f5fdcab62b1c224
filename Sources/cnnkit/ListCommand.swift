import ArgumentParser
import CNNKit

/// `cnnkit list` (alias `models`): every zoo model with its one-line description and, where one of
/// the study notes writes that network, which note.
struct ListCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "list",
    abstract: "List the models in the zoo, with the study note each one matches.",
    aliases: ["models"])

  func run() throws {
    let width = Zoo.entries.map { $0.name.count }.max() ?? 0
    for entry in Zoo.entries {
      let input = entry.defaultInput.map(String.init).joined(separator: ",")
      // The note goes before `[input …]`, which stays last on the line: Scripts/check-onnx.py reads it there.
      let note = entry.note.map { " (\($0))" } ?? ""
      print(
        entry.name.padding(toLength: width, withPad: " ", startingAt: 0)
          + "  \(entry.summary)\(note) [input \(input)]")
    }
  }
}
