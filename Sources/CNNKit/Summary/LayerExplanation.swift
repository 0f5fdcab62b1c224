import Foundation

/// The arithmetic behind every row of a summary, written out the way study notes do it by hand:
/// `(227 − 11 + 2·0)/4 + 1 = 55`, `(11·11·3 + 1)·96 = 34,944`, `(9216 + 1)·4096 = 37,752,832`,
/// followed by where the parameters and the multiply-accumulates concentrate.
///
/// Notation: `−` and `·` as on paper; a `/g` in a conv's fan-in shows its groups; `⌊ ⌋` marks a
/// division that PyTorch rounds down (`⌈ ⌉` in ceil mode). MACs are per sample, without bias.
///
/// The prose comes in English or Korean (`Language`); the arithmetic is the same in both. With a
/// Keras numbering the rows carry the names the Keras table prints (`conv2d_1`), an activation Keras
/// folds into its conv or dense layer is shown under that layer, and BatchNorm is counted as Keras
/// counts it.
public struct LayerExplanation {
  /// The explanation of one call.
  public struct Entry {
    /// The row's label: the module's dotted path (`features.0`), or the Keras layer name (`conv2d_1`)
    /// when the explanation follows a Keras table.
    public let path: String
    /// `Conv2d(3, 96, kernel_size=(11, 11), stride=(4, 4))`.
    public let heading: String
    /// The arithmetic, one statement per line.
    public let lines: [String]
  }

  /// One entry per call of a non-container module (the model itself only when it is a single layer).
  public let entries: [Entry]
  /// The output-size and parameter formulas in letters, for the kinds of layer the model has.
  public let legend: [String]
  /// Closing lines: parameter and MAC shares by layer kind, and the biggest layer.
  public let concentration: [String]
  /// Input shape, batch included.
  public let inputShape: [Int]
  /// The language of the prose.
  public let language: Language

  /// Explains every layer call of `trace` in `language`. With `kerasNaming`, rows are labelled as
  /// the Keras table numbered that way labels them (pass the numbering the table was printed with).
  public init(trace: ModelTrace, language: Language = .en, kerasNaming: KerasReport.Naming? = nil) {
    inputShape = trace.inputShape
    self.language = language
    let batch = max(trace.inputShape.first ?? 1, 1)
    let keras = kerasNaming.map { KerasReport(trace: trace, naming: $0) }
    let writer = Writer(language: language, keras: keras != nil)
    var entries: [Entry] = []
    var seen = Set<ObjectIdentifier>()
    var lastLeafOutput: [Int]? = nil
    // Parameters and MACs per module (each module once), for the closing shares.
    var counted: [(module: Module, label: String, parameters: Int)] = []
    var macsByKind: [Kind: Int] = [:]
    for (index, call) in trace.calls.enumerated()
    where !call.module.isContainer && (call.module !== trace.model || call.module.isLeafModule) {
      let module = call.module
      let kerasRow = keras.flatMap { report in report.rowOfCall[index].map { report.rows[$0] } }
      let label = kerasRow?.name ?? (call.path.isEmpty ? module.typeName : call.path)
      var lines: [String] = []
      let folded = keras?.foldedCalls.contains(index) ?? false
      if !seen.insert(ObjectIdentifier(module)).inserted {
        lines.append(writer.say(.calledAgain(ownsParameters: !module.ownParameters.isEmpty)))
      } else {
        // A Keras row's count includes BatchNorm's moving statistics; a folded activation adds nothing
        // to the row it shares.
        let layer = kerasRow.map { "\($0.name) (\($0.className))" } ?? "\(label) \(module.typeName)"
        let parameters = folded ? 0 : kerasRow?.parameters ?? call.ownParameterCount
        counted.append((module, layer, parameters))
      }
      if folded, let row = kerasRow {
        let activation = module is Softmax ? "softmax" : "relu"
        lines.append(writer.say(.foldedActivation(into: row.name, activation: activation)))
      }
      macsByKind[Self.kind(of: module), default: 0] += call.multiplyAccumulates
      if module.isLeafModule, let last = lastLeafOutput, last != call.inputShape,
        last.count > call.inputShape.count,
        last.reduce(1, *) == call.inputShape.reduce(1, *)
      {
        let factors = last.dropFirst().map(String.init).joined(separator: "·")
        let flattenRow = keras.flatMap { report in
          report.flattenRowBeforeCall[index].map { report.rows[$0].name }
        }
        lines.append(
          "\(writer.say(.flattenedInForward(kerasRow: flattenRow))) \(factors) = "
            + SummaryText.grouped(call.inputShape.last ?? 0))
      }
      lines += writer.arithmetic(call, batch: batch)
      if module.isLeafModule { lastLeafOutput = call.outputShape }
      entries.append(
        Entry(path: label, heading: "\(module.typeName)(\(module.extraDescription))", lines: lines))
    }
    self.entries = entries
    let modules = counted.map(\.module)
    var legend: [String] = []
    if modules.contains(where: { $0 is Conv2d || $0 is MaxPool2d || $0 is AvgPool2d }) {
      legend.append(writer.say(.outputSizeLegend))
    }
    if modules.contains(where: { $0 is Conv2d || $0 is Linear }) {
      legend.append(writer.say(.parameterLegend))
    }
    self.legend = legend
    concentration = writer.concentration(counted, macsByKind: macsByKind, batch: batch)
  }

  /// The rendered explanation (ending in a newline).
  public var text: String {
    let sample = SummaryText.dims(Array(inputShape.dropFirst()))
    var out = language.text(.header(sample: sample)) + "\n"
    for line in legend { out += "  \(line)\n" }
    for e in entries {
      out += "\n\(e.path): \(e.heading)\n"
      for line in e.lines { out += "  \(line)\n" }
    }
    out += "\n" + concentration.joined(separator: "\n") + "\n"
    return out
  }

  static func kind(of module: Module) -> Kind {
    switch module {
    case is Conv2d: return .convolution
    case is Linear: return .fullyConnected
    case is BatchNorm2d: return .batchNorm
    default: return .other
    }
  }

  /// `0.0001`, `0.0005`, `2e-05`: six significant digits hide the float noise of α·n and α/n.
  static func shortDecimal(_ x: Double) -> String { String(format: "%g", x) }
}

/// Writes the lines of one explanation in one language; the arithmetic is built here, the words come
/// from `Language.text(_:)`.
private struct Writer {
  let language: LayerExplanation.Language
  /// Whether the explanation follows a Keras table (BatchNorm then gets Keras' own count explained).
  let keras: Bool

  func say(_ phrase: LayerExplanation.Phrase) -> String { language.text(phrase) }

  // MARK: - Per-layer arithmetic

  /// `(227 − 11 + 2·0)/4 + 1 = 55`, with dilation and rounding written out when they matter.
  func sizeFormula(
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
      return "\(expression) = ⌈\(numerator)/\(stride)⌉ + 1 = \(actual) \(say(.roundedUp(exact: exact)))"
    }
    return "\(expression) = ⌊\(numerator)/\(stride)⌋ + 1 = \(actual) \(say(.roundedDown(exact: exact)))"
  }

  /// Size lines for a 2-D window op: one line when height and width work out alike.
  func sizeLines(
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
    let shape = "\(say(.outputLabel)) \(SummaryText.dims(Array(output.dropFirst())))"
    return height == width
      ? ["\(say(.heightAndWidthLabel)) \(height)", shape]
      : ["\(say(.heightLabel)) \(height)", "\(say(.widthLabel)) \(width)", shape]
  }

  /// `parameters: (11·11·3 + 1)·96 = 34,944`, or without the `+ 1` and marked when there is no bias.
  func parameterLine(fanIn: String, outputs: Int, hasBias: Bool, count: Int) -> String {
    let label = say(.parametersLabel)
    return hasBias
      ? "\(label) (\(fanIn) + 1)·\(outputs) = \(SummaryText.grouped(count))"
      : "\(label) \(fanIn)·\(outputs) = \(SummaryText.grouped(count)) \(say(.noBias))"
  }

  func arithmetic(_ call: LayerCall, batch: Int) -> [String] {
    let module = call.module
    let outputSample = SummaryText.dims(Array(call.outputShape.dropFirst()))
    let output = "\(say(.outputLabel)) \(outputSample)"
    let macsPerSample = SummaryText.grouped(call.multiplyAccumulates / batch)
    switch module {
    case let conv as Conv2d:
      var lines = sizeLines(
        call: call, kernel: conv.kernelSize, stride: conv.stride, padding: conv.padding,
        dilation: conv.dilation,
        showZeroPadding: true)
      let fanIn =
        "\(conv.kernelSize.0)·\(conv.kernelSize.1)·\(conv.inChannels)"
        + (conv.groups == 1 ? "" : "/\(conv.groups)")
      lines.append(
        parameterLine(
          fanIn: fanIn, outputs: conv.outChannels, hasBias: conv.bias != nil, count: call.ownParameterCount))
      let outputFactors = call.outputShape.dropFirst().map(String.init).joined(separator: "·")
      lines.append("\(say(.macsLabel)) (\(fanIn))·(\(outputFactors)) = \(macsPerSample)")
      return lines
    case let linear as Linear:
      return [
        output,
        parameterLine(
          fanIn: "\(linear.inFeatures)", outputs: linear.outFeatures, hasBias: linear.bias != nil,
          count: call.ownParameterCount),
        "\(say(.macsLabel)) \(linear.inFeatures)·\(linear.outFeatures) = \(macsPerSample)",
      ]
    case let pool as MaxPool2d:
      let k = pool.kernelSize
      return sizeLines(
        call: call, kernel: (k, k), stride: (pool.stride, pool.stride), padding: (pool.padding, pool.padding),
        showZeroPadding: false, ceilMode: pool.ceilMode) + [say(.maxPool(window: "\(k)×\(k)"))]
    case let pool as AvgPool2d:
      let k = pool.kernelSize
      return sizeLines(
        call: call, kernel: (k, k), stride: (pool.stride, pool.stride), padding: (pool.padding, pool.padding),
        showZeroPadding: false, ceilMode: pool.ceilMode) + [say(.avgPool(window: "\(k)×\(k)"))]
    case let pool as AdaptiveAvgPool2d:
      let input = call.inputShape.count == 4 ? "\(call.inputShape[2])×\(call.inputShape[3])" : "input"
      let target = "\(pool.outputSize.0)×\(pool.outputSize.1)"
      return [output, say(.adaptivePool(input: input, target: target, alreadyThatSize: input == target))]
    case let norm as BatchNorm2d:
      let c = norm.numFeatures
      return [
        "\(output) \(say(.shapeUnchanged))", say(.batchNormParameters(c: c)),
        say(keras ? .batchNormKeras(c: c) : .batchNormToolCounts(c: c)),
      ]
    case is ReLU:
      return [say(.relu(shape: outputSample))]
    case let dropout as Dropout:
      return [say(.dropout(p: pythonFloat(dropout.p)))]
    case is Flatten:
      let factors = call.inputShape.dropFirst().map(String.init).joined(separator: "·")
      return [say(.flatten(factors: factors, features: SummaryText.grouped(call.outputShape.last ?? 0)))]
    case let lrn as LocalResponseNorm:
      return lrnLines(lrn, shape: outputSample)
    case is Softmax:
      return [say(.softmax(classes: call.outputShape.last ?? 0))]
    case is LogSoftmax:
      return [say(.logSoftmax(classes: call.outputShape.last ?? 0))]
    default:
      let own = call.ownParameterCount
      if !module.isLeafModule {
        return [say(.block(shape: outputSample, own: SummaryText.grouped(own)))]
      }
      return [output, own == 0 ? say(.noParameters) : "\(say(.parametersLabel)) \(SummaryText.grouped(own))"]
    }
  }

  /// LRN has no parameters, and its α means two things: PyTorch's `nn.LocalResponseNorm` divides it
  /// by n (`size`) inside, the 2012 AlexNet paper does not. Copying the paper's α into PyTorch (as
  /// notebooks often do) therefore normalises n times more weakly than the paper; these lines say
  /// which α this layer holds and what it is in the other convention.
  func lrnLines(_ lrn: LocalResponseNorm, shape: String) -> [String] {
    // Through the decimal text of the Float, so 1e-4 stays 0.0001 and not 9.99999974737875e-05.
    let alpha = Double(String(lrn.alpha)) ?? Double(lrn.alpha)
    let n = lrn.size
    let paper = lrn.convention == .paper
    let alphaText = LayerExplanation.shortDecimal(alpha)
    return [
      say(
        .lrn(
          size: n, k: LayerExplanation.shortDecimal(Double(lrn.k)), alpha: alphaText,
          beta: LayerExplanation.shortDecimal(Double(String(lrn.beta)) ?? Double(lrn.beta)), shape: shape)),
      say(.lrnConvention(paper: paper, alpha: alphaText, size: n)),
      say(.lrnOtherConvention(paper: paper, size: n)),
      say(
        .lrnConversion(
          paper: paper, alpha: alphaText, size: n,
          times: LayerExplanation.shortDecimal(alpha * Double(n)),
          divided: LayerExplanation.shortDecimal(alpha / Double(n)))),
    ]
  }

  // MARK: - Where the parameters are

  /// Terminal columns: Hangul (and other East Asian wide characters) take two, so the counts after
  /// the kind names line up in Korean too.
  static func columns(_ text: String) -> Int {
    text.unicodeScalars.reduce(0) { width, scalar in
      switch scalar.value {
      case 0x1100...0x115F, 0x2E80...0xA4CF, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFF00...0xFF60:
        return width + 2
      default: return width + 1
      }
    }
  }

  func concentration(
    _ modules: [(module: Module, label: String, parameters: Int)], macsByKind: [LayerExplanation.Kind: Int],
    batch: Int
  ) -> [String] {
    let total = modules.reduce(0) { $0 + $1.parameters }
    var byKind: [LayerExplanation.Kind: Int] = [:]
    for m in modules { byKind[LayerExplanation.kind(of: m.module), default: 0] += m.parameters }
    var lines = [say(.parametersHeading(total: SummaryText.grouped(total)))]
    let order = LayerExplanation.Kind.allCases
    let kinds = order.filter { (byKind[$0] ?? 0) > 0 }.sorted { byKind[$0]! > byKind[$1]! }
    let names = kinds.map { say(.kind($0)) + ":" }
    let width = names.map(Self.columns).max() ?? 0
    for (k, name) in zip(kinds, names) {
      let padded = name + String(repeating: " ", count: width - Self.columns(name))
      lines.append(
        "  \(padded) \(SummaryText.grouped(byKind[k]!)) (\(SummaryText.percent(byKind[k]!, of: total)))")
    }
    if let biggest = modules.max(by: { $0.parameters < $1.parameters }), biggest.parameters > 0 {
      lines.append(
        "  "
          + say(
            .biggestLayer(
              layer: biggest.label, count: SummaryText.grouped(biggest.parameters),
              share: SummaryText.percent(biggest.parameters, of: total))))
    }
    let macs = macsByKind.values.reduce(0, +)
    if macs > 0 {
      let shares = order.filter { (macsByKind[$0] ?? 0) > 0 }.sorted { macsByKind[$0]! > macsByKind[$1]! }
        .map { "\(say(.kind($0))) \(SummaryText.percent(macsByKind[$0]!, of: macs))" }
      lines.append(
        say(.work(macs: SummaryText.grouped(macs / batch), shares: shares.joined(separator: ", "))))
    }
    // The notes' observation, stated only when this model bears it out: fully connected layers hold
    // most weights, convolutions do most of the work, because a filter is reused at every position.
    let fc = byKind[.fullyConnected] ?? 0
    let conv = byKind[.convolution] ?? 0
    if fc > total / 2, conv > 0, (macsByKind[.convolution] ?? 0) > macs / 2 {
      lines.append(say(.parametersInFCWorkInConv))
    }
    return lines
  }
}
