/// Direct convolution for layers whose GEMM would be badly shaped: a handful of output channels over
/// a short unfolded depth (LeNet's first layer: 1 → 6 channels, 5×5). There, packing the unfolded
/// input costs more than the arithmetic, so these loops read the images in place.
public func conv2dDirectApplies(_ s: Conv2dShape) -> Bool {
  let kdim = s.inChannelsPerGroup * s.kernelHeight * s.kernelWidth
  return s.groups == 1 && s.strideHeight == 1 && s.strideWidth == 1 && s.dilationHeight == 1
    && s.dilationWidth == 1 && s.outChannels <= 8 && kdim <= 64
}

/// Direct forward convolution (where `conv2dDirectApplies`). Writes every element of `output`.
///
/// Each output row is built 32 pixels at a time in two vector registers, summing the kernel's taps
/// straight from a zero-bordered copy of the input (no bounds tests, no read-modify-write of the
/// output per tap: a row of LeNet's first layer had been 25 passes over memory with scalar tails).
public func conv2dDirectForward(
  _ s: Conv2dShape, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
  bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>
) {
  precondition(conv2dDirectApplies(s), "conv2dDirectForward: unsupported geometry")
  let (oh, ow) = (s.outHeight, s.outWidth)
  let (kh, kw) = (s.kernelHeight, s.kernelWidth)
  let cin = s.inChannels
  let kdim = cin * kh * kw
  let (hp, wp) = (s.inHeight + 2 * s.padHeight, s.inWidth + 2 * s.padWidth)
  let work = oh * ow * kdim
  GEMMWorkspace.with(floats: PaddedImages.floats(s, count: s.batch)) { buffer in
    let padded = PaddedImages(s, input: input, firstImage: 0, count: s.batch, channelOffset: 0, dst: buffer)
    Parallel.forRanges(s.batch * s.outChannels, minimumChunk: max(1, 65_536 / max(1, work))) { planes in
      for index in planes {
        let (n, co) = index.quotientAndRemainder(dividingBy: s.outChannels)
        let image = padded.base + n * cin * hp * wp
        let taps = weight + co * kdim
        let start = DirectVector(repeating: bias?[co] ?? 0)
        let out = output + index * oh * ow
        for oy in 0..<oh {
          for x0 in stride(from: 0, to: ow, by: 32) {
            var (a0, a1) = (start, start)
            var t = 0
            for ci in 0..<cin {
              for ky in 0..<kh {
                let row = image + (ci * hp + oy + ky) * wp + x0
                for kx in 0..<kw {
                  let tap = DirectVector(repeating: taps[t])
                  a0 = a0.addingProduct(tap, loadDirect(row + kx))
                  a1 = a1.addingProduct(tap, loadDirect(row + kx + 16))
                  t += 1
                }
              }
            }
            storeDirect(a0, a1, out + oy * ow + x0, width: min(32, ow - x0))
          }
        }
      }
    }
  }
}

/// Direct weight (and bias) gradient (where `conv2dDirectApplies`). Writes both.
///
/// `dY` is first copied with rows padded to whole 32-float blocks of zeros, so each weight's sum over
/// images and rows is two vector multiply-adds per block against the zero-bordered input.
public func conv2dDirectBackwardWeight(
  _ s: Conv2dShape, input: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
  gradWeight: UnsafeMutablePointer<Float>, gradBias: UnsafeMutablePointer<Float>?
) {
  precondition(conv2dDirectApplies(s), "conv2dDirectBackwardWeight: unsupported geometry")
  let (oh, ow) = (s.outHeight, s.outWidth)
  let (kh, kw) = (s.kernelHeight, s.kernelWidth)
  let cin = s.inChannels
  let (hp, wp) = (s.inHeight + 2 * s.padHeight, s.inWidth + 2 * s.padWidth)
  let ldy = (ow + 31) / 32 * 32
  let gradRows = s.batch * s.outChannels * oh
  let paddedFloats = PaddedImages.floats(s, count: s.batch)
  GEMMWorkspace.with(floats: paddedFloats + gradRows * ldy) { buffer in
    let padded = PaddedImages(s, input: input, firstImage: 0, count: s.batch, channelOffset: 0, dst: buffer)
    let dy = buffer + paddedFloats
    Parallel.forRanges(gradRows, minimumChunk: 256) { rows in
      for r in rows {
        (dy + r * ldy).update(from: gradOutput + r * ow, count: ow)
        (dy + r * ldy + ow).update(repeating: 0, count: ldy - ow)
      }
    }
    // One task per (output, input) channel pair: its kh·kw weights, summed over every image and row.
    Parallel.forEach(s.outChannels * cin) { pair in
      let (co, ci) = pair.quotientAndRemainder(dividingBy: cin)
      for ky in 0..<kh {
        for kx in 0..<kw {
          var (a0, a1) = (DirectVector(), DirectVector())
          for n in 0..<s.batch {
            let g = dy + (n * s.outChannels + co) * oh * ldy
            let plane = padded.base + (n * cin + ci) * hp * wp + ky * wp + kx
            for oy in 0..<oh {
              for x0 in stride(from: 0, to: ow, by: 32) {
                let (d, x) = (g + oy * ldy + x0, plane + oy * wp + x0)
                // Lanes past the row meet zeros of `dy`; the input there is finite padding or pixels.
                a0 = a0.addingProduct(loadDirect(d), loadDirect(x))
                a1 = a1.addingProduct(loadDirect(d + 16), loadDirect(x + 16))
              }
            }
          }
          gradWeight[((co * cin + ci) * kh + ky) * kw + kx] = (a0 + a1).sum()
        }
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

/// Half of a 32-pixel block.
typealias DirectVector = SIMD16<Float>

@inline(__always)
private func loadDirect(_ p: UnsafePointer<Float>) -> DirectVector {
  UnsafeRawPointer(p).loadUnaligned(as: DirectVector.self)
}

/// Stores the first `width` (≤ 32) floats of the block `a0, a1` at `dst`.
@inline(__always)
private func storeDirect(
  _ a0: DirectVector, _ a1: DirectVector, _ dst: UnsafeMutablePointer<Float>, width: Int
) {
  let raw = UnsafeMutableRawPointer(dst)
  if width == 32 {
    raw.storeBytes(of: a0, as: DirectVector.self)
    raw.storeBytes(of: a1, toByteOffset: 64, as: DirectVector.self)
    return
  }
  // The row's end: full stores would run into the next row or plane.
  withUnsafeTemporaryAllocation(of: Float.self, capacity: 32) { block in
    let b = UnsafeMutableRawPointer(block.baseAddress!)
    b.storeBytes(of: a0, as: DirectVector.self)
    b.storeBytes(of: a1, toByteOffset: 64, as: DirectVector.self)
    dst.update(from: block.baseAddress!, count: width)
  }
}
