/// Direct convolution for layers whose GEMM would be badly shaped: a handful of output channels over
/// a short unfolded depth (LeNet's first layer: 1 → 6 channels, 5×5). There, packing the unfolded
/// input costs more than the arithmetic, so these loops read the images in place.
public func conv2dDirectApplies(_ s: Conv2dShape) -> Bool {
  let kdim = s.inChannelsPerGroup * s.kernelHeight * s.kernelWidth
  return s.groups == 1 && s.strideHeight == 1 && s.strideWidth == 1 && s.dilationHeight == 1
    && s.dilationWidth == 1 && s.outChannels <= 8 && kdim <= 64
}

/// Direct forward convolution (where `conv2dDirectApplies`). Writes every element of `output`.
public func conv2dDirectForward(
  _ s: Conv2dShape, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
  bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>
) {
  precondition(conv2dDirectApplies(s), "conv2dDirectForward: unsupported geometry")
  let (oh, ow) = (s.outHeight, s.outWidth)
  let (h, w) = (s.inHeight, s.inWidth)
  let (kh, kw) = (s.kernelHeight, s.kernelWidth)
  let work = oh * ow * s.inChannels * kh * kw
  Parallel.forRanges(s.batch * s.outChannels, minimumChunk: max(1, 65_536 / max(1, work))) { planes in
    for index in planes {
      let (n, co) = index.quotientAndRemainder(dividingBy: s.outChannels)
      let out = output + index * oh * ow
      out.update(repeating: bias?[co] ?? 0, count: oh * ow)
      for ci in 0..<s.inChannels {
        let plane = input + (n * s.inChannels + ci) * h * w
        for ky in 0..<kh {
          for kx in 0..<kw {
            let wv = weight[((co * s.inChannels + ci) * kh + ky) * kw + kx]
            let x0 = kx - s.padWidth
            let xa = max(0, -x0)
            let xb = min(ow, w - x0)
            if xa >= xb { continue }
            for oy in 0..<oh {
              let iy = oy + ky - s.padHeight
              if iy < 0 || iy >= h { continue }
              addScaled(out + oy * ow, plane + iy * w + x0, wv, xa, xb)
            }
          }
        }
      }
    }
  }
}

/// Direct weight (and bias) gradient (where `conv2dDirectApplies`). Writes both.
public func conv2dDirectBackwardWeight(
  _ s: Conv2dShape, input: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
  gradWeight: UnsafeMutablePointer<Float>, gradBias: UnsafeMutablePointer<Float>?
) {
  precondition(conv2dDirectApplies(s), "conv2dDirectBackwardWeight: unsupported geometry")
  let (oh, ow) = (s.outHeight, s.outWidth)
  let (h, w) = (s.inHeight, s.inWidth)
  let (kh, kw) = (s.kernelHeight, s.kernelWidth)
  // One task per (output, input) channel pair: its kh·kw weights, summed over every image and row.
  Parallel.forEach(s.outChannels * s.inChannels) { pair in
    let (co, ci) = pair.quotientAndRemainder(dividingBy: s.inChannels)
    for ky in 0..<kh {
      for kx in 0..<kw {
        let x0 = kx - s.padWidth
        let xa = max(0, -x0)
        let xb = min(ow, w - x0)
        var partial = SIMD8<Float>()
        var tail: Float = 0
        if xa < xb {
          for n in 0..<s.batch {
            let dy = gradOutput + (n * s.outChannels + co) * oh * ow
            let plane = input + (n * s.inChannels + ci) * h * w
            for oy in 0..<oh {
              let iy = oy + ky - s.padHeight
              if iy < 0 || iy >= h { continue }
              dotAccumulate(dy + oy * ow, plane + iy * w + x0, xa, xb, &partial, &tail)
            }
          }
        }
        gradWeight[((co * s.inChannels + ci) * kh + ky) * kw + kx] = partial.sum() + tail
      }
    }
  }
  if let gradBias {
    for co in 0..<s.outChannels {
      var sum: Double = 0
      for n in 0..<s.batch {
        sum += sumKernel(count: oh * ow, gradOutput + (n * s.outChannels + co) * oh * ow)
      }
      gradBias[co] = Float(sum)
    }
  }
}

/// `out[x] += a · src[x]` for `x` in `xa..<xb`.
@inline(__always)
private func addScaled(
  _ out: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ a: Float, _ xa: Int, _ xb: Int
) {
  typealias V = SIMD8<Float>
  let av = V(repeating: a)
  var x = xa
  while x + 8 <= xb {
    let o = UnsafeMutableRawPointer(out + x)
    let v = o.loadUnaligned(as: V.self).addingProduct(av, UnsafeRawPointer(src + x).loadUnaligned(as: V.self))
    o.storeBytes(of: v, as: V.self)
    x += 8
  }
  while x < xb {
    out[x] += a * src[x]
    x += 1
  }
}

/// Adds `Σ a[x]·b[x]` for `x` in `xa..<xb` into eight vector lanes and a scalar tail.
@inline(__always)
private func dotAccumulate(
  _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ xa: Int, _ xb: Int,
  _ partial: inout SIMD8<Float>, _ tail: inout Float
) {
  typealias V = SIMD8<Float>
  var x = xa
  while x + 8 <= xb {
    partial = partial.addingProduct(
      UnsafeRawPointer(a + x).loadUnaligned(as: V.self), UnsafeRawPointer(b + x).loadUnaligned(as: V.self))
    x += 8
  }
  while x < xb {
    tail += a[x] * b[x]
    x += 1
  }
}
