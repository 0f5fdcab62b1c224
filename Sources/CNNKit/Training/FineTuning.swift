/// Starting a run from trained weights, as a PyTorch user fine-tunes a torchvision model: load
/// everything but a head of another class count, freeze some layers, train the rest.
public enum FineTuning {
  /// Errors of fine-tuning setups; each names what is at fault.
  public enum FineTuningError: Error, Equatable, CustomStringConvertible {
    /// A freeze prefix names no parameter.
    case unknownPrefix(String, known: [String])
    /// Every parameter is frozen: nothing would train.
    case nothingToTrain

    public var description: String {
      switch self {
      case .unknownPrefix(let prefix, let known):
        return
          "freeze prefix '\(prefix)' matches no parameter (top-level modules: \(known.joined(separator: ", ")))"
      case .nothingToTrain: return "every parameter is frozen; nothing would be trained"
      }
    }
  }

  /// The model's classification head: the name of its last `Linear` layer (`classifier.6`, `fc`).
  public static func headName(of model: Module) -> String? {
    model.namedModules().last { $0.module is Linear }?.name
  }

  /// The class count of the head in `file`, read from the shape of `<head>.weight`.
  public static func classCount(in file: SafeTensorsFile, head: String) -> Int? {
    file.entries.first { $0.name == head + ".weight" && $0.shape.count == 2 }?.shape[0]
  }

  /// Loads weights (a state dict or a training checkpoint) into `model` strictly, except that a
  /// head whose shape differs is left as initialised: the new head of a fine-tuning run. Returns the
  /// head's name when it was replaced. Anything else that does not match throws
  /// `StateDictMismatch`, and nothing is loaded.
  public static func loadWeights(from path: String, into model: Module) throws -> String? {
    do {
      try Checkpoint.loadWeights(from: path, into: model, strict: true)
      return nil
    } catch let mismatch as StateDictMismatch {
      guard let head = headName(of: model), onlyHeadDiffers(mismatch, head: head) else { throw mismatch }
      try Checkpoint.loadWeights(from: path, into: model, strict: false)
      return head
    }
  }

  /// The weights' class count when a strict load failed only because the head's shape differs
  /// (to suggest the class count that fits), else nil.
  public static func headClassCount(of mismatch: StateDictMismatch, model: Module) -> Int? {
    guard let head = headName(of: model), onlyHeadDiffers(mismatch, head: head),
      let file = try? SafeTensorsFile(path: mismatch.path)
    else { return nil }
    return classCount(in: file, head: head)
  }

  private static func onlyHeadDiffers(_ mismatch: StateDictMismatch, head: String) -> Bool {
    guard mismatch.missing.isEmpty, mismatch.unexpected.isEmpty, !mismatch.shapeMismatches.isEmpty else {
      return false
    }
    // Each entry reads "name: model [..] vs file [..]".
    let names = mismatch.shapeMismatches.map { $0.prefix { $0 != ":" } }
    return names.allSatisfy { $0 == head + ".weight" || $0 == head + ".bias" }
  }

  /// Stops the parameters under each prefix from training (`requiresGrad = false`; the optimiser
  /// then leaves them out). A prefix matches whole name components: `features` covers
  /// `features.0.weight`, not `features2.weight`. Returns the frozen parameters' names.
  @discardableResult
  public static func freeze(_ model: Module, prefixes: [String]) throws -> [String] {
    let parameters = model.namedParameters()
    var frozen: [String] = []
    for raw in prefixes {
      let prefix = raw.hasSuffix(".") ? String(raw.dropLast()) : raw
      let matches = parameters.filter { $0.name == prefix || $0.name.hasPrefix(prefix + ".") }
      guard !matches.isEmpty else {
        var known: [String] = []
        for name in parameters.map({ String($0.name.prefix { $0 != "." }) }) where !known.contains(name) {
          known.append(name)
        }
        throw FineTuningError.unknownPrefix(raw, known: known)
      }
      for (name, tensor) in matches where tensor.requiresGrad {
        tensor.requiresGrad = false
        frozen.append(name)
      }
    }
    if parameters.allSatisfy({ !$0.tensor.requiresGrad }) { throw FineTuningError.nothingToTrain }
    return frozen
  }
}
