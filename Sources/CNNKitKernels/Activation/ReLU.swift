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

/// 32-bit words of a ReLU mask for `count` elements (one bit each, see `reluForwardMasked`).
public func reluMaskWords(count: Int) -> Int { (count + 31) / 32 }

/// `reluForward`, also recording in `mask` which outputs are positive: bit `i % 32` of word `i / 32`.
/// The mask is all the backward pass needs, at 1/32 of the output's size. `output` may be `input`.
public func reluForwardMasked(
  count: Int, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
  mask: UnsafeMutablePointer<UInt32>
) {
  forMaskWords(count) { words in
    let zero = Vector(repeating: 0)
    let bits = maskBits
    for w in words {
      let i = w * 32
      if i + 32 <= count {
        let lo = load(input, i)
        let hi = load(input, i + 16)
        // `<=` is false for NaN, so NaN survives (as in `reluForward`) with its bit clear.
        store(lo.replacing(with: zero, where: lo .<= zero), output, i)
        store(hi.replacing(with: zero, where: hi .<= zero), output, i + 16)
        let low = SIMD16<UInt32>(repeating: 0).replacing(with: bits, where: lo .> zero).wrappedSum()
        let high = SIMD16<UInt32>(repeating: 0).replacing(with: bits, where: hi .> zero).wrappedSum()
        mask[w] = low | high << 16
      } else {
        var word: UInt32 = 0
        for j in 0..<(count - i) {
          let v = input[i + j]
          output[i + j] = v > 0 || v.isNaN ? v : 0
          if v > 0 { word |= 1 << UInt32(j) }
        }
        mask[w] = word
      }
    }
  }
}

/// `reluBackward` from a mask written by `reluForwardMasked`. `gradInput` may be `gradOutput`.
public func reluBackwardMasked(
  count: Int, mask: UnsafePointer<UInt32>, gradOutput: UnsafePointer<Float>,
  gradInput: UnsafeMutablePointer<Float>
) {
  forMaskWords(count) { words in
    let zero = Vector(repeating: 0)
    let bits = maskBits
    // A vector, not the literal 0: comparing with a scalar compiled to a loop over the lanes.
    let clear = SIMD16<UInt32>(repeating: 0)
    for w in words {
      let i = w * 32
      let word = mask[w]
      if i + 32 <= count {
        let lo = SIMD16<UInt32>(repeating: word & 0xFFFF) & bits
        let hi = SIMD16<UInt32>(repeating: word >> 16) & bits
        store(zero.replacing(with: load(gradOutput, i), where: lo .!= clear), gradInput, i)
        store(zero.replacing(with: load(gradOutput, i + 16), where: hi .!= clear), gradInput, i + 16)
      } else {
        for j in 0..<(count - i) { gradInput[i + j] = word & (1 << UInt32(j)) != 0 ? gradOutput[i + j] : 0 }
      }
    }
  }
}

/// Lane `j` holds `1 << j`: ORing the lanes a comparison selects gives its bit mask.
let maskBits = SIMD16<UInt32>(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)

/// Runs `body` over the mask words of `count` elements, split across threads like `forVectorRanges`.
@inline(__always)
func forMaskWords(_ count: Int, _ body: (Range<Int>) -> Void) {
  let words = reluMaskWords(count: count)
  if count < 2 * elementwiseSerialLimit || Parallel.threadCount == 1 {
    body(0..<words)
    return
  }
  Parallel.forRanges(words, minimumChunk: elementwiseSerialLimit / 32, body)
}

/// `output[i] = input[i] · (bit i of mask ? scale : 0)`, with `mask` laid out as in `reluForwardMasked`:
/// inverted dropout's forward and backward from a one-bit keep mask (a product, so NaN stays NaN as
/// with a float mask). `output` may be `input`.
public func maskedScaleKernel(
  count: Int, mask: UnsafePointer<UInt32>, scale: Float, input: UnsafePointer<Float>,
  output: UnsafeMutablePointer<Float>
) {
  forMaskWords(count) { words in
    let zero = Vector(repeating: 0)
    let bits = maskBits
    let factor = Vector(repeating: scale)
    let clear = SIMD16<UInt32>(repeating: 0)
    for w in words {
      let i = w * 32
      let word = mask[w]
      if i + 32 <= count {
        let lo = SIMD16<UInt32>(repeating: word & 0xFFFF) & bits
        let hi = SIMD16<UInt32>(repeating: word >> 16) & bits
        store(load(input, i) * zero.replacing(with: factor, where: lo .!= clear), output, i)
        store(load(input, i + 16) * zero.replacing(with: factor, where: hi .!= clear), output, i + 16)
      } else {
        for j in 0..<(count - i) { output[i + j] = input[i + j] * (word & (1 << UInt32(j)) != 0 ? scale : 0) }
      }
    }
  }
}
