import CNNKitKernels

extension Functional {
  /// Fully connected layer, PyTorch's `F.linear`: `y = x · Wᵀ + b` with x [N, in], W [out, in], b [out].
  public static func linear(_ input: Tensor, weight: Tensor, bias: Tensor?) throws -> Tensor {
    guard input.rank == 2, weight.rank == 2, input.shape[1] == weight.shape[1] else {
      throw TensorError.shapeMismatch(
        operation: "linear",
        message:
          "input \(shapeString(input.shape)) does not fit weight \(shapeString(weight.shape)) (expects [N, \(weight.shape.last ?? 0)])"
      )
    }
    let (n, inF, outF) = (input.shape[0], weight.shape[1], weight.shape[0])
    if let bias, bias.shape != [outF] {
      throw TensorError.shapeMismatch(
        operation: "linear", message: "bias \(shapeString(bias.shape)) ≠ [\(outF)]")
    }
    if input.isMeta { return Tensor(metaShape: [n, outF]) }
    if let backend = try Backends.backend("linear", input, weight, bias) {
      let out = try backend.linearForward(input, weight: weight, bias: bias)
      return out.recording("linear", [input, weight] + (bias.map { [$0] } ?? [])) { g in
        Backends.inBackward {
          let (dx, dw, db) = try backend.linearBackward(
            input: input, weight: weight, gradOutput: g, needInput: input.requiresGrad,
            needWeight: weight.requiresGrad, needBias: bias != nil)
          return bias == nil ? [dx, dw] : [dx, dw, db]
        }
      }
    }
    let out = Tensor(uninitializedShape: [n, outF])
    if let bias {
      for r in 0..<n { (out.data + r * outF).update(from: bias.storage.readOnlyPointer, count: outF) }
    }
    // Read-only access keeps the weight's packed copy valid (see `TensorStorage.derived`).
    let w = weight.storage.readOnlyPointer
    if n >= 2 && !(GradMode.enabled && weight.requiresGrad) {
      // A weight that cannot change within this pass is packed once and kept (inference at batch
      // 32: AlexNet's fc6 12.8 → 7–8 ms); batch 1 streams it unpacked at memory speed anyway.
      let key = TensorStorage.DerivedKey(kind: "linear-packed", shape: weight.shape)
      let packed = weight.storage.derived(key, count: gemmPackedBCount(n: outF, k: inF)) {
        source, destination in
        gemmPackB(transposeB: true, n: outF, k: inF, b: source, ldb: inF, dst: destination)
      }
      gemmPrepacked(
        transposeA: false, m: n, n: outF, k: inF, alpha: 1, a: input.data, lda: inF,
        packedB: packed.readOnlyPointer, beta: bias == nil ? 0 : 1, c: out.data, ldc: outF)
    } else if n == 1 && !(GradMode.enabled && weight.requiresGrad) && zeroShare(input) >= 0.125,
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
        transposeA: false, transposeB: false, m: 1, n: outF, k: inF, alpha: 1,
        a: input.storage.readOnlyPointer,
        lda: inF, b: transposed.readOnlyPointer, ldb: outF, beta: bias == nil ? 0 : 1, c: out.data, ldc: outF)
    } else {
      gemm(
        transposeA: false, transposeB: true, m: n, n: outF, k: inF, alpha: 1, a: input.data, lda: inF,
        b: w, ldb: inF, beta: bias == nil ? 0 : 1, c: out.data, ldc: outF)
    }
    var inputs = [input, weight]
    if let bias { inputs.append(bias) }
    return out.recording("linear", inputs) { g in
      var dx: Tensor? = nil
      if input.requiresGrad {
        // dx = dy · W
        dx = Tensor(uninitializedShape: input.shape)
        gemm(
          transposeA: false, transposeB: false, m: n, n: inF, k: outF, alpha: 1, a: g.data, lda: outF,
          b: weight.data, ldb: inF, beta: 0, c: dx!.data, ldc: inF)
      }
      var dw: Tensor? = nil
      if weight.requiresGrad {
        // dW = dyᵀ · x
        dw = Tensor(uninitializedShape: weight.shape)
        gemm(
          transposeA: true, transposeB: false, m: outF, n: inF, k: n, alpha: 1, a: g.data, lda: outF,
          b: input.data, ldb: inF, beta: 0, c: dw!.data, ldc: inF)
      }
      guard let bias else { return [dx, dw] }
      let db = Tensor(zeros: bias.shape)
      for r in 0..<n { addKernel(count: outF, db.data, g.data + r * outF, db.data) }
      return [dx, dw, db]
    }
  }

  /// The share of `x`'s elements that are exactly zero.
  private static func zeroShare(_ x: Tensor) -> Double {
    let p = x.storage.readOnlyPointer
    var zeros = 0
    for i in 0..<x.count where p[i] == 0 { zeros += 1 }
    return Double(zeros) / Double(max(x.count, 1))
  }
}
