/// A chunk of images copied once with their zero border written out, for stride-1 undilated
/// convolutions. Every row of the unfolded matrix is then a run of plain copies, one per output row,
/// with no bounds tests: building those rows from the bare input (`im2colSegment`) spent most of its
/// time deciding which pixels fall in the padding.
struct PaddedImages {
  /// Image `j`, channel `c`, padded row `y` starts at `base + ((j·channels + c)·height + y)·width`.
  let base: UnsafePointer<Float>
  let channels: Int
  /// Input height plus top and bottom padding.
  let height: Int
  /// Input width plus left and right padding.
  let width: Int

  /// Floats read past the last image: a copy moves whole vectors and may read that far beyond a run.
  static let slack = 32

  /// Whether `s` can be unfolded from padded images (stride 1, no dilation).
  static func applies(_ s: Conv2dShape) -> Bool {
    s.strideHeight == 1 && s.strideWidth == 1 && s.dilationHeight == 1 && s.dilationWidth == 1
  }

  /// Floats needed for `count` images of `s`'s group channels, slack included.
  static func floats(_ s: Conv2dShape, count: Int) -> Int {
    count * s.inChannelsPerGroup * (s.inHeight + 2 * s.padHeight) * (s.inWidth + 2 * s.padWidth) + slack
  }

  /// Copies channels `[channelOffset, channelOffset + C/g)` of images `firstImage ..< firstImage + count`
  /// into `dst` (at least `floats(s, count:)`) with zero borders.
  init(
    _ s: Conv2dShape, input: UnsafePointer<Float>, firstImage: Int, count: Int, channelOffset: Int,
    dst: UnsafeMutablePointer<Float>
  ) {
    let channels = s.inChannelsPerGroup
    let (h, w) = (s.inHeight, s.inWidth)
    let (ph, pw) = (s.padHeight, s.padWidth)
    let (hp, wp) = (h + 2 * ph, w + 2 * pw)
    Parallel.forRanges(count * channels, minimumChunk: max(1, 8192 / (hp * wp))) { range in
      for plane in range {
        let (j, c) = plane.quotientAndRemainder(dividingBy: channels)
        let src = input + ((firstImage + j) * s.inChannels + channelOffset + c) * h * w
        let out = dst + plane * hp * wp
        out.update(repeating: 0, count: ph * wp + pw)
        for y in 0..<h {
          let row = out + (ph + y) * wp + pw
          row.update(from: src + y * w, count: w)
          // The right border of this row and the left border of the next are adjacent.
          (row + w).update(repeating: 0, count: y + 1 < h ? 2 * pw : pw + ph * wp)
        }
      }
    }
    (dst + count * channels * hp * wp).update(repeating: 0, count: Self.slack)
    self.base = UnsafePointer(dst)
    self.channels = channels
    self.height = hp
    self.width = wp
  }

  /// `im2colSegment` from the padded copy: row `p` of the unfolded matrix, columns
  /// `[colStart, colStart + cols)` (image `j` from column `j·oh·ow`, counted within this chunk), into
  /// `line`. Writes up to 15 floats past `line + cols`, which the caller must own.
  @inline(__always)
  func segment(
    _ s: Conv2dShape, row p: Int, colStart: Int, cols: Int, line: UnsafeMutablePointer<Float>
  ) {
    let (oh, ow) = (s.outHeight, s.outWidth)
    let kx = p % s.kernelWidth
    let ky = (p / s.kernelWidth) % s.kernelHeight
    let c = p / (s.kernelWidth * s.kernelHeight)
    let (j0, pixel) = colStart.quotientAndRemainder(dividingBy: oh * ow)
    var (oy, ox) = pixel.quotientAndRemainder(dividingBy: ow)
    var src = base + ((j0 * channels + c) * height + oy + ky) * width + kx
    let nextImage = (channels * height - oh) * width
    var o = 0
    while o < cols {
      let run = min(cols - o, ow - ox)
      copyVectors(from: src + ox, to: line + o, count: run)
      o += run
      ox = 0
      oy += 1
      src += width
      if oy == oh {
        oy = 0
        src += nextImage
      }
    }
  }
}

/// Copies `count` floats in whole 16-float vectors: reads and writes up to 15 floats past the end.
/// Later runs overwrite the spill, so one short run costs a single load and store.
@inline(__always)
func copyVectors(from src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>, count: Int) {
  typealias V = SIMD16<Float>
  var i = 0
  repeat {
    let v = UnsafeRawPointer(src + i).loadUnaligned(as: V.self)
    UnsafeMutableRawPointer(dst + i).storeBytes(of: v, as: V.self)
    i += 16
  } while i < count
}
