import CNNKit
import Foundation

extension TrainingConfiguration {
  /// Reads `--config FILE`; nil gives an empty configuration. Errors name the flag, file and key.
  static func load(path: String?) throws -> TrainingConfiguration {
    guard let path else { return TrainingConfiguration() }
    do {
      return try TrainingConfiguration(path: path)
    } catch let error as TrainingConfigurationError {
      throw CLIError("--config \(error)")
    }
  }
}

/// The data and paths the tool provides by itself.
enum BuiltInData {
  /// The dataset folder used when `--data-dir` is not given: only MNIST has a built-in subset.
  static func defaultRoot(for dataset: String) throws -> String {
    let key = dataset.lowercased().filter { $0 != "-" && $0 != "_" }
    guard key == "mnist" else { throw CLIError("--data-dir is required for dataset '\(dataset)'") }
    guard let url = Bundle.module.url(forResource: "mnist-mini", withExtension: nil) else {
      throw CLIError("the built-in MNIST subset is missing from this build; pass --data-dir")
    }
    return url.path
  }

  /// A checkpoint file, or `checkpoint.safetensors` inside a folder.
  static func checkpointPath(_ path: String) -> String {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
      return path + "/checkpoint.safetensors"
    }
    return path
  }
}

/// SIGINT handling for training: the first Ctrl-C asks the loop to finish its step and checkpoint;
/// a second one ends the process at once (the default action is restored).
final class InterruptFlag {
  nonisolated(unsafe) private static var raised: sig_atomic_t = 0

  /// Installs the handler and returns a flag to poll.
  static func install() -> InterruptFlag {
    signal(SIGINT) { _ in
      InterruptFlag.raised = 1
      signal(SIGINT, SIG_DFL)
    }
    return InterruptFlag()
  }

  var isSet: Bool { Self.raised != 0 }
}
