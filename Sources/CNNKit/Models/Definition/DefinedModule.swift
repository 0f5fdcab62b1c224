// Building a model file's layer specifications into modules. Sizes the file leaves out (a
// convolution's input channels, a Linear's input features, BatchNorm's feature count) come from the
// shape reaching the layer, found by running each new module on a shape-only tensor, so the shape
// rules are the layers' own and a layer that does not fit is reported at its line.

/// A module made from a model file: a list of steps (registered children, functional calls and
/// repeated calls), optionally closed by a residual add, a shortcut and the layers after the add.
final class DefinedModule: Module {
  /// How each of `layers` takes part: registered children and repeated calls go through the call
  /// hooks; functional ones do not.
  private let layers: [Module]
  private let hidden: [Bool]
  private let residual: (shortcut: Module?, after: [Module], afterHidden: [Bool])?
  private let displayName: String
  private let container: Bool

  init(
    typeName: String, container: Bool, steps: [(name: String, module: Module, role: Step)],
    residual: (
      shortcut: (name: String, module: Module)?, after: [(name: String, module: Module, role: Step)]
    )?
  ) {
    displayName = typeName
    self.container = container
    layers = steps.map(\.module)
    hidden = steps.map { $0.role == .functional }
    self.residual = residual.map {
      ($0.shortcut?.module, $0.after.map(\.module), $0.after.map { $0.role == .functional })
    }
    super.init()
    // Registration order is the file's order (main path, shortcut, then the layers after the add), as
    // a PyTorch class that assigns its attributes in the order it uses them.
    for (name, module, role) in steps where role == .child { register(name, module) }
    if let shortcut = residual?.shortcut { register(shortcut.name, shortcut.module) }
    for (name, module, role) in residual?.after ?? [] where role == .child { register(name, module) }
  }

  /// The part a step plays in its parent.
  enum Step: Equatable {
    /// A registered child module.
    case child
    /// A functional call: no state-dict keys, no summary row.
    case functional
    /// An earlier child called again.
    case repeated
  }

  override func forward(_ input: Tensor) throws -> Tensor {
    let out = try Sequential.run(layers, on: input) { hidden[$0] }
    guard let residual else { return out }
    let identity = try residual.shortcut?(input) ?? input
    let sum = try Functional.add(out, identity)
    return try Sequential.run(residual.after, on: sum) { residual.afterHidden[$0] }
  }

  override var typeName: String { displayName }
  override var isContainer: Bool { container }
}

extension ModelDefinition {
  /// Builds the network for `classes` outputs (default: the file's `classes`) and an input of shape
  /// (C, H, W) (default: the file's `input`). A layer that does not fit the shape reaching it, a
  /// written size that contradicts it, or a class count the file cannot take is an error naming the
  /// layer's line.
  public func build(classes requested: Int? = nil, input requestedInput: [Int]? = nil) throws
    -> Module
  {
    let shape = requestedInput ?? input
    let builder = DefinitionBuilder(
      path: path, classes: requested ?? classes ?? 1, initialisation: initialisation)
    if let requested, requested < 1 {
      throw builder.error(nil, "the class count must be at least 1, got \(requested)")
    }
    guard shape.count == 3, shape.allSatisfy({ $0 > 0 }) else {
      throw builder.error(nil, "input must be three positive sizes C,H,W, got \(shapeText(shape))")
    }
    let (steps, output) = try builder.steps(layers, input: shape)
    let model = DefinedModule(typeName: className, container: false, steps: steps, residual: nil)
    if let requested, !Self.usesClasses(layers), output != [requested] {
      throw builder.error(
        nil,
        "the file fixes the output at \(shapeText(output)), so it cannot give \(requested) classes; write "
          + "\"out_features\": \"classes\" in the last layer and a top-level \"classes\" to size it by request"
      )
    }
    return model
  }

  /// The model as a zoo entry, so a file stands wherever a zoo name does.
  public var zooEntry: ZooEntry {
    ZooEntry(
      name: name, summary: summary, defaultInput: input,
      defaultClasses: classes ?? Self.lastCount(layers) ?? 1
    ) { classes, shape in
      try build(classes: classes, input: shape)
    }
  }

  /// The written output size of the last sized layer (a file that does not use `"classes"`).
  static func lastCount(_ layers: [LayerSpec]) -> Int? {
    for spec in layers.reversed() {
      switch spec.kind {
      case .linear(_, .fixed(let count), _), .conv(_, .fixed(let count), _, _, _, _, _, _): return count
      case .sequence(_, let children):
        if let count = lastCount(children) { return count }
      case .residual(_, let body, _, let after):
        if let count = lastCount(after) ?? lastCount(body) { return count }
      default: continue
      }
    }
    return nil
  }
}

/// Turns layer specifications into modules, following the shape through the network.
private struct DefinitionBuilder {
  let path: String
  let classes: Int
  let initialisation: ModelDefinition.Initialisation

  typealias Steps = [(name: String, module: Module, role: DefinedModule.Step)]

  func error(_ spec: LayerSpec?, _ message: String, key: String? = nil) -> ModelDefinitionError {
    var keyPath = spec?.keyPath
    if let key { keyPath = keyPath.map { $0 + "." + key } ?? key }
    return ModelDefinitionError(path: path, line: spec?.line, key: keyPath, message: message)
  }

  /// Builds one list of layers from `input`, returning its steps and the shape it produces. `earlier`
  /// are the steps of the same module before this list (a residual block's main path, for the layers
  /// after its add): they may be called again and their names are taken.
  func steps(_ specs: [LayerSpec], input: [Int], earlier: Steps = []) throws -> (Steps, [Int]) {
    var steps: Steps = []
    var shape = input
    for spec in specs {
      let module: Module
      let role: DefinedModule.Step
      if case .call(let target) = spec.kind {
        guard let called = (earlier + steps).first(where: { $0.name == target && $0.role == .child }) else {
          throw error(spec, "calls '\(target)', but no earlier layer of this module is named so")
        }
        module = called.module
        role = .repeated
      } else {
        if spec.role == .module, earlier.contains(where: { $0.name == spec.name && $0.role == .child }) {
          throw error(spec, "'\(spec.name)' names an earlier layer of the same module", key: "name")
        }
        module = try make(spec, input: shape)
        role = spec.role == .functional ? .functional : .child
      }
      shape = try probe(module, spec: spec, input: shape, hooks: role != .functional)
      steps.append((spec.name, module, role))
    }
    return (steps, shape)
  }

  /// Runs `module` on a shape-only tensor of `input` (per sample) and returns its output shape.
  func probe(_ module: Module, spec: LayerSpec, input: [Int], hooks: Bool) throws -> [Int] {
    do {
      // A silent observer keeps the probe out of a summary trace and off the fused fast paths.
      let output = try ModuleCallObserver().observing { () throws -> Tensor in
        let x = Tensor(metaShape: [1] + input)
        return hooks ? try module(x) : try module.namingErrors { try module.forward(x) }
      }
      return Array(output.shape.dropFirst())
    } catch {
      throw self.error(spec, "does not fit the \(shapeText(input)) input reaching it: \(error)")
    }
  }

  /// The one dimension a layer needs, or an error saying what it got.
  func channels(_ spec: LayerSpec, _ input: [Int], what: String) throws -> Int {
    guard input.count == 3 else {
      throw error(spec, "\(what) needs a C×H×W input, but \(shapeText(input)) features reach it")
    }
    return input[0]
  }

  func size(_ count: LayerSpec.Count) -> Int {
    if case .fixed(let value) = count { return value }
    return classes
  }

  /// Refuses a layer too large to allocate before trying (VGG's largest, fc6, has 103 million weights).
  func checkSize(_ spec: LayerSpec, _ shape: [Int]) throws {
    // In floating point, so that four sizes of up to 2²⁴ cannot overflow the product.
    let weights = shape.reduce(1.0) { $0 * Double($1) }
    guard weights <= Double(ModelDefinition.maximumLayerWeights) else {
      throw error(
        spec,
        "would hold \(shapeText(shape)) weights, more than the \(ModelDefinition.maximumLayerWeights) one layer may"
      )
    }
  }

  /// Checks a written size against the one the shape gives.
  func check(_ written: Int?, _ actual: Int, _ spec: LayerSpec, key: String) throws {
    if let written, written != actual {
      throw error(spec, "is \(written), but the input reaching this layer has \(actual)", key: key)
    }
  }

  func make(_ spec: LayerSpec, input: [Int]) throws -> Module {
    switch spec.kind {
    case .conv(let written, let out, let kernel, let stride, let padding, let dilation, let groups, let bias):
      let inChannels = try channels(spec, input, what: "Conv2d")
      try check(written, inChannels, spec, key: "in_channels")
      let outChannels = size(out)
      guard inChannels % groups == 0, outChannels % groups == 0 else {
        throw error(
          spec, "\(inChannels) → \(outChannels) channels do not divide into \(groups) groups", key: "groups")
      }
      let pads: (Int, Int)
      switch padding {
      case .sizes(let h, let w): pads = (h, w)
      case .same:
        guard kernel.0 % 2 == 1, kernel.1 % 2 == 1 else {
          throw error(
            spec, "\"same\" needs an odd kernel_size (PyTorch pads both sides equally)", key: "padding")
        }
        pads = (dilation.0 * (kernel.0 - 1) / 2, dilation.1 * (kernel.1 - 1) / 2)
      }
      try checkSize(spec, [outChannels, inChannels / groups, kernel.0, kernel.1])
      let conv = Conv2d(
        inChannels, outChannels, kernelSize: kernel, stride: stride, padding: pads, dilation: dilation,
        groups: groups, bias: bias)
      initialise(conv, weight: conv.weight, bias: conv.bias, spec: spec)
      return conv
    case .linear(let written, let out, let bias):
      guard input.count == 1 else {
        throw error(
          spec,
          "Linear needs flat features, but a \(shapeText(input)) input reaches it; put a Flatten before it")
      }
      try check(written, input[0], spec, key: "in_features")
      try checkSize(spec, [input[0], size(out)])
      let linear = Linear(input[0], size(out), bias: bias)
      initialise(linear, weight: linear.weight, bias: linear.bias, spec: spec)
      return linear
    case .relu: return ReLU()
    case .dropout(let p): return Dropout(p)
    case .softmax(let logarithm): return logarithm ? LogSoftmax() : Softmax()
    case .flatten(let startDim): return Flatten(startDim: startDim)
    case .maxPool(let kernel, let stride, let padding, let ceilMode):
      return MaxPool2d(kernelSize: kernel, stride: stride, padding: padding, ceilMode: ceilMode)
    case .avgPool(let kernel, let stride, let padding, let ceilMode, let countIncludePad):
      return AvgPool2d(
        kernelSize: kernel, stride: stride, padding: padding, ceilMode: ceilMode,
        countIncludePad: countIncludePad)
    case .adaptiveAvgPool(let outputSize): return AdaptiveAvgPool2d(outputSize)
    case .batchNorm(let written, let eps, let momentum):
      let features = try channels(spec, input, what: "BatchNorm2d")
      try check(written, features, spec, key: "num_features")
      return BatchNorm2d(features, eps: eps, momentum: momentum)
    case .localResponseNorm(let size, let alpha, let beta, let k, let convention):
      return LocalResponseNorm(size: size, alpha: alpha, beta: beta, k: k, convention: convention)
    case .channelPad(let outChannels, let stride):
      let inChannels = try channels(spec, input, what: "ChannelPad")
      guard outChannels >= inChannels else {
        throw error(
          spec, "is \(outChannels), fewer than the \(inChannels) channels reaching it", key: "out_channels")
      }
      return ChannelPadShortcut(inChannels: inChannels, outChannels: outChannels, stride: stride)
    case .sequence(let typeName, let layers):
      let (steps, _) = try steps(layers, input: input)
      return DefinedModule(
        typeName: typeName, container: typeName == "Sequential", steps: steps, residual: nil)
    case .residual(let typeName, let body, let shortcutSpec, let afterSpecs):
      let (main, mainShape) = try steps(body, input: input)
      var shortcut: (name: String, module: Module)? = nil
      var sideShape = input
      if let shortcutSpec {
        let module = try make(shortcutSpec, input: input)
        sideShape = try probe(module, spec: shortcutSpec, input: input, hooks: true)
        shortcut = (shortcutSpec.name, module)
      }
      guard mainShape == sideShape else {
        throw error(
          spec,
          "the layers give \(shapeText(mainShape)) but the shortcut gives \(shapeText(sideShape)); they must match to be added"
        )
      }
      if let clash = (main.map(\.name) + afterSpecs.map(\.name)).first(where: { $0 == shortcut?.name }) {
        throw error(spec, "the shortcut's name '\(clash)' is also a layer's name")
      }
      // The layers after the add may call a main-path layer again (`relu`), so they see those names.
      let (after, _) = try steps(afterSpecs, input: mainShape, earlier: main)
      return DefinedModule(
        typeName: typeName, container: false, steps: main, residual: (shortcut, after))
    case .call:
      preconditionFailure("calls are resolved by steps(_:input:)")
    }
  }

  /// Applies the file's initialisation scheme to a new layer, then the layer's own `init_std` and
  /// `init_bias`.
  func initialise(_ module: Module, weight: Tensor, bias: Tensor?, spec: LayerSpec) {
    switch initialisation {
    case .pytorch: break
    case .torchvision: WeightInit.torchvision(module, linearStd: 0.01)
    case .kaimingFanIn: WeightInit.kaimingNormalFanIn(weight)
    }
    if let std = spec.initStd {
      WeightInit.normal(weight, std: std, bias: bias, biasValue: spec.initBias ?? 0)
    } else if let value = spec.initBias {
      bias?.fill(value)
    }
  }
}
