/// A chunk of images copied once with their zero border written out, for undilated convolutions.
/// Every row of the unfolded matrix is then a run of plain copies, one per output row, with no
/// bounds tests: building those rows from the bare input (`im2colSegment`) spent most of its time
/// deciding which pixels fall in the padding.
///
/// Strided convolutions (`phased`) store each padded plane as `sh·sw` phase planes, phase `(r, q)`
/// holding padded pixels `(sh·i + r, sw·j + q)`: tap `(ky, kx)` of output `(oy, ox)` is then pixel
/// `(oy + ky/sh, ox + kx/sw)` of phase `(ky mod sh, kx mod sw)`, so a row of outputs again reads
/// consecutive floats. Gathering every `sw`-th float per packed element had cost ResNet-18's
/// stride-2 layers as much as their arithmetic.
struct PaddedImages {
  /// Image `j`, channel `c`, phase `f`, row `y` starts at `base + (((j·channels + c)·phases + f)·height + y)·width`.
  let base: UnsafePointer<Float>
  let channels: Int
  /// Rows of one phase plane: the padded height (input plus top and bottom padding) over `sh`.
  let height: Int
  /// Columns of one phase plane: the padded width over `sw`.
  let width: Int
  /// The strides the phases split (1 × 1 unless built `phased`).
  let strideHeight: Int
  let strideWidth: Int
  var phases: Int { strideHeight * strideWidth }

  /// Floats read past the last image: a copy moves whole vectors and may read that far beyond a run.
  static let slack = 32

  /// Whether `s` can be unfolded from padded images (no dilation; strides by phases).
  static func applies(_ s: Conv2dShape) -> Bool {
    s.dilationHeight == 1 && s.dilationWidth == 1
  }

  /// Rows and columns of one (phase) plane of `s`.
  private static func planeSize(_ s: Conv2dShape, phased: Bool) -> (height: Int, width: Int) {
    let (hp, wp) = (s.inHeight + 2 * s.padHeight, s.inWidth + 2 * s.padWidth)
    guard phased else { return (hp, wp) }
    return ((hp + s.strideHeight - 1) / s.strideHeight, (wp + s.strideWidth - 1) / s.strideWidth)
  }

  /// Floats needed for `count` images of `s`'s group channels, slack included.
  static func floats(_ s: Conv2dShape, count: Int, phased: Bool = false) -> Int {
    let (h, w) = planeSize(s, phased: phased)
    let phases = phased ? s.strideHeight * s.strideWidth : 1
    return count * s.inChannelsPerGroup * phases * h * w + slack
  }

  /// Copies channels `[channelOffset, channelOffset + C/g)` of images `firstImage ..< firstImage + count`
  /// into `dst` (at least `floats(s, count:, phased:)`) with zero borders; `phased` splits strided
  /// planes into phases (without it the strides are ignored: callers stride through the plane).
  init(
    _ s: Conv2dShape, input: UnsafePointer<Float>, firstImage: Int, count: Int, channelOffset: Int,
    dst: UnsafeMutablePointer<Float>, phased: Bool = false
  ) {
    let channels = s.inChannelsPerGroup
    let (h, w) = (s.inHeight, s.inWidth)
    let (ph, pw) = (s.padHeight, s.padWidth)
    let (sh, sw) = phased ? (s.strideHeight, s.strideWidth) : (1, 1)
    let (height, width) = Self.planeSize(s, phased: phased)
    let planeFloats = sh * sw * height * width
    Parallel.forRanges(count * channels, minimumChunk: max(1, 8192 / planeFloats)) { range in
      for plane in range {
        let (j, c) = plane.quotientAndRemainder(dividingBy: channels)
        let src = input + ((firstImage + j) * s.inChannels + channelOffset + c) * h * w
        let out = dst + plane * planeFloats
        if sh == 1 && sw == 1 {
          Self.copyPadded(src, h: h, w: w, ph: ph, pw: pw, out: out)
        } else {
          Self.copyPhases(
            src, h: h, w: w, ph: ph, pw: pw, sh: sh, sw: sw, height: height, width: width, out: out)
        }
      }
    }
    (dst + count * channels * planeFloats).update(repeating: 0, count: Self.slack)
    self.base = UnsafePointer(dst)
    self.channels = channels
    self.height = height
    self.width = width
    self.strideHeight = sh
    self.strideWidth = sw
  }

  /// One `h × w` plane into `out` with `ph` rows and `pw` columns of zeros around it.
  private static func copyPadded(
    _ src: UnsafePointer<Float>, h: Int, w: Int, ph: Int, pw: Int, out: UnsafeMutablePointer<Float>
  ) {
    let wp = w + 2 * pw
    out.update(repeating: 0, count: ph * wp + pw)
    for y in 0..<h {
      let row = out + (ph + y) * wp + pw
      row.update(from: src + y * w, count: w)
      // The right border of this row and the left border of the next are adjacent.
      (row + w).update(repeating: 0, count: y + 1 < h ? 2 * pw : pw + ph * wp)
    }
  }

  /// One plane split into its `sh · sw` zero-bordered phase planes of `height × width`.
  private static func copyPhases(
    _ src: UnsafePointer<Float>, h: Int, w: Int, ph: Int, pw: Int, sh: Int, sw: Int, height: Int, width: Int,
    out: UnsafeMutablePointer<Float>
  ) {
    for r in 0..<sh {
      for q in 0..<sw {
        let phase = out + (r * sw + q) * height * width
        // Phase columns whose input column `sw·i + q − pw` lies in the plane: [ia, ib).
        let ia = min(width, max(0, (pw - q + sw - 1) / sw))
        let ib = max(ia, min(width, (w + pw - q + sw - 1) / sw))
        for i in 0..<height {
          let row = phase + i * width
          let y = sh * i + r - ph
          guard y >= 0 && y < h else {
            row.update(repeating: 0, count: width)
            continue
          }
          let line = src + y * w + q - pw
          row.update(repeating: 0, count: ia)
          for x in ia..<ib { row[x] = line[sw * x] }
          (row + ib).update(repeating: 0, count: width - ib)
        }
      }
    }
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
    let phase = ky % strideHeight * strideWidth + kx % strideWidth
    let (j0, pixel) = colStart.quotientAndRemainder(dividingBy: oh * ow)
    var (oy, ox) = pixel.quotientAndRemainder(dividingBy: ow)
    var src =
      base + (((j0 * channels + c) * phases + phase) * height + oy + ky / strideHeight) * width
      + kx / strideWidth
    let nextImage = (channels * phases * height - oh) * width
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
