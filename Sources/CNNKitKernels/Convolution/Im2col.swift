/// Unfolds one image's channels `[channelOffset, channelOffset + channels)` into a
/// `(channels·kh·kw) × (oh·ow)` matrix, so a convolution becomes one GEMM. Padding reads as zero.
/// Rows of `columns` are `ldColumns` floats apart (default `oh·ow`), so several images can sit
/// side by side in one wide matrix.
public func im2col(
  _ s: Conv2dShape, image: UnsafePointer<Float>, channelOffset: Int, channels: Int,
  columns: UnsafeMutablePointer<Float>, ldColumns: Int? = nil
) {
  let ld = ldColumns ?? s.outHeight * s.outWidth
  let rows = channels * s.kernelHeight * s.kernelWidth
  Parallel.forRanges(rows, minimumChunk: 16) { range in
    for row in range {
      im2colRow(s, image: image, channelOffset: channelOffset, row: row, dst: columns + row * ld)
    }
  }
}

/// One row of the unfolded matrix: kernel tap `(ky, kx)` of one channel over every output pixel.
@inline(__always)
func im2colRow(
  _ s: Conv2dShape, image: UnsafePointer<Float>, channelOffset: Int, row: Int,
  dst: UnsafeMutablePointer<Float>
) {
  let (oh, ow) = (s.outHeight, s.outWidth)
  let kx = row % s.kernelWidth
  let ky = (row / s.kernelWidth) % s.kernelHeight
  let c = channelOffset + row / (s.kernelWidth * s.kernelHeight)
  let src = image + c * s.inHeight * s.inWidth
  let x0 = kx * s.dilationWidth - s.padWidth
  // Output columns whose input column lies inside the image: [xa, xb).
  let sw = s.strideWidth
  let xa = x0 >= 0 ? 0 : min(ow, (-x0 + sw - 1) / sw)
  let xb = max(xa, min(ow, (s.inWidth - x0 + sw - 1) / sw))
  for y in 0..<oh {
    let iy = y * s.strideHeight - s.padHeight + ky * s.dilationHeight
    let line = dst + y * ow
    if iy < 0 || iy >= s.inHeight {
      line.update(repeating: 0, count: ow)
      continue
    }
    let srcLine = src + iy * s.inWidth + x0
    if xa > 0 { line.update(repeating: 0, count: xa) }
    if sw == 1 {
      // Stride 1: the valid span is a straight copy.
      (line + xa).update(from: srcLine + xa, count: xb - xa)
    } else {
      for x in xa..<xb { line[x] = srcLine[x * sw] }
    }
    if xb < ow { (line + xb).update(repeating: 0, count: ow - xb) }
  }
}

/// The adjoint of `im2col`: adds each column entry back onto the image pixel it was read from.
/// Accumulates into `image` (channels `[channelOffset, channelOffset + channels)`). Rows of
/// `columns` are `ldColumns` floats apart (default `oh·ow`).
public func col2imAccumulate(
  _ s: Conv2dShape, columns: UnsafePointer<Float>, channelOffset: Int, channels: Int,
  image: UnsafeMutablePointer<Float>, ldColumns: Int? = nil
) {
  let ld = ldColumns ?? s.outHeight * s.outWidth
  // Parallel over channels: rows of one channel all write the same plane.
  Parallel.forEach(channels) { cc in
    col2imChannel(s, columns: columns, ld: ld, channel: cc, image: image, imageChannel: channelOffset + cc)
  }
}

/// `col2imAccumulate` for `count` images laid side by side (image `j` in columns `[j·oh·ow, …)`), adding
/// into images `firstImage...` of `input`. Parallel over images and channels.
public func col2imBatchAccumulate(
  _ s: Conv2dShape, columns: UnsafePointer<Float>, firstImage: Int, count: Int, channelOffset: Int,
  channels: Int, input: UnsafeMutablePointer<Float>
) {
  let spatial = s.outHeight * s.outWidth
  let imageSize = s.inChannels * s.inHeight * s.inWidth
  Parallel.forEach(count * channels) { index in
    let (j, cc) = index.quotientAndRemainder(dividingBy: channels)
    col2imChannel(
      s, columns: columns + j * spatial, ld: count * spatial, channel: cc,
      image: input + (firstImage + j) * imageSize, imageChannel: channelOffset + cc)
  }
}

/// Adds the `kh·kw` column rows of one channel back onto its image plane.
@inline(__always)
func col2imChannel(
  _ s: Conv2dShape, columns: UnsafePointer<Float>, ld: Int, channel cc: Int,
  image: UnsafeMutablePointer<Float>, imageChannel: Int
) {
  let (oh, ow) = (s.outHeight, s.outWidth)
  let perChannel = s.kernelHeight * s.kernelWidth
  let dstPlane = image + imageChannel * s.inHeight * s.inWidth
  let sw = s.strideWidth
  for k in 0..<perChannel {
    let kx = k % s.kernelWidth
    let ky = k / s.kernelWidth
    let src = columns + (cc * perChannel + k) * ld
    let x0 = kx * s.dilationWidth - s.padWidth
    let xa = x0 >= 0 ? 0 : min(ow, (-x0 + sw - 1) / sw)
    let xb = max(xa, min(ow, (s.inWidth - x0 + sw - 1) / sw))
    for y in 0..<oh {
      let iy = y * s.strideHeight - s.padHeight + ky * s.dilationHeight
      if iy < 0 || iy >= s.inHeight { continue }
      let dstLine = dstPlane + iy * s.inWidth + x0
      let line = src + y * ow
      if sw == 1 {
        for x in xa..<xb { dstLine[x] += line[x] }
      } else {
        for x in xa..<xb { dstLine[x * sw] += line[x] }
      }
    }
  }
}

/// Writes row `p` of the unfolded matrix of images `firstImage...` (image `j` in columns
/// `[j·oh·ow, (j+1)·oh·ow)`), columns `[colStart, colStart+cols)`, into `line[0..<cols]`.
@inline(__always)
func im2colSegment(
  _ s: Conv2dShape, input: UnsafePointer<Float>, firstImage: Int, channelOffset: Int, row p: Int,
  colStart: Int, cols: Int, line: UnsafeMutablePointer<Float>
) {
  let (oh, ow) = (s.outHeight, s.outWidth)
  let plane = s.inHeight * s.inWidth
  let imageSize = s.inChannels * plane
  let sw = s.strideWidth
  let kx = p % s.kernelWidth
  let ky = (p / s.kernelWidth) % s.kernelHeight
  let c = channelOffset + p / (s.kernelWidth * s.kernelHeight)
  let x0 = kx * s.dilationWidth - s.padWidth
  let xa = x0 >= 0 ? 0 : min(ow, (-x0 + sw - 1) / sw)
  let xb = max(xa, min(ow, (s.inWidth - x0 + sw - 1) / sw))
  let (j0, pixel) = colStart.quotientAndRemainder(dividingBy: oh * ow)
  var j = j0
  var (oy, ox) = pixel.quotientAndRemainder(dividingBy: ow)
  var o = 0
  while o < cols {
    let run = min(cols - o, ow - ox)
    let out = line + o - ox  // indexed by output column x
    let iy = oy * s.strideHeight - s.padHeight + ky * s.dilationHeight
    if iy < 0 || iy >= s.inHeight {
      (out + ox).update(repeating: 0, count: run)
    } else {
      let src = input + (firstImage + j) * imageSize + c * plane + iy * s.inWidth + x0
      let lo = min(max(ox, xa), ox + run)
      let hi = max(lo, min(ox + run, xb))
      if lo > ox { (out + ox).update(repeating: 0, count: lo - ox) }
      if sw == 1 {
        (out + lo).update(from: src + lo, count: hi - lo)
      } else {
        for x in lo..<hi { out[x] = src[x * sw] }
      }
      if ox + run > hi { (out + hi).update(repeating: 0, count: ox + run - hi) }
    }
    o += run
    ox += run
    if ox == ow {
      ox = 0
      oy += 1
      if oy == oh {
        oy = 0
        j += 1
      }
    }
  }
}

/// Writes rows `[p0, p0+kc)` and columns `[colStart, colStart+cols)` of the unfolded matrix of
/// images `firstImage...` (image `j` in columns `[j·oh·ow, (j+1)·oh·ow)`) into `nr`-column GEMM slivers: sliver `t` at
/// `dst[t·kc·nr ..< (t+1)·kc·nr]`, element `(p, j)` at `(p−p0)·nr + j`, the last sliver zero-padded.
/// Each row is built in a small line buffer (L1) and copied out in runs of `nr`.
func packIm2col(
  _ s: Conv2dShape, input: UnsafePointer<Float>, firstImage: Int, channelOffset: Int,
  padded: PaddedImages? = nil, colStart: Int, cols: Int, p0: Int, kc: Int, nr: Int,
  dst: UnsafeMutablePointer<Float>
) {
  let slivers = (cols + nr - 1) / nr
  // 16 floats of room for `PaddedImages.segment`'s vector spill.
  withUnsafeTemporaryAllocation(of: Float.self, capacity: slivers * nr + 16) { buffer in
    let line = buffer.baseAddress!
    for p in p0..<(p0 + kc) {
      if let padded {
        padded.segment(s, row: p, colStart: colStart, cols: cols, line: line)
      } else {
        im2colSegment(
          s, input: input, firstImage: firstImage, channelOffset: channelOffset, row: p,
          colStart: colStart, cols: cols, line: line)
      }
      // Padding columns of the last sliver stay zero.
      if p == p0 || padded != nil { (line + cols).update(repeating: 0, count: slivers * nr - cols) }
      let row = dst + (p - p0) * nr
      for t in 0..<slivers {
        (row + t * kc * nr).update(from: line + t * nr, count: nr)
      }
    }
  }
}

/// The transposed operand: packs `colsᵀ[p0..<p0+kc, rowStart..<rowStart+rows]` (pixels along k,
/// unfolded rows along n) into `nr`-column slivers, for the weight gradient `dY · colsᵀ`. Each sliver's
/// `nr` unfolded rows are built as lines in L1, then turned k-major with 8×8 SIMD transposes.
func packIm2colTransposed(
  _ s: Conv2dShape, input: UnsafePointer<Float>, firstImage: Int, channelOffset: Int,
  padded: PaddedImages? = nil, rowStart: Int, rows: Int, p0: Int, kc: Int, nr: Int,
  dst: UnsafeMutablePointer<Float>
) {
  let ld = (kc + 7) / 8 * 8
  // 16 floats of room for `PaddedImages.segment`'s vector spill past the last line.
  withUnsafeTemporaryAllocation(of: Float.self, capacity: nr * ld + 16) { buffer in
    let lines = buffer.baseAddress!
    var t = 0
    while t * nr < rows {
      let w = min(nr, rows - t * nr)
      // Lines in order: a line's spill lands on the next one before that is written.
      for jj in 0..<nr {
        let line = lines + jj * ld
        if jj >= w {
          line.update(repeating: 0, count: kc)
        } else if let padded {
          padded.segment(s, row: rowStart + t * nr + jj, colStart: p0, cols: kc, line: line)
        } else {
          im2colSegment(
            s, input: input, firstImage: firstImage, channelOffset: channelOffset,
            row: rowStart + t * nr + jj,
            colStart: p0, cols: kc, line: line)
        }
      }
      let sliver = dst + t * kc * nr
      var p = 0
      if nr % 8 == 0 {
        while p + 8 <= kc {
          for j0 in stride(from: 0, to: nr, by: 8) {
            transpose8x8(lines + j0 * ld + p, lds: ld, sliver + p * nr + j0, ldd: nr)
          }
          p += 8
        }
      }
      while p < kc {
        for jj in 0..<nr { sliver[p * nr + jj] = lines[jj * ld + p] }
        p += 1
      }
      t += 1
    }
  }
}
