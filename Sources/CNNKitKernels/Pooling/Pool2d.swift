/// Geometry of a 2-D pooling window over NCHW input, with PyTorch's output-size rule.
public struct Pool2dShape: Equatable, Sendable {
  public var batch: Int
  public var channels: Int
  public var inHeight: Int
  public var inWidth: Int
  public var kernelHeight: Int
  public var kernelWidth: Int
  public var strideHeight: Int
  public var strideWidth: Int
  public var padHeight: Int
  public var padWidth: Int
  public var ceilMode: Bool

  /// Creates a pooling geometry.
  public init(
    batch: Int, channels: Int, inHeight: Int, inWidth: Int, kernelHeight: Int, kernelWidth: Int,
    strideHeight: Int, strideWidth: Int, padHeight: Int = 0, padWidth: Int = 0, ceilMode: Bool = false
  ) {
    self.batch = batch
    self.channels = channels
    self.inHeight = inHeight
    self.inWidth = inWidth
    self.kernelHeight = kernelHeight
    self.kernelWidth = kernelWidth
    self.strideHeight = strideHeight
    self.strideWidth = strideWidth
    self.padHeight = padHeight
    self.padWidth = padWidth
    self.ceilMode = ceilMode
  }

  /// PyTorch's pooling size: floor (or ceil) of `(I + 2P - F)/S` plus one; with ceil mode the last
  /// window must still start inside the input or left padding.
  public static func outputSize(input: Int, kernel: Int, stride: Int, pad: Int, ceilMode: Bool) -> Int {
    let span = input + 2 * pad - kernel
    if span < 0 { return 0 }
    var out = (ceilMode ? (span + stride - 1) / stride : span / stride) + 1
    if ceilMode && (out - 1) * stride >= input + pad { out -= 1 }
    return out
  }

  /// Output height.
  public var outHeight: Int {
    Self.outputSize(
      input: inHeight, kernel: kernelHeight, stride: strideHeight, pad: padHeight, ceilMode: ceilMode)
  }
  /// Output width.
  public var outWidth: Int {
    Self.outputSize(
      input: inWidth, kernel: kernelWidth, stride: strideWidth, pad: padWidth, ceilMode: ceilMode)
  }
  /// Elements of the input.
  public var inputCount: Int { batch * channels * inHeight * inWidth }
  /// Elements of the output.
  public var outputCount: Int { batch * channels * outHeight * outWidth }
}

/// Max pooling. `indices` receives, per output element, the flat index of the winner inside its
/// input plane (as PyTorch's `return_indices`), which the backward pass scatters to.
public func maxPool2dForward(
  _ s: Pool2dShape, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
  indices: UnsafeMutablePointer<Int32>
) {
  let (oh, ow) = (s.outHeight, s.outWidth)
  let inPlane = s.inHeight * s.inWidth
  let inputEnd = input + s.inputCount
  forPlanes(s.batch * s.channels, planeSize: inPlane) { planes in
    for plane in planes {
      let src = input + plane * inPlane
      let dst = output + plane * oh * ow
      let idx = indices + plane * oh * ow
      for y in 0..<oh {
        let y0 = y * s.strideHeight - s.padHeight
        let ys = max(y0, 0)
        let ye = min(y0 + s.kernelHeight, s.inHeight)
        // Windows clipped by left padding, then (stride 2) the SIMD interior, then the rest.
        let clipped = s.strideWidth == 2 ? min(ow, (s.padWidth + 1) / 2) : ow
        var x = 0
        var simdEnd = clipped
        if s.strideWidth == 2 {
          // Eight outputs at once: a 16-wide load at each window column, even lanes kept.
          simdEnd = maxPoolRowStride2(
            s, src: src, inputEnd: inputEnd, rows: ys..<ye, from: clipped, outWidth: ow, dst: dst + y * ow,
            idx: idx + y * ow)
        }
        while x < ow {
          if x == clipped && simdEnd > clipped {
            x = simdEnd
            if x >= ow { break }
          }
          let x0 = x * s.strideWidth - s.padWidth
          let xs = max(x0, 0)
          let xe = min(x0 + s.kernelWidth, s.inWidth)
          var best = -Float.infinity
          var bestIndex = ys * s.inWidth + xs
          for iy in ys..<ye {
            for ix in xs..<xe {
              let v = src[iy * s.inWidth + ix]
              // NaN wins, as in PyTorch, so it propagates (the last NaN, as PyTorch's CPU kernel).
              if v > best || v.isNaN {
                best = v
                bestIndex = iy * s.inWidth + ix
              }
            }
          }
          dst[y * ow + x] = best
          idx[y * ow + x] = Int32(bestIndex)
          x += 1
        }
      }
    }
  }
}

/// Max pooling without indices, for inference: the same maxima as `maxPool2dForward` (NaN wins)
/// with nothing recorded for a backward pass. Writes every element of `output`.
///
/// Separable: each output row first takes the column-wise maximum of its window's input rows into a
/// scratch row, then the row-wise maximum of each window in that row, so a k×k window costs k + k
/// loads per eight outputs instead of k·k (ResNet-18's 112×112 pool: 0.18 → 0.09 ms; AlexNet's
/// 55×55 at batch 32: 1.3 → 0.7 ms).
public func maxPool2dForwardValues(
  _ s: Pool2dShape, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>
) {
  if s.inWidth < 16 {
    maxPool2dForwardValuesByWindow(s, input: input, output: output)
    return
  }
  let (oh, ow) = (s.outHeight, s.outWidth)
  let inW = s.inWidth
  let inPlane = s.inHeight * inW
  let sw = s.strideWidth
  // Floats `gatherStrided` reads from its start.
  let span = sw <= 2 ? 8 * sw : 7 * sw + 1
  forPlanes(s.batch * s.channels, planeSize: inPlane) { planes in
    // One input row of column maxima, with room for the SIMD loads that run past its end.
    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: inW + span + s.kernelWidth)
    defer { scratch.deallocate() }
    let scratchEnd = UnsafePointer(scratch + inW + span + s.kernelWidth)
    for plane in planes {
      let src = input + plane * inPlane
      let dst = output + plane * oh * ow
      for y in 0..<oh {
        let y0 = y * s.strideHeight - s.padHeight
        let rows = max(y0, 0)..<min(y0 + s.kernelHeight, s.inHeight)
        let line = dst + y * ow
        if rows.isEmpty {
          line.update(repeating: -.infinity, count: ow)
          continue
        }
        columnMaxima(src: src + rows.lowerBound * inW, rows: rows.count, width: inW, into: scratch)
        var x = 0
        while x < ow {
          let x0 = x * sw - s.padWidth
          let count = min(8, ow - x)
          // Eight outputs at once where their windows lie inside the row; lanes past the row's end
          // are computed from the scratch row's slack and dropped.
          if x0 >= 0, x0 + (count - 1) * sw + s.kernelWidth <= inW,
            scratch + x0 + s.kernelWidth - 1 + span <= scratchEnd
          {
            var best = SIMD8<Float>(repeating: -.infinity)
            for kx in 0..<s.kernelWidth {
              let v = gatherStrided(scratch + x0 + kx, sw)
              best.replace(with: v, where: (v .> best) .| (v .!= v))
            }
            if count == 8 {
              UnsafeMutableRawPointer(line + x).storeBytes(of: best, as: SIMD8<Float>.self)
            } else {
              for lane in 0..<count { line[x + lane] = best[lane] }
            }
            x += count
            continue
          }
          var best = -Float.infinity
          for ix in max(x0, 0)..<min(x0 + s.kernelWidth, inW) {
            let v = scratch[ix]
            if v > best || v.isNaN { best = v }
          }
          line[x] = best
          x += 1
        }
      }
    }
  }
}

/// `maxPool2dForwardValues` window by window: each of eight outputs' k×k window read in full. For
/// rows narrower than 16, where the separable form's scratch row costs more than it saves.
private func maxPool2dForwardValuesByWindow(
  _ s: Pool2dShape, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>
) {
  let (oh, ow) = (s.outHeight, s.outWidth)
  let inPlane = s.inHeight * s.inWidth
  let inputEnd = input + s.inputCount
  let sw = s.strideWidth
  // Floats `gatherStrided` reads from its start.
  let span = sw <= 2 ? 8 * sw : 7 * sw + 1
  forPlanes(s.batch * s.channels, planeSize: inPlane) { planes in
    for plane in planes {
      let src = input + plane * inPlane
      let dst = output + plane * oh * ow
      for y in 0..<oh {
        let y0 = y * s.strideHeight - s.padHeight
        let rows = max(y0, 0)..<min(y0 + s.kernelHeight, s.inHeight)
        let line = dst + y * ow
        var x = 0
        while x < ow {
          let x0 = x * sw - s.padWidth
          let count = min(8, ow - x)
          // Eight outputs at once where their windows lie inside the row and the loads inside the
          // input; lanes past the row's end are computed and dropped.
          if x0 >= 0, x0 + (count - 1) * sw + s.kernelWidth <= s.inWidth, !rows.isEmpty,
            src + (rows.upperBound - 1) * s.inWidth + x0 + s.kernelWidth - 1 + span <= inputEnd
          {
            var best = SIMD8<Float>(repeating: -.infinity)
            for iy in rows {
              for kx in 0..<s.kernelWidth {
                let v = gatherStrided(src + iy * s.inWidth + x0 + kx, sw)
                best.replace(with: v, where: (v .> best) .| (v .!= v))
              }
            }
            if count == 8 {
              UnsafeMutableRawPointer(line + x).storeBytes(of: best, as: SIMD8<Float>.self)
            } else {
              for lane in 0..<count { line[x + lane] = best[lane] }
            }
            x += count
            continue
          }
          var best = -Float.infinity
          for iy in rows {
            for ix in max(x0, 0)..<min(x0 + s.kernelWidth, s.inWidth) {
              let v = src[iy * s.inWidth + ix]
              if v > best || v.isNaN { best = v }
            }
          }
          line[x] = best
          x += 1
        }
      }
    }
  }
}

/// `dst[i] = max(src[i], src[width + i], …)` over `rows` rows of `width` floats (NaN wins). Vector
/// widths only, the last vector overlapping the one before it where `width` is not a multiple.
/// (Concrete vector types: a generic SIMD helper here was not specialised and ran 15× slower.)
@inline(__always)
private func columnMaxima(
  src: UnsafePointer<Float>, rows: Int, width: Int, into dst: UnsafeMutablePointer<Float>
) {
  if width >= 16 {
    var i = 0
    while true {
      var best = UnsafeRawPointer(src + i).loadUnaligned(as: SIMD16<Float>.self)
      for r in 1..<max(rows, 1) {
        let v = UnsafeRawPointer(src + r * width + i).loadUnaligned(as: SIMD16<Float>.self)
        best.replace(with: v, where: (v .> best) .| (v .!= v))
      }
      UnsafeMutableRawPointer(dst + i).storeBytes(of: best, as: SIMD16<Float>.self)
      if i == width - 16 { break }
      i = min(i + 16, width - 16)
    }
  } else if width >= 8 {
    var i = 0
    while true {
      var best = UnsafeRawPointer(src + i).loadUnaligned(as: SIMD8<Float>.self)
      for r in 1..<max(rows, 1) {
        let v = UnsafeRawPointer(src + r * width + i).loadUnaligned(as: SIMD8<Float>.self)
        best.replace(with: v, where: (v .> best) .| (v .!= v))
      }
      UnsafeMutableRawPointer(dst + i).storeBytes(of: best, as: SIMD8<Float>.self)
      if i == width - 8 { break }
      i = width - 8
    }
  } else {
    for i in 0..<width {
      var best = src[i]
      for r in 1..<max(rows, 1) {
        let v = src[r * width + i]
        if v > best || v.isNaN { best = v }
      }
      dst[i] = best
    }
  }
}

/// `p[0], p[stride], …, p[7·stride]`: contiguous loads, split into lanes for stride 2.
@inline(__always)
private func gatherStrided(_ p: UnsafePointer<Float>, _ stride: Int) -> SIMD8<Float> {
  let raw = UnsafeRawPointer(p)
  switch stride {
  case 1:
    return raw.loadUnaligned(as: SIMD8<Float>.self)
  case 2:
    return raw.loadUnaligned(as: SIMD16<Float>.self).evenHalf
  default:
    var v = SIMD8<Float>()
    for i in 0..<8 { v[i] = p[i * stride] }
    return v
  }
}

/// Max over windows of one output row for horizontal stride 2, eight outputs per step, visiting
/// window elements in the scalar order (rows, then columns) so ties and NaN resolve identically.
/// Only windows wholly inside the row are done here, from output `start` (the first whose window
/// starts at or after column 0); returns the first output left to the caller.
@inline(__always)
private func maxPoolRowStride2(
  _ s: Pool2dShape, src: UnsafePointer<Float>, inputEnd: UnsafePointer<Float>, rows: Range<Int>,
  from start: Int, outWidth: Int, dst: UnsafeMutablePointer<Float>, idx: UnsafeMutablePointer<Int32>
) -> Int {
  if rows.isEmpty || s.inWidth + s.padWidth < s.kernelWidth { return start }
  // Outputs whose window lies inside the row (right padding or ceil mode may clip the last ones).
  let inside = min(outWidth, (s.inWidth + s.padWidth - s.kernelWidth) / 2 + 1)
  let lanes = SIMD8<Int32>(0, 2, 4, 6, 8, 10, 12, 14)
  var x = start
  while x < inside {
    let x0 = x * 2 - s.padWidth
    // The 16-wide loads may run past the row (into lanes not stored) but not past the input.
    guard src + (rows.upperBound - 1) * s.inWidth + x0 + s.kernelWidth - 1 + 16 <= inputEnd else { break }
    var best = SIMD8<Float>(repeating: -.infinity)
    var bestIndex = SIMD8<Int32>(repeating: Int32(rows.lowerBound * s.inWidth + x0)) &+ lanes
    for iy in rows {
      for kx in 0..<s.kernelWidth {
        let offset = iy * s.inWidth + x0 + kx
        let v = UnsafeRawPointer(src + offset).loadUnaligned(as: SIMD16<Float>.self).evenHalf
        let wins = (v .> best) .| (v .!= v)
        best.replace(with: v, where: wins)
        bestIndex.replace(with: SIMD8<Int32>(repeating: Int32(offset)) &+ lanes, where: wins)
      }
    }
    if x + 8 <= inside {
      UnsafeMutableRawPointer(dst + x).storeBytes(of: best, as: SIMD8<Float>.self)
      UnsafeMutableRawPointer(idx + x).storeBytes(of: bestIndex, as: SIMD8<Int32>.self)
    } else {
      for lane in 0..<(inside - x) {
        dst[x + lane] = best[lane]
        idx[x + lane] = bestIndex[lane]
      }
    }
    x = min(x + 8, inside)
  }
  return x
}

/// Runs `body` over plane ranges, on one thread when the input is too small to pay for a fork.
@inline(__always)
func forPlanes(_ planes: Int, planeSize: Int, _ body: (Range<Int>) -> Void) {
  let minimumPlanes = max(1, (1 << 16) / max(planeSize, 1))
  Parallel.forRanges(planes, minimumChunk: minimumPlanes, body)
}

/// Max-pool backward: routes each output gradient to its recorded winner. Writes `gradInput`.
public func maxPool2dBackward(
  _ s: Pool2dShape, gradOutput: UnsafePointer<Float>, indices: UnsafePointer<Int32>,
  gradInput: UnsafeMutablePointer<Float>
) {
  let outPlane = s.outHeight * s.outWidth
  let inPlane = s.inHeight * s.inWidth
  forPlanes(s.batch * s.channels, planeSize: inPlane) { planes in
    for plane in planes {
      let dst = gradInput + plane * inPlane
      dst.update(repeating: 0, count: inPlane)
      let g = gradOutput + plane * outPlane
      let idx = indices + plane * outPlane
      for o in 0..<outPlane { dst[Int(idx[o])] += g[o] }
    }
  }
}

/// Whether `maxPool2dWindowIndices` can describe this geometry's winners in one byte each: windows
/// of at most 256 elements, no wider than the input (so a winner's row inside its window is unique).
public func maxPool2dWindowIndicesApply(_ s: Pool2dShape) -> Bool {
  s.kernelHeight * s.kernelWidth <= 256 && s.kernelWidth <= s.inWidth
}

/// Rewrites `maxPool2dForward`'s plane indices as positions inside each window (`ky·kw + kx`, one
/// byte), a quarter of the memory for the backward pass to keep. Needs `maxPool2dWindowIndicesApply`.
public func maxPool2dWindowIndices(
  _ s: Pool2dShape, indices: UnsafePointer<Int32>, windowIndices: UnsafeMutablePointer<UInt8>
) {
  let (oh, ow) = (s.outHeight, s.outWidth)
  let inWidth = Int32(s.inWidth)
  let strideWidth = Int32(s.strideWidth)
  // Window position p = ky·inWidth + kx becomes ky·kw + kx = p − ky·(inWidth − kw).
  let shrink = inWidth - Int32(s.kernelWidth)
  let kernelHeight = Int32(s.kernelHeight)
  forPlanes(s.batch * s.channels, planeSize: oh * ow * 16) { planes in
    for plane in planes {
      let idx = indices + plane * oh * ow
      let dst = windowIndices + plane * oh * ow
      for y in 0..<oh {
        let rowOrigin = Int32((y * s.strideHeight - s.padHeight) * s.inWidth - s.padWidth)
        for x in 0..<ow {
          let p = idx[y * ow + x] &- rowOrigin &- Int32(truncatingIfNeeded: x) &* strideWidth
          // kx < kw ≤ inWidth, so ky counts the whole rows in p (branch-free).
          var ky: Int32 = 0
          var row: Int32 = 1
          while row < kernelHeight {
            ky &+= p >= row &* inWidth ? 1 : 0
            row &+= 1
          }
          dst[y * ow + x] = UInt8(truncatingIfNeeded: p &- ky &* shrink)
        }
      }
    }
  }
}

/// `maxPool2dBackward` from `maxPool2dWindowIndices`. Writes `gradInput`.
public func maxPool2dBackward(
  _ s: Pool2dShape, gradOutput: UnsafePointer<Float>, windowIndices: UnsafePointer<UInt8>,
  gradInput: UnsafeMutablePointer<Float>
) {
  let (oh, ow) = (s.outHeight, s.outWidth)
  let inPlane = s.inHeight * s.inWidth
  // Offset from a window's origin of each position inside it.
  let offsets = (0..<(s.kernelHeight * s.kernelWidth)).map {
    ($0 / s.kernelWidth) * s.inWidth + $0 % s.kernelWidth
  }
  offsets.withUnsafeBufferPointer { offsets in
    forPlanes(s.batch * s.channels, planeSize: inPlane) { planes in
      for plane in planes {
        let dst = gradInput + plane * inPlane
        dst.update(repeating: 0, count: inPlane)
        let g = gradOutput + plane * oh * ow
        let idx = windowIndices + plane * oh * ow
        for y in 0..<oh {
          let rowOrigin = (y * s.strideHeight - s.padHeight) * s.inWidth - s.padWidth
          for x in 0..<ow {
            let o = y * ow + x
            dst[rowOrigin + x * s.strideWidth + offsets[Int(idx[o])]] += g[o]
          }
        }
      }
    }
  }
}

/// The window `[start, end)` of one average-pool output along one axis, and PyTorch's divisor
/// (which counts padding inside the padded extent when `countIncludePad`).
@inline(__always)
private func averageWindow(_ o: Int, kernel: Int, stride: Int, pad: Int, input: Int) -> (Int, Int, Int) {
  let start = o * stride - pad
  let paddedEnd = min(start + kernel, input + pad)
  return (max(start, 0), min(paddedEnd, input), paddedEnd - start)
}

/// Average pooling with PyTorch's `count_include_pad` semantics. Writes `output`.
public func avgPool2dForward(
  _ s: Pool2dShape, countIncludePad: Bool, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>
) {
  let (oh, ow) = (s.outHeight, s.outWidth)
  Parallel.forEach(s.batch * s.channels) { plane in
    let src = input + plane * s.inHeight * s.inWidth
    let dst = output + plane * oh * ow
    for y in 0..<oh {
      let (ys, ye, ph) = averageWindow(
        y, kernel: s.kernelHeight, stride: s.strideHeight, pad: s.padHeight, input: s.inHeight)
      for x in 0..<ow {
        let (xs, xe, pw) = averageWindow(
          x, kernel: s.kernelWidth, stride: s.strideWidth, pad: s.padWidth, input: s.inWidth)
        var sum: Float = 0
        for iy in ys..<ye { for ix in xs..<xe { sum += src[iy * s.inWidth + ix] } }
        let divisor = countIncludePad ? ph * pw : (ye - ys) * (xe - xs)
        dst[y * ow + x] = divisor > 0 ? sum / Float(divisor) : 0
      }
    }
  }
}

/// Average-pool backward: spreads each output gradient evenly over its window. Writes `gradInput`.
public func avgPool2dBackward(
  _ s: Pool2dShape, countIncludePad: Bool, gradOutput: UnsafePointer<Float>,
  gradInput: UnsafeMutablePointer<Float>
) {
  let (oh, ow) = (s.outHeight, s.outWidth)
  Parallel.forEach(s.batch * s.channels) { plane in
    let dst = gradInput + plane * s.inHeight * s.inWidth
    dst.update(repeating: 0, count: s.inHeight * s.inWidth)
    let g = gradOutput + plane * oh * ow
    for y in 0..<oh {
      let (ys, ye, ph) = averageWindow(
        y, kernel: s.kernelHeight, stride: s.strideHeight, pad: s.padHeight, input: s.inHeight)
      for x in 0..<ow {
        let (xs, xe, pw) = averageWindow(
          x, kernel: s.kernelWidth, stride: s.strideWidth, pad: s.padWidth, input: s.inWidth)
        let divisor = countIncludePad ? ph * pw : (ye - ys) * (xe - xs)
        if divisor == 0 { continue }
        let share = g[y * ow + x] / Float(divisor)
        for iy in ys..<ye { for ix in xs..<xe { dst[iy * s.inWidth + ix] += share } }
      }
    }
  }
}

/// Adaptive average pooling: output cell `i` averages input `[floor(i·I/O), ceil((i+1)·I/O))`.
public func adaptiveAvgPool2dForward(
  planes: Int, inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int,
  input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>
) {
  Parallel.forEach(planes) { plane in
    let src = input + plane * inHeight * inWidth
    let dst = output + plane * outHeight * outWidth
    for y in 0..<outHeight {
      let ys = y * inHeight / outHeight
      let ye = ((y + 1) * inHeight + outHeight - 1) / outHeight
      for x in 0..<outWidth {
        let xs = x * inWidth / outWidth
        let xe = ((x + 1) * inWidth + outWidth - 1) / outWidth
        var sum: Float = 0
        for iy in ys..<ye { for ix in xs..<xe { sum += src[iy * inWidth + ix] } }
        dst[y * outWidth + x] = sum / Float((ye - ys) * (xe - xs))
      }
    }
  }
}

/// Adaptive average pooling backward. Writes `gradInput`.
public func adaptiveAvgPool2dBackward(
  planes: Int, inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int,
  gradOutput: UnsafePointer<Float>, gradInput: UnsafeMutablePointer<Float>
) {
  Parallel.forEach(planes) { plane in
    let dst = gradInput + plane * inHeight * inWidth
    dst.update(repeating: 0, count: inHeight * inWidth)
    let g = gradOutput + plane * outHeight * outWidth
    for y in 0..<outHeight {
      let ys = y * inHeight / outHeight
      let ye = ((y + 1) * inHeight + outHeight - 1) / outHeight
      for x in 0..<outWidth {
        let xs = x * inWidth / outWidth
        let xe = ((x + 1) * inWidth + outWidth - 1) / outWidth
        let share = g[y * outWidth + x] / Float((ye - ys) * (xe - xs))
        for iy in ys..<ye { for ix in xs..<xe { dst[iy * inWidth + ix] += share } }
      }
    }
  }
}
