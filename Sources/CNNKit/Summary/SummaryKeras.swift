import Foundation

/// The table Keras' `model.summary()` would print for the channels-last Keras twin of a model, in
/// the layout of Keras ≤ 2.2, TF 2.9–2.12 or Keras 3 (`text(layout:)`).
///
/// How PyTorch layers map (names are Keras' snake-cased class names, numbered per name):
/// - `Conv2d` → `conv2d (Conv2D)`, `Linear` → `dense (Dense)`, `MaxPool2d` → `max_pooling2d
///   (MaxPooling2D)`, `AvgPool2d` → `average_pooling2d (AveragePooling2D)`, `AdaptiveAvgPool2d` →
///   `global_average_pooling2d (GlobalAveragePooling2D)` for a 1×1 output (as with `keepdims=True`)
///   or TF-Addons' `adaptive_average_pooling2d (AdaptiveAveragePooling2D)`, `BatchNorm2d` →
///   `batch_normalization (BatchNormalization)`, `Flatten` → `flatten (Flatten)`, `Dropout` →
///   `dropout (Dropout)`, `LocalResponseNorm` → `lambda (Lambda)` (Keras has no LRN layer).
/// - A `ReLU` or `Softmax` right after a conv or dense layer is folded into it, the way Keras code
///   writes `Conv2D(..., activation='relu')`, so it gets no row; elsewhere it is a `re_lu (ReLU)` /
///   `softmax (Softmax)` row.
/// - A flatten done inside `forward` (not a module) becomes a `flatten (Flatten)` row.
/// - Layers with parameters appear once even when called repeatedly (Keras shares their weights);
///   parameterless layers get a row per call. Residual additions are not modules and get no row.
/// - BatchNorm counts 4·C: γ and β trainable, the moving mean and variance non-trainable; any
///   parameter with `requiresGrad == false` is non-trainable too.
public struct KerasReport {
  /// How layers are numbered (the raw values are the CLI's `--keras-naming` words).
  public enum Naming: String, CaseIterable, Sendable {
    /// Keras ≥ 2.3, tf.keras and Keras 3: `conv2d`, `conv2d_1`, `conv2d_2`, …
    case modern = "current"
    /// Keras ≤ 2.2: `conv2d_1`, `conv2d_2`, … (1-based per type).
    case legacy
  }

  /// Which Keras generation's table to print (the raw values are the CLI's `--keras-layout` words).
  public enum Layout: String, CaseIterable, Sendable {
    /// TF 2.9–2.12's Keras 2: `Model: "name"`, rows indented one space, cells too long for their
    /// column wrapped onto extra lines, a blank row after each layer, totals with thousands separators.
    case tf2
    /// Keras ≤ 2.2: no `Model:` line, cells cut at their column, `_` rules between layers.
    case legacy
    /// Keras 3: a box-drawn table (`┏━┳━┓`), grouped counts, totals with their float32 sizes.
    case keras3

    /// The numbering Keras used in the generation that printed this layout.
    public var defaultNaming: Naming { self == .legacy ? .legacy : .modern }
  }

  /// One Keras layer.
  public struct Row {
    /// Layer name (`conv2d_1`).
    public let name: String
    /// Keras class name (`Conv2D`).
    public let className: String
    /// Output shape without the batch dimension, channels last.
    public let outputShape: [Int]
    /// Parameters Keras would count (weights plus BatchNorm's moving statistics).
    public let parameters: Int
    /// The trainable part of `parameters`.
    public let trainableParameters: Int
  }

  /// Layers in call order.
  public let rows: [Row]
  /// The name in `Model: "…"` (`alex_net`; Keras calls a `Sequential` model `sequential`).
  public let modelName: String
  /// The numbering style.
  public let naming: Naming
  /// The row each traced call (by its index in `ModelTrace.calls`) shows up in: its own, the conv or
  /// dense row it is folded into as an activation, or its first call's row for a reused layer.
  let rowOfCall: [Int: Int]
  /// Calls folded into the conv or dense row before them as its `activation=`.
  let foldedCalls: Set<Int>
  /// The `flatten` row added before a call whose input `forward` flattened without a module.
  let flattenRowBeforeCall: [Int: Int]

  /// Builds the Keras view of `trace`; `modelName` defaults to the snake-cased model type.
  public init(trace: ModelTrace, naming: Naming = .modern, modelName: String? = nil) {
    self.naming = naming
    self.modelName = modelName ?? SummaryText.snakeCase(trace.model.typeName)
    var counters: [String: Int] = [:]
    func name(_ base: String) -> String {
      let n = counters[base, default: 0]
      counters[base] = n + 1
      switch naming {
      case .modern: return n == 0 ? base : "\(base)_\(n)"
      case .legacy: return "\(base)_\(n + 1)"
      }
    }
    var rows: [Row] = []
    var rowOfModule: [ObjectIdentifier: Int] = [:]
    var rowOfCall: [Int: Int] = [:]
    var foldedCalls = Set<Int>()
    var flattenRowBeforeCall: [Int: Int] = [:]
    var lastOutput: [Int]? = nil
    var canFoldActivation = false
    for (index, call) in trace.calls.enumerated() where call.module.isLeafModule {
      let module = call.module
      let ownsParameters = !module.ownParameters.isEmpty
      if ownsParameters, let row = rowOfModule[ObjectIdentifier(module)] {
        rowOfCall[index] = row
        continue
      }
      if let last = lastOutput, last != call.inputShape, last.count > 2, call.inputShape.count == 2,
        last.reduce(1, *) == call.inputShape.reduce(1, *)
      {
        rows.append(
          Row(
            name: name("flatten"), className: "Flatten", outputShape: Self.channelsLast(call.inputShape),
            parameters: 0, trainableParameters: 0))
        flattenRowBeforeCall[index] = rows.count - 1
        canFoldActivation = false
      }
      let isActivation = module is ReLU || module is Softmax
      if isActivation && canFoldActivation && lastOutput == call.inputShape {
        rowOfCall[index] = rows.count - 1
        foldedCalls.insert(index)
        canFoldActivation = false
        lastOutput = call.outputShape
        continue
      }
      let (base, className) = Self.kerasType(module)
      var trainable = 0
      var total = 0
      for (_, tensor) in module.ownParameters {
        total += tensor.count
        if tensor.requiresGrad { trainable += tensor.count }
      }
      if module is BatchNorm2d {
        for (bufferName, tensor) in module.ownBuffers where bufferName.hasPrefix("running_") {
          total += tensor.count
        }
      }
      rows.append(
        Row(
          name: name(base), className: className, outputShape: Self.channelsLast(call.outputShape),
          parameters: total, trainableParameters: trainable))
      rowOfCall[index] = rows.count - 1
      if ownsParameters { rowOfModule[ObjectIdentifier(module)] = rows.count - 1 }
      canFoldActivation = module is Conv2d || module is Linear
      lastOutput = call.outputShape
    }
    self.rows = rows
    self.rowOfCall = rowOfCall
    self.foldedCalls = foldedCalls
    self.flattenRowBeforeCall = flattenRowBeforeCall
  }

  /// Keras' snake-case base name and class name for a PyTorch layer.
  static func kerasType(_ module: Module) -> (String, String) {
    switch module {
    case is Conv2d: return ("conv2d", "Conv2D")
    case is Linear: return ("dense", "Dense")
    case is MaxPool2d: return ("max_pooling2d", "MaxPooling2D")
    case is AvgPool2d: return ("average_pooling2d", "AveragePooling2D")
    case let pool as AdaptiveAvgPool2d:
      return pool.outputSize == (1, 1)
        ? ("global_average_pooling2d", "GlobalAveragePooling2D")
        : ("adaptive_average_pooling2d", "AdaptiveAveragePooling2D")
    case is BatchNorm2d: return ("batch_normalization", "BatchNormalization")
    case is Flatten: return ("flatten", "Flatten")
    case is Dropout: return ("dropout", "Dropout")
    case is ReLU: return ("re_lu", "ReLU")
    case is Softmax: return ("softmax", "Softmax")
    case is LocalResponseNorm: return ("lambda", "Lambda")
    case is LogSoftmax: return ("activation", "Activation")
    default: return (SummaryText.snakeCase(module.typeName), module.typeName)
    }
  }

  /// Drops the batch and moves channels last: [N, C, H, W] → [H, W, C].
  static func channelsLast(_ shape: [Int]) -> [Int] {
    let sample = Array(shape.dropFirst())
    guard sample.count >= 2 else { return sample }
    return Array(sample.dropFirst()) + [sample[0]]
  }

  /// Total parameters.
  public var totalParameters: Int { rows.reduce(0) { $0 + $1.parameters } }
  /// Trainable parameters.
  public var trainableParameters: Int { rows.reduce(0) { $0 + $1.trainableParameters } }
  /// Non-trainable parameters (BatchNorm moving statistics, frozen weights).
  public var nonTrainableParameters: Int { totalParameters - trainableParameters }

  /// The layout `text` uses: the one Keras printed in the era of this report's numbering.
  public var text: String { text(layout: naming == .legacy ? .legacy : .tf2) }

  /// The table as the Keras generation `layout` prints it, ending in a newline.
  public func text(layout: Layout) -> String {
    switch layout {
    case .legacy: return legacyText
    case .tf2: return tf2Text
    case .keras3: return keras3Text
    }
  }
}
