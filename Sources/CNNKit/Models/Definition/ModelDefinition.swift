// Models as data: a JSON file that writes a network the way `nn.Sequential` code or a Keras
// `Sequential` does, layer by layer, read into a tree of checked layer specifications. Building
// (shapes, channel inference, modules) is in DefinedModule.swift; the schema is in README's
// "Model files" section.

import Foundation

/// A mistake in a model-definition file: the message names the file, the line and the key.
public struct ModelDefinitionError: Error, Equatable, CustomStringConvertible {
  /// The file.
  public let path: String
  /// Line of the value at fault (from 1), when known.
  public let line: Int?
  /// Where in the file, as a key path (`layers[3].kernel_size`), when it applies.
  public let key: String?
  /// What is wrong.
  public let message: String

  public var description: String {
    let place = line.map { "\(path):\($0)" } ?? path
    guard let key else { return "\(place): \(message)" }
    return "\(place): \(key): \(message)"
  }
}

/// One layer of a model file, checked: what it is, what it is called and where it was written.
struct LayerSpec {
  /// How a layer takes part in its parent's forward pass.
  enum Role {
    /// A registered child module, as `self.conv1 = nn.Conv2d(...)` or an `nn.Sequential` entry.
    case module
    /// A call with no module behind it, as `F.relu(x)` or `x.view(...)`: no state-dict keys and no
    /// summary row.
    case functional
  }

  /// A count that is either written out or is the model's class count (`"classes"`).
  enum Count {
    case fixed(Int)
    case classes
  }

  indirect enum Kind {
    case conv(
      inChannels: Int?, outChannels: Count, kernel: (Int, Int), stride: (Int, Int), padding: Padding,
      dilation: (Int, Int), groups: Int, bias: Bool)
    case linear(inFeatures: Int?, outFeatures: Count, bias: Bool)
    case relu
    case dropout(Float)
    case softmax(logarithm: Bool)
    case flatten(startDim: Int)
    case maxPool(kernel: Int, stride: Int?, padding: Int, ceilMode: Bool)
    case avgPool(kernel: Int, stride: Int?, padding: Int, ceilMode: Bool, countIncludePad: Bool)
    case adaptiveAvgPool((Int, Int))
    case batchNorm(features: Int?, eps: Float, momentum: Float)
    case localResponseNorm(size: Int, alpha: Float, beta: Float, k: Float, convention: LRNConvention)
    case channelPad(outChannels: Int, stride: Int)
    /// Children run in order; `typeName` is the class summaries show (`Sequential` is a container).
    case sequence(typeName: String, layers: [LayerSpec])
    /// `after(body(x) + shortcut(x))`; a nil shortcut is the identity.
    case residual(typeName: String, body: [LayerSpec], shortcut: LayerSpec?, after: [LayerSpec])
    /// Calls an earlier sibling module again (torchvision's blocks call one `relu` twice).
    case call(String)
  }

  /// Padding written as sizes or as Keras' words.
  enum Padding {
    case sizes(Int, Int)
    /// Keras' `'same'`: output size ⌈input / stride⌉, which needs (kernel − 1)/2 on each side.
    case same
  }

  /// The child name (`conv1`, or the index in its list when the file gives none).
  let name: String
  let role: Role
  let kind: Kind
  /// The key path of the entry, for errors.
  let keyPath: String
  let line: Int
  /// N(0, std²) weights instead of PyTorch's default, and a constant bias (the AlexNet paper's).
  let initStd: Float?
  let initBias: Float?

  /// This layer under another child name (nil keeps its own).
  func named(_ newName: String?) -> LayerSpec {
    guard let newName else { return self }
    return LayerSpec(
      name: newName, role: role, kind: kind, keyPath: keyPath, line: line, initStd: initStd,
      initBias: initBias)
  }
}

/// A network read from a model-definition file (JSON): its layers, natural input, class count and
/// initialisation. `build` makes the `Module`; `zooEntry` lets it stand wherever a zoo name does.
public struct ModelDefinition {
  /// How the weights are first drawn.
  public enum Initialisation: String, CaseIterable, Sendable {
    /// PyTorch's defaults for every layer (kaiming-uniform-style U(−1/√fan_in, 1/√fan_in)).
    case pytorch
    /// torchvision's VGG/ResNet scheme: Kaiming fan-out for convolutions, N(0, 0.01) for Linear.
    case torchvision
    /// `kaiming_normal_` with PyTorch's defaults (fan-in) on convolutions and Linear weights, as
    /// the CIFAR ResNets of akamaster do.
    case kaimingFanIn = "kaiming-fan-in"
  }

  /// The file read.
  public let path: String
  /// The name `cnnkit` reports for the model (the file's `name`, else its file name without `.json`).
  public let name: String
  /// The class name summaries show for the whole model (`Net`, `AlexNet`).
  public let className: String
  /// One line about the model.
  public let summary: String
  /// The natural input (C, H, W).
  public let input: [Int]
  /// The class count `"classes"` stands for unless another is asked for; nil when the file writes
  /// every size out.
  public let classes: Int?
  /// How weights are initialised.
  public let initialisation: Initialisation
  let layers: [LayerSpec]

  /// Files above this size are refused unread (VGG-19 written out is a few kilobytes).
  public static let maximumFileBytes = 1 << 20

  /// Most weights one layer may hold (2³⁰, 4 GiB of fp32): a typo such as an extra zero in a width
  /// is reported rather than exhausting memory.
  public static let maximumLayerWeights = 1 << 30

  /// Whether a model reference names a file rather than a zoo model: it ends in `.json` or has a `/`.
  public static func isFileReference(_ reference: String) -> Bool {
    reference.lowercased().hasSuffix(".json") || reference.contains("/")
  }

  /// Reads and checks the file at `path`.
  public init(path: String) throws {
    let bytes: [UInt8]
    do {
      bytes = try readFileContents(path: path, maximumBytes: Self.maximumFileBytes)
    } catch DataError.unreadable(_, let reason) {
      throw ModelDefinitionError(
        path: path, line: nil, key: nil, message: "cannot read the model file: \(reason)")
    } catch DataError.corrupt(_, let reason) {
      throw ModelDefinitionError(path: path, line: nil, key: nil, message: reason)
    } catch {
      throw ModelDefinitionError(path: path, line: nil, key: nil, message: "\(error)")
    }
    try self.init(json: bytes, path: path)
  }

  /// Checks a model file's contents held in memory; `path` names it in errors and gives the default
  /// name.
  public init(json: [UInt8], path: String = "<memory>") throws {
    self.path = path
    let root: JSONNode
    do {
      root = try JSONDocument.parse(json)
    } catch let error as JSONSyntaxError {
      throw ModelDefinitionError(
        path: path, line: error.line, key: nil,
        message: "not valid JSON (column \(error.column)): \(error.reason)")
    }
    let reader = SpecReader(path: path)
    let top = try reader.object(root, at: "", keys: Self.topKeys, what: "a model file")
    let stem = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
    name = try top["name"].map { try reader.text($0, at: "name") } ?? stem
    className = try top["class"].map { try reader.identifier($0, at: "class") } ?? "Net"
    summary = try top["description"].map { try reader.text($0, at: "description") } ?? "model file \(path)"
    guard let inputNode = top["input"] else { throw reader.missing("input", in: root, at: "") }
    input = try reader.sizes(inputNode, at: "input", count: 3)
    classes = try top["classes"].map { try reader.positive($0, at: "classes") }
    if let word = top["init"] {
      let text = try reader.text(word, at: "init")
      guard let scheme = Initialisation(rawValue: text) else {
        throw reader.error(
          word, "init", "must be one of \(Initialisation.allCases.map(\.rawValue).joined(separator: ", "))")
      }
      initialisation = scheme
    } else {
      initialisation = .pytorch
    }
    guard let layerList = top["layers"] else { throw reader.missing("layers", in: root, at: "") }
    layers = try reader.layerList(layerList, at: "layers")
    guard !layers.isEmpty else { throw reader.error(layerList, "layers", "must list at least one layer") }
    if classes == nil, Self.usesClasses(layers) {
      throw reader.error(
        root, nil, "a layer's size is \"classes\" but the file sets no top-level \"classes\"")
    }
  }

  private static let topKeys: Set<String> = [
    "name", "class", "description", "input", "classes", "init", "layers",
  ]

  /// Whether any layer's size is `"classes"`.
  static func usesClasses(_ layers: [LayerSpec]) -> Bool {
    layers.contains { spec in
      switch spec.kind {
      case .conv(_, .classes, _, _, _, _, _, _), .linear(_, .classes, _): return true
      case .sequence(_, let children): return usesClasses(children)
      case .residual(_, let body, let shortcut, let after):
        return usesClasses(body + (shortcut.map { [$0] } ?? []) + after)
      default: return false
      }
    }
  }
}

/// Reads JSON nodes into layer specifications, naming the file, line and key path in every error.
struct SpecReader {
  let path: String

  func error(_ node: JSONNode, _ key: String?, _ message: String) -> ModelDefinitionError {
    ModelDefinitionError(path: path, line: node.line, key: key?.isEmpty == true ? nil : key, message: message)
  }

  func missing(_ key: String, in node: JSONNode, at keyPath: String) -> ModelDefinitionError {
    error(node, keyPath, "needs a \"\(key)\" key")
  }

  /// An object's members by key, refusing keys outside `keys` (with a suggestion).
  func object(_ node: JSONNode, at keyPath: String, keys: Set<String>, what: String) throws
    -> [String: JSONNode]
  {
    guard let members = node.members else { throw error(node, keyPath, "\(what) must be a JSON object") }
    var result: [String: JSONNode] = [:]
    for (key, value) in members {
      guard keys.contains(key) else {
        let hint = closestName(to: key, among: Array(keys)).map { " (did you mean '\($0)'?)" } ?? ""
        throw error(
          value, join(keyPath, key),
          "unknown key for \(what)\(hint); known: \(keys.sorted().joined(separator: ", "))")
      }
      result[key] = value
    }
    return result
  }

  func join(_ keyPath: String, _ key: String) -> String { keyPath.isEmpty ? key : keyPath + "." + key }

  func text(_ node: JSONNode, at key: String) throws -> String {
    guard let text = node.string else { throw error(node, key, "must be a string") }
    return text
  }

  /// A class or child name: letters, digits and `_`, not starting with a digit unless all digits.
  func identifier(_ node: JSONNode, at key: String) throws -> String {
    let name = try text(node, at: key)
    let allowed = name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
    guard !name.isEmpty, name.count <= 64, allowed else {
      throw error(
        node, key,
        "must be 1 to 64 letters, digits or '_' (it becomes part of state-dict keys), got '\(name)'")
    }
    return name
  }

  func integer(_ node: JSONNode, at key: String, minimum: Int) throws -> Int {
    guard let value = node.integer, value >= minimum, value <= 1 << 24 else {
      throw error(node, key, "must be an integer from \(minimum) to \(1 << 24)")
    }
    return value
  }

  func positive(_ node: JSONNode, at key: String) throws -> Int {
    try integer(node, at: key, minimum: 1)
  }

  /// `count` positive integers in a list.
  func sizes(_ node: JSONNode, at key: String, count: Int) throws -> [Int] {
    guard let elements = node.elements, elements.count == count else {
      throw error(node, key, "must be a list of \(count) positive integers")
    }
    var result: [Int] = []
    for element in elements { result.append(try positive(element, at: key)) }
    return result
  }

  /// An integer or a [height, width] pair, each at least `minimum`.
  func pair(_ node: JSONNode, at key: String, minimum: Int) throws -> (Int, Int) {
    if node.integer != nil {
      let value = try integer(node, at: key, minimum: minimum)
      return (value, value)
    }
    guard let elements = node.elements, elements.count == 2 else {
      throw error(node, key, "must be an integer or a [height, width] pair")
    }
    return (
      try integer(elements[0], at: key, minimum: minimum), try integer(elements[1], at: key, minimum: minimum)
    )
  }

  func number(_ node: JSONNode, at key: String, range: ClosedRange<Double>) throws -> Float {
    guard let value = node.number, range.contains(value) else {
      throw error(node, key, "must be a number from \(range.lowerBound) to \(range.upperBound)")
    }
    return Float(value)
  }

  func flag(_ node: JSONNode, at key: String) throws -> Bool {
    guard let value = node.bool else { throw error(node, key, "must be true or false") }
    return value
  }

  func count(_ node: JSONNode, at key: String) throws -> LayerSpec.Count {
    if node.string == "classes" { return .classes }
    guard node.integer != nil else { throw error(node, key, "must be a positive integer or \"classes\"") }
    return .fixed(try positive(node, at: key))
  }

  /// A list of layers; children without a `name` are called by their index, as in `nn.Sequential`.
  func layerList(_ node: JSONNode, at keyPath: String) throws -> [LayerSpec] {
    guard let elements = node.elements else { throw error(node, keyPath, "must be a list of layers") }
    var specs: [LayerSpec] = []
    var names = Set<String>()
    for (index, element) in elements.enumerated() {
      let spec = try layer(element, at: "\(keyPath)[\(index)]", index: index)
      if spec.role == .module, case .call = spec.kind {
      } else if spec.role == .module, !names.insert(spec.name).inserted {
        throw error(
          element, "\(keyPath)[\(index)].name", "'\(spec.name)' names an earlier layer of the same list")
      }
      specs.append(spec)
    }
    return specs
  }
}
