import ArgumentParser
import CNNKit

/// The `cnnkit` command-line tool.
@main
struct CNNKitCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "cnnkit",
    abstract: "Classic convolutional networks in Swift: define, summarise, train, evaluate, predict.",
    subcommands: [
      SummaryCommand.self, ListCommand.self, TrainCommand.self, EvalCommand.self, PredictCommand.self,
      InspectCommand.self, ForwardCommand.self, ExportCommand.self,
      BenchCommand.self,
    ])
}
