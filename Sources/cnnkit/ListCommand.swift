import ArgumentParser
import CNNKit

/// `cnnkit list` (alias `models`): every zoo model with its one-line description.
struct ListCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "list",
    abstract: "List the models in the zoo.",
    aliases: ["models"])

  func run() throws {
    let width = Zoo.entries.map { $0.name.count }.max() ?? 0
    for entry in Zoo.entries {
      let input = entry.defaultInput.map(String.init).joined(separator: ",")
      print(
        entry.name.padding(toLength: width, withPad: " ", startingAt: 0)
          + "  \(entry.summary) [input \(input)]")
    }
  }
}
