import CNNKitKernels
import Foundation

/// The CUDA backend: convolutions on cuDNN, matrix products on cuBLAS, everything else on the
/// NVRTC-compiled kernels of `CUDAKernelSource.swift`. Strict fp32 (no TF32) throughout.
final class CUDABackend: Backend, @unchecked Sendable {
  let context: CUDAContext
  let device: Device

  private nonisolated(unsafe) static var backends: [Int: CUDABackend] = [:]
  private static let lock = NSLock()

  /// The backend of `cuda:index`, made on first use.
  static func shared(_ index: Int) throws -> CUDABackend {
    lock.lock()
    defer { lock.unlock() }
    if let existing = backends[index] {
      try existing.context.makeCurrent()
      return existing
    }
    let made = CUDABackend(context: try CUDAContext.shared(index))
    backends[index] = made
    return made
  }

  private init(context: CUDAContext) {
    self.context = context
    device = .cuda(context.deviceIndex)
  }

  /// The device address of a tensor on this device.
  func address(_ t: Tensor) -> UInt64 { t.storage.deviceBuffer!.address }

  private func address(_ t: Tensor?) -> UInt64 { t.map { address($0) } ?? 0 }

  private func grid(_ count: Int) -> Int { CUDAContext.blocks(for: count) }

  // MARK: Memory

  func empty(_ shape: [Int]) throws -> Tensor {
    let count = shape.reduce(1, *)
    let buffer = try context.allocate(bytes: max(count, 1) * MemoryLayout<Float>.stride)
    return Tensor(shape: shape, storage: TensorStorage(deviceBuffer: buffer, count: count, device: device))
  }

  func upload(_ host: Tensor) throws -> Tensor {
    let out = try empty(host.shape)
    try copy(host, into: out)
    return out
  }

  func download(_ tensor: Tensor) throws -> Tensor {
    let out = Tensor(uninitializedShape: tensor.shape)
    try copy(tensor, into: out)
    return out
  }

  func copy(_ source: Tensor, into destination: Tensor) throws {
    let bytes = source.count * MemoryLayout<Float>.stride
    switch (source.isAccelerated, destination.isAccelerated) {
    case (true, true): try context.copyOnDevice(address(source), address(destination), bytes: bytes)
    case (false, true):
      try context.copyToDevice(source.storage.readOnlyPointer, address(destination), bytes: bytes)
    case (true, false): try context.copyToHost(address(source), destination.data, bytes: bytes)
    case (false, false): destination.data.update(from: source.storage.readOnlyPointer, count: source.count)
    }
  }

  func fill(_ tensor: Tensor, _ value: Float) throws {
    try context.launch(
      "fill", grid: grid(tensor.count),
      [.pointer(address(tensor)), .float(value), .int64(Int64(tensor.count))])
  }

  // MARK: Channel padding

  // Each sample's channels are one contiguous run, so both directions are a device-to-device copy
  // per sample (plus one fill for the zeros): no kernel of their own. Copies and kernels share the
  // default stream, so the fill is done before the copies land.

  func padChannels(_ x: Tensor, before: Int, after: Int) throws -> Tensor {
    let (batch, channels) = (x.shape[0], x.shape[1])
    let plane = x.shape.dropFirst(2).reduce(1, *)
    let wide = before + channels + after
    let out = try empty([batch, wide] + x.shape.dropFirst(2))
    try fill(out, 0)
    let floatBytes = MemoryLayout<Float>.stride
    for n in 0..<batch {
      try context.copyOnDevice(
        address(x) + UInt64(n * channels * plane * floatBytes),
        address(out) + UInt64((n * wide + before) * plane * floatBytes), bytes: channels * plane * floatBytes)
    }
    return out
  }

  func narrowChannels(_ x: Tensor, start: Int, count: Int) throws -> Tensor {
    let (batch, channels) = (x.shape[0], x.shape[1])
    let plane = x.shape.dropFirst(2).reduce(1, *)
    let out = try empty([batch, count] + x.shape.dropFirst(2))
    let floatBytes = MemoryLayout<Float>.stride
    for n in 0..<batch {
      try context.copyOnDevice(
        address(x) + UInt64((n * channels + start) * plane * floatBytes),
        address(out) + UInt64(n * count * plane * floatBytes), bytes: count * plane * floatBytes)
    }
    return out
  }

  // MARK: Element-wise

  private func binary(_ kernel: String, _ a: Tensor, _ b: Tensor) throws -> Tensor {
    let out = try empty(a.shape)
    try context.launch(
      kernel, grid: grid(a.count),
      [.pointer(address(a)), .pointer(address(b)), .pointer(address(out)), .int64(Int64(a.count))])
    return out
  }

  func add(_ a: Tensor, _ b: Tensor) throws -> Tensor { try binary("add", a, b) }
  func multiply(_ a: Tensor, _ b: Tensor) throws -> Tensor { try binary("mul", a, b) }

  func accumulate(_ a: Tensor, _ b: Tensor) throws {
    try context.launch(
      "accumulate", grid: grid(a.count), [.pointer(address(a)), .pointer(address(b)), .int64(Int64(a.count))])
  }

  func scale(_ a: Tensor, by factor: Float) throws -> Tensor {
    let out = try empty(a.shape)
    try context.launch(
      "copy_scaled", grid: grid(a.count),
      [.pointer(address(a)), .float(factor), .pointer(address(out)), .int64(Int64(a.count))])
    return out
  }

  func sum(_ x: Tensor) throws -> Tensor { try sum(x, scale: 1) }

  func broadcast(_ value: Tensor, to shape: [Int]) throws -> Tensor {
    let out = try empty(shape)
    try context.launch(
      "broadcast", grid: grid(out.count),
      [.pointer(address(value)), .pointer(address(out)), .int64(Int64(out.count))])
    return out
  }

  /// `scale · Σ x` as a one-element tensor.
  func sum(_ x: Tensor, scale: Float) throws -> Tensor {
    let out = try empty([1])
    try context.launch(
      "sum_all", grid: 1, block: 1024,
      [.pointer(address(x)), .pointer(address(out)), .float(scale), .int64(Int64(x.count))])
    return out
  }

  /// Σ over batch and space of `g` [N, C, …] per channel, as a [C] tensor.
  func channelSum(_ g: Tensor, batch: Int, channels: Int, spatial: Int) throws -> Tensor {
    let out = try empty([channels])
    try context.launch(
      "channel_sum", grid: channels,
      [
        .pointer(address(g)), .pointer(address(out)), .int(Int32(batch)), .int(Int32(channels)),
        .int(Int32(spatial)),
      ])
    return out
  }

  // MARK: Activations and losses

  func relu(_ x: Tensor, keepForBackward: Bool) throws -> (output: Tensor, saved: AnyObject?) {
    let out = try empty(x.shape)
    try context.launch(
      "relu_forward", grid: grid(x.count),
      [.pointer(address(x)), .pointer(address(out)), .int64(Int64(x.count))])
    // The output's storage, not the output (whose autograd node will hold this).
    return (out, keepForBackward ? out.storage : nil)
  }

  /// The mask is the output's sign; the kernel reads and writes element by element, so it may write
  /// into an owned gradient.
  func reluBackward(_ saved: AnyObject, gradient g: Tensor, owned: Bool) throws -> Tensor {
    let y = (saved as! TensorStorage).deviceBuffer!.address
    let dx = owned ? g : try empty(g.shape)
    try context.launch(
      "relu_backward", grid: grid(g.count),
      [.pointer(y), .pointer(address(g)), .pointer(address(dx)), .int64(Int64(g.count))])
    return dx
  }

  func dropout(_ x: Tensor, p: Float, using streams: inout [RandomGenerator]) throws -> (
    output: Tensor, saved: AnyObject
  ) {
    // One seed from the generators, so a seeded run draws the same masks again (the kernel's own
    // counter-based draws, not the CPU's per-row streams).
    var seed: UInt64 = 0
    for s in streams.indices { seed = seed &* 0x9E37_79B9_7F4A_7C15 ^ streams[s].next() }
    let (out, factors) = (try empty(x.shape), try empty(x.shape))
    try context.launch(
      "dropout_forward", grid: grid(x.count),
      [
        .pointer(address(x)), .pointer(address(out)), .pointer(address(factors)), .float(p),
        .float(p < 1 ? 1 / (1 - p) : 0), .int64(Int64(bitPattern: seed)), .int64(Int64(x.count)),
      ])
    return (out, factors)
  }

  func dropoutBackward(_ saved: AnyObject, gradient g: Tensor, owned: Bool) throws -> Tensor {
    let factors = saved as! Tensor
    let dx = owned ? g : try empty(g.shape)
    try context.launch(
      "mul", grid: grid(g.count),
      [.pointer(address(g)), .pointer(address(factors)), .pointer(address(dx)), .int64(Int64(g.count))])
    return dx
  }

  func softmax(_ x: Tensor, log: Bool) throws -> Tensor {
    let columns = x.shape.last ?? 1
    let out = try empty(x.shape)
    try context.launch(
      log ? "log_softmax_forward" : "softmax_forward", grid: columns == 0 ? 0 : x.count / columns,
      [.pointer(address(x)), .pointer(address(out)), .int(Int32(columns))])
    return out
  }

  func softmaxBackward(output y: Tensor, gradient g: Tensor, log: Bool) throws -> Tensor {
    let columns = y.shape.last ?? 1
    let dx = try empty(y.shape)
    try context.launch(
      log ? "log_softmax_backward" : "softmax_backward", grid: columns == 0 ? 0 : y.count / columns,
      [.pointer(address(y)), .pointer(address(g)), .pointer(address(dx)), .int(Int32(columns))])
    return dx
  }

  /// The targets as Int32 on the device (a small upload per batch).
  private func deviceTargets(_ targets: [Int]) throws -> DeviceBuffer {
    let buffer = try context.allocate(bytes: max(targets.count, 1) * 4)
    let values = targets.map { Int32($0) }
    try values.withUnsafeBytes { try context.copyToDevice($0.baseAddress!, buffer.address, bytes: $0.count) }
    return buffer
  }

  func smoothedNLL(
    _ logProbabilities: Tensor, targets: [Int], smoothing: Float, reduction: LossReduction
  ) throws -> Tensor {
    let (n, c) = (logProbabilities.shape[0], logProbabilities.shape[1])
    let out = try empty([n])
    let t = try deviceTargets(targets)
    try context.launch(
      "smoothed_nll_forward", grid: n,
      [
        .pointer(address(logProbabilities)), .pointer(t.address), .pointer(address(out)), .int(Int32(c)),
        .float(smoothing),
      ])
    switch reduction {
    case .none: return out
    case .sum: return try sum(out, scale: 1)
    case .mean: return try sum(out, scale: 1 / Float(max(n, 1)))
    }
  }

  func smoothedNLLBackward(
    gradient: Tensor, targets: [Int], shape: [Int], smoothing: Float, reduction: LossReduction
  ) throws -> Tensor {
    let scale: Float = reduction == .mean ? 1 / Float(max(shape[0], 1)) : 1
    let perSample = reduction == .none
    let dx = try empty(shape)
    let t = try deviceTargets(targets)
    try context.launch(
      "smoothed_nll_backward", grid: grid(dx.count),
      [
        .pointer(address(gradient)), .pointer(t.address), .pointer(address(dx)), .int(Int32(shape[0])),
        .int(Int32(shape[1])), .float(smoothing), .float(scale), .int(perSample ? 1 : 0),
      ])
    return dx
  }

  // MARK: Linear (cuBLAS, column-major: a row-major [r, c] matrix is its transpose there)

  private func sgemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: UInt64, lda: Int, b: UInt64, ldb: Int, c: UInt64,
    ldc: Int
  ) throws {
    var (one, zero): (Float, Float) = (1, 0)
    try context.cublas.check(
      context.cublas.cublasSgemm(
        context.cublasHandle, transA ? 1 : 0, transB ? 1 : 0, Int32(m), Int32(n), Int32(k), &one, a,
        Int32(lda),
        b, Int32(ldb), &zero, c, Int32(ldc)),
      "cublasSgemm")
  }

  func linearForward(_ input: Tensor, weight: Tensor, bias: Tensor?, weightFrozen: Bool) throws -> Tensor {
    let (n, inF, outF) = (input.shape[0], weight.shape[1], weight.shape[0])
    let out = try empty([n, outF])
    // Yᵀ [outF × n] = W·Xᵀ
    try sgemm(
      transA: true, transB: false, m: outF, n: n, k: inF, a: address(weight), lda: inF, b: address(input),
      ldb: inF, c: address(out), ldc: outF)
    if let bias {
      try context.launch(
        "bias_add", grid: grid(out.count),
        [
          .pointer(address(out)), .pointer(address(bias)), .int(Int32(outF)), .int(1),
          .int64(Int64(out.count)),
        ])
    }
    return out
  }

  func linearBackward(
    input: Tensor, weight: Tensor, gradOutput g: Tensor, needInput: Bool, needWeight: Bool, needBias: Bool
  ) throws -> (input: Tensor?, weight: Tensor?, bias: Tensor?) {
    let (n, inF, outF) = (input.shape[0], weight.shape[1], weight.shape[0])
    var dx: Tensor? = nil
    if needInput {
      // dXᵀ [inF × n] = Wᵀ·dYᵀ
      let t = try empty(input.shape)
      try sgemm(
        transA: false, transB: false, m: inF, n: n, k: outF, a: address(weight), lda: inF, b: address(g),
        ldb: outF, c: address(t), ldc: inF)
      dx = t
    }
    var dw: Tensor? = nil
    if needWeight {
      // dWᵀ [inF × outF] = Xᵀ·dY
      let t = try empty(weight.shape)
      try sgemm(
        transA: false, transB: true, m: inF, n: outF, k: n, a: address(input), lda: inF, b: address(g),
        ldb: outF, c: address(t), ldc: inF)
      dw = t
    }
    let db = needBias ? try channelSum(g, batch: n, channels: outF, spatial: 1) : nil
    return (dx, dw, db)
  }

  // MARK: Pooling

  private func poolArgument(_ s: Pool2dShape) -> CUDAContext.Argument {
    .int32s(
      [
        s.batch * s.channels, s.inHeight, s.inWidth, s.outHeight, s.outWidth, s.kernelHeight, s.kernelWidth,
        s.strideHeight, s.strideWidth, s.padHeight, s.padWidth,
      ].map { Int32($0) })
  }

  private func poolArgument(planes: Int, input: (Int, Int), output: (Int, Int)) -> CUDAContext.Argument {
    .int32s([planes, input.0, input.1, output.0, output.1, 0, 0, 0, 0, 0, 0].map { Int32($0) })
  }

  func maxPool2d(_ s: Pool2dShape, input: Tensor, keepForBackward: Bool) throws -> (
    output: Tensor, saved: AnyObject?
  ) {
    let out = try empty([s.batch, s.channels, s.outHeight, s.outWidth])
    // Int32 indices in a float-sized buffer.
    let indices = keepForBackward ? try empty(out.shape) : nil
    try context.launch(
      "max_pool_forward", grid: grid(out.count),
      [.pointer(address(input)), .pointer(address(out)), .pointer(address(indices)), poolArgument(s)])
    return (out, indices)
  }

  func maxPool2dBackward(_ s: Pool2dShape, saved: AnyObject, gradient gradOutput: Tensor) throws -> Tensor {
    let indices = saved as! Tensor
    let dx = try empty([s.batch, s.channels, s.inHeight, s.inWidth])
    try fill(dx, 0)
    try context.launch(
      "max_pool_backward", grid: grid(gradOutput.count),
      [.pointer(address(gradOutput)), .pointer(address(indices)), .pointer(address(dx)), poolArgument(s)])
    return dx
  }

  func avgPool2d(_ s: Pool2dShape, input: Tensor, countIncludePad: Bool) throws -> Tensor {
    let out = try empty([s.batch, s.channels, s.outHeight, s.outWidth])
    try context.launch(
      "avg_pool_forward", grid: grid(out.count),
      [.pointer(address(input)), .pointer(address(out)), poolArgument(s), .int(countIncludePad ? 1 : 0)])
    return out
  }

  func avgPool2dBackward(_ s: Pool2dShape, gradOutput: Tensor, countIncludePad: Bool) throws -> Tensor {
    let dx = try empty([s.batch, s.channels, s.inHeight, s.inWidth])
    try fill(dx, 0)
    try context.launch(
      "avg_pool_backward", grid: grid(gradOutput.count),
      [.pointer(address(gradOutput)), .pointer(address(dx)), poolArgument(s), .int(countIncludePad ? 1 : 0)])
    return dx
  }

  func adaptiveAvgPool2d(_ input: Tensor, outputSize: (Int, Int)) throws -> Tensor {
    let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
    let out = try empty([n, c, outputSize.0, outputSize.1])
    try context.launch(
      "adaptive_avg_pool_forward", grid: grid(out.count),
      [
        .pointer(address(input)), .pointer(address(out)),
        poolArgument(planes: n * c, input: (h, w), output: outputSize),
      ])
    return out
  }

  func adaptiveAvgPool2dBackward(gradOutput: Tensor, inputShape: [Int]) throws -> Tensor {
    let dx = try empty(inputShape)
    try fill(dx, 0)
    try context.launch(
      "adaptive_avg_pool_backward", grid: grid(gradOutput.count),
      [
        .pointer(address(gradOutput)), .pointer(address(dx)),
        poolArgument(
          planes: inputShape[0] * inputShape[1], input: (inputShape[2], inputShape[3]),
          output: (gradOutput.shape[2], gradOutput.shape[3])),
      ])
    return dx
  }
}
