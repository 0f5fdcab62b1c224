/// Stochastic gradient descent with momentum and weight decay, with PyTorch's `torch.optim.SGD`
/// update rule (the AlexNet paper's optimiser: momentum 0.9, weight decay 5e-4):
///
///     g = grad + weightDecay·w
///     v = momentum·v + (1 − dampening)·g      (v = g on the first step)
///     w = w − lr·(nesterov ? g + momentum·v : v)
///
/// Parameters whose `grad` is nil are skipped, as in PyTorch.
public final class SGD: Optimizer {
  /// The tensors being optimised.
  public let parameters: [Tensor]
  /// Learning rate; schedulers change it between steps.
  public var learningRate: Float
  /// Momentum factor (0 turns momentum off).
  public let momentum: Float
  /// Dampening applied to the gradient in the momentum update (not on the first step).
  public let dampening: Float
  /// L2 penalty added to the gradient.
  public let weightDecay: Float
  /// Nesterov momentum.
  public let nesterov: Bool
  /// One momentum buffer per parameter, nil until its first step (as in PyTorch).
  public private(set) var momentumBuffers: [Tensor?]

  /// Creates an optimiser over `parameters`.
  public init(
    parameters: [Tensor], learningRate: Float, momentum: Float = 0, dampening: Float = 0,
    weightDecay: Float = 0, nesterov: Bool = false
  ) {
    precondition(
      !nesterov || (momentum > 0 && dampening == 0), "Nesterov momentum needs momentum > 0 and no dampening")
    self.parameters = parameters
    self.learningRate = learningRate
    self.momentum = momentum
    self.dampening = dampening
    self.weightDecay = weightDecay
    self.nesterov = nesterov
    momentumBuffers = Array(repeating: nil, count: parameters.count)
  }

  /// Clears every parameter's gradient (sets it to nil, PyTorch's default `set_to_none`).
  public func zeroGrad() {
    for p in parameters { p.grad = nil }
  }

  /// Applies one update to every parameter that has a gradient.
  public func step() {
    for (index, p) in parameters.enumerated() {
      guard let grad = p.grad else { continue }
      precondition(grad.count == p.count, "SGD: gradient \(grad.shape) does not match parameter \(p.shape)")
      var velocity: Tensor? = nil
      var firstStep = false
      if momentum != 0 {
        if let buffer = momentumBuffers[index] {
          velocity = buffer
        } else {
          velocity = Tensor(uninitializedShape: p.shape).onDevice(of: p)
          momentumBuffers[index] = velocity
          firstStep = true
        }
      }
      Backends.inBackward {
        try Backends.backend("sgd", p, grad, velocity).sgdStep(
          weight: p, gradient: grad, velocity: velocity, learningRate: learningRate, momentum: momentum,
          dampening: dampening, weightDecay: weightDecay, nesterov: nesterov, firstStep: firstStep)
      }
    }
  }

  /// The momentum buffers that exist, as `"<index>.momentum_buffer"` (live tensors, not copies).
  public func stateTensors() -> [(name: String, tensor: Tensor)] {
    momentumBuffers.enumerated().compactMap { index, buffer in
      buffer.map { (name: "\(index).momentum_buffer", tensor: $0) }
    }
  }

  /// `"lr"`: the learning rate, so a resumed run continues with the rate it stopped at.
  public func stateScalars() -> [String: String] {
    ["lr": String(describing: learningRate)]
  }

  /// Restores saved momentum buffers (copied) and learning rate. Parameters without a saved
  /// buffer start fresh. Throws, changing nothing, on unknown names or mismatched shapes.
  public func restore(tensors: [String: Tensor], scalars: [String: String]) throws {
    let names = parameters.indices.map { "\($0).momentum_buffer" }
    try StateParsing.rejectUnknown(tensors.keys, allowed: Set(names), kind: "SGD state tensor")
    try StateParsing.rejectUnknown(scalars.keys, allowed: ["lr"], kind: "SGD state scalar")
    for (index, name) in names.enumerated() {
      if let t = tensors[name] { try StateParsing.checkShape(t, name, parameter: parameters[index]) }
    }
    let lr = try StateParsing.float(scalars, "lr")
    momentumBuffers = names.enumerated().map { index, name in
      tensors[name]?.copy().onDevice(of: parameters[index])
    }
    if let lr { learningRate = lr }
  }
}
