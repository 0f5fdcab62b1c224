import CNNKitKernels

/// A convolution's geometry as a dictionary key (cuDNN descriptors and algorithms are kept per shape).
struct Conv2dPlanKey: Hashable {
  let values: [Int]

  init(_ s: Conv2dShape) {
    values = [
      s.batch, s.inChannels, s.inHeight, s.inWidth, s.outChannels, s.kernelHeight, s.kernelWidth,
      s.strideHeight, s.strideWidth, s.padHeight, s.padWidth, s.dilationHeight, s.dilationWidth, s.groups,
    ]
  }
}

/// cuDNN's descriptors for one convolution geometry and the algorithm its search picked for each
/// pass (searched on the pass's first use, then kept: PyTorch's `cudnn.benchmark`).
final class CUDAConvolutionPlan {
  let input: CHandle
  let filter: CHandle
  let output: CHandle
  let convolution: CHandle
  var forward: (algorithm: Int32, workspace: Int)?
  var backwardData: (algorithm: Int32, workspace: Int)?
  var backwardFilter: (algorithm: Int32, workspace: Int)?

  /// Whether this plan lets cuDNN use TF32 tensor-core math.
  let tensorOps: Bool

  init(_ s: Conv2dShape, cudnn: CuDNNAPI, tensorOps: Bool) throws {
    self.tensorOps = tensorOps
    func make(_ create: @convention(c) (UnsafeMutablePointer<CHandle>) -> CResult, _ name: String) throws
      -> CHandle
    {
      var handle: CHandle = nil
      try cudnn.check(create(&handle), name)
      return handle
    }
    input = try make(cudnn.cudnnCreateTensorDescriptor, "cudnnCreateTensorDescriptor")
    output = try make(cudnn.cudnnCreateTensorDescriptor, "cudnnCreateTensorDescriptor")
    filter = try make(cudnn.cudnnCreateFilterDescriptor, "cudnnCreateFilterDescriptor")
    convolution = try make(cudnn.cudnnCreateConvolutionDescriptor, "cudnnCreateConvolutionDescriptor")
    let (nchw, float32) = (Int32(0), Int32(0))
    try cudnn.check(
      cudnn.cudnnSetTensor4dDescriptor(
        input, nchw, float32, Int32(s.batch), Int32(s.inChannels), Int32(s.inHeight), Int32(s.inWidth)),
      "cudnnSetTensor4dDescriptor")
    try cudnn.check(
      cudnn.cudnnSetTensor4dDescriptor(
        output, nchw, float32, Int32(s.batch), Int32(s.outChannels), Int32(s.outHeight), Int32(s.outWidth)),
      "cudnnSetTensor4dDescriptor")
    try cudnn.check(
      cudnn.cudnnSetFilter4dDescriptor(
        filter, float32, nchw, Int32(s.outChannels), Int32(s.inChannelsPerGroup), Int32(s.kernelHeight),
        Int32(s.kernelWidth)),
      "cudnnSetFilter4dDescriptor")
    // Cross-correlation (what PyTorch calls convolution), fp32 accumulation.
    try cudnn.check(
      cudnn.cudnnSetConvolution2dDescriptor(
        convolution, Int32(s.padHeight), Int32(s.padWidth), Int32(s.strideHeight), Int32(s.strideWidth),
        Int32(s.dilationHeight), Int32(s.dilationWidth), 1, float32),
      "cudnnSetConvolution2dDescriptor")
    try cudnn.check(
      cudnn.cudnnSetConvolutionGroupCount(convolution, Int32(s.groups)), "cudnnSetConvolutionGroupCount")
    // CUDNN_FMA_MATH (3): no TF32 on tensor cores, so results match the CPU's fp32 to 1e-4;
    // CUDNN_TENSOR_OP_MATH (1) when TF32 is asked for.
    try cudnn.check(
      cudnn.cudnnSetConvolutionMathType(convolution, tensorOps ? 1 : 3), "cudnnSetConvolutionMathType")
  }

  /// The fastest algorithm cuDNN's search measured that runs without tensor-core math, and its
  /// workspace size.
  func choose(
    _ name: String, cudnn: CuDNNAPI,
    find: (Int32, UnsafeMutablePointer<Int32>, UnsafeMutableRawPointer) -> CResult
  ) throws -> (algorithm: Int32, workspace: Int) {
    // The C struct is 48 bytes (three 4-byte fields, a size_t, five ints, padding); so must this be.
    precondition(MemoryLayout<CuDNNAlgorithmPerformance>.stride == 48, "cudnnConvolution*AlgoPerf_t layout")
    var results = [CuDNNAlgorithmPerformance](repeating: .init(), count: 16)
    var returned: Int32 = 0
    try cudnn.check(results.withUnsafeMutableBytes { find(16, &returned, $0.baseAddress!) }, name)
    let usable = results.prefix(Int(returned)).filter { $0.status == 0 }
    // mathType 1 and 2 are tensor-op math (TF32 for fp32 data); 0 and 3 are plain FMA.
    // With TF32 allowed the fastest measured algorithm wins, whatever its math.
    let allowed = tensorOps ? usable : usable.filter { $0.mathType == 0 || $0.mathType == 3 }
    guard let best = allowed.first ?? usable.first else {
      throw CUDAError.call(function: name, code: -1, message: "cuDNN found no algorithm for this convolution")
    }
    return (best.algorithm, best.memory)
  }
}

extension CUDABackend {
  func plan(_ s: Conv2dShape) throws -> CUDAConvolutionPlan {
    let key = Conv2dPlanKey(s)
    if let existing = context.convolutionPlans[key] { return existing }
    let made = try CUDAConvolutionPlan(s, cudnn: context.cudnn, tensorOps: context.precision == .tf32)
    context.convolutionPlans[key] = made
    return made
  }

  func conv2dForward(
    _ s: Conv2dShape, input: Tensor, weight: Tensor, bias: Tensor?, relu: Bool, recording: Bool,
    weightFrozen: Bool
  ) throws -> (output: Tensor, reluSaved: AnyObject?) {
    let p = try plan(s)
    let dnn = context.cudnn
    let handle = context.cudnnHandle
    if p.forward == nil {
      p.forward = try p.choose("cudnnFindConvolutionForwardAlgorithm", cudnn: dnn) {
        dnn.findForward(handle, p.input, p.filter, p.convolution, p.output, $0, $1, $2)
      }
    }
    let (algorithm, bytes) = p.forward!
    let out = try empty([s.batch, s.outChannels, s.outHeight, s.outWidth])
    let workspace = bytes > 0 ? try context.allocate(bytes: bytes) : nil
    var (one, zero): (Float, Float) = (1, 0)
    try dnn.check(
      dnn.convolutionForward(
        handle, &one, p.input, address(input), p.filter, address(weight), p.convolution, algorithm,
        workspace?.address ?? 0, bytes, &zero, p.output, address(out)),
      "cudnnConvolutionForward")
    if let bias {
      try context.launch(
        "bias_add", grid: CUDAContext.blocks(for: out.count),
        [
          .pointer(address(out)), .pointer(address(bias)), .int(Int32(s.outChannels)),
          .int(Int32(s.outHeight * s.outWidth)), .int64(Int64(out.count)),
        ])
    }
    guard relu else { return (out, nil) }
    // In place; the ReLU's backward reads the output's sign, so its storage is what it keeps.
    try context.launch(
      "relu_forward", grid: CUDAContext.blocks(for: out.count),
      [.pointer(address(out)), .pointer(address(out)), .int64(Int64(out.count))])
    return (out, recording ? out.storage : nil)
  }

  func conv2dBackwardInput(_ s: Conv2dShape, gradOutput: Tensor, weight: Tensor) throws -> Tensor {
    let p = try plan(s)
    let dnn = context.cudnn
    let handle = context.cudnnHandle
    if p.backwardData == nil {
      p.backwardData = try p.choose("cudnnFindConvolutionBackwardDataAlgorithm", cudnn: dnn) {
        dnn.findBackwardData(handle, p.filter, p.output, p.convolution, p.input, $0, $1, $2)
      }
    }
    let (algorithm, bytes) = p.backwardData!
    let dx = try empty([s.batch, s.inChannels, s.inHeight, s.inWidth])
    let workspace = bytes > 0 ? try context.allocate(bytes: bytes) : nil
    var (one, zero): (Float, Float) = (1, 0)
    try dnn.check(
      dnn.convolutionBackwardData(
        handle, &one, p.filter, address(weight), p.output, address(gradOutput), p.convolution, algorithm,
        workspace?.address ?? 0, bytes, &zero, p.input, address(dx)),
      "cudnnConvolutionBackwardData")
    return dx
  }

  func conv2dBackwardWeight(
    _ s: Conv2dShape, input: Tensor, gradOutput: Tensor, bias: Bool
  ) throws -> (weight: Tensor, bias: Tensor?) {
    let p = try plan(s)
    let dnn = context.cudnn
    let handle = context.cudnnHandle
    if p.backwardFilter == nil {
      p.backwardFilter = try p.choose(
        "cudnnFindConvolutionBackwardFilterAlgorithm", cudnn: dnn
      ) {
        dnn.findBackwardFilter(handle, p.input, p.output, p.convolution, p.filter, $0, $1, $2)
      }
    }
    let (algorithm, bytes) = p.backwardFilter!
    let dw = try empty([s.outChannels, s.inChannelsPerGroup, s.kernelHeight, s.kernelWidth])
    let workspace = bytes > 0 ? try context.allocate(bytes: bytes) : nil
    var (one, zero): (Float, Float) = (1, 0)
    try dnn.check(
      dnn.convolutionBackwardFilter(
        handle, &one, p.input, address(input), p.output, address(gradOutput), p.convolution, algorithm,
        workspace?.address ?? 0, bytes, &zero, p.filter, address(dw)),
      "cudnnConvolutionBackwardFilter")
    guard bias else { return (dw, nil) }
    let db = try channelSum(
      gradOutput, batch: s.batch, channels: s.outChannels, spatial: s.outHeight * s.outWidth)
    return (dw, db)
  }
}
