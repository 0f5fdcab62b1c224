/// Direct seven-loop convolution: the reference the fast kernels are tested against.
/// Writes (does not accumulate into) `output`.
public func conv2dForwardReference(
  _ s: Conv2dShape, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
  bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>
) {
  let (oh, ow) = (s.outHeight, s.outWidth)
  let cinG = s.inChannelsPerGroup
  let coutG = s.outChannelsPerGroup
  for n in 0..<s.batch {
    for co in 0..<s.outChannels {
      let g = co / coutG
      for y in 0..<oh {
        for x in 0..<ow {
          var sum: Double = bias.map { Double($0[co]) } ?? 0
          for ci in 0..<cinG {
            let c = g * cinG + ci
            for ky in 0..<s.kernelHeight {
              let iy = y * s.strideHeight - s.padHeight + ky * s.dilationHeight
              if iy < 0 || iy >= s.inHeight { continue }
              for kx in 0..<s.kernelWidth {
                let ix = x * s.strideWidth - s.padWidth + kx * s.dilationWidth
                if ix < 0 || ix >= s.inWidth { continue }
                let iv = input[((n * s.inChannels + c) * s.inHeight + iy) * s.inWidth + ix]
                let wv = weight[((co * cinG + ci) * s.kernelHeight + ky) * s.kernelWidth + kx]
                sum += Double(iv) * Double(wv)
              }
            }
          }
          output[((n * s.outChannels + co) * oh + y) * ow + x] = Float(sum)
        }
      }
    }
  }
}

/// Reference gradient of the convolution with respect to its input. Writes `gradInput`.
public func conv2dBackwardInputReference(
  _ s: Conv2dShape, gradOutput: UnsafePointer<Float>, weight: UnsafePointer<Float>,
  gradInput: UnsafeMutablePointer<Float>
) {
  let (oh, ow) = (s.outHeight, s.outWidth)
  let cinG = s.inChannelsPerGroup
  let coutG = s.outChannelsPerGroup
  var acc = [Double](repeating: 0, count: s.inputCount)
  for n in 0..<s.batch {
    for co in 0..<s.outChannels {
      let g = co / coutG
      for y in 0..<oh {
        for x in 0..<ow {
          let go = Double(gradOutput[((n * s.outChannels + co) * oh + y) * ow + x])
          for ci in 0..<cinG {
            let c = g * cinG + ci
            for ky in 0..<s.kernelHeight {
              let iy = y * s.strideHeight - s.padHeight + ky * s.dilationHeight
              if iy < 0 || iy >= s.inHeight { continue }
              for kx in 0..<s.kernelWidth {
                let ix = x * s.strideWidth - s.padWidth + kx * s.dilationWidth
                if ix < 0 || ix >= s.inWidth { continue }
                let wv = weight[((co * cinG + ci) * s.kernelHeight + ky) * s.kernelWidth + kx]
                acc[((n * s.inChannels + c) * s.inHeight + iy) * s.inWidth + ix] += go * Double(wv)
              }
            }
          }
        }
      }
    }
  }
  for i in 0..<s.inputCount { gradInput[i] = Float(acc[i]) }
}

/// Reference gradients with respect to weight and (optionally) bias. Writes both.
public func conv2dBackwardWeightReference(
  _ s: Conv2dShape, input: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
  gradWeight: UnsafeMutablePointer<Float>, gradBias: UnsafeMutablePointer<Float>?
) {
  let (oh, ow) = (s.outHeight, s.outWidth)
  let cinG = s.inChannelsPerGroup
  let coutG = s.outChannelsPerGroup
  for co in 0..<s.outChannels {
    let g = co / coutG
    if let gradBias {
      var sum: Double = 0
      for n in 0..<s.batch {
        for p in 0..<(oh * ow) { sum += Double(gradOutput[(n * s.outChannels + co) * oh * ow + p]) }
      }
      gradBias[co] = Float(sum)
    }
    for ci in 0..<cinG {
      let c = g * cinG + ci
      for ky in 0..<s.kernelHeight {
        for kx in 0..<s.kernelWidth {
          var sum: Double = 0
          for n in 0..<s.batch {
            for y in 0..<oh {
              let iy = y * s.strideHeight - s.padHeight + ky * s.dilationHeight
              if iy < 0 || iy >= s.inHeight { continue }
              for x in 0..<ow {
                let ix = x * s.strideWidth - s.padWidth + kx * s.dilationWidth
                if ix < 0 || ix >= s.inWidth { continue }
                let iv = input[((n * s.inChannels + c) * s.inHeight + iy) * s.inWidth + ix]
                sum += Double(iv) * Double(gradOutput[((n * s.outChannels + co) * oh + y) * ow + x])
              }
            }
          }
          gradWeight[((co * cinG + ci) * s.kernelHeight + ky) * s.kernelWidth + kx] = Float(sum)
        }
      }
    }
  }
}
