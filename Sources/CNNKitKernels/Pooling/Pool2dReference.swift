// Plain loops over every output and every position of its window, the way the pooling definitions
// read: the references the fast kernels in Pool2d.swift are tested against. Slow on purpose; no SIMD,
// no separable passes, no threads, and sums in Double so the reference's own rounding stays out of
// the comparison.

/// The input row (or column) of window position `k` for output `o`, before any bounds check.
@inline(__always)
private func windowInput(_ o: Int, _ k: Int, stride: Int, pad: Int) -> Int {
  o * stride - pad + k
}

/// The reference `maxPool2dForward`: the same maxima and, per output, the flat index of the winner
/// inside its input plane. Positions in the padding are skipped (padding never wins); the first
/// maximum in row-major window order wins a tie, and a NaN always wins, the last one if several,
/// as PyTorch's CPU kernel does. A window with no input position (not possible with PyTorch's rule
/// that padding is at most half the kernel) gives −∞ at the window's clipped origin.
public func maxPool2dForwardReference(
  _ s: Pool2dShape, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
  indices: UnsafeMutablePointer<Int32>
) {
  let (oh, ow) = (s.outHeight, s.outWidth)
  for plane in 0..<(s.batch * s.channels) {
    let src = input + plane * s.inHeight * s.inWidth
    for y in 0..<oh {
      for x in 0..<ow {
        var best = -Float.infinity
        var bestIndex = -1
        for ky in 0..<s.kernelHeight {
          let iy = windowInput(y, ky, stride: s.strideHeight, pad: s.padHeight)
          if iy < 0 || iy >= s.inHeight { continue }
          for kx in 0..<s.kernelWidth {
            let ix = windowInput(x, kx, stride: s.strideWidth, pad: s.padWidth)
            if ix < 0 || ix >= s.inWidth { continue }
            let v = src[iy * s.inWidth + ix]
            if bestIndex < 0 || v > best || v.isNaN {
              best = v
              bestIndex = iy * s.inWidth + ix
            }
          }
        }
        if bestIndex < 0 {
          let iy = max(0, windowInput(y, 0, stride: s.strideHeight, pad: s.padHeight))
          let ix = max(0, windowInput(x, 0, stride: s.strideWidth, pad: s.padWidth))
          bestIndex = iy * s.inWidth + ix
        }
        let o = (plane * oh + y) * ow + x
        output[o] = best
        indices[o] = Int32(bestIndex)
      }
    }
  }
}

/// The reference max-pool backward. It finds each window's winner again from `input` (with
/// `maxPool2dForwardReference`'s rule) instead of reading recorded indices, so it checks the fast
/// kernels' indices as well as their scatter. Writes `gradInput`.
public func maxPool2dBackwardReference(
  _ s: Pool2dShape, input: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
  gradInput: UnsafeMutablePointer<Float>
) {
  let inPlane = s.inHeight * s.inWidth
  let outPlane = s.outHeight * s.outWidth
  let winners = UnsafeMutablePointer<Int32>.allocate(capacity: max(s.outputCount, 1))
  let maxima = UnsafeMutablePointer<Float>.allocate(capacity: max(s.outputCount, 1))
  defer {
    winners.deallocate()
    maxima.deallocate()
  }
  maxPool2dForwardReference(s, input: input, output: maxima, indices: winners)
  for plane in 0..<(s.batch * s.channels) {
    for i in 0..<inPlane { gradInput[plane * inPlane + i] = 0 }
    for o in 0..<outPlane {
      let winner = Int(winners[plane * outPlane + o])
      gradInput[plane * inPlane + winner] += gradOutput[plane * outPlane + o]
    }
  }
}

/// How many window positions of output `o` along one axis count towards an average's divisor:
/// those inside the input, plus (with `countIncludePad`) those in the padding. Positions past the
/// padding, which ceil mode can create, never count, as in PyTorch.
private func averageDivisorAlongAxis(
  _ o: Int, kernel: Int, stride: Int, pad: Int, input: Int, countIncludePad: Bool
) -> Int {
  var count = 0
  for k in 0..<kernel {
    let i = windowInput(o, k, stride: stride, pad: pad)
    let inInput = i >= 0 && i < input
    let inPadding = i >= -pad && i < input + pad
    if inInput || (countIncludePad && inPadding) { count += 1 }
  }
  return count
}

/// The reference `avgPool2dForward`: each output is the Double sum of its window's input values over
/// the divisor PyTorch uses (`count_include_pad` counts padding positions, never positions past it);
/// 0 for a window that counts nothing. Writes `output`.
public func avgPool2dForwardReference(
  _ s: Pool2dShape, countIncludePad: Bool, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>
) {
  let (oh, ow) = (s.outHeight, s.outWidth)
  for plane in 0..<(s.batch * s.channels) {
    let src = input + plane * s.inHeight * s.inWidth
    for y in 0..<oh {
      let rows = averageDivisorAlongAxis(
        y, kernel: s.kernelHeight, stride: s.strideHeight, pad: s.padHeight, input: s.inHeight,
        countIncludePad: countIncludePad)
      for x in 0..<ow {
        let columns = averageDivisorAlongAxis(
          x, kernel: s.kernelWidth, stride: s.strideWidth, pad: s.padWidth, input: s.inWidth,
          countIncludePad: countIncludePad)
        var sum: Double = 0
        for ky in 0..<s.kernelHeight {
          let iy = windowInput(y, ky, stride: s.strideHeight, pad: s.padHeight)
          if iy < 0 || iy >= s.inHeight { continue }
          for kx in 0..<s.kernelWidth {
            let ix = windowInput(x, kx, stride: s.strideWidth, pad: s.padWidth)
            if ix < 0 || ix >= s.inWidth { continue }
            sum += Double(src[iy * s.inWidth + ix])
          }
        }
        let divisor = rows * columns
        output[(plane * oh + y) * ow + x] = divisor > 0 ? Float(sum / Double(divisor)) : 0
      }
    }
  }
}

/// The reference `avgPool2dBackward`: each input position receives, from every window that holds
/// it, that output's gradient over the window's divisor (as in `avgPool2dForwardReference`).
/// Accumulated in Double. Writes `gradInput`.
public func avgPool2dBackwardReference(
  _ s: Pool2dShape, countIncludePad: Bool, gradOutput: UnsafePointer<Float>,
  gradInput: UnsafeMutablePointer<Float>
) {
  let (oh, ow) = (s.outHeight, s.outWidth)
  let inPlane = s.inHeight * s.inWidth
  var sums = [Double](repeating: 0, count: inPlane)
  for plane in 0..<(s.batch * s.channels) {
    for i in 0..<inPlane { sums[i] = 0 }
    for y in 0..<oh {
      let rows = averageDivisorAlongAxis(
        y, kernel: s.kernelHeight, stride: s.strideHeight, pad: s.padHeight, input: s.inHeight,
        countIncludePad: countIncludePad)
      for x in 0..<ow {
        let columns = averageDivisorAlongAxis(
          x, kernel: s.kernelWidth, stride: s.strideWidth, pad: s.padWidth, input: s.inWidth,
          countIncludePad: countIncludePad)
        if rows * columns == 0 { continue }
        let share = Double(gradOutput[(plane * oh + y) * ow + x]) / Double(rows * columns)
        for ky in 0..<s.kernelHeight {
          let iy = windowInput(y, ky, stride: s.strideHeight, pad: s.padHeight)
          if iy < 0 || iy >= s.inHeight { continue }
          for kx in 0..<s.kernelWidth {
            let ix = windowInput(x, kx, stride: s.strideWidth, pad: s.padWidth)
            if ix < 0 || ix >= s.inWidth { continue }
            sums[iy * s.inWidth + ix] += share
          }
        }
      }
    }
    for i in 0..<inPlane { gradInput[plane * inPlane + i] = Float(sums[i]) }
  }
}

/// The input range `[start, end)` adaptive pooling averages for output `o` of `outSize` along an
/// axis of `inSize`: from `floor(o·in/out)` to `ceil((o+1)·in/out)`, written with a division and a
/// remainder check rather than the fast kernel's rounding-up trick.
private func adaptiveRange(_ o: Int, inSize: Int, outSize: Int) -> Range<Int> {
  let start = (o * inSize) / outSize
  let endNumerator = (o + 1) * inSize
  let end = endNumerator / outSize + (endNumerator % outSize == 0 ? 0 : 1)
  return start..<end
}

/// The reference `adaptiveAvgPool2dForward` (Double sums). Writes `output`.
public func adaptiveAvgPool2dForwardReference(
  planes: Int, inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int,
  input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>
) {
  for plane in 0..<planes {
    for y in 0..<outHeight {
      let rows = adaptiveRange(y, inSize: inHeight, outSize: outHeight)
      for x in 0..<outWidth {
        let columns = adaptiveRange(x, inSize: inWidth, outSize: outWidth)
        var sum: Double = 0
        for iy in rows {
          for ix in columns { sum += Double(input[(plane * inHeight + iy) * inWidth + ix]) }
        }
        output[(plane * outHeight + y) * outWidth + x] = Float(sum / Double(rows.count * columns.count))
      }
    }
  }
}

/// The reference `adaptiveAvgPool2dBackward` (Double sums). Writes `gradInput`.
public func adaptiveAvgPool2dBackwardReference(
  planes: Int, inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int,
  gradOutput: UnsafePointer<Float>, gradInput: UnsafeMutablePointer<Float>
) {
  var sums = [Double](repeating: 0, count: inHeight * inWidth)
  for plane in 0..<planes {
    for i in sums.indices { sums[i] = 0 }
    for y in 0..<outHeight {
      let rows = adaptiveRange(y, inSize: inHeight, outSize: outHeight)
      for x in 0..<outWidth {
        let columns = adaptiveRange(x, inSize: inWidth, outSize: outWidth)
        let share =
          Double(gradOutput[(plane * outHeight + y) * outWidth + x]) / Double(rows.count * columns.count)
        for iy in rows {
          for ix in columns { sums[iy * inWidth + ix] += share }
        }
      }
    }
    for i in sums.indices { gradInput[plane * inHeight * inWidth + i] = Float(sums[i]) }
  }
}
