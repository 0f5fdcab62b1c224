import CNNKitKernels
import Foundation

/// The device half of the ops, after PyTorch's dispatcher: `Functional` checks shapes and records
/// autograd once, and hands the arithmetic to the backend its operands live on — the CPU's kernels,
/// CUDA, or the meta backend, which computes shapes only (summaries trace models with it). Every
/// method takes and returns tensors of that backend; nothing here records history.
///
/// What a forward pass keeps for its backward pass is the backend's own (`AnyObject`): the CPU keeps
/// a ReLU's mask as bits, CUDA the output.
protocol Backend: AnyObject {
  /// The device this backend computes on (`.cpu` for the meta backend).
  var device: Device { get }

  /// A tensor of `shape` with unspecified contents.
  func empty(_ shape: [Int]) throws -> Tensor
  /// A copy of a host tensor on this backend's device.
  func upload(_ host: Tensor) throws -> Tensor
  /// A host copy.
  func download(_ tensor: Tensor) throws -> Tensor
  /// Copies `source` into `destination` (either may be on the host).
  func copy(_ source: Tensor, into destination: Tensor) throws
  func fill(_ tensor: Tensor, _ value: Float) throws

  func add(_ a: Tensor, _ b: Tensor) throws -> Tensor
  /// `a += b` in place.
  func accumulate(_ a: Tensor, _ b: Tensor) throws
  func scale(_ a: Tensor, by factor: Float) throws -> Tensor
  /// `Σ x` as a one-element tensor.
  func sum(_ x: Tensor) throws -> Tensor
  /// A tensor of `shape` holding the one element of `value` everywhere (the sum's backward).
  func broadcast(_ value: Tensor, to shape: [Int]) throws -> Tensor

  /// `x` [N, C, …] between `before` and `after` zero channels: [N, before + C + after, …].
  func padChannels(_ x: Tensor, before: Int, after: Int) throws -> Tensor
  /// Channels `start ..< start + count` of `x` [N, C, …] as a tensor of their own (the pad's backward).
  func narrowChannels(_ x: Tensor, start: Int, count: Int) throws -> Tensor

  /// `max(x, 0)`; keeps what the backward needs when `keepForBackward`.
  func relu(_ x: Tensor, keepForBackward: Bool) throws -> (output: Tensor, saved: AnyObject?)
  /// The ReLU's input gradient; may write into `gradient` when `owned` (the pass owns it).
  func reluBackward(_ saved: AnyObject, gradient: Tensor, owned: Bool) throws -> Tensor
  /// Inverted dropout in training mode. `streams` holds one generator that draws every element in
  /// order, or one per row of `x` (`x.shape[0]` of them), each drawing its row's elements.
  func dropout(_ x: Tensor, p: Float, using streams: inout [RandomGenerator]) throws -> (
    output: Tensor, saved: AnyObject
  )
  func dropoutBackward(_ saved: AnyObject, gradient: Tensor, owned: Bool) throws -> Tensor
  /// Softmax (or log-softmax) over the last dimension.
  func softmax(_ x: Tensor, log: Bool) throws -> Tensor
  func softmaxBackward(output y: Tensor, gradient g: Tensor, log: Bool) throws -> Tensor
  /// The label-smoothed NLL of log-probabilities [N, C], reduced as asked.
  func smoothedNLL(
    _ logProbabilities: Tensor, targets: [Int], smoothing: Float, reduction: LossReduction
  ) throws -> Tensor
  func smoothedNLLBackward(
    gradient: Tensor, targets: [Int], shape: [Int], smoothing: Float, reduction: LossReduction
  ) throws -> Tensor

  /// The convolution (with its ReLU when `relu`); `recording` says a backward pass will follow, and
  /// `weightFrozen` that the weight cannot change before the next call (so derived forms may be kept).
  /// Returns what the ReLU's backward needs when `relu` and `recording`.
  func conv2dForward(
    _ s: Conv2dShape, input: Tensor, weight: Tensor, bias: Tensor?, relu: Bool, recording: Bool,
    weightFrozen: Bool
  ) throws -> (output: Tensor, reluSaved: AnyObject?)
  func conv2dBackwardInput(_ s: Conv2dShape, gradOutput: Tensor, weight: Tensor) throws -> Tensor
  /// The weight gradient and, with `bias`, the bias gradient.
  func conv2dBackwardWeight(
    _ s: Conv2dShape, input: Tensor, gradOutput: Tensor, bias: Bool
  ) throws -> (weight: Tensor, bias: Tensor?)
  /// `x·Wᵀ + b`; `weightFrozen` as for convolutions.
  func linearForward(_ input: Tensor, weight: Tensor, bias: Tensor?, weightFrozen: Bool) throws -> Tensor
  /// `dx = g·W`, `dW = gᵀ·x`, `db = Σ g` over rows, each only when asked for.
  func linearBackward(
    input: Tensor, weight: Tensor, gradOutput: Tensor, needInput: Bool, needWeight: Bool, needBias: Bool
  ) throws -> (input: Tensor?, weight: Tensor?, bias: Tensor?)

  func maxPool2d(_ s: Pool2dShape, input: Tensor, keepForBackward: Bool) throws -> (
    output: Tensor, saved: AnyObject?
  )
  func maxPool2dBackward(_ s: Pool2dShape, saved: AnyObject, gradient: Tensor) throws -> Tensor
  func avgPool2d(_ s: Pool2dShape, input: Tensor, countIncludePad: Bool) throws -> Tensor
  func avgPool2dBackward(_ s: Pool2dShape, gradOutput: Tensor, countIncludePad: Bool) throws -> Tensor
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

  /// One SGD update of `weight` in place (see `sgdUpdateKernel`); `velocity` is nil without momentum.
  func sgdStep(
    weight: Tensor, gradient: Tensor, velocity: Tensor?, learningRate: Float, momentum: Float,
    dampening: Float, weightDecay: Float, nesterov: Bool, firstStep: Bool) throws
  /// One Adam/AdamW update of `weight` and its moments in place (see `adamUpdateKernel`).
  func adamStep(
    weight: Tensor, gradient: Tensor, firstMoment: Tensor, secondMoment: Tensor, rule: AdamUpdate) throws
}

/// Finds the backend an op runs on.
enum Backends {
  /// The backend of `device`, set up on first use.
  static func backend(for device: Device) throws -> any Backend {
    switch device {
    case .cpu: return CPUBackend.shared
    case .cuda(let index): return try CUDABackend.shared(index)
    }
  }

  /// The backend the operands of `op` live on: the meta backend when any is a meta tensor, else
  /// their device's, which all must share.
  static func backend(_ op: String, _ tensors: Tensor?...) throws -> any Backend {
    var device = Device.cpu
    var seen = false
    for case let t? in tensors {
      if t.isMeta { return MetaBackend.shared }
      if seen && t.device != device {
        // A meta operand further on still wins: summaries trace CPU weights with meta inputs.
        if tensors.contains(where: { $0?.isMeta ?? false }) { return MetaBackend.shared }
        throw TensorError.deviceMismatch(operation: op, devices: [device, t.device])
      }
      device = t.device
      seen = true
    }
    // The common case stays free of a switch and a lookup.
    return device == .cpu ? CPUBackend.shared : try backend(for: device)
  }

  /// Runs `body` where errors cannot be thrown (a backward rule, a non-throwing op): a device
  /// failure there (out of memory in the middle of a backward pass) ends the process with one
  /// `error:` line naming it and exit status 1. Files being written are left alone: every output is
  /// written to a temporary file and renamed, so nothing half-written remains.
  static func inBackward<T>(_ body: () throws -> T) -> T {
    do {
      return try body()
    } catch {
      FileHandle.standardError.write(Data("error: \(error)\n".utf8))
      exit(1)
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
    if device.isAccelerator {
      let host = isAccelerated ? try to(.cpu) : self
      return try Backends.backend(for: device).upload(host)
    }
    return try Backends.backend(for: self.device).download(self)
  }

  func deviceCopy() -> Tensor {
    Backends.inBackward {
      let backend = try Backends.backend(for: device)
      let out = try backend.empty(shape)
      try backend.copy(self, into: out)
      return out
    }
  }

  func deviceAssign(from other: Tensor) {
    Backends.inBackward {
      let backend = try Backends.backend(for: isAccelerated ? device : other.device)
      try backend.copy(other, into: self)
    }
  }

  func deviceFill(_ value: Float) {
    Backends.inBackward { try Backends.backend(for: device).fill(self, value) }
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
