import CNNKitKernels

/// The CPU backend: today's kernels in `CNNKitKernels` on host memory. Convolutions and fully
/// connected layers choose their algorithm and keep derived weight forms in `CPUConvolution.swift`;
/// normalisation and optimiser updates are in `CPUNormalization.swift`.
final class CPUBackend: Backend, @unchecked Sendable {
  static let shared = CPUBackend()
  let device = Device.cpu
  /// fp32, or bf16 (`--precision bf16`): convolutions and linear layers multiply operands rounded
  /// to bf16 with fp32 accumulation (`CPUConvolution.swift`). Set before computing, not during.
  var precision: Precision = .fp32

  // MARK: Memory

  func empty(_ shape: [Int]) throws -> Tensor { Tensor(uninitializedShape: shape) }
  func upload(_ host: Tensor) throws -> Tensor { host }
  func download(_ tensor: Tensor) throws -> Tensor { tensor }

  func copy(_ source: Tensor, into destination: Tensor) throws {
    destination.data.update(from: source.storage.readOnlyPointer, count: source.count)
  }

  func fill(_ tensor: Tensor, _ value: Float) throws {
    tensor.data.update(repeating: value, count: tensor.count)
  }

  // MARK: Element-wise

  func add(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    let out = Tensor(uninitializedShape: a.shape)
    addKernel(count: a.count, a.storage.readOnlyPointer, b.storage.readOnlyPointer, out.data)
    return out
  }

  func accumulate(_ a: Tensor, _ b: Tensor) throws {
    let target = a.data
    addKernel(count: a.count, target, b.storage.readOnlyPointer, target)
  }

  func scale(_ a: Tensor, by factor: Float) throws -> Tensor {
    let out = Tensor(uninitializedShape: a.shape)
    scaleKernel(count: a.count, a.storage.readOnlyPointer, by: factor, out.data)
    return out
  }

  func sum(_ x: Tensor) throws -> Tensor {
    Tensor(shape: [1], scalars: [Float(sumKernel(count: x.count, x.storage.readOnlyPointer))])
  }

  func broadcast(_ value: Tensor, to shape: [Int]) throws -> Tensor {
    Tensor(repeating: value.storage.readOnlyPointer[0], shape: shape)
  }

  // MARK: Channel padding

  func padChannels(_ x: Tensor, before: Int, after: Int) throws -> Tensor {
    let (batch, channels) = (x.shape[0], x.shape[1])
    let plane = x.shape.dropFirst(2).reduce(1, *)
    let wide = before + channels + after
    let out = Tensor(uninitializedShape: [batch, wide] + x.shape.dropFirst(2))
    let source = x.storage.readOnlyPointer
    let target = out.data
    // Per sample the channels are one contiguous run: zeros, the input's run, zeros.
    for n in 0..<batch {
      let row = target + n * wide * plane
      row.update(repeating: 0, count: before * plane)
      (row + before * plane).update(from: source + n * channels * plane, count: channels * plane)
      (row + (before + channels) * plane).update(repeating: 0, count: after * plane)
    }
    return out
  }

  func narrowChannels(_ x: Tensor, start: Int, count: Int) throws -> Tensor {
    let (batch, channels) = (x.shape[0], x.shape[1])
    let plane = x.shape.dropFirst(2).reduce(1, *)
    let out = Tensor(uninitializedShape: [batch, count] + x.shape.dropFirst(2))
    let source = x.storage.readOnlyPointer
    let target = out.data
    for n in 0..<batch {
      (target + n * count * plane).update(from: source + (n * channels + start) * plane, count: count * plane)
    }
    return out
  }

  // MARK: Activations and losses

  func relu(_ x: Tensor, keepForBackward: Bool) throws -> (output: Tensor, saved: AnyObject?) {
    let out = Tensor(uninitializedShape: x.shape)
    guard keepForBackward else {
      reluForward(count: x.count, input: x.storage.readOnlyPointer, output: out.data)
      return (out, nil)
    }
    // A bit mask, not the output or the input: both are freed once the forward pass moves on.
    return (out, ReLUMask(applyingReLUTo: out, input: x))
  }

  func reluBackward(_ saved: AnyObject, gradient: Tensor, owned: Bool) throws -> Tensor {
    (saved as! ReLUMask).backward(gradient, owned: owned)
  }

  /// A dropout's keep bits and scale.
  private final class DropoutMask {
    let words: TensorStorage
    let scale: Float
    init(words: TensorStorage, scale: Float) {
      self.words = words
      self.scale = scale
    }
  }

  func dropout(_ x: Tensor, p: Float, using streams: inout [RandomGenerator]) throws -> (
    output: Tensor, saved: AnyObject
  ) {
    let count = x.count
    // One keep bit per element (the same draws as a float mask would take, in order).
    let words = TensorStorage(count: reluMaskWords(count: count))
    let mask = UnsafeMutableRawPointer(words.pointer).bindMemory(
      to: UInt32.self, capacity: max(1, words.count))
    if p < 1 {
      let perStream = streams.count > 1 ? count / streams.count : count
      for s in streams.indices {
        var rng = streams[s]
        for i in (s * perStream)..<min(count, (s + 1) * perStream) where !(rng.nextUniform() < p) {
          mask[i / 32] |= 1 << UInt32(i % 32)
        }
        streams[s] = rng
      }
    }
    let keep = p < 1 ? 1 / (1 - p) : 0
    let out = Tensor(uninitializedShape: x.shape)
    maskedScaleKernel(
      count: count, mask: mask, scale: keep, input: x.storage.readOnlyPointer, output: out.data)
    return (out, DropoutMask(words: words, scale: keep))
  }

  func dropoutBackward(_ saved: AnyObject, gradient g: Tensor, owned: Bool) throws -> Tensor {
    let mask = saved as! DropoutMask
    let dx = owned ? g : Tensor(uninitializedShape: g.shape)
    let bits = UnsafeRawPointer(mask.words.readOnlyPointer).assumingMemoryBound(to: UInt32.self)
    maskedScaleKernel(
      count: g.count, mask: bits, scale: mask.scale, input: g.storage.readOnlyPointer, output: dx.data)
    return dx
  }

  func softmax(_ x: Tensor, log: Bool) throws -> Tensor {
    let columns = x.shape.last ?? 1
    let rows = columns == 0 ? 0 : x.count / columns
    let out = Tensor(uninitializedShape: x.shape)
    (log ? logSoftmaxForward : softmaxForward)(rows, columns, x.storage.readOnlyPointer, out.data)
    return out
  }

  func softmaxBackward(output y: Tensor, gradient g: Tensor, log: Bool) throws -> Tensor {
    let columns = y.shape.last ?? 1
    let rows = columns == 0 ? 0 : y.count / columns
    let dx = Tensor(uninitializedShape: y.shape)
    (log ? CNNKitKernels.logSoftmaxBackward : CNNKitKernels.softmaxBackward)(
      rows, columns, y.storage.readOnlyPointer, g.storage.readOnlyPointer, dx.data)
    return dx
  }

  func smoothedNLL(
    _ logProbabilities: Tensor, targets: [Int], smoothing: Float, reduction: LossReduction
  ) throws -> Tensor {
    let (n, c) = (logProbabilities.shape[0], logProbabilities.shape[1])
    let eps = Double(smoothing)
    let lp = logProbabilities.storage.readOnlyPointer
    // Doubles per sample and for the reduction, as PyTorch's CPU kernel accumulates.
    var perSample = [Double](repeating: 0, count: n)
    for (r, t) in targets.enumerated() {
      let row = lp + r * c
      var loss = -(1 - eps) * Double(row[t])
      if eps > 0 {
        var total: Double = 0
        for j in 0..<c { total -= Double(row[j]) }
        loss += eps * total / Double(c)
      }
      perSample[r] = loss
    }
    switch reduction {
    case .none: return Tensor(shape: [n], scalars: perSample.map { Float($0) })
    case .sum: return Tensor(shape: [1], scalars: [Float(perSample.reduce(0, +))])
    case .mean: return Tensor(shape: [1], scalars: [Float(perSample.reduce(0, +) / Double(max(n, 1)))])
    }
  }

  func smoothedNLLBackward(
    gradient g: Tensor, targets: [Int], shape: [Int], smoothing: Float, reduction: LossReduction
  ) throws -> Tensor {
    // d loss_r / d logp[r, j] = −ε/C − (1 − ε)·[j = target_r]
    let (n, c) = (shape[0], shape[1])
    let dx = Tensor(zeros: shape)
    let (out, gradient) = (dx.data, g.storage.readOnlyPointer)
    let spread = smoothing / Float(max(c, 1))
    let onTarget = 1 - smoothing
    let scale: Float = reduction == .mean ? 1 / Float(max(n, 1)) : 1
    for (r, t) in targets.enumerated() {
      let share = (reduction == .none ? gradient[r] : gradient[0]) * scale
      let row = out + r * c
      if spread != 0 {
        for j in 0..<c { row[j] = -spread * share }
      }
      row[t] -= onTarget * share
    }
    return dx
  }

  // MARK: Pooling

  /// Where each max-pool output's winner is: Int32 plane indices, or one byte per output (the place in
  /// its window) where windows are small enough.
  private final class MaxPoolIndices {
    let storage: TensorStorage
    let compact: Bool
    init(storage: TensorStorage, compact: Bool) {
      self.storage = storage
      self.compact = compact
    }
  }

  func maxPool2d(_ s: Pool2dShape, input: Tensor, keepForBackward: Bool) throws -> (
    output: Tensor, saved: AnyObject?
  ) {
    let out = Tensor(uninitializedShape: [s.batch, s.channels, s.outHeight, s.outWidth])
    let x = input.storage.readOnlyPointer
    guard keepForBackward else {
      maxPool2dForwardValues(s, input: x, output: out.data)
      return (out, nil)
    }
    // The argmax indices live in a pooled float buffer (Int32 has the same size and alignment).
    let keeper = TensorStorage(uninitializedCount: out.count)
    let indices = UnsafeMutableRawPointer(keeper.pointer).bindMemory(
      to: Int32.self, capacity: max(1, out.count))
    maxPool2dForward(s, input: x, output: out.data, indices: indices)
    guard maxPool2dWindowIndicesApply(s) else {
      return (out, MaxPoolIndices(storage: keeper, compact: false))
    }
    // Kept for backward as one byte per output (the winner's place in its window), not four.
    let compact = TensorStorage(uninitializedCount: (out.count + 3) / 4)
    let windowIndices = UnsafeMutableRawPointer(compact.pointer).bindMemory(
      to: UInt8.self, capacity: max(1, out.count))
    maxPool2dWindowIndices(s, indices: indices, windowIndices: windowIndices)
    return (out, MaxPoolIndices(storage: compact, compact: true))
  }

  func maxPool2dBackward(_ s: Pool2dShape, saved: AnyObject, gradient g: Tensor) throws -> Tensor {
    let kept = saved as! MaxPoolIndices
    let dx = Tensor(uninitializedShape: [s.batch, s.channels, s.inHeight, s.inWidth])
    let raw = UnsafeRawPointer(kept.storage.readOnlyPointer)
    if kept.compact {
      CNNKitKernels.maxPool2dBackward(
        s, gradOutput: g.storage.readOnlyPointer, windowIndices: raw.assumingMemoryBound(to: UInt8.self),
        gradInput: dx.data)
    } else {
      CNNKitKernels.maxPool2dBackward(
        s, gradOutput: g.storage.readOnlyPointer, indices: raw.assumingMemoryBound(to: Int32.self),
        gradInput: dx.data)
    }
    return dx
  }

  func avgPool2d(_ s: Pool2dShape, input: Tensor, countIncludePad: Bool) throws -> Tensor {
    let out = Tensor(uninitializedShape: [s.batch, s.channels, s.outHeight, s.outWidth])
    avgPool2dForward(
      s, countIncludePad: countIncludePad, input: input.storage.readOnlyPointer, output: out.data)
    return out
  }

  func avgPool2dBackward(_ s: Pool2dShape, gradOutput: Tensor, countIncludePad: Bool) throws -> Tensor {
    let dx = Tensor(uninitializedShape: [s.batch, s.channels, s.inHeight, s.inWidth])
    CNNKitKernels.avgPool2dBackward(
      s, countIncludePad: countIncludePad, gradOutput: gradOutput.storage.readOnlyPointer, gradInput: dx.data)
    return dx
  }

  func adaptiveAvgPool2d(_ input: Tensor, outputSize: (Int, Int)) throws -> Tensor {
    let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
    let out = Tensor(uninitializedShape: [n, c, outputSize.0, outputSize.1])
    adaptiveAvgPool2dForward(
      planes: n * c, inHeight: h, inWidth: w, outHeight: outputSize.0, outWidth: outputSize.1,
      input: input.storage.readOnlyPointer, output: out.data)
    return out
  }

  func adaptiveAvgPool2dBackward(gradOutput: Tensor, inputShape: [Int]) throws -> Tensor {
    let dx = Tensor(uninitializedShape: inputShape)
    CNNKitKernels.adaptiveAvgPool2dBackward(
      planes: inputShape[0] * inputShape[1], inHeight: inputShape[2], inWidth: inputShape[3],
      outHeight: gradOutput.shape[2], outWidth: gradOutput.shape[3],
      gradOutput: gradOutput.storage.readOnlyPointer,
      gradInput: dx.data)
    return dx
  }
}

/// Which elements of a ReLU's output are positive, one bit each: what its backward needs, at 1/32 of
/// the output's size, so the output itself is freed as soon as the next layer is done with it.
final class ReLUMask {
  private let words: TensorStorage
  private let count: Int
  private let shape: [Int]

  /// Writes `relu(input)` into `output` (which may be `input`) and records its mask.
  init(applyingReLUTo output: Tensor, input: Tensor) {
    count = output.count
    shape = output.shape
    words = TensorStorage(uninitializedCount: reluMaskWords(count: count))
    reluForwardMasked(count: count, input: input.data, output: output.data, mask: bits)
  }

  private var bits: UnsafeMutablePointer<UInt32> {
    UnsafeMutableRawPointer(words.pointer).assumingMemoryBound(to: UInt32.self)
  }

  /// The gradient of the ReLU's input from `g`, its output's: written into `g` when the backward pass
  /// owns it, else into a new tensor.
  func backward(_ g: Tensor, owned: Bool) -> Tensor {
    let dx = owned ? g : Tensor(uninitializedShape: shape)
    let mask = UnsafeRawPointer(words.readOnlyPointer).assumingMemoryBound(to: UInt32.self)
    reluBackwardMasked(count: count, mask: mask, gradOutput: g.data, gradInput: dx.data)
    return dx
  }
}
