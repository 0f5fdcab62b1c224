import Foundation

/// The arithmetic behind every row of a summary, written out the way study notes do it by hand:
/// `(227 − 11 + 2·0)/4 + 1 = 55`, `(11·11·3 + 1)·96 = 34,944`, `(9216 + 1)·4096 = 37,752,832`,
/// followed by where the parameters and the multiply-accumulates concentrate.
///
/// Notation: `−` and `·` as on paper; a `/g` in a conv's fan-in shows its groups; `⌊ ⌋` marks a
/// division that PyTorch rounds down (`⌈ ⌉` in ceil mode). MACs are per sample, without bias.
public struct LayerExplanation {
  /// The explanation of one call.
  public struct Entry {
    /// Dotted path of the module (`features.0`).
    public let path: String
    /// `Conv2d(3, 96, kernel_size=(11, 11), stride=(4, 4))`.
    public let heading: String
    /// The arithmetic, one statement per line.
    public let lines: [String]
  }

  /// One entry per call of a non-container module (the model itself only when it is a single layer).
  public let entries: [Entry]
  /// Closing lines: parameter and MAC shares by layer kind, and the biggest layer.
  public let concentration: [String]
  /// Input shape, batch included.
  public let inputShape: [Int]

  /// Explains every layer call of `trace`.
  public init(trace: ModelTrace) {
    inputShape = trace.inputShape
    let batch = max(trace.inputShape.first ?? 1, 1)
    var entries: [Entry] = []
    var seen = Set<ObjectIdentifier>()
    var lastLeafOutput: [Int]? = nil
    // Parameters and MACs per module (each module once), for the closing shares.
    var kinds: [(module: Module, path: String, parameters: Int)] = []
    var macsByKind: [String: Int] = [:]
    for call in trace.calls
    where !call.module.isContainer && (call.module !== trace.model || call.module.isLeafModule) {
      let module = call.module
      var lines: [String] = []
      if !seen.insert(ObjectIdentifier(module)).inserted {
        lines.append(
          module.ownParameters.isEmpty
            ? "called again (the same module)" : "called again (the same module): its parameters count once")
      } else {
        kinds.append((module, call.path, module.ownParameters.reduce(0) { $0 + $1.tensor.count }))
      }
      macsByKind[Self.kind(of: module), default: 0] += call.multiplyAccumulates
      if module.isLeafModule, let last = lastLeafOutput, last != call.inputShape,
        last.count > call.inputShape.count,
        last.reduce(1, *) == call.inputShape.reduce(1, *)
      {
        let factors = last.dropFirst().map(String.init).joined(separator: "·")
        lines.append(
          "input flattened in forward(): \(factors) = \(SummaryText.grouped(call.inputShape.last ?? 0))")
      }
      lines += Self.arithmetic(call, batch: batch)
      if module.isLeafModule { lastLeafOutput = call.outputShape }
      let name = call.path.isEmpty ? module.typeName : call.path
      entries.append(
        Entry(path: name, heading: "\(module.typeName)(\(module.extraDescription))", lines: lines))
    }
    self.entries = entries
    concentration = Self.concentration(kinds, macsByKind: macsByKind, batch: batch)
  }

  /// The rendered explanation (ending in a newline).
  public var text: String {
    let sample = SummaryText.dims(Array(inputShape.dropFirst()))
    var out = "Layer arithmetic for input \(sample) (MACs per sample):\n"
    for e in entries {
      out += "\n\(e.path): \(e.heading)\n"
      for line in e.lines { out += "  \(line)\n" }
    }
    out += "\n" + concentration.joined(separator: "\n") + "\n"
    return out
  }

  // MARK: - Per-layer arithmetic

  static func kind(of module: Module) -> String {
    switch module {
    case is Conv2d: return "convolutions"
    case is Linear: return "fully connected"
    case is BatchNorm2d: return "batch norm"
    default: return "other layers"
    }
  }

  /// `(227 − 11 + 2·0)/4 + 1 = 55`, with dilation and rounding written out when they matter.
  static func sizeFormula(
    input: Int, kernel: Int, stride: Int, padding: Int, dilation: Int = 1, showZeroPadding: Bool,
    ceilMode: Bool = false, actual: Int
  ) -> String {
    let kernelText = dilation == 1 ? "\(kernel)" : "(\(dilation)·(\(kernel) − 1) + 1)"
    let paddingText = showZeroPadding || padding != 0 ? " + 2·\(padding)" : ""
    let expression = "(\(input) − \(kernelText)\(paddingText))/\(stride) + 1"
    let numerator = input - (dilation * (kernel - 1) + 1) + 2 * padding
    if numerator % stride == 0 { return "\(expression) = \(actual)" }
    let exact = String(format: "%.2f", Double(numerator) / Double(stride))
    if ceilMode {
      return "\(expression) = ⌈\(numerator)/\(stride)⌉ + 1 = \(actual) (ceil mode, rounded up from \(exact))"
    }
    return "\(expression) = ⌊\(numerator)/\(stride)⌋ + 1 = \(actual) (rounded down from \(exact))"
  }

  /// Size lines for a 2-D window op: one line when height and width work out alike.
  static func sizeLines(
    call: LayerCall, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int),
    dilation: (Int, Int) = (1, 1),
    showZeroPadding: Bool, ceilMode: Bool = false
  ) -> [String] {
    let input = call.inputShape
    let output = call.outputShape
    guard input.count == 4, output.count == 4 else { return [] }
    let height = sizeFormula(
      input: input[2], kernel: kernel.0, stride: stride.0, padding: padding.0, dilation: dilation.0,
      showZeroPadding: showZeroPadding, ceilMode: ceilMode, actual: output[2])
    let width = sizeFormula(
      input: input[3], kernel: kernel.1, stride: stride.1, padding: padding.1, dilation: dilation.1,
      showZeroPadding: showZeroPadding, ceilMode: ceilMode, actual: output[3])
    let shape = "output: \(SummaryText.dims(Array(output.dropFirst())))"
    return height == width
      ? ["height, width: \(height)", shape] : ["height: \(height)", "width: \(width)", shape]
  }

  static func arithmetic(_ call: LayerCall, batch: Int) -> [String] {
    let module = call.module
    let outputSample = SummaryText.dims(Array(call.outputShape.dropFirst()))
    let macsPerSample = call.multiplyAccumulates / batch
    switch module {
    case let conv as Conv2d:
      var lines = sizeLines(
        call: call, kernel: conv.kernelSize, stride: conv.stride, padding: conv.padding,
        dilation: conv.dilation,
        showZeroPadding: true)
      let fanIn =
        "\(conv.kernelSize.0)·\(conv.kernelSize.1)·\(conv.inChannels)"
        + (conv.groups == 1 ? "" : "/\(conv.groups)")
      let count = SummaryText.grouped(module.ownParameters.reduce(0) { $0 + $1.tensor.count })
      lines.append(
        conv.bias == nil
          ? "parameters: \(fanIn)·\(conv.outChannels) = \(count) (no bias)"
          : "parameters: (\(fanIn) + 1)·\(conv.outChannels) = \(count)")
      let outputFactors = call.outputShape.dropFirst().map(String.init).joined(separator: "·")
      lines.append("MACs: (\(fanIn))·(\(outputFactors)) = \(SummaryText.grouped(macsPerSample))")
      return lines
    case let linear as Linear:
      let count = SummaryText.grouped(module.ownParameters.reduce(0) { $0 + $1.tensor.count })
      return [
        "output: \(outputSample)",
        linear.bias == nil
          ? "parameters: \(linear.inFeatures)·\(linear.outFeatures) = \(count) (no bias)"
          : "parameters: (\(linear.inFeatures) + 1)·\(linear.outFeatures) = \(count)",
        "MACs: \(linear.inFeatures)·\(linear.outFeatures) = \(SummaryText.grouped(macsPerSample))",
      ]
    case let pool as MaxPool2d:
      let k = pool.kernelSize
      return sizeLines(
        call: call, kernel: (k, k), stride: (pool.stride, pool.stride), padding: (pool.padding, pool.padding),
        showZeroPadding: false, ceilMode: pool.ceilMode) + [
          "no parameters: pooling takes a max over each \(k)×\(k) window"
        ]
    case let pool as AvgPool2d:
      let k = pool.kernelSize
      return sizeLines(
        call: call, kernel: (k, k), stride: (pool.stride, pool.stride), padding: (pool.padding, pool.padding),
        showZeroPadding: false, ceilMode: pool.ceilMode) + [
          "no parameters: pooling averages each \(k)×\(k) window"
        ]
    case let pool as AdaptiveAvgPool2d:
      let input = call.inputShape.count == 4 ? "\(call.inputShape[2])×\(call.inputShape[3])" : "input"
      let target = "\(pool.outputSize.0)×\(pool.outputSize.1)"
      let note = input == target ? "; the input is already \(target), so each bin is a single value" : ""
      return [
        "output: \(outputSample)",
        "no parameters: averages the \(input) map into a fixed \(target) grid\(note)",
      ]
    case let norm as BatchNorm2d:
      let c = norm.numFeatures
      return [
        "output: \(outputSample) (shape unchanged)",
        "parameters: 2·C = 2·\(c) = \(SummaryText.grouped(2 * c)) trainable (γ, β) + 2·C = \(SummaryText.grouped(2 * c)) "
          + "running statistics (mean, variance: buffers, not trained)",
        "PyTorch tools count \(SummaryText.grouped(2 * c)); Keras counts \(SummaryText.grouped(4 * c)), "
          + "\(SummaryText.grouped(2 * c)) of them non-trainable",
      ]
    case is ReLU:
      return ["no parameters: max(0, x) elementwise, shape unchanged (\(outputSample))"]
    case let dropout as Dropout:
      return [
        "no parameters: in training zeroes each value with probability \(dropout.p) and scales the rest by "
          + "1/(1 − p); identity at inference"
      ]
    case is Flatten:
      let factors = call.inputShape.dropFirst().map(String.init).joined(separator: "·")
      return ["no parameters: \(factors) = \(SummaryText.grouped(call.outputShape.last ?? 0)) features"]
    case let lrn as LocalResponseNorm:
      let alpha = lrn.convention == .pytorch ? "α/n" : "α"
      return [
        "no parameters: divides each value by (k + \(alpha)·Σa²)^β over \(lrn.size) neighbouring channels "
          + "(\(outputSample))"
      ]
    case is Softmax:
      return ["no parameters: turns \(call.outputShape.last ?? 0) scores into probabilities"]
    case is LogSoftmax:
      return ["no parameters: turns \(call.outputShape.last ?? 0) scores into log-probabilities"]
    default:
      let own = module.ownParameters.reduce(0) { $0 + $1.tensor.count }
      if !module.isLeafModule {
        return [
          "output: \(outputSample); a block whose layers follow (own parameters: \(SummaryText.grouped(own)))"
        ]
      }
      return [
        "output: \(outputSample)", own == 0 ? "no parameters" : "parameters: \(SummaryText.grouped(own))",
      ]
    }
  }

  // MARK: - Where the parameters are

  static func concentration(
    _ modules: [(module: Module, path: String, parameters: Int)], macsByKind: [String: Int], batch: Int
  ) -> [String] {
    let total = modules.reduce(0) { $0 + $1.parameters }
    var byKind: [String: Int] = [:]
    for m in modules { byKind[kind(of: m.module), default: 0] += m.parameters }
    var lines = ["Where the parameters are (\(SummaryText.grouped(total)) in all):"]
    let order = ["fully connected", "convolutions", "batch norm", "other layers"]
    let kinds = order.filter { (byKind[$0] ?? 0) > 0 }.sorted { byKind[$0]! > byKind[$1]! }
    let width = kinds.map { $0.count }.max() ?? 0
    for k in kinds {
      let padded = k + ":" + String(repeating: " ", count: width - k.count)
      lines.append(
        "  \(padded) \(SummaryText.grouped(byKind[k]!)) (\(SummaryText.percent(byKind[k]!, of: total)))")
    }
    if let biggest = modules.max(by: { $0.parameters < $1.parameters }), biggest.parameters > 0 {
      lines.append(
        "  biggest layer: \(biggest.path) \(biggest.module.typeName) with "
          + "\(SummaryText.grouped(biggest.parameters)) (\(SummaryText.percent(biggest.parameters, of: total)) of all)"
      )
    }
    let macs = macsByKind.values.reduce(0, +)
    if macs > 0 {
      let shares = order.filter { (macsByKind[$0] ?? 0) > 0 }.sorted { macsByKind[$0]! > macsByKind[$1]! }
        .map { "\($0) \(SummaryText.percent(macsByKind[$0]!, of: macs))" }
      lines.append(
        "Where the work is (\(SummaryText.grouped(macs / batch)) MACs per sample): "
          + shares.joined(separator: ", "))
    }
    return lines
  }
}
