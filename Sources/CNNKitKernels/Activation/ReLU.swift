/// `y = max(x, 0)`. NaN passes through, as in PyTorch. `output` may be `input`.
public func reluForward(count: Int, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
  let zero = Vector(repeating: 0)
  forVectorRanges(count) { r in
    forEachVector(
      r,
      { i in
        let v = load(input, i)
        // `<=` is false for NaN, so NaN survives; −0 becomes +0 like the scalar rule.
        store(v.replacing(with: zero, where: v .<= zero), output, i)
      },
      { i in
        let v = input[i]
        output[i] = v > 0 || v.isNaN ? v : 0
      })
  }
}

/// `dx = dy` where the forward output was positive, else 0. Writes `gradInput` (may be `gradOutput`).
public func reluBackward(
  count: Int, output: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
  gradInput: UnsafeMutablePointer<Float>
) {
  let zero = Vector(repeating: 0)
  forVectorRanges(count) { r in
    forEachVector(
      r,
      { i in store(zero.replacing(with: load(gradOutput, i), where: load(output, i) .> zero), gradInput, i) },
      { i in gradInput[i] = output[i] > 0 ? gradOutput[i] : 0 })
  }
}
