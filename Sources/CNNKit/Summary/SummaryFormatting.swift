import Foundation

/// The table layouts `cnnkit summary` can print.
public enum SummaryFormat: String, CaseIterable, Sendable {
  /// sksq96/pytorch-summary's `summary(model, (C, H, W))`.
  case torchsummary
  /// TylerYep/torchinfo's `summary(model, input_size=(N, C, H, W))` with its default columns.
  case torchinfo
  /// Keras' `model.summary()` for the equivalent channels-last Keras model (see `KerasReport.Layout`).
  case keras
}

extension ModelTrace {
  /// Renders this trace in `format` with that tool's defaults.
  ///
  /// `batchSize` is torchsummary's `batch_size` argument (−1 prints as `-1` and sizes count one
  /// sample); torchinfo and Keras take the batch from the traced input shape. The Keras table uses
  /// `kerasLayout`, numbers layers as `kerasNaming` says (by default as that layout's Keras did) and
  /// names the model `modelName` (by default the snake-cased model type).
  public func summary(
    _ format: SummaryFormat, batchSize: Int = -1, depth: Int = 3, kerasLayout: KerasReport.Layout = .tf2,
    kerasNaming: KerasReport.Naming? = nil, modelName: String? = nil
  ) -> String {
    switch format {
    case .torchsummary: return TorchsummaryReport(trace: self, batchSize: batchSize).text
    case .torchinfo: return TorchinfoReport(trace: self, depth: depth).text
    case .keras:
      let report = KerasReport(
        trace: self, naming: kerasNaming ?? kerasLayout.defaultNaming, modelName: modelName)
      return report.text(layout: kerasLayout)
    }
  }
}

/// String helpers shared by the summary renderers; each mirrors one Python formatting rule.
enum SummaryText {
  /// Python's `"{:,}".format(n)`: 61100840 → `61,100,840`.
  static func grouped(_ n: Int) -> String {
    let digits = Array(String(n.magnitude))
    var out = n < 0 ? "-" : ""
    for (i, digit) in digits.enumerated() {
      if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
      out.append(digit)
    }
    return out
  }

  /// Python's `"%0.2f" % x` (both round the exact binary value half-to-even).
  static func fixed2(_ x: Double) -> String { String(format: "%.2f", x) }

  /// Display width as Python's `len` counts it (code points), so box-drawing characters count once.
  static func width(_ s: String) -> Int { s.unicodeScalars.count }

  /// Python's `"{:>w}"`: right-aligned, never truncated.
  static func right(_ s: String, _ w: Int) -> String {
    String(repeating: " ", count: max(0, w - width(s))) + s
  }

  /// Python's `"{:<w}"`: left-aligned, never truncated.
  static func left(_ s: String, _ w: Int) -> String {
    s + String(repeating: " ", count: max(0, w - width(s)))
  }

  /// Python's `str(list)`: `[1, 64, 55, 55]`.
  static func list(_ dims: [Int]) -> String {
    "[" + dims.map(String.init).joined(separator: ", ") + "]"
  }

  /// Python's `str(tuple)`: `(None, 55)`, and `(None,)` for one element.
  static func tuple(_ items: [String]) -> String {
    items.count == 1 ? "(\(items[0]),)" : "(" + items.joined(separator: ", ") + ")"
  }

  /// Keras' `to_snake_case`: `MaxPooling2D` → `max_pooling2d`, `AlexNet` → `alex_net`, `ReLU` → `re_lu`.
  static func snakeCase(_ name: String) -> String {
    let chars = Array(name)
    func upper(_ c: Character) -> Bool { c.isASCII && c.isUppercase }
    func lowerOrDigit(_ c: Character) -> Bool { c.isASCII && (c.isLowercase || c.isNumber) }
    // Pass 1: `(.)([A-Z][a-z0-9]+)` → `\1_\2`, matched left to right without overlap.
    var pass1: [Character] = []
    var i = 0
    while i < chars.count {
      if i + 2 < chars.count, upper(chars[i + 1]), lowerOrDigit(chars[i + 2]) {
        var end = i + 3
        while end < chars.count, lowerOrDigit(chars[end]) { end += 1 }
        pass1.append(chars[i])
        pass1.append("_")
        pass1.append(contentsOf: chars[(i + 1)..<end])
        i = end
      } else {
        pass1.append(chars[i])
        i += 1
      }
    }
    // Pass 2: `([a-z])([A-Z])` → `\1_\2`.
    var out = ""
    for (j, c) in pass1.enumerated() {
      if j > 0, upper(c), pass1[j - 1].isASCII, pass1[j - 1].isLowercase { out.append("_") }
      out.append(c)
    }
    let lowered = out.lowercased()
    return lowered.hasPrefix("_") ? "private" + lowered : lowered
  }

  /// `96 × 55 × 55` for a shape without its batch dimension.
  static func dims(_ shape: [Int]) -> String {
    shape.map(String.init).joined(separator: " × ")
  }

  /// A share as a percentage with one decimal: `61.8%`.
  static func percent(_ part: Int, of whole: Int) -> String {
    whole == 0 ? "0.0%" : String(format: "%.1f%%", Double(part) / Double(whole) * 100)
  }
}

extension Module {
  /// Elements of the parameters named `weight` and `bias` (what torchsummary reads).
  var weightAndBiasCount: Int {
    ownParameters.filter { $0.name == "weight" || $0.name == "bias" }.reduce(0) { $0 + $1.tensor.count }
  }

  /// Elements of all parameters of this module and its descendants, and how many of them train.
  /// A tensor shared by two submodules counts once, as PyTorch's `named_parameters()` dedupes.
  var recursiveParameterCounts: (total: Int, trainable: Int) {
    var seen = Set<ObjectIdentifier>()
    var total = 0
    var trainable = 0
    for (_, tensor) in namedParameters() where seen.insert(ObjectIdentifier(tensor)).inserted {
      total += tensor.count
      if tensor.requiresGrad { trainable += tensor.count }
    }
    return (total, trainable)
  }

  /// Whether the module has no child modules (torchinfo's "leaf layer").
  var isLeafModule: Bool { namedChildren.isEmpty }
}
