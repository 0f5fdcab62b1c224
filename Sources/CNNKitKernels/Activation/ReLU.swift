/// `y = max(x, 0)`. NaN passes through, as in PyTorch.
public func reluForward(count: Int, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
  Parallel.forRanges(count, minimumChunk: 1 << 16) { range in
    for i in range {
      let v = input[i]
      output[i] = v > 0 || v.isNaN ? v : 0
    }
  }
}

/// `dx = dy` where the forward output was positive, else 0. Writes `gradInput`.
public func reluBackward(
  count: Int, output: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
  gradInput: UnsafeMutablePointer<Float>
) {
  Parallel.forRanges(count, minimumChunk: 1 << 16) { range in
    for i in range { gradInput[i] = output[i] > 0 ? gradOutput[i] : 0 }
  }
}
