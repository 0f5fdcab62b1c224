/// Stochastic gradient descent with momentum and weight decay, with PyTorch's `torch.optim.SGD`
/// update rule (the AlexNet paper's optimiser: momentum 0.9, weight decay 5e-4):
///
///     g = grad + weightDecay·w
///     v = momentum·v + (1 − dampening)·g      (v = g on the first step)
///     w = w − lr·(nesterov ? g + momentum·v : v)
public final class SGD {
  /// The tensors being optimised.
  public let parameters: [Tensor]
  /// Learning rate; schedulers change it between steps.
  public var learningRate: Float
  public let momentum: Float
  public let dampening: Float
  public let weightDecay: Float
  public let nesterov: Bool
  /// One momentum buffer per parameter, nil until its first step (as in PyTorch).
  public private(set) var momentumBuffers: [Tensor?]

  /// Creates an optimiser over `parameters`.
  public init(
    parameters: [Tensor], learningRate: Float, momentum: Float = 0, dampening: Float = 0,
    weightDecay: Float = 0, nesterov: Bool = false
  ) {
    self.parameters = parameters
    self.learningRate = learningRate
    self.momentum = momentum
    self.dampening = dampening
    self.weightDecay = weightDecay
    self.nesterov = nesterov
    momentumBuffers = Array(repeating: nil, count: parameters.count)
  }

  /// Clears every parameter's gradient.
  public func zeroGrad() {
    for p in parameters { p.grad = nil }
  }

  /// Applies one update to every parameter that has a gradient.
  public func step() {
    for (index, p) in parameters.enumerated() {
      guard let grad = p.grad else { continue }
      let w = p.data
      let g = grad.data
      let n = p.count
      let d = Tensor(zeros: p.shape)
      for i in 0..<n { d.data[i] = g[i] + weightDecay * w[i] }
      if momentum != 0 {
        if let buffer = momentumBuffers[index] {
          for i in 0..<n { buffer.data[i] = momentum * buffer.data[i] + (1 - dampening) * d.data[i] }
        } else {
          momentumBuffers[index] = d.copy()
        }
        let v = momentumBuffers[index]!.data
        if nesterov {
          for i in 0..<n { d.data[i] += momentum * v[i] }
        } else {
          d.data.update(from: v, count: n)
        }
      }
      for i in 0..<n { w[i] -= learningRate * d.data[i] }
    }
  }
}
