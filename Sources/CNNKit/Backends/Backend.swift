import CNNKitKernels

/// The device half of the ops, after PyTorch's dispatcher: `Functional` checks shapes and records
/// autograd once, and hands the arithmetic to the backend of the device its operands live on. Every
/// method takes and returns tensors on that device; nothing here records history.
///
/// The CPU's arithmetic still runs inline in `Functional` (its algorithm choices and cached weight
/// forms live there and in `CNNKitKernels`); devices other than the CPU implement this protocol.
protocol Backend: AnyObject {
  /// The device this backend computes on.
  var device: Device { get }

  /// A tensor of `shape` on the device with unspecified contents.
  func empty(_ shape: [Int]) throws -> Tensor
  /// A copy of a host tensor on the device.
  func upload(_ host: Tensor) throws -> Tensor
  /// A host copy of a tensor on the device.
  func download(_ tensor: Tensor) throws -> Tensor
  /// Copies `source` (on this device or the host) into `destination` (on this device or the host).
  func copy(_ source: Tensor, into destination: Tensor) throws
  func fill(_ tensor: Tensor, _ value: Float) throws

  func add(_ a: Tensor, _ b: Tensor) throws -> Tensor
  /// `a += b` in place.
  func accumulate(_ a: Tensor, _ b: Tensor) throws
  func scale(_ a: Tensor, by factor: Float) throws -> Tensor
  func multiply(_ a: Tensor, _ b: Tensor) throws -> Tensor
  /// `scale · Σ x` as a one-element tensor.
  func sum(_ x: Tensor, scale: Float) throws -> Tensor

  func relu(_ x: Tensor) throws -> Tensor
  /// The ReLU's input gradient from its output `y` and output gradient `g`.
  func reluBackward(output y: Tensor, gradient g: Tensor) throws -> Tensor
  /// Inverted dropout; returns the output and the per-element factor (0 or 1/(1 − p)) backward needs.
  func dropout(_ x: Tensor, p: Float, seed: UInt64) throws -> (output: Tensor, factors: Tensor)
  func softmax(_ x: Tensor, log: Bool) throws -> Tensor
  func softmaxBackward(output y: Tensor, gradient g: Tensor, log: Bool) throws -> Tensor
  /// Per-sample label-smoothed NLL of log-probabilities [N, C].
  func smoothedNLL(_ logProbabilities: Tensor, targets: [Int], smoothing: Float) throws -> Tensor
  /// Its gradient; `gradient` holds one value per sample when `perSample`, else one.
  func smoothedNLLBackward(
    gradient: Tensor, targets: [Int], shape: [Int], smoothing: Float, scale: Float, perSample: Bool
  ) throws -> Tensor

  func conv2dForward(_ s: Conv2dShape, input: Tensor, weight: Tensor, bias: Tensor?) throws -> Tensor
  func conv2dBackwardInput(_ s: Conv2dShape, gradOutput: Tensor, weight: Tensor) throws -> Tensor
  /// The weight gradient and, with `bias`, the bias gradient.
  func conv2dBackwardWeight(
    _ s: Conv2dShape, input: Tensor, gradOutput: Tensor, bias: Bool
  ) throws -> (weight: Tensor, bias: Tensor?)
  func linearForward(_ input: Tensor, weight: Tensor, bias: Tensor?) throws -> Tensor
  /// `dx = g·W`, `dW = gᵀ·x`, `db = Σ g` over rows, each only when asked for.
  func linearBackward(
    input: Tensor, weight: Tensor, gradOutput: Tensor, needInput: Bool, needWeight: Bool, needBias: Bool
  ) throws -> (input: Tensor?, weight: Tensor?, bias: Tensor?)

  /// Max pooling; `indices` (the winner's place in its input plane) is made when `keepIndices`.
  func maxPool2d(_ s: Pool2dShape, input: Tensor, keepIndices: Bool) throws -> (
    output: Tensor, indices: Tensor?
  )
  func maxPool2dBackward(_ s: Pool2dShape, gradOutput: Tensor, indices: Tensor) throws -> Tensor
  func avgPool2d(_ s: Pool2dShape, input: Tensor, countIncludePad: Bool) throws -> Tensor
  func avgPool2dBackward(_ s: Pool2dShape, gradOutput: Tensor, countIncludePad: Bool) throws -> Tensor
  /// Adaptive average pooling of `input` (NCHW) to `outputSize`; backward when `gradient` is given.
  func adaptiveAvgPool2d(_ input: Tensor, outputSize: (Int, Int)) throws -> Tensor
  func adaptiveAvgPool2dBackward(gradOutput: Tensor, inputShape: [Int]) throws -> Tensor

  /// Batch norm with batch statistics; updates the running buffers when given. Returns the output
  /// and the saved mean and inverse standard deviation.
  func batchNormTraining(
    _ input: Tensor, weight: Tensor?, bias: Tensor?, runningMean: Tensor?, runningVar: Tensor?,
    momentum: Float, eps: Float
  ) throws -> (output: Tensor, mean: Tensor, invStd: Tensor)
  func batchNormTrainingBackward(
    input: Tensor, gradOutput: Tensor, weight: Tensor?, mean: Tensor, invStd: Tensor,
    needInput: Bool, needWeight: Bool, needBias: Bool
  ) throws -> (input: Tensor?, weight: Tensor?, bias: Tensor?)
  func batchNormInference(
    _ input: Tensor, weight: Tensor?, bias: Tensor?, mean: Tensor, variance: Tensor, eps: Float
  ) throws -> Tensor
  func batchNormInferenceBackward(
    input: Tensor, gradOutput: Tensor, weight: Tensor?, mean: Tensor, variance: Tensor, eps: Float,
    needInput: Bool, needWeight: Bool, needBias: Bool
  ) throws -> (input: Tensor?, weight: Tensor?, bias: Tensor?)
  /// LRN across channels with `coefficient` applied to Σx² (see `localResponseNormForward`);
  /// returns the output and the scale backward needs.
  func localResponseNorm(
    _ input: Tensor, size: Int, coefficient: Float, beta: Float, k: Float
  ) throws -> (output: Tensor, scale: Tensor)
  func localResponseNormBackward(
    input: Tensor, scale: Tensor, gradOutput: Tensor, size: Int, coefficient: Float, beta: Float
  ) throws -> Tensor

  /// One SGD update of `weight` in place (see `SGD`); `velocity` is nil without momentum.
  func sgdStep(
    weight: Tensor, gradient: Tensor, velocity: Tensor?, learningRate: Float, momentum: Float,
    dampening: Float, weightDecay: Float, nesterov: Bool, firstStep: Bool) throws
  /// One Adam/AdamW update in place, PyTorch's arithmetic: `w ·= decay` (AdamW), `g += wd·w` (Adam),
  /// moments updated, `w −= stepSize · m / (√v / correction2 + eps)`.
  func adamStep(
    weight: Tensor, gradient: Tensor, firstMoment: Tensor, secondMoment: Tensor, stepSize: Float,
    beta1: Float, beta2: Float, eps: Float, correction2: Float, decay: Float, weightDecay: Float) throws
}

/// The backends of the devices other than the CPU.
enum Backends {
  /// The backend for `device`, set up on first use; nil for the CPU.
  static func backend(for device: Device) throws -> (any Backend)? {
    switch device {
    case .cpu: return nil
    case .cuda(let index): return try CUDABackend.shared(index)
    }
  }

  /// The backend the operands of `op` live on (nil: the CPU); all must share one device.
  static func backend(_ op: String, _ tensors: Tensor?...) throws -> (any Backend)? {
    let present = tensors.compactMap { $0 }
    guard let first = present.first, !first.isMeta else { return nil }
    for t in present where t.device != first.device {
      throw TensorError.deviceMismatch(operation: op, devices: [first.device, t.device])
    }
    return try backend(for: first.device)
  }

  /// Runs `body` inside a backward rule, where errors cannot be thrown: a device failure there (out
  /// of memory in the middle of a backward pass) stops the process with the device's message.
  static func inBackward<T>(_ body: () throws -> T) -> T {
    do {
      return try body()
    } catch {
      fatalError("error: \(error)")
    }
  }
}

extension Tensor {
  /// True when the elements live on a device other than the CPU.
  var isAccelerated: Bool { storage.deviceBuffer != nil }

  /// A copy on `device` (this tensor itself when already there), PyTorch's `tensor.to(device)`.
  /// The copy records no history.
  public func to(_ device: Device) throws -> Tensor {
    if device == self.device || isMeta { return self }
    if let backend = try Backends.backend(for: device) {
      let host = isAccelerated ? try to(.cpu) : self
      return try backend.upload(host)
    }
    return try Backends.backend(for: self.device)!.download(self)
  }

  func deviceCopy() -> Tensor {
    Backends.inBackward {
      let backend = try Backends.backend(for: device)!
      let out = try backend.empty(shape)
      try backend.copy(self, into: out)
      return out
    }
  }

  func deviceAssign(from other: Tensor) {
    Backends.inBackward {
      let backend = try Backends.backend(for: isAccelerated ? device : other.device)!
      try backend.copy(other, into: self)
    }
  }

  func deviceFill(_ value: Float) {
    Backends.inBackward { try Backends.backend(for: device)!.fill(self, value) }
  }
}

extension Module {
  /// Where the parameters live (the first one's device; the CPU for a module without parameters).
  public var device: Device { parameters().first?.device ?? .cpu }

  /// Moves every parameter, buffer and gradient to `device` in place, PyTorch's `module.to(device)`.
  /// Tensors keep their identity, so layers and optimizers holding them see the move.
  @discardableResult
  public func to(_ device: Device) throws -> Self {
    for (_, tensor) in stateDict() where tensor.device != device && !tensor.isMeta {
      tensor.storage = try tensor.to(device).storage
      if let grad = tensor.grad { tensor.grad = try grad.to(device) }
    }
    return self
  }
}

extension Tensor {
  /// This tensor moved to `other`'s device (for constants an op makes on the host).
  func onDevice(of other: Tensor) -> Tensor {
    guard other.isAccelerated else { return self }
    return Backends.inBackward { try to(other.device) }
  }
}

extension Device {
  /// Waits until the work queued on this device has finished (the CPU's is done when queued):
  /// for timing a step, PyTorch's `torch.cuda.synchronize()`.
  public func synchronize() throws {
    if case .cuda(let index) = self { try CUDAContext.shared(index).synchronize() }
  }
}
