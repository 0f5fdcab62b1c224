/// Errors from looking up or building a zoo model.
public enum ZooError: Error, Equatable, CustomStringConvertible {
  /// No model has this name; `known` lists the names that exist.
  case unknownModel(String, known: [String])
  /// An option does not suit the model (e.g. a class count below 1).
  case invalidOption(String)

  public var description: String {
    switch self {
    case .unknownModel(let name, let known):
      return "unknown model '\(name)'; known models: \(known.joined(separator: ", "))"
    case .invalidOption(let message): return message
    }
  }
}

/// One entry of the model zoo: a name as used on the command line, what it is, its natural input
/// size, and how to build it.
public struct ZooEntry {
  /// Command-line name, e.g. `alexnet-paper`.
  public let name: String
  /// One line for `cnnkit list`.
  public let summary: String
  /// Input (C, H, W) the architecture was designed for.
  public let defaultInput: [Int]
  /// Default class count.
  public let defaultClasses: Int
  /// Builds the model for `classes` outputs and an input of shape (C, H, W).
  public let build: (_ classes: Int, _ input: [Int]) throws -> Module
}

/// The model zoo: every architecture CNNKit ships, by name.
public enum Zoo {
  /// All entries in listing order.
  public static let entries: [ZooEntry] = [
    ZooEntry(
      name: "alexnet", summary: "torchvision AlexNet: 64-192-384-256-256, AdaptiveAvgPool 6×6, dropout classifier",
      defaultInput: [3, 224, 224], defaultClasses: 1000,
      build: { classes, _ in AlexNet(classes: classes) })
  ]

  /// Names of all models.
  public static var names: [String] { entries.map(\.name) }

  /// Looks a model up by name.
  public static func entry(named name: String) throws -> ZooEntry {
    guard let entry = entries.first(where: { $0.name == name }) else {
      throw ZooError.unknownModel(name, known: names)
    }
    return entry
  }

  /// Builds model `name` with `classes` outputs (default: the model's own) for input (C, H, W).
  public static func build(_ name: String, classes: Int? = nil, input: [Int]? = nil) throws -> Module {
    let entry = try entry(named: name)
    let classCount = classes ?? entry.defaultClasses
    guard classCount >= 1 else { throw ZooError.invalidOption("--classes must be at least 1, got \(classCount)") }
    let shape = input ?? entry.defaultInput
    guard shape.count == 3, shape.allSatisfy({ $0 > 0 }) else {
      throw ZooError.invalidOption("input must be three positive sizes C,H,W, got \(shape.map(String.init).joined(separator: ","))")
    }
    return try entry.build(classCount, shape)
  }
}
