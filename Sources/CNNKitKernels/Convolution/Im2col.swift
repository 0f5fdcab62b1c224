/// Unfolds one image's channels `[channelOffset, channelOffset + channels)` into a
/// `(channels·kh·kw) × (oh·ow)` matrix, so a convolution becomes one GEMM. Padding reads as zero.
public func im2col(
  _ s: Conv2dShape, image: UnsafePointer<Float>, channelOffset: Int, channels: Int,
  columns: UnsafeMutablePointer<Float>
) {
  let (oh, ow) = (s.outHeight, s.outWidth)
  let plane = s.inHeight * s.inWidth
  let rows = channels * s.kernelHeight * s.kernelWidth
  Parallel.forRanges(rows, minimumChunk: 16) { range in
    for row in range {
      let kx = row % s.kernelWidth
      let ky = (row / s.kernelWidth) % s.kernelHeight
      let c = channelOffset + row / (s.kernelWidth * s.kernelHeight)
      let src = image + c * plane
      let dst = columns + row * oh * ow
      for y in 0..<oh {
        let iy = y * s.strideHeight - s.padHeight + ky * s.dilationHeight
        let line = dst + y * ow
        if iy < 0 || iy >= s.inHeight {
          line.update(repeating: 0, count: ow)
          continue
        }
        let srcLine = src + iy * s.inWidth
        let x0 = kx * s.dilationWidth - s.padWidth
        for x in 0..<ow {
          let ix = x * s.strideWidth + x0
          line[x] = (ix >= 0 && ix < s.inWidth) ? srcLine[ix] : 0
        }
      }
    }
  }
}

/// The adjoint of `im2col`: adds each column entry back onto the image pixel it was read from.
/// Accumulates into `image` (channels `[channelOffset, channelOffset + channels)`).
public func col2imAccumulate(
  _ s: Conv2dShape, columns: UnsafePointer<Float>, channelOffset: Int, channels: Int,
  image: UnsafeMutablePointer<Float>
) {
  let (oh, ow) = (s.outHeight, s.outWidth)
  let plane = s.inHeight * s.inWidth
  let perChannel = s.kernelHeight * s.kernelWidth
  // Parallel over channels: rows of one channel all write the same plane.
  Parallel.forEach(channels) { cc in
    let dstPlane = image + (channelOffset + cc) * plane
    for k in 0..<perChannel {
      let kx = k % s.kernelWidth
      let ky = k / s.kernelWidth
      let src = columns + (cc * perChannel + k) * oh * ow
      for y in 0..<oh {
        let iy = y * s.strideHeight - s.padHeight + ky * s.dilationHeight
        if iy < 0 || iy >= s.inHeight { continue }
        let dstLine = dstPlane + iy * s.inWidth
        let line = src + y * ow
        let x0 = kx * s.dilationWidth - s.padWidth
        for x in 0..<ow {
          let ix = x * s.strideWidth + x0
          if ix >= 0 && ix < s.inWidth { dstLine[ix] += line[x] }
        }
      }
    }
  }
}
