/// A strided convolution rewritten as a stride-1 one (space-to-depth).
///
/// With stride `s`, tap `(i, j) = (s·a + r, s·b + q)` of output pixel `(y, x)` reads padded input
/// pixel `(s·(y + a) + r, s·(x + b) + q)`: pixel `(y + a, x + b)` of phase `(r, q)`, the padded input
/// sampled every `s` pixels from `(r, q)`. Stacking the `s²` phases as channels turns a `k×k`,
/// stride-`s` convolution over `C` channels into a `⌈k/s⌉×⌈k/s⌉`, stride-1, unpadded one over
/// `s²·C` channels whose missing taps are zero. AlexNet's 11×11/4 conv1 becomes a 3×3 convolution
/// over 48 channels, which Winograd runs with a third of the multiplies and no strided gathers.

/// The stride-1 geometry of `s` after space-to-depth, or nil when `s` is not strided, is grouped or
/// is dilated.
public func conv2dSpaceToDepthShape(_ s: Conv2dShape) -> Conv2dShape? {
  guard s.groups == 1, s.dilationHeight == 1, s.dilationWidth == 1, s.strideHeight > 1 || s.strideWidth > 1
  else { return nil }
  let kh = (s.kernelHeight + s.strideHeight - 1) / s.strideHeight
  let kw = (s.kernelWidth + s.strideWidth - 1) / s.strideWidth
  return Conv2dShape(
    batch: s.batch, inChannels: s.inChannels * s.strideHeight * s.strideWidth,
    inHeight: s.outHeight + kh - 1, inWidth: s.outWidth + kw - 1, outChannels: s.outChannels,
    kernelHeight: kh, kernelWidth: kw)
}

/// Whether the convolution kernels take the space-to-depth route for `s`: only where the rewritten
/// convolution runs by Winograd, which is what pays for the extra channels and zero taps.
public func conv2dSpaceToDepthApplies(_ s: Conv2dShape) -> Bool {
  guard let t = conv2dSpaceToDepthShape(s) else { return false }
  return conv2dWinogradApplies(t)
}

/// The phase channel of input channel `c` at phase `(r, q)`.
@inline(__always)
private func phaseChannel(_ s: Conv2dShape, _ c: Int, _ r: Int, _ q: Int) -> Int {
  (c * s.strideHeight + r) * s.strideWidth + q
}

/// Rearranges `count` NCHW images of `s` from `firstImage` into the phase images of `t`
/// (`conv2dSpaceToDepthShape(s)`), zero where a phase pixel falls in the padding or past the input.
public func spaceToDepthInput(
  _ s: Conv2dShape, _ t: Conv2dShape, input: UnsafePointer<Float>, firstImage: Int, count: Int,
  output: UnsafeMutablePointer<Float>
) {
  let (sh, sw) = (s.strideHeight, s.strideWidth)
  let (h, w) = (s.inHeight, s.inWidth)
  let (hu, wv) = (t.inHeight, t.inWidth)
  // One task per (image, input channel, row phase): sh·sw output planes' worth of rows.
  Parallel.forRanges(count * s.inChannels * sh, minimumChunk: 4) { range in
    for item in range {
      let (plane, r) = item.quotientAndRemainder(dividingBy: sh)
      let (j, c) = plane.quotientAndRemainder(dividingBy: s.inChannels)
      let src = input + ((firstImage + j) * s.inChannels + c) * h * w
      for q in 0..<sw {
        let dst = output + (j * t.inChannels + phaseChannel(s, c, r, q)) * hu * wv
        // Columns v with 0 ≤ sw·v + q − pw < w read the input; the rest are padding.
        let first = max(0, (s.padWidth - q + sw - 1) / sw)
        let end = min(wv, max(first, (w + s.padWidth - q + sw - 1) / sw))
        for u in 0..<hu {
          let row = dst + u * wv
          let y = sh * u + r - s.padHeight
          if y < 0 || y >= h {
            row.update(repeating: 0, count: wv)
            continue
          }
          let line = src + y * w + q - s.padWidth
          row.update(repeating: 0, count: first)
          for v in first..<end { row[v] = line[sw * v] }
          (row + end).update(repeating: 0, count: wv - end)
        }
      }
    }
  }
}

/// The weights of `t`: `w'[o][phase (c, r, q)][a][b] = w[o][c][sh·a + r][sw·b + q]`, zero past the kernel.
public func spaceToDepthWeight(
  _ s: Conv2dShape, _ t: Conv2dShape, weight: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>
) {
  let (kh, kw) = (s.kernelHeight, s.kernelWidth)
  let (ka, kb) = (t.kernelHeight, t.kernelWidth)
  for o in 0..<s.outChannels {
    for c in 0..<s.inChannels {
      let src = weight + (o * s.inChannels + c) * kh * kw
      for r in 0..<s.strideHeight {
        for q in 0..<s.strideWidth {
          let dst = output + (o * t.inChannels + phaseChannel(s, c, r, q)) * ka * kb
          for a in 0..<ka {
            for b in 0..<kb {
              let (i, j) = (s.strideHeight * a + r, s.strideWidth * b + q)
              dst[a * kb + b] = i < kh && j < kw ? src[i * kw + j] : 0
            }
          }
        }
      }
    }
  }
}

/// Folds the gradient of `t`'s weights back onto `s`'s (the inverse of `spaceToDepthWeight` on the
/// taps that exist). Writes every element of `gradWeight`.
public func depthToSpaceWeightGradient(
  _ s: Conv2dShape, _ t: Conv2dShape, gradient: UnsafePointer<Float>, gradWeight: UnsafeMutablePointer<Float>
) {
  let (kh, kw) = (s.kernelHeight, s.kernelWidth)
  let (ka, kb) = (t.kernelHeight, t.kernelWidth)
  for o in 0..<s.outChannels {
    for c in 0..<s.inChannels {
      let dst = gradWeight + (o * s.inChannels + c) * kh * kw
      for i in 0..<kh {
        for j in 0..<kw {
          let phase = phaseChannel(s, c, i % s.strideHeight, j % s.strideWidth)
          dst[i * kw + j] =
            gradient[(o * t.inChannels + phase) * ka * kb + i / s.strideHeight * kb + j / s.strideWidth]
        }
      }
    }
  }
}

/// Folds the gradient of `count` phase images (from `spaceToDepthInput`) back onto the NCHW input
/// gradient of images `firstImage…`. Each input pixel sits in exactly one phase image, or in none
/// when the rewritten convolution never reads it (then its gradient is zero). Writes those images.
public func depthToSpaceInputGradient(
  _ s: Conv2dShape, _ t: Conv2dShape, gradient: UnsafePointer<Float>, firstImage: Int, count: Int,
  gradInput: UnsafeMutablePointer<Float>
) {
  let (sh, sw) = (s.strideHeight, s.strideWidth)
  let (h, w) = (s.inHeight, s.inWidth)
  let (hu, wv) = (t.inHeight, t.inWidth)
  Parallel.forRanges(count * s.inChannels, minimumChunk: 2) { range in
    for plane in range {
      let (j, c) = plane.quotientAndRemainder(dividingBy: s.inChannels)
      let dst = gradInput + ((firstImage + j) * s.inChannels + c) * h * w
      for y in 0..<h {
        let (u, r) = (y + s.padHeight).quotientAndRemainder(dividingBy: sh)
        let row = dst + y * w
        if u >= hu {
          row.update(repeating: 0, count: w)
          continue
        }
        for x in 0..<w {
          let (v, q) = (x + s.padWidth).quotientAndRemainder(dividingBy: sw)
          row[x] =
            v < wv ? gradient[((j * t.inChannels + phaseChannel(s, c, r, q)) * hu + u) * wv + v] : 0
        }
      }
    }
  }
}

/// Images per chunk of phase images: within `Conv2dPlan.columnBudget` floats, at least one image.
private func spaceToDepthChunk(_ t: Conv2dShape) -> Int {
  max(1, min(t.batch, Conv2dPlan.columnBudget / max(1, t.inChannels * t.inHeight * t.inWidth)))
}

/// `conv2dForward` for a layer where `conv2dSpaceToDepthApplies`: phase images in chunks, each
/// convolved by Winograd. Writes every element of `output`.
public func conv2dSpaceToDepthForward(
  _ s: Conv2dShape, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
  bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>
) {
  guard let t = conv2dSpaceToDepthShape(s) else { preconditionFailure("space-to-depth needs a strided conv") }
  let phaseWeight = UnsafeMutablePointer<Float>.allocate(capacity: t.weightCount)
  defer { phaseWeight.deallocate() }
  spaceToDepthWeight(s, t, weight: weight, output: phaseWeight)
  let chunk = spaceToDepthChunk(t)
  let perImage = t.inChannels * t.inHeight * t.inWidth
  let outPerImage = s.outChannels * s.outHeight * s.outWidth
  GEMMWorkspace.with(floats: chunk * perImage) { phases in
    for n0 in stride(from: 0, to: s.batch, by: chunk) {
      var part = t
      part.batch = min(chunk, s.batch - n0)
      spaceToDepthInput(s, t, input: input, firstImage: n0, count: part.batch, output: phases)
      let out = output + n0 * outPerImage
      conv2dForwardWithWinograd(part, input: phases, weight: phaseWeight, bias: bias, output: out)
    }
  }
}

/// `conv2dBackwardInput` for a layer where `conv2dSpaceToDepthApplies`: the rewritten convolution's
/// input gradient, folded back from phase images. Writes every element of `gradInput`.
public func conv2dSpaceToDepthBackwardInput(
  _ s: Conv2dShape, gradOutput: UnsafePointer<Float>, weight: UnsafePointer<Float>,
  gradInput: UnsafeMutablePointer<Float>
) {
  guard let t = conv2dSpaceToDepthShape(s) else { preconditionFailure("space-to-depth needs a strided conv") }
  let phaseWeight = UnsafeMutablePointer<Float>.allocate(capacity: t.weightCount)
  defer { phaseWeight.deallocate() }
  spaceToDepthWeight(s, t, weight: weight, output: phaseWeight)
  let chunk = spaceToDepthChunk(t)
  let outPerImage = s.outChannels * s.outHeight * s.outWidth
  GEMMWorkspace.with(floats: chunk * t.inChannels * t.inHeight * t.inWidth) { phases in
    for n0 in stride(from: 0, to: s.batch, by: chunk) {
      var part = t
      part.batch = min(chunk, s.batch - n0)
      conv2dBackwardInput(
        part, gradOutput: gradOutput + n0 * outPerImage, weight: phaseWeight, gradInput: phases)
      depthToSpaceInputGradient(
        s, t, gradient: phases, firstImage: n0, count: part.batch, gradInput: gradInput)
    }
  }
}

/// `conv2dBackwardWeight` for a layer where `conv2dSpaceToDepthApplies`: the rewritten convolution's
/// weight gradient over chunks of phase images, folded back onto the original taps. Writes both.
public func conv2dSpaceToDepthBackwardWeight(
  _ s: Conv2dShape, input: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
  gradWeight: UnsafeMutablePointer<Float>, gradBias: UnsafeMutablePointer<Float>?
) {
  guard let t = conv2dSpaceToDepthShape(s) else { preconditionFailure("space-to-depth needs a strided conv") }
  let phaseGradient = UnsafeMutablePointer<Float>.allocate(capacity: 2 * t.weightCount)
  defer { phaseGradient.deallocate() }
  let partGradient = phaseGradient + t.weightCount
  let chunk = spaceToDepthChunk(t)
  let outPerImage = s.outChannels * s.outHeight * s.outWidth
  GEMMWorkspace.with(floats: chunk * t.inChannels * t.inHeight * t.inWidth) { phases in
    for n0 in stride(from: 0, to: s.batch, by: chunk) {
      var part = t
      part.batch = min(chunk, s.batch - n0)
      spaceToDepthInput(s, t, input: input, firstImage: n0, count: part.batch, output: phases)
      conv2dBackwardWeight(
        part, input: phases, gradOutput: gradOutput + n0 * outPerImage,
        gradWeight: n0 == 0 ? phaseGradient : partGradient, gradBias: nil)
      if n0 > 0 { addKernel(count: t.weightCount, phaseGradient, partGradient, phaseGradient) }
    }
  }
  depthToSpaceWeightGradient(s, t, gradient: phaseGradient, gradWeight: gradWeight)
  if let gradBias { conv2dBiasGradient(s, gradOutput: gradOutput, gradBias: gradBias) }
}
