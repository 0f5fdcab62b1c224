/// Batch normalisation over channels of NCHW input, PyTorch's `nn.BatchNorm2d`: parameters `weight`
/// (γ, init 1) and `bias` (β, init 0); buffers `running_mean`, `running_var` and
/// `num_batches_tracked` (a 0-d counter, as in PyTorch's state dict).
public final class BatchNorm2d: Module {
  public let numFeatures: Int
  public let eps: Float
  public let momentum: Float
  public let weight: Tensor
  public let bias: Tensor
  public let runningMean: Tensor
  public let runningVar: Tensor
  /// Steps taken in training mode (stored as a float; written as int64 in state dicts).
  public let numBatchesTracked: Tensor
  /// When set (`--sync-bn`), training statistics span every process of the run (`SyncBatchNorm`).
  public var synchronizer: (any Communicator)? = nil

  /// Creates a batch-norm layer with PyTorch's defaults (eps 1e-5, momentum 0.1).
  public init(_ numFeatures: Int, eps: Float = 1e-5, momentum: Float = 0.1) {
    self.numFeatures = numFeatures
    self.eps = eps
    self.momentum = momentum
    weight = Tensor(repeating: 1, shape: [numFeatures])
    bias = Tensor(zeros: [numFeatures])
    runningMean = Tensor(zeros: [numFeatures])
    runningVar = Tensor(repeating: 1, shape: [numFeatures])
    numBatchesTracked = Tensor(zeros: [])
    super.init()
    registerParameter("weight", weight)
    registerParameter("bias", bias)
    registerBuffer("running_mean", runningMean)
    registerBuffer("running_var", runningVar)
    registerBuffer("num_batches_tracked", numBatchesTracked)
  }

  public override func forward(_ input: Tensor) throws -> Tensor {
    guard input.rank == 4 else {
      throw TensorError.shapeMismatch(
        operation: "BatchNorm2d", message: "expected 4-D input, got \(shapeString(input.shape))")
    }
    if isTraining && !input.isMeta {
      // On a device the counter makes a round trip: one float, once per layer and step.
      if numBatchesTracked.isAccelerated {
        numBatchesTracked.fill(numBatchesTracked.item + 1)
      } else {
        numBatchesTracked.data[0] += 1
      }
    }
    if isTraining, !input.isMeta, let synchronizer, synchronizer.size > 1 {
      return try SyncBatchNorm.forward(
        input, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
        momentum: momentum,
        eps: eps, communicator: synchronizer)
    }
    return try Functional.batchNorm(
      input, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
      training: isTraining, momentum: momentum, eps: eps)
  }

  public override var extraDescription: String {
    "\(numFeatures), eps=\(pythonFloat(eps)), momentum=\(pythonFloat(momentum)), affine=True, track_running_stats=True"
  }
}

/// Local response normalisation across channels, PyTorch's `nn.LocalResponseNorm` — with the
/// convention made explicit: `.pytorch` applies `alpha / size`, `.paper` applies `alpha` as the 2012
/// AlexNet paper writes it (`k + α·Σ a²`).
public final class LocalResponseNorm: Module {
  public let size: Int
  public let alpha: Float
  public let beta: Float
  public let k: Float
  public let convention: LRNConvention

  /// Creates an LRN layer; PyTorch's defaults are alpha 1e-4, beta 0.75, k 1.
  public init(
    size: Int, alpha: Float = 1e-4, beta: Float = 0.75, k: Float = 1, convention: LRNConvention = .pytorch
  ) {
    self.size = size
    self.alpha = alpha
    self.beta = beta
    self.k = k
    self.convention = convention
    super.init()
  }

  public override func forward(_ input: Tensor) throws -> Tensor {
    try Functional.localResponseNorm(
      input, size: size, alpha: alpha, beta: beta, k: k, convention: convention)
  }

  public override var extraDescription: String {
    let base = "\(size), alpha=\(pythonFloat(alpha)), beta=\(pythonFloat(beta)), k=\(pythonFloat(k))"
    return convention == .paper ? base + ", convention=paper" : base
  }
}

/// Formats a float as Python's `repr` does for the usual constants (`1e-05`, `0.0001`, `2.0`).
func pythonFloat(_ x: Float) -> String {
  let d = Double(String(x))!
  var s = "\(d)"
  // Swift writes `1e-05` like Python; integral values as `2.0` like Python.
  if s.hasSuffix(".0e+00") { s = String(s.dropLast(4)) }
  return s
}
