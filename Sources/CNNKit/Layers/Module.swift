/// Base class of every layer and model, after PyTorch's `nn.Module`.
///
/// A module owns named parameters (trained), named buffers (state such as BatchNorm's running
/// statistics) and named child modules. Names join with dots into paths — `features.0.weight` — which
/// are exactly torchvision's state-dict keys when a model registers its parts in torchvision's order.
open class Module {
  /// Training or evaluation behaviour (dropout, batch statistics). Set with `train()` / `eval()`.
  public private(set) var isTraining = true
  /// Child modules in registration order.
  public private(set) var namedChildren: [(name: String, module: Module)] = []
  /// This module's own parameters in registration order.
  public private(set) var ownParameters: [(name: String, tensor: Tensor)] = []
  /// This module's own buffers in registration order.
  public private(set) var ownBuffers: [(name: String, tensor: Tensor)] = []

  public init() {}

  /// Adds a child under `name` and returns it (so `let conv = register("conv1", Conv2d(...))`).
  @discardableResult
  public func register<M: Module>(_ name: String, _ module: M) -> M {
    namedChildren.append((name, module))
    return module
  }

  /// Adds a trainable parameter; it is marked as requiring grad.
  @discardableResult
  public func registerParameter(_ name: String, _ tensor: Tensor) -> Tensor {
    tensor.requiresGrad = true
    if !tensor.isMeta { tensor.storage.preferHugePages() }
    ownParameters.append((name, tensor))
    return tensor
  }

  /// Adds a buffer: saved with the state dict, never trained.
  @discardableResult
  public func registerBuffer(_ name: String, _ tensor: Tensor) -> Tensor {
    ownBuffers.append((name, tensor))
    return tensor
  }

  /// The computation; subclasses override it. Call the module itself (`try m(x)`), not this.
  open func forward(_ input: Tensor) throws -> Tensor {
    fatalError("\(typeName) must override forward(_:)")
  }

  /// PyTorch's class name, used by summaries (`Conv2d`, `BatchNorm2d`, ...).
  open var typeName: String { String(describing: type(of: self)) }

  /// The constructor-style line PyTorch prints for a leaf, e.g. `Conv2d(3, 64, kernel_size=(11, 11), ...)`.
  open var extraDescription: String { "" }

  /// Whether summaries show this module as its own row (containers like `Sequential` are skipped by
  /// torchsummary).
  open var isContainer: Bool { false }

  /// Multiply-accumulates of one call, given the shapes it saw (conv and linear only, no bias).
  open func multiplyAccumulates(input: [Int], output: [Int]) -> Int { 0 }

  /// Runs `forward`, reporting the call to an active `ModuleCallObserver` (summaries use this the
  /// way torchsummary uses forward hooks) and naming this layer in shape errors.
  public func callAsFunction(_ input: Tensor) throws -> Tensor {
    let observer = ModuleCallObserver.current
    observer?.willCall(self, input: input.shape)
    let output = try namingErrors { try forward(input) }
    observer?.didCall(self, input: input.shape, output: output.shape)
    return output
  }

  /// Runs `body`, wrapping a tensor error that names no layer yet in this layer's name.
  func namingErrors(_ body: () throws -> Tensor) throws -> Tensor {
    do {
      return try body()
    } catch let error as TensorError {
      if case .inLayer = error { throw error }
      throw TensorError.inLayer(layer: "\(typeName)(\(extraDescription))", underlying: error.description)
    }
  }

  /// Switches this module and all its descendants to training (`true`) or evaluation mode.
  @discardableResult
  public func train(_ on: Bool = true) -> Self {
    isTraining = on
    for (_, child) in namedChildren { child.train(on) }
    return self
  }

  /// Evaluation mode: dropout off, BatchNorm uses running statistics.
  @discardableResult
  public func eval() -> Self { train(false) }

  /// Every descendant module with its dotted path (this module first, with path "").
  public func namedModules(prefix: String = "") -> [(name: String, module: Module)] {
    var result: [(String, Module)] = [(prefix, self)]
    for (name, child) in namedChildren {
      result += child.namedModules(prefix: prefix.isEmpty ? name : prefix + "." + name)
    }
    return result
  }

  /// All parameters with dotted paths, depth-first in registration order (PyTorch's order).
  public func namedParameters() -> [(name: String, tensor: Tensor)] {
    collect { $0.ownParameters }
  }

  /// All buffers with dotted paths.
  public func namedBuffers() -> [(name: String, tensor: Tensor)] {
    collect { $0.ownBuffers }
  }

  /// Parameters and buffers in PyTorch's `state_dict()` order: per module, parameters then buffers.
  public func stateDict() -> [(name: String, tensor: Tensor)] {
    collect { $0.ownParameters + $0.ownBuffers }
  }

  /// All trainable tensors.
  public func parameters() -> [Tensor] { namedParameters().map(\.tensor) }

  /// Total number of parameter elements.
  public var parameterCount: Int { parameters().reduce(0) { $0 + $1.count } }

  /// Clears the accumulated gradients of every parameter.
  public func zeroGrad() {
    for p in parameters() { p.grad = nil }
  }

  private func collect(_ own: (Module) -> [(name: String, tensor: Tensor)]) -> [(
    name: String, tensor: Tensor
  )] {
    var result: [(name: String, tensor: Tensor)] = []
    for (path, module) in namedModules() {
      for (name, tensor) in own(module) {
        result.append((path.isEmpty ? name : path + "." + name, tensor))
      }
    }
    return result
  }
}

/// Receives every module call while installed; the summary tracer is one.
open class ModuleCallObserver {
  nonisolated(unsafe) static var current: ModuleCallObserver?

  public init() {}

  /// Installs `self` while `body` runs.
  public func observing<T>(_ body: () throws -> T) rethrows -> T {
    let saved = ModuleCallObserver.current
    ModuleCallObserver.current = self
    defer { ModuleCallObserver.current = saved }
    return try body()
  }

  /// Called before `module.forward` runs.
  open func willCall(_ module: Module, input: [Int]) {}
  /// Called after `module.forward` returned.
  open func didCall(_ module: Module, input: [Int], output: [Int]) {}
}
