import Foundation

/// What a trained weights file says about its model, kept in the safetensors `__metadata__` map
/// under `cnnkit.*` keys beside PyTorch's `format: pt`: the model's name, class count and names,
/// input size and the normalisation it was trained with. `eval`, `predict` and `forward` use these
/// when no flag says otherwise, so a model trained on an ImageFolder predicts its own class names.
public struct ModelMetadata: Equatable, Sendable {
  /// The zoo name (or model file) the weights belong to.
  public var model: String?
  /// Output classes.
  public var classes: Int?
  /// One name per class, in label order.
  public var classNames: [String]?
  /// The input size `[C, H, W]`.
  public var input: [Int]?
  /// The normalisation its inputs had.
  public var normalize: Normalize?

  static let keys = (
    model: "cnnkit.model", classes: "cnnkit.classes", classNames: "cnnkit.class_names",
    input: "cnnkit.input", normalize: "cnnkit.normalize"
  )

  /// Metadata with the given fields.
  public init(
    model: String? = nil, classes: Int? = nil, classNames: [String]? = nil, input: [Int]? = nil,
    normalize: Normalize? = nil
  ) {
    self.model = model
    self.classes = classes
    self.classNames = classNames
    self.input = input
    self.normalize = normalize
  }

  /// Reads the fields from a `__metadata__` map; `path` names the file in errors. A field that is
  /// present but malformed is an error rather than silently ignored.
  public init(metadata: [String: String], path: String) throws {
    func bad(_ key: String, _ reason: String) -> SafeTensorsError {
      SafeTensorsError.badHeader(path: path, reason: "metadata \(key): \(reason)")
    }
    model = metadata[Self.keys.model]
    if let text = metadata[Self.keys.classes] {
      guard let count = Int(text), count >= 1 else {
        throw bad(Self.keys.classes, "'\(text)' is not a class count")
      }
      classes = count
    }
    if let text = metadata[Self.keys.classNames] {
      guard let names = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String] else {
        throw bad(Self.keys.classNames, "not a JSON list of strings")
      }
      classNames = names
    }
    if let text = metadata[Self.keys.input] {
      let parts = text.split(separator: ",").compactMap { Int($0) }
      guard parts.count == 3, parts.allSatisfy({ $0 >= 1 }) else {
        throw bad(Self.keys.input, "'\(text)' is not C,H,W")
      }
      input = parts
    }
    if let text = metadata[Self.keys.normalize] {
      do {
        normalize = try Normalize(parsing: text)
      } catch {
        throw bad(Self.keys.normalize, "\(error)")
      }
    }
    if let classes, let classNames, classNames.count != classes {
      throw bad(Self.keys.classNames, "\(classNames.count) names for \(classes) classes")
    }
  }

  /// The metadata of the safetensors file at `path` (empty fields for a plain state dict).
  public static func read(from path: String) throws -> ModelMetadata {
    let file = try SafeTensorsFile(path: path)
    return try ModelMetadata(metadata: file.metadata, path: path)
  }

  /// The `__metadata__` entries for these fields.
  public var entries: [String: String] {
    var result: [String: String] = [:]
    result[Self.keys.model] = model
    result[Self.keys.classes] = classes.map(String.init)
    if let classNames, let json = try? JSONSerialization.data(withJSONObject: classNames) {
      result[Self.keys.classNames] = String(decoding: json, as: UTF8.self)
    }
    result[Self.keys.input] = input.map { $0.map(String.init).joined(separator: ",") }
    result[Self.keys.normalize] = normalize?.text
    return result
  }
}
