import Foundation

/// A mistake in a training configuration file; the message names the file and, where it applies,
/// the key.
public struct TrainingConfigurationError: Error, Equatable, CustomStringConvertible {
  /// The configuration file.
  public let path: String
  /// The key at fault, when there is one.
  public let key: String?
  /// What is wrong.
  public let message: String

  public var description: String {
    guard let key else { return "\(path): \(message)" }
    return "\(path): '\(key)' \(message)"
  }
}

/// The options of `cnnkit train --config FILE`: a JSON object whose keys are the flag names without
/// dashes (`batch-size`; `batch_size` also works). Every key's type is checked when the file is
/// read, and unknown keys, wrong types and repeated keys are errors naming the file and key, so a
/// typo never falls back to a default silently.
public struct TrainingConfiguration {
  /// The JSON types a key may have.
  public enum ValueType: Sendable {
    /// A string; a number or an array of integers is taken as its text (`[3, 32, 32]` → `"3,32,32"`).
    case string
    /// An integer (a number with no fraction).
    case integer
    /// An integer from 0 to 2⁶⁴ − 1.
    case unsignedInteger
    /// Any number.
    case number
    /// `true` or `false`.
    case flag
  }

  /// Every key a file may hold, with its type (from `TrainingOption.all`).
  public static let keyTypes: [String: ValueType] = Dictionary(
    uniqueKeysWithValues: TrainingOption.all.map { ($0.key, $0.type) })

  /// Files above this size are refused unread (a real one is a few hundred bytes).
  public static let maximumFileBytes = 1 << 20

  /// One checked value.
  public enum Value: Sendable, Equatable {
    /// Text.
    case string(String)
    /// An integer.
    case integer(Int)
    /// A non-negative integer of up to 64 bits.
    case unsignedInteger(UInt64)
    /// Any finite number.
    case number(Double)
    /// On or off.
    case flag(Bool)
  }

  /// The file read ("" for the empty configuration).
  public let path: String
  private let values: [String: Value]

  /// A configuration that sets nothing.
  public init() {
    path = ""
    values = [:]
  }

  /// Options given some other way (the command line): `values` holds each key set, `source` names
  /// where they came from in errors. A key outside `TrainingOption.all` or of the wrong type is an
  /// error.
  public init(values: [String: Value], source: String) throws {
    for (key, value) in values {
      guard let type = Self.keyTypes[key] else {
        throw TrainingConfigurationError(path: source, key: nil, message: "unknown option '\(key)'")
      }
      let fits: Bool
      switch (type, value) {
      case (.string, .string), (.integer, .integer), (.unsignedInteger, .unsignedInteger), (.number, .number),
        (.flag, .flag):
        fits = true
      default: fits = false
      }
      guard fits else {
        throw TrainingConfigurationError(path: source, key: key, message: "has the wrong type")
      }
    }
    self.path = source
    self.values = values
  }

  private init(path: String, values: [String: Value]) {
    self.path = path
    self.values = values
  }

  /// This configuration with every key `other` sets taken from `other` (the command line over a file).
  public func overridden(by other: TrainingConfiguration) -> TrainingConfiguration {
    TrainingConfiguration(path: path, values: values.merging(other.values) { _, new in new })
  }

  /// Whether the key was set (rather than falling back to its default).
  public func isSet(_ key: String) -> Bool { values[key] != nil }

  /// Reads and checks the JSON file at `path`.
  public init(path: String) throws {
    let bytes: [UInt8]
    do {
      bytes = try readFileContents(path: path, maximumBytes: Self.maximumFileBytes)
    } catch DataError.unreadable(_, let reason) {
      throw TrainingConfigurationError(path: path, key: nil, message: "cannot read the file: \(reason)")
    } catch DataError.corrupt(_, let reason) {
      throw TrainingConfigurationError(path: path, key: nil, message: reason)
    }
    try self.init(json: bytes, path: path)
  }

  /// Checks a configuration file's contents held in memory; `path` names it in errors.
  public init(json: [UInt8], path: String = "<memory>") throws {
    self.path = path
    guard let object = (try? JSONSerialization.jsonObject(with: Data(json))) as? [String: Any] else {
      throw TrainingConfigurationError(path: path, key: nil, message: "not a JSON object")
    }
    var values: [String: Value] = [:]
    var spelling: [String: String] = [:]
    // Sorted, so that which of two clashing spellings is reported does not depend on hashing.
    for key in object.keys.sorted() {
      let name = key.replacingOccurrences(of: "_", with: "-")
      guard let type = Self.keyTypes[name] else {
        let known = Self.keyTypes.keys.sorted().joined(separator: ", ")
        throw TrainingConfigurationError(
          path: path, key: nil, message: "unknown key '\(key)' (known: \(known))")
      }
      if let first = spelling[name] {
        throw TrainingConfigurationError(path: path, key: key, message: "repeats '\(first)'")
      }
      spelling[name] = key
      values[name] = try Self.check(object[key]!, as: type, key: key, path: path)
    }
    self.values = values
  }

  /// JSON booleans arrive as NSNumbers, so `is Bool` cannot tell `true` from `1`; their type code can.
  private static func isBoolean(_ value: Any) -> Bool {
    guard let number = value as? NSNumber else { return false }
    return String(cString: number.objCType) == "c"
  }

  private static func isFloatingPoint(_ number: NSNumber) -> Bool {
    let code = String(cString: number.objCType)
    return code == "d" || code == "f"
  }

  private static func check(_ value: Any, as type: ValueType, key: String, path: String) throws -> Value {
    func wrong(_ expected: String) -> TrainingConfigurationError {
      TrainingConfigurationError(path: path, key: key, message: "must be \(expected)")
    }
    let number = isBoolean(value) ? nil : value as? NSNumber
    switch type {
    case .flag:
      guard isBoolean(value), let flag = value as? Bool else { throw wrong("true or false") }
      return .flag(flag)
    case .integer:
      guard let number, let integer = exactInteger(number) else { throw wrong("an integer") }
      return .integer(integer)
    case .unsignedInteger:
      guard let number else { throw wrong("a non-negative integer") }
      if String(cString: number.objCType) == "Q" { return .unsignedInteger(number.uint64Value) }
      if isFloatingPoint(number), let exact = UInt64(exactly: number.doubleValue) {
        return .unsignedInteger(exact)
      }
      guard let integer = exactInteger(number), integer >= 0 else { throw wrong("a non-negative integer") }
      return .unsignedInteger(UInt64(integer))
    case .number:
      guard let number, number.doubleValue.isFinite else { throw wrong("a number") }
      return .number(number.doubleValue)
    case .string:
      if let text = value as? String { return .string(text) }
      if let number { return .string(number.stringValue) }
      if let list = value as? [Any] {
        let parts = list.compactMap { isBoolean($0) ? nil : ($0 as? NSNumber).flatMap(exactInteger) }
        if parts.count == list.count { return .string(parts.map(String.init).joined(separator: ",")) }
      }
      throw wrong("a string")
    }
  }

  /// The integer a JSON number holds, or nil for fractions and values beyond `Int`.
  private static func exactInteger(_ number: NSNumber) -> Int? {
    switch String(cString: number.objCType) {
    case "d", "f": return Int(exactly: number.doubleValue)
    case "Q": return number.uint64Value <= UInt64(Int.max) ? Int(number.uint64Value) : nil
    default: return Int(number.int64Value)
    }
  }

  /// The keys the file sets, sorted (with dashes, whatever spelling the file used).
  public var keys: [String] { values.keys.sorted() }

  /// The value set for `key`, or the table's default.
  private func value(_ key: String) -> Value? {
    values[key] ?? TrainingOption.all.first { $0.key == key }?.defaultValue
  }

  /// A `.string` key's value (set or default).
  public func string(_ key: String) -> String? {
    if case .string(let text)? = value(key) { return text }
    return nil
  }

  /// An `.integer` key's value (set or default).
  public func int(_ key: String) -> Int? {
    if case .integer(let value)? = value(key) { return value }
    return nil
  }

  /// An `.unsignedInteger` key's value (set or default).
  public func uint64(_ key: String) -> UInt64? {
    if case .unsignedInteger(let value)? = value(key) { return value }
    return nil
  }

  /// A `.number` key's value (set or default).
  public func double(_ key: String) -> Double? {
    if case .number(let value)? = value(key) { return value }
    return nil
  }

  /// A `.number` key's value rounded to Float (infinite when beyond Float's range).
  public func float(_ key: String) -> Float? { double(key).map(Float.init) }

  /// A `.flag` key's value; false when absent.
  public func bool(_ key: String) -> Bool {
    if case .flag(let value)? = value(key) { return value }
    return false
  }
}
