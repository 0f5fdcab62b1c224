/// Errors from losses, optimisers, schedulers and metrics: each names the option or state at fault.
public enum TrainingError: Error, Equatable, CustomStringConvertible {
  /// A hyperparameter or CLI option has a value it cannot take.
  case invalidOption(name: String, message: String)
  /// Saved optimiser or scheduler state does not fit the object it is restored into.
  case invalidState(message: String)

  public var description: String {
    switch self {
    case .invalidOption(let name, let message): return "invalid \(name): \(message)"
    case .invalidState(let message): return "cannot restore training state: \(message)"
    }
  }
}

/// Shared checks for `restore` implementations.
enum StateParsing {
  /// Saved counts (epochs, steps) above this are refused: no run gets near it, and the headroom
  /// keeps later increments and conversions from overflowing.
  static let maximumCount = 1 << 40

  /// Parses a saved integer scalar.
  static func int(_ scalars: [String: String], _ key: String) throws -> Int? {
    guard let text = scalars[key] else { return nil }
    guard let value = Int(text) else {
      throw TrainingError.invalidState(message: "\(key) = \"\(text)\" is not an integer")
    }
    return value
  }

  /// Parses a saved Float scalar (written with `String(describing:)`, which round-trips exactly).
  static func float(_ scalars: [String: String], _ key: String) throws -> Float? {
    guard let text = scalars[key] else { return nil }
    guard let value = Float(text) else {
      throw TrainingError.invalidState(message: "\(key) = \"\(text)\" is not a number")
    }
    return value
  }

  /// Parses a saved Double scalar.
  static func double(_ scalars: [String: String], _ key: String) throws -> Double? {
    guard let text = scalars[key] else { return nil }
    guard let value = Double(text) else {
      throw TrainingError.invalidState(message: "\(key) = \"\(text)\" is not a number")
    }
    return value
  }

  /// Throws when `keys` holds a name outside `allowed`.
  static func rejectUnknown<S: Sequence>(_ keys: S, allowed: Set<String>, kind: String) throws
  where S.Element == String {
    if let unknown = keys.filter({ !allowed.contains($0) }).sorted().first {
      throw TrainingError.invalidState(message: "unknown \(kind) \"\(unknown)\"")
    }
  }

  /// Checks a saved state tensor against the parameter it belongs to.
  static func checkShape(_ tensor: Tensor, _ name: String, parameter: Tensor) throws {
    guard tensor.shape == parameter.shape, !tensor.isMeta else {
      throw TrainingError.invalidState(
        message:
          "\(name) has shape \(shapeString(tensor.shape)) but its parameter has \(shapeString(parameter.shape))"
      )
    }
  }
}
