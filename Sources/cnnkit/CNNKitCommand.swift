import ArgumentParser
import CNNKit
import Foundation

/// The `cnnkit` command-line tool.
@main
struct CNNKitCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "cnnkit",
    abstract: "Classic convolutional networks in Swift: define, summarise, train, evaluate, predict.",
    version: "cnnkit \(CNNKitVersion.string)",
    subcommands: [
      SummaryCommand.self, ListCommand.self, TrainCommand.self, EvalCommand.self, PredictCommand.self,
      InspectCommand.self, ForwardCommand.self, ExportCommand.self, BenchCommand.self,
      DoctorCommand.self,
    ])

  /// Like ArgumentParser's own `main()`, but a usage mistake is one `error:` line (naming the flag)
  /// rather than the message plus the whole usage text; `--help` still prints the full help.
  static func main() {
    do {
      var command = try parseAsRoot()
      try command.run()
    } catch {
      let code = exitCode(for: error)
      if code == .success {
        print(fullMessage(for: error))
        Foundation.exit(0)
      }
      // Errors our commands already reported carry only an exit code and an empty message.
      let text = message(for: error).split(separator: "\n").first.map(String.init) ?? ""
      if !text.isEmpty {
        let line = text.hasPrefix("Error: ") ? String(text.dropFirst(7)) : text
        FileHandle.standardError.write(Data("error: \(line) (see 'cnnkit help')\n".utf8))
      }
      // In a data-parallel run the others may wait for this process in an exchange: stop them too.
      if Distributed.current.size > 1 { Distributed.current.abort(code: code.rawValue) }
      Foundation.exit(code.rawValue)
    }
  }
}
