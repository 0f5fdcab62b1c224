import CNNKitKernels

/// The meta backend (PyTorch's "meta" device): every op returns a shape-only tensor of its result's
/// shape and computes nothing. Summaries run models on it to trace shapes; an op any of whose
/// operands is a meta tensor lands here, whatever device the others are on.
final class MetaBackend: Backend, @unchecked Sendable {
  static let shared = MetaBackend()
  let device = Device.cpu

  private func meta(_ shape: [Int]) -> Tensor { Tensor(metaShape: shape) }
  private func meta(_ t: Tensor?) -> Tensor? { t.map { meta($0.shape) } }

  func empty(_ shape: [Int]) throws -> Tensor { meta(shape) }
  func upload(_ host: Tensor) throws -> Tensor { meta(host.shape) }
  func download(_ tensor: Tensor) throws -> Tensor { meta(tensor.shape) }
  func copy(_ source: Tensor, into destination: Tensor) throws {}
  func fill(_ tensor: Tensor, _ value: Float) throws {}

  func add(_ a: Tensor, _ b: Tensor) throws -> Tensor { meta(a.shape) }
  func accumulate(_ a: Tensor, _ b: Tensor) throws {}
  func scale(_ a: Tensor, by factor: Float) throws -> Tensor { meta(a.shape) }
  func sum(_ x: Tensor) throws -> Tensor { meta([1]) }
  func broadcast(_ value: Tensor, to shape: [Int]) throws -> Tensor { meta(shape) }

  func padChannels(_ x: Tensor, before: Int, after: Int) throws -> Tensor {
    var shape = x.shape
    shape[1] += before + after
    return meta(shape)
  }
  func narrowChannels(_ x: Tensor, start: Int, count: Int) throws -> Tensor {
    var shape = x.shape
    shape[1] = count
    return meta(shape)
  }

  func relu(_ x: Tensor, keepForBackward: Bool) throws -> (output: Tensor, saved: AnyObject?) {
    (meta(x.shape), nil)
  }
  func reluBackward(_ saved: AnyObject, gradient: Tensor, owned: Bool) throws -> Tensor {
    meta(gradient.shape)
  }
  func dropout(_ x: Tensor, p: Float, using streams: inout [RandomGenerator]) throws -> (
    output: Tensor, saved: AnyObject
  ) {
    (meta(x.shape), self)
  }
  func dropoutBackward(_ saved: AnyObject, gradient: Tensor, owned: Bool) throws -> Tensor {
    meta(gradient.shape)
  }
  func softmax(_ x: Tensor, log: Bool) throws -> Tensor { meta(x.shape) }
  func softmaxBackward(output y: Tensor, gradient g: Tensor, log: Bool) throws -> Tensor { meta(y.shape) }
  func smoothedNLL(
    _ logProbabilities: Tensor, targets: [Int], smoothing: Float, reduction: LossReduction
  ) throws -> Tensor {
    meta(reduction == .none ? [targets.count] : [1])
  }
  func smoothedNLLBackward(
    gradient: Tensor, targets: [Int], shape: [Int], smoothing: Float, reduction: LossReduction
  ) throws -> Tensor {
    meta(shape)
  }

  func conv2dForward(
    _ s: Conv2dShape, input: Tensor, weight: Tensor, bias: Tensor?, relu: Bool, recording: Bool,
    weightFrozen: Bool
  ) throws -> (output: Tensor, reluSaved: AnyObject?) {
    (meta([s.batch, s.outChannels, s.outHeight, s.outWidth]), nil)
  }
  func conv2dBackwardInput(_ s: Conv2dShape, gradOutput: Tensor, weight: Tensor) throws -> Tensor {
    meta([s.batch, s.inChannels, s.inHeight, s.inWidth])
  }
  func conv2dBackwardWeight(
    _ s: Conv2dShape, input: Tensor, gradOutput: Tensor, bias: Bool
  ) throws -> (weight: Tensor, bias: Tensor?) {
    (
      meta([s.outChannels, s.inChannelsPerGroup, s.kernelHeight, s.kernelWidth]),
      bias ? meta([s.outChannels]) : nil
    )
  }
  func linearForward(_ input: Tensor, weight: Tensor, bias: Tensor?, weightFrozen: Bool) throws -> Tensor {
    meta([input.shape[0], weight.shape[0]])
  }
  func linearBackward(
    input: Tensor, weight: Tensor, gradOutput: Tensor, needInput: Bool, needWeight: Bool, needBias: Bool
  ) throws -> (input: Tensor?, weight: Tensor?, bias: Tensor?) {
    (
      needInput ? meta(input.shape) : nil, needWeight ? meta(weight.shape) : nil,
      needBias ? meta([weight.shape[0]]) : nil
    )
  }

  func maxPool2d(_ s: Pool2dShape, input: Tensor, keepForBackward: Bool) throws -> (
    output: Tensor, saved: AnyObject?
  ) {
    (meta([s.batch, s.channels, s.outHeight, s.outWidth]), nil)
  }
  func maxPool2dBackward(_ s: Pool2dShape, saved: AnyObject, gradient: Tensor) throws -> Tensor {
    meta([s.batch, s.channels, s.inHeight, s.inWidth])
  }
  func avgPool2d(_ s: Pool2dShape, input: Tensor, countIncludePad: Bool) throws -> Tensor {
    meta([s.batch, s.channels, s.outHeight, s.outWidth])
  }
  func avgPool2dBackward(_ s: Pool2dShape, gradOutput: Tensor, countIncludePad: Bool) throws -> Tensor {
    meta([s.batch, s.channels, s.inHeight, s.inWidth])
  }
  func adaptiveAvgPool2d(_ input: Tensor, outputSize: (Int, Int)) throws -> Tensor {
    meta([input.shape[0], input.shape[1], outputSize.0, outputSize.1])
  }
  func adaptiveAvgPool2dBackward(gradOutput: Tensor, inputShape: [Int]) throws -> Tensor { meta(inputShape) }

  func batchNormTraining(
    _ input: Tensor, weight: Tensor?, bias: Tensor?, runningMean: Tensor?, runningVar: Tensor?,
    momentum: Float, eps: Float
  ) throws -> (output: Tensor, mean: Tensor, invStd: Tensor) {
    (meta(input.shape), meta([input.shape[1]]), meta([input.shape[1]]))
  }
  func batchNormTrainingBackward(
    input: Tensor, gradOutput: Tensor, weight: Tensor?, mean: Tensor, invStd: Tensor,
    needInput: Bool, needWeight: Bool, needBias: Bool
  ) throws -> (input: Tensor?, weight: Tensor?, bias: Tensor?) {
    (
      needInput ? meta(input.shape) : nil, needWeight ? meta(mean.shape) : nil,
      needBias ? meta(mean.shape) : nil
    )
  }
  func batchNormInference(
    _ input: Tensor, weight: Tensor?, bias: Tensor?, mean: Tensor, variance: Tensor, eps: Float
  ) throws -> Tensor {
    meta(input.shape)
  }
  func batchNormInferenceBackward(
    input: Tensor, gradOutput: Tensor, weight: Tensor?, mean: Tensor, variance: Tensor, eps: Float,
    needInput: Bool, needWeight: Bool, needBias: Bool
  ) throws -> (input: Tensor?, weight: Tensor?, bias: Tensor?) {
    (
      needInput ? meta(input.shape) : nil, needWeight ? meta(mean.shape) : nil,
      needBias ? meta(mean.shape) : nil
    )
  }
  func localResponseNorm(
    _ input: Tensor, size: Int, coefficient: Float, beta: Float, k: Float
  ) throws -> (output: Tensor, scale: Tensor) {
    (meta(input.shape), meta(input.shape))
  }
  func localResponseNormBackward(
    input: Tensor, scale: Tensor, gradOutput: Tensor, size: Int, coefficient: Float, beta: Float
  ) throws -> Tensor {
    meta(input.shape)
  }

  func sgdStep(
    weight: Tensor, gradient: Tensor, velocity: Tensor?, learningRate: Float, momentum: Float,
    dampening: Float, weightDecay: Float, nesterov: Bool, firstStep: Bool
  ) throws {}
  func adamStep(
    weight: Tensor, gradient: Tensor, firstMoment: Tensor, secondMoment: Tensor, rule: AdamUpdate
  ) throws {}
}
