import Foundation

/// Options read from `--config FILE` (a JSON object). Keys are the flag names without dashes
/// (`batch-size`; `batch_size` also works). Unknown keys and wrong types are errors naming the file
/// and key, so a typo does not silently fall back to a default.
struct ConfigFile {
  static let knownKeys: Set<String> = [
    "model", "dataset", "data-dir", "classes", "input", "epochs", "batch-size", "lr", "momentum",
    "weight-decay",
    "optimizer", "nesterov", "lr-scheduler", "lr-step-size", "lr-gamma", "lr-milestones", "lr-warmup-epochs",
    "lr-warmup-decay", "lr-min", "lr-patience", "label-smoothing", "output-dir", "resume", "seed", "threads",
    "workers",
    "keep-last", "max-steps", "checkpoint-every", "no-augment", "pca-color", "skip-corrupt", "no-validation",
  ]

  let path: String
  private let values: [String: Any]

  /// Reads `path`; nil gives an empty configuration.
  init(path: String?) throws {
    guard let path else {
      self.path = ""
      values = [:]
      return
    }
    self.path = path
    guard let data = FileManager.default.contents(atPath: path) else {
      throw CLIError("--config \(path): cannot read the file")
    }
    guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
      throw CLIError("--config \(path): not a JSON object")
    }
    var normalised: [String: Any] = [:]
    for (key, value) in object {
      let name = key.replacingOccurrences(of: "_", with: "-")
      guard Self.knownKeys.contains(name) else {
        throw CLIError(
          "--config \(path): unknown key '\(key)' (known: \(Self.knownKeys.sorted().joined(separator: ", ")))"
        )
      }
      normalised[name] = value
    }
    values = normalised
  }

  private func typeError(_ key: String, _ expected: String) -> CLIError {
    CLIError("--config \(path): '\(key)' must be \(expected)")
  }

  func string(_ key: String) -> String? {
    if let s = values[key] as? String { return s }
    if let n = values[key] as? NSNumber { return n.stringValue }
    return nil
  }

  func int(_ key: String) throws -> Int? {
    guard let value = values[key] else { return nil }
    guard let n = value as? NSNumber, let i = Int(exactly: n.doubleValue) else {
      throw typeError(key, "an integer")
    }
    return i
  }

  func uint64(_ key: String) throws -> UInt64? {
    guard let i = try int(key) else { return nil }
    guard i >= 0 else { throw typeError(key, "a non-negative integer") }
    return UInt64(i)
  }

  func double(_ key: String) throws -> Double? {
    guard let value = values[key] else { return nil }
    guard let n = value as? NSNumber else { throw typeError(key, "a number") }
    return n.doubleValue
  }

  func float(_ key: String) throws -> Float? { try double(key).map(Float.init) }

  func bool(_ key: String) -> Bool { (values[key] as? Bool) ?? false }
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
