import CNNKitKernels
import Foundation

/// Adam (Kingma & Ba) with PyTorch's `torch.optim.Adam` update, weight decay as an L2 term:
///
///     t += 1;  g = grad + weightDecay·w
///     m = lerp(m, g, 1 − β1);  v = β2·v + (1 − β2)·g²
///     w = w − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + eps)
///
/// Each parameter keeps its own step count `t`, so parameters skipped in a step (nil `grad`) are
/// bias-corrected as PyTorch does.
public class Adam: Optimizer {
  /// The tensors being optimised.
  public var parameters: [Tensor] { core.parameters }
  /// Learning rate; schedulers change it between steps.
  public var learningRate: Float
  /// Decay rates of the first and second moment estimates.
  public var betas: (Float, Float) { (core.beta1, core.beta2) }
  /// Added to the denominator for numerical stability.
  public var eps: Float { core.eps }
  /// Weight decay: an L2 term added to the gradient (Adam) or decoupled (AdamW).
  public var weightDecay: Float { core.weightDecay }
  /// Steps taken by each parameter (0 before its first gradient).
  public var stepCounts: [Int] { core.steps }
  private let core: AdamCore

  /// Creates an optimiser over `parameters` (PyTorch's defaults: lr 1e-3, betas (0.9, 0.999)).
  public convenience init(
    parameters: [Tensor], learningRate: Float = 1e-3, betas: (Float, Float) = (0.9, 0.999),
    eps: Float = 1e-8, weightDecay: Float = 0
  ) {
    self.init(
      name: "Adam", parameters: parameters, learningRate: learningRate, betas: betas, eps: eps,
      weightDecay: weightDecay, decoupled: false)
  }

  init(
    name: String, parameters: [Tensor], learningRate: Float, betas: (Float, Float), eps: Float,
    weightDecay: Float, decoupled: Bool
  ) {
    self.learningRate = learningRate
    core = AdamCore(
      name: name, parameters: parameters, betas: betas, eps: eps, weightDecay: weightDecay,
      decoupled: decoupled)
  }

  /// Clears every parameter's gradient (sets it to nil).
  public func zeroGrad() { core.zeroGrad() }
  /// Applies one update to every parameter that has a gradient.
  public func step() { core.step(learningRate: learningRate) }
  /// `"<index>.exp_avg"` and `"<index>.exp_avg_sq"` for parameters that have stepped (live tensors).
  public func stateTensors() -> [(name: String, tensor: Tensor)] { core.stateTensors() }
  /// `"<index>.step"` per stepped parameter, and `"lr"`.
  public func stateScalars() -> [String: String] { core.stateScalars(learningRate: learningRate) }
  /// Restores what `stateTensors`/`stateScalars` saved (tensors copied); throws, changing nothing,
  /// when names, shapes or step counts do not fit.
  public func restore(tensors: [String: Tensor], scalars: [String: String]) throws {
    if let lr = try core.restore(tensors: tensors, scalars: scalars) { learningRate = lr }
  }
}

/// AdamW (Loshchilov & Hutter) as PyTorch's `torch.optim.AdamW`: weight decay is decoupled from the
/// gradient, `w = w·(1 − lr·weightDecay)`, then the plain Adam update. Default weight decay 1e-2.
public final class AdamW: Adam {
  /// Creates an optimiser over `parameters` (PyTorch's defaults: lr 1e-3, weight decay 1e-2).
  public init(
    parameters: [Tensor], learningRate: Float = 1e-3, betas: (Float, Float) = (0.9, 0.999),
    eps: Float = 1e-8, weightDecay: Float = 1e-2
  ) {
    super.init(
      name: "AdamW", parameters: parameters, learningRate: learningRate, betas: betas, eps: eps,
      weightDecay: weightDecay, decoupled: true)
  }
}

/// The state and arithmetic Adam and AdamW share.
final class AdamCore {
  let name: String
  let parameters: [Tensor]
  let beta1: Float
  let beta2: Float
  let eps: Float
  let weightDecay: Float
  let decoupled: Bool
  private(set) var steps: [Int]
  private var expAvg: [Tensor?]
  private var expAvgSq: [Tensor?]

  init(
    name: String, parameters: [Tensor], betas: (Float, Float), eps: Float, weightDecay: Float, decoupled: Bool
  ) {
    precondition((0..<1).contains(betas.0) && (0..<1).contains(betas.1), "\(name): betas must lie in [0, 1)")
    precondition(eps >= 0 && weightDecay >= 0, "\(name): eps and weight decay must not be negative")
    self.name = name
    self.parameters = parameters
    (beta1, beta2) = betas
    self.eps = eps
    self.weightDecay = weightDecay
    self.decoupled = decoupled
    steps = Array(repeating: 0, count: parameters.count)
    expAvg = Array(repeating: nil, count: parameters.count)
    expAvgSq = Array(repeating: nil, count: parameters.count)
  }

  func zeroGrad() {
    for p in parameters { p.grad = nil }
  }

  func step(learningRate: Float) {
    for (index, p) in parameters.enumerated() {
      guard let grad = p.grad else { continue }
      precondition(
        grad.count == p.count, "\(name): gradient \(grad.shape) does not match parameter \(p.shape)")
      if expAvg[index] == nil {
        expAvg[index] = Tensor(zeros: p.shape).onDevice(of: p)
        expAvgSq[index] = Tensor(zeros: p.shape).onDevice(of: p)
      }
      steps[index] += 1
      let rule = AdamUpdate(
        learningRate: learningRate, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay,
        decoupled: decoupled, step: steps[index])
      Backends.inBackward {
        try Backends.backend(name, p, grad).adamStep(
          weight: p, gradient: grad, firstMoment: expAvg[index]!, secondMoment: expAvgSq[index]!, rule: rule)
      }
    }
  }

  func stateTensors() -> [(name: String, tensor: Tensor)] {
    var out: [(name: String, tensor: Tensor)] = []
    for index in parameters.indices {
      guard let m = expAvg[index], let v = expAvgSq[index] else { continue }
      out.append((name: "\(index).exp_avg", tensor: m))
      out.append((name: "\(index).exp_avg_sq", tensor: v))
    }
    return out
  }

  func stateScalars(learningRate: Float) -> [String: String] {
    var out = ["lr": String(describing: learningRate)]
    for (index, count) in steps.enumerated() where count > 0 { out["\(index).step"] = String(count) }
    return out
  }

  /// Validates everything first, then replaces the state. Returns the saved learning rate.
  func restore(tensors: [String: Tensor], scalars: [String: String]) throws -> Float? {
    let indices = parameters.indices
    let tensorNames = Set(indices.flatMap { ["\($0).exp_avg", "\($0).exp_avg_sq"] })
    try StateParsing.rejectUnknown(tensors.keys, allowed: tensorNames, kind: "\(name) state tensor")
    let scalarNames = Set(indices.map { "\($0).step" } + ["lr"])
    try StateParsing.rejectUnknown(scalars.keys, allowed: scalarNames, kind: "\(name) state scalar")
    var newSteps = steps
    for index in indices {
      let (mName, vName, stepName) = ("\(index).exp_avg", "\(index).exp_avg_sq", "\(index).step")
      let step = try StateParsing.int(scalars, stepName) ?? 0
      let present = [tensors[mName], tensors[vName]].compactMap { $0 }
      guard (0...StateParsing.maximumCount).contains(step) else {
        throw TrainingError.invalidState(
          message: "\(name) parameter \(index): step \(step) is outside 0...\(StateParsing.maximumCount)")
      }
      guard (step > 0 && present.count == 2) || (step == 0 && present.isEmpty) else {
        throw TrainingError.invalidState(
          message: "\(name) parameter \(index): step \(step) with \(present.count) of its 2 moment tensors")
      }
      for (t, tName) in zip(present, [mName, vName]) {
        try StateParsing.checkShape(t, tName, parameter: parameters[index])
      }
      newSteps[index] = step
    }
    let lr = try StateParsing.float(scalars, "lr")
    steps = newSteps
    expAvg = indices.map { tensors["\($0).exp_avg"]?.copy().onDevice(of: parameters[$0]) }
    expAvgSq = indices.map { tensors["\($0).exp_avg_sq"]?.copy().onDevice(of: parameters[$0]) }
    return lr
  }
}
