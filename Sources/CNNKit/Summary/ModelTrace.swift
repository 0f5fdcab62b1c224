/// One call of one module during a traced forward pass.
public struct LayerCall {
  /// The module that was called.
  public let module: Module
  /// Its dotted path in the model (`features.0`); "" for the model itself.
  public let path: String
  /// Nesting depth: 0 for the model, 1 for its children, ...
  public let depth: Int
  /// Index of the enclosing call in `ModelTrace.calls`, nil for the model itself.
  public let parent: Int?
  /// Shape the module received.
  public let inputShape: [Int]
  /// Shape it returned.
  public internal(set) var outputShape: [Int]
  /// Position in the order calls *finished* (torchsummary's hook order).
  public internal(set) var finishOrder: Int
  /// Multiply-accumulates of this call (conv and linear; 0 for others and containers).
  public var multiplyAccumulates: Int { module.multiplyAccumulates(input: inputShape, output: outputShape) }
  /// `weight` and `bias` elements the module owns itself (what torchsummary counts).
  public var ownParameterCount: Int { module.ownParameters.reduce(0) { $0 + $1.tensor.count } }
}

/// The calls of a forward pass on a shape-only input: what every summary format is rendered from.
///
/// Tracing runs the model's real `forward` on a meta tensor, so the order of calls (reused ReLUs,
/// residual branches) is exactly the one PyTorch's hooks would see, yet nothing is computed.
public struct ModelTrace {
  /// The traced model.
  public let model: Module
  /// Input shape, batch included.
  public let inputShape: [Int]
  /// Calls in the order they started (pre-order); `calls[0]` is the model itself.
  public let calls: [LayerCall]

  /// Traces `model` on an input of `inputShape` (batch included). Throws the first shape error, naming
  /// the layer (e.g. an input too small for a kernel).
  public init(model: Module, inputShape: [Int]) throws {
    let recorder = TraceRecorder(model: model)
    _ = try recorder.observing { try model(Tensor(metaShape: inputShape)) }
    self.model = model
    self.inputShape = inputShape
    self.calls = recorder.calls
  }

  /// Calls in the order they finished, as torchsummary lists them.
  public var callsInFinishOrder: [LayerCall] { calls.sorted { $0.finishOrder < $1.finishOrder } }

  /// Total multiply-accumulates of the pass.
  public var totalMultiplyAccumulates: Int { calls.reduce(0) { $0 + $1.multiplyAccumulates } }

  /// Final output shape.
  public var outputShape: [Int] { calls.first?.outputShape ?? inputShape }
}

final class TraceRecorder: ModuleCallObserver {
  var calls: [LayerCall] = []
  private var open: [Int] = []
  private var finished = 0
  private let paths: [ObjectIdentifier: String]

  init(model: Module) {
    var paths: [ObjectIdentifier: String] = [:]
    for (path, module) in model.namedModules() where paths[ObjectIdentifier(module)] == nil {
      paths[ObjectIdentifier(module)] = path
    }
    self.paths = paths
  }

  override func willCall(_ module: Module, input: [Int]) {
    calls.append(
      LayerCall(
        module: module, path: paths[ObjectIdentifier(module)] ?? "", depth: open.count, parent: open.last,
        inputShape: input, outputShape: [], finishOrder: -1))
    open.append(calls.count - 1)
  }

  override func didCall(_ module: Module, input: [Int], output: [Int]) {
    guard let index = open.popLast() else { return }
    calls[index].outputShape = output
    calls[index].finishOrder = finished
    finished += 1
  }
}
