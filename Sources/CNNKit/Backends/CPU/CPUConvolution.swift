import CNNKitKernels
import Foundation

/// Convolutions and fully connected layers on the CPU: the one place that picks each one's
/// algorithm (Winograd, output-channel tiles, implicit GEMM, direct) and keeps derived weight forms
/// (`TensorStorage.derived`) for weights that cannot change before the next call.
extension CPUBackend {
  func conv2dForward(
    _ s: Conv2dShape, input: Tensor, weight: Tensor, bias: Tensor?, relu: Bool, recording: Bool,
    weightFrozen frozen: Bool
  ) throws -> (output: Tensor, reluSaved: AnyObject?) {
    guard precision == .bf16 else {
      return try conv2dForwardFP32(
        s, input: input, weight: weight, bias: bias, relu: relu, recording: recording, weightFrozen: frozen)
    }
    guard let tile = Self.bf16Tile, !conv2dDirectApplies(s) else {
      // No bf16 hardware: the same products, from operands rounded to bf16, on the fp32 kernels.
      return try conv2dForwardFP32(
        s, input: bf16Rounded(input, kept: false), weight: bf16Rounded(weight, kept: frozen), bias: bias,
        relu: relu, recording: recording, weightFrozen: frozen)
    }
    let out = Tensor(uninitializedShape: [s.batch, s.outChannels, s.outHeight, s.outWidth])
    let floats = (conv2dBF16PackedWeightCount(s) + 1) / 2
    let pack = { (source: UnsafePointer<Float>, destination: UnsafeMutablePointer<Float>) in
      conv2dBF16PackWeights(
        s, weight: source, dst: UnsafeMutableRawPointer(destination).assumingMemoryBound(to: UInt16.self))
    }
    let packed: TensorStorage
    if frozen {
      let key = TensorStorage.DerivedKey(kind: "conv2d-bf16-packed", shape: weight.shape + [s.groups])
      packed = weight.storage.derived(key, count: floats, make: pack)
    } else {
      packed = TensorStorage(count: floats)
      pack(weight.storage.readOnlyPointer, packed.pointer)
    }
    conv2dBF16Forward(
      s, input: input.storage.readOnlyPointer,
      packedWeight: UnsafeRawPointer(packed.readOnlyPointer).assumingMemoryBound(to: UInt16.self),
      bias: bias?.storage.readOnlyPointer, output: out.data, tile: tile)
    return (out, applyReLU(to: out, relu: relu, recording: recording))
  }

  /// The tile `--precision bf16` multiplies on: AVX-512 BF16 where the CPU has it, or (for tests,
  /// `CNNKIT_BF16_TILE=emulated`) its plain-C twin; nil means rounded operands on the fp32 kernels.
  static let bf16Tile: BF16Tile? =
    BFloat16.hardware
    ? .hardware : ProcessInfo.processInfo.environment["CNNKIT_BF16_TILE"] == "emulated" ? .emulated : nil

  /// `t` rounded to bf16: a form kept with a weight that cannot change (`kept`), else a fresh copy.
  func bf16Rounded(_ t: Tensor, kept: Bool) -> Tensor {
    let round = { (source: UnsafePointer<Float>, destination: UnsafeMutablePointer<Float>) in
      BFloat16.round(count: t.count, source, destination)
    }
    if kept {
      let key = TensorStorage.DerivedKey(kind: "bf16-rounded", shape: t.shape)
      return Tensor(shape: t.shape, storage: t.storage.derived(key, count: t.count, make: round))
    }
    let copy = Tensor(uninitializedShape: t.shape)
    round(t.storage.readOnlyPointer, copy.data)
    return copy
  }

  /// The ReLU fused after a convolution: in place without a backward pass, else with the bit mask
  /// its backward needs (the output itself the next layer may not keep).
  private func applyReLU(to out: Tensor, relu: Bool, recording: Bool) -> AnyObject? {
    guard relu else { return nil }
    guard recording else {
      let y = out.data
      reluForward(count: out.count, input: y, output: y)
      return nil
    }
    return ReLUMask(applyingReLUTo: out, input: out)
  }

  private func conv2dForwardFP32(
    _ s: Conv2dShape, input: Tensor, weight: Tensor, bias: Tensor?, relu: Bool, recording: Bool,
    weightFrozen frozen: Bool
  ) throws -> (output: Tensor, reluSaved: AnyObject?) {
    // Every element is written by the kernels.
    let out = Tensor(uninitializedShape: [s.batch, s.outChannels, s.outHeight, s.outWidth])
    // Read-only access: a write access would invalidate the weight's cached forms.
    let (x, w, b) = (
      input.storage.readOnlyPointer, weight.storage.readOnlyPointer, bias?.storage.readOnlyPointer
    )
    // With no backward pass to feed, the tile kernel applies the ReLU as it stores the output.
    var reluApplied = false
    if conv2dWinogradF2Applies(s, weightsKept: frozen) {
      let key = TensorStorage.DerivedKey(kind: "conv2d-winograd-f2", shape: weight.shape)
      let transformed = weight.storage.derived(key, count: conv2dWinogradF2TransformedWeightCount(s)) {
        source, destination in
        conv2dWinogradF2TransformWeights(s, weight: source, dst: destination)
      }
      conv2dWinogradF2Forward(
        s, input: x, weight: w, bias: b, output: out.data, transformedWeight: transformed.readOnlyPointer)
    } else if conv2dWinogradApplies(s, weightsKept: frozen) {
      var transformed: TensorStorage? = nil
      if frozen {
        let key = TensorStorage.DerivedKey(kind: "conv2d-winograd", shape: weight.shape)
        transformed = weight.storage.derived(key, count: conv2dWinogradTransformedWeightCount(s)) {
          source, destination in
          conv2dWinogradTransformWeights(s, weight: source, dst: destination)
        }
      }
      conv2dWinogradForward(
        s, input: x, weight: w, bias: b, output: out.data, transformedWeight: transformed?.readOnlyPointer)
    } else if conv2dTiledPreferred(s) && frozen {
      let key = TensorStorage.DerivedKey(kind: "conv2d-tiles", shape: weight.shape + [s.groups])
      let reordered = weight.storage.derived(key, count: s.weightCount) { source, destination in
        conv2dTiledReorderWeights(s, weight: source, dst: destination)
      }
      reluApplied = relu && !recording
      conv2dTiledForward(
        s, input: x, weight: w, bias: b, output: out.data, reorderedWeight: reordered.readOnlyPointer,
        relu: reluApplied)
    } else if conv2dRunsAsGEMM(s) && frozen {
      let key = TensorStorage.DerivedKey(kind: "conv2d-gemm-packed", shape: weight.shape + [s.groups])
      let packed = weight.storage.derived(key, count: conv2dPackedWeightCount(s)) { source, destination in
        conv2dPackWeights(s, weight: source, dst: destination)
      }
      CNNKitKernels.conv2dForward(
        s, input: x, weight: w, bias: b, output: out.data, packedWeight: packed.readOnlyPointer)
    } else {
      CNNKitKernels.conv2dForward(s, input: x, weight: w, bias: b, output: out.data)
    }
    return (out, applyReLU(to: out, relu: relu && !reluApplied, recording: recording))
  }

  func conv2dBackwardInput(_ s: Conv2dShape, gradOutput: Tensor, weight: Tensor) throws -> Tensor {
    // bf16: the backward products too from rounded operands (autocast's convolution backward).
    let (gradOutput, weight) =
      precision == .bf16
      ? (bf16Rounded(gradOutput, kept: false), bf16Rounded(weight, kept: false))
      : (gradOutput, weight)
    let dx = Tensor(uninitializedShape: [s.batch, s.inChannels, s.inHeight, s.inWidth])
    CNNKitKernels.conv2dBackwardInput(
      s, gradOutput: gradOutput.storage.readOnlyPointer, weight: weight.storage.readOnlyPointer,
      gradInput: dx.data)
    return dx
  }

  func conv2dBackwardWeight(
    _ s: Conv2dShape, input: Tensor, gradOutput: Tensor, bias: Bool
  ) throws -> (weight: Tensor, bias: Tensor?) {
    let (input, gradOutput) =
      precision == .bf16
      ? (bf16Rounded(input, kept: false), bf16Rounded(gradOutput, kept: false))
      : (input, gradOutput)
    let dw = Tensor(uninitializedShape: [s.outChannels, s.inChannelsPerGroup, s.kernelHeight, s.kernelWidth])
    let db = bias ? Tensor(uninitializedShape: [s.outChannels]) : nil
    CNNKitKernels.conv2dBackwardWeight(
      s, input: input.storage.readOnlyPointer, gradOutput: gradOutput.storage.readOnlyPointer,
      gradWeight: dw.data,
      gradBias: db?.data)
    return (dw, db)
  }

  func linearForward(_ input: Tensor, weight: Tensor, bias: Tensor?, weightFrozen frozen: Bool) throws
    -> Tensor
  {
    guard precision == .bf16 else {
      return linearForwardFP32(input, weight: weight, bias: bias, weightFrozen: frozen)
    }
    guard let tile = Self.bf16Tile else {
      return linearForwardFP32(
        bf16Rounded(input, kept: false), weight: bf16Rounded(weight, kept: frozen), bias: bias,
        weightFrozen: frozen)
    }
    let (n, inF, outF) = (input.shape[0], weight.shape[1], weight.shape[0])
    let out = Tensor(uninitializedShape: [n, outF])
    let y = out.data
    if let bias {
      for r in 0..<n { (y + r * outF).update(from: bias.storage.readOnlyPointer, count: outF) }
    }
    guard frozen else {
      // `x · Wᵀ` on the bf16 tile, both operands packed on this call.
      gemmBF16(
        transposeA: false, transposeB: true, m: n, n: outF, k: inF, a: input.storage.readOnlyPointer,
        lda: inF,
        b: weight.storage.readOnlyPointer, ldb: inF, beta: bias == nil ? 0 : 1, c: y, ldc: outF, tile: tile)
      return out
    }
    // A weight that cannot change is packed into bf16 pairs once (rounding AlexNet's 58 M classifier
    // weights on every call would cost more than the products): `Yᵀ = W · xᵀ`, then transposed.
    let key = TensorStorage.DerivedKey(kind: "linear-bf16-packed", shape: weight.shape)
    let packed = weight.storage.derived(key, count: (BF16GEMM.packedACount(m: outF, k: inF) + 1) / 2) {
      source, destination in
      BF16GEMM.packA(
        transposeA: false, m: outF, k: inF, a: source, lda: inF,
        dst: UnsafeMutableRawPointer(destination).assumingMemoryBound(to: UInt16.self))
    }
    let yT = Tensor(uninitializedShape: [outF, n])
    gemmBF16Prepacked(
      m: outF, n: n, k: inF,
      packedA: UnsafeRawPointer(packed.readOnlyPointer).assumingMemoryBound(to: UInt16.self),
      b: input.storage.readOnlyPointer, ldb: inF, transposeB: true, c: yT.data, ldc: n, accumulate: false,
      tile: tile)
    let t = yT.storage.readOnlyPointer
    for r in 0..<n {
      for o in 0..<outF { y[r * outF + o] = bias == nil ? t[o * n + r] : y[r * outF + o] + t[o * n + r] }
    }
    return out
  }

  private func linearForwardFP32(_ input: Tensor, weight: Tensor, bias: Tensor?, weightFrozen frozen: Bool)
    -> Tensor
  {
    let (n, inF, outF) = (input.shape[0], weight.shape[1], weight.shape[0])
    let out = Tensor(uninitializedShape: [n, outF])
    let y = out.data
    if let bias {
      for r in 0..<n { (y + r * outF).update(from: bias.storage.readOnlyPointer, count: outF) }
    }
    // Read-only access keeps the weight's packed copy valid (see `TensorStorage.derived`).
    let (x, w) = (input.storage.readOnlyPointer, weight.storage.readOnlyPointer)
    if n >= 2 && frozen {
      // A weight that cannot change within this pass is packed once and kept (inference at batch
      // 32: AlexNet's fc6 12.8 → 7–8 ms); batch 1 streams it unpacked at memory speed anyway.
      let key = TensorStorage.DerivedKey(kind: "linear-packed", shape: weight.shape)
      let packed = weight.storage.derived(key, count: gemmPackedBCount(n: outF, k: inF)) {
        source, destination in
        gemmPackB(transposeB: true, n: outF, k: inF, b: source, ldb: inF, dst: destination)
      }
      gemmPrepacked(
        transposeA: false, m: n, n: outF, k: inF, alpha: 1, a: x, lda: inF, packedB: packed.readOnlyPointer,
        beta: bias == nil ? 0 : 1, c: y, ldc: outF)
    } else if n == 1 && frozen && Self.zeroShare(input) >= 0.125,
      let transposed = weight.storage.derived(
        TensorStorage.DerivedKey(kind: "linear-transposed", shape: weight.shape), count: weight.count,
        onlyWhenReused: true,
        make: { source, destination in transposeMatrix(rows: outF, cols: inF, src: source, dst: destination) }
      )
    {
      // One image whose input has zeros (after a ReLU, about half): Wᵀ, kept, is streamed a row per
      // input, and the rows of zero inputs are never read. AlexNet at batch 1: fc7 and fc8 read half
      // their weights. Wᵀ is made on the second such call: transposing costs more than one call saves.
      gemm(
        transposeA: false, transposeB: false, m: 1, n: outF, k: inF, alpha: 1, a: x, lda: inF,
        b: transposed.readOnlyPointer, ldb: outF, beta: bias == nil ? 0 : 1, c: y, ldc: outF)
    } else {
      gemm(
        transposeA: false, transposeB: true, m: n, n: outF, k: inF, alpha: 1, a: x, lda: inF, b: w, ldb: inF,
        beta: bias == nil ? 0 : 1, c: y, ldc: outF)
    }
    return out
  }

  func linearBackward(
    input: Tensor, weight: Tensor, gradOutput: Tensor, needInput: Bool, needWeight: Bool, needBias: Bool
  ) throws -> (input: Tensor?, weight: Tensor?, bias: Tensor?) {
    // bf16: the products from rounded operands; the bias gradient sums the unrounded one.
    let (input, weight, roundedGrad) =
      precision == .bf16
      ? (
        bf16Rounded(input, kept: false), bf16Rounded(weight, kept: false),
        bf16Rounded(gradOutput, kept: false)
      )
      : (input, weight, gradOutput)
    let (n, inF, outF) = (input.shape[0], weight.shape[1], weight.shape[0])
    let g = roundedGrad.storage.readOnlyPointer
    var dx: Tensor? = nil
    if needInput {
      // dx = dy · W
      let t = Tensor(uninitializedShape: input.shape)
      gemm(
        transposeA: false, transposeB: false, m: n, n: inF, k: outF, alpha: 1, a: g, lda: outF,
        b: weight.storage.readOnlyPointer, ldb: inF, beta: 0, c: t.data, ldc: inF)
      dx = t
    }
    var dw: Tensor? = nil
    if needWeight {
      // dW = dyᵀ · x
      let t = Tensor(uninitializedShape: weight.shape)
      gemm(
        transposeA: true, transposeB: false, m: outF, n: inF, k: n, alpha: 1, a: g, lda: outF,
        b: input.storage.readOnlyPointer, ldb: inF, beta: 0, c: t.data, ldc: inF)
      dw = t
    }
    guard needBias else { return (dx, dw, nil) }
    let db = Tensor(zeros: [outF])
    let sum = db.data
    let dy = gradOutput.storage.readOnlyPointer
    for r in 0..<n { addKernel(count: outF, sum, dy + r * outF, sum) }
    return (dx, dw, db)
  }

  /// The share of `x`'s elements that are exactly zero.
  private static func zeroShare(_ x: Tensor) -> Double {
    let p = x.storage.readOnlyPointer
    var zeros = 0
    for i in 0..<x.count where p[i] == 0 { zeros += 1 }
    return Double(zeros) / Double(max(x.count, 1))
  }
}
