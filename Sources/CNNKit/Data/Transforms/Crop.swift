import Foundation

extension Image {
  /// The `height × width` region whose top-left corner is at (`top`, `left`). Parts of the region
  /// outside the image are black, as torchvision's `F.crop` pads them with zeros.
  public func cropped(top: Int, left: Int, height outHeight: Int, width outWidth: Int) -> Image {
    precondition(outHeight >= 0 && outWidth >= 0, "cropped: negative size \(outHeight)×\(outWidth)")
    if top == 0 && left == 0 && outHeight == height && outWidth == width { return self }
    var out = Image(height: outHeight, width: outWidth, channels: channels)
    let x0 = max(0, -left)
    let x1 = min(outWidth, width - left)
    if x1 <= x0 { return out }
    let rowLength = (x1 - x0) * channels
    out.pixels.withUnsafeMutableBufferPointer { dst in
      pixels.withUnsafeBufferPointer { src in
        for y in 0..<outHeight {
          let sy = y + top
          if sy < 0 || sy >= height { continue }
          let s = (sy * width + left + x0) * channels
          let d = (y * outWidth + x0) * channels
          dst.baseAddress!.advanced(by: d).update(from: src.baseAddress!.advanced(by: s), count: rowLength)
        }
      }
    }
    return out
  }
}

/// Crops the centre, as torchvision's `CenterCrop`. The offset is `round((H − h) / 2)` with Python's
/// round-half-to-even; an image smaller than the crop is first padded with zeros, the extra pixel of
/// an odd difference going to the right/bottom.
public struct CenterCrop: ImageTransform {
  public var height: Int
  public var width: Int

  /// A square `size × size` crop.
  public init(_ size: Int) { self.init(height: size, width: size) }

  /// A `height × width` crop.
  public init(height: Int, width: Int) {
    self.height = height
    self.width = width
  }

  public func apply(_ image: Image, using rng: inout RandomGenerator) throws -> Image {
    guard height > 0, width > 0 else {
      throw DataError.invalidOption("CenterCrop: size must be positive, got \(height)×\(width)")
    }
    var image = image
    if width > image.width || height > image.height {
      let dw = max(0, width - image.width)
      let dh = max(0, height - image.height)
      image = try image.padded(Padding(left: dw / 2, top: dh / 2, right: (dw + 1) / 2, bottom: (dh + 1) / 2))
    }
    let top = Int((Double(image.height - height) / 2).rounded(.toNearestOrEven))
    let left = Int((Double(image.width - width) / 2).rounded(.toNearestOrEven))
    return image.cropped(top: top, left: left, height: height, width: width)
  }
}

/// Crops a uniformly random `height × width` window, as torchvision's `RandomCrop`: first pads by
/// `padding` (if any); with `padIfNeeded` a side still shorter than the crop is padded on both ends
/// by the shortfall (torchvision's behaviour, which over-pads); then picks the top-left corner.
public struct RandomCrop: ImageTransform {
  public var height: Int
  public var width: Int
  public var padding: Padding?
  public var padIfNeeded: Bool
  /// Fill value(s) for `.constant` padding, 0…255 scale.
  public var fill: [Float]
  public var paddingMode: PaddingMode

  /// A square random crop, e.g. CIFAR's `RandomCrop(32, padding: Padding(4))`.
  public init(
    _ size: Int, padding: Padding? = nil, padIfNeeded: Bool = false, fill: [Float] = [0],
    paddingMode: PaddingMode = .constant
  ) {
    self.init(
      height: size, width: size, padding: padding, padIfNeeded: padIfNeeded, fill: fill,
      paddingMode: paddingMode)
  }

  /// A `height × width` random crop.
  public init(
    height: Int, width: Int, padding: Padding? = nil, padIfNeeded: Bool = false, fill: [Float] = [0],
    paddingMode: PaddingMode = .constant
  ) {
    self.height = height
    self.width = width
    self.padding = padding
    self.padIfNeeded = padIfNeeded
    self.fill = fill
    self.paddingMode = paddingMode
  }

  public func apply(_ image: Image, using rng: inout RandomGenerator) throws -> Image {
    guard height > 0, width > 0 else {
      throw DataError.invalidOption("RandomCrop: size must be positive, got \(height)×\(width)")
    }
    var image = image
    if let padding { image = try image.padded(padding, fill: fill, mode: paddingMode) }
    if padIfNeeded && image.width < width {
      image = try image.padded(
        Padding(horizontal: width - image.width, vertical: 0), fill: fill, mode: paddingMode)
    }
    if padIfNeeded && image.height < height {
      image = try image.padded(
        Padding(horizontal: 0, vertical: height - image.height), fill: fill, mode: paddingMode)
    }
    guard image.height >= height, image.width >= width else {
      throw DataError.invalidOption(
        "RandomCrop: crop \(height)×\(width) is larger than the \(image.height)×\(image.width) image"
          + " (pass padIfNeeded: true to pad it)")
    }
    if image.height == height && image.width == width { return image }
    let top = randomInteger(below: image.height - height + 1, &rng)
    let left = randomInteger(below: image.width - width + 1, &rng)
    return image.cropped(top: top, left: left, height: height, width: width)
  }
}

/// Crops a random area and aspect ratio and resizes it, as torchvision's `RandomResizedCrop`
/// (the "Inception" crop): up to 10 tries at an area fraction uniform in `scale` and an aspect ratio
/// log-uniform in `ratio`, falling back to the largest centred crop whose ratio is in range.
public struct RandomResizedCrop: ImageTransform {
  public var height: Int
  public var width: Int
  /// Range of the crop's area as a fraction of the image's.
  public var scale: ClosedRange<Double>
  /// Range of the crop's width / height.
  public var ratio: ClosedRange<Double>
  /// Whether the resize antialiases when shrinking (PIL's behaviour; torchvision's default).
  public var antialias: Bool

  /// Output `size × size`.
  public init(
    _ size: Int, scale: ClosedRange<Double> = 0.08...1, ratio: ClosedRange<Double> = (3.0 / 4)...(4.0 / 3),
    antialias: Bool = true
  ) {
    self.init(height: size, width: size, scale: scale, ratio: ratio, antialias: antialias)
  }

  /// Output `height × width`.
  public init(
    height: Int, width: Int, scale: ClosedRange<Double> = 0.08...1,
    ratio: ClosedRange<Double> = (3.0 / 4)...(4.0 / 3), antialias: Bool = true
  ) {
    self.height = height
    self.width = width
    self.scale = scale
    self.ratio = ratio
    self.antialias = antialias
  }

  /// The crop window (top, left, height, width) torchvision's `get_params` would choose for an
  /// `imageHeight × imageWidth` image, drawing from `rng`.
  public func cropWindow(imageHeight: Int, imageWidth: Int, using rng: inout RandomGenerator)
    -> (top: Int, left: Int, height: Int, width: Int)
  {
    let area = Double(imageHeight * imageWidth)
    let logLow = log(ratio.lowerBound)
    let logHigh = log(ratio.upperBound)
    for _ in 0..<10 {
      let targetArea = area * (scale.lowerBound + (scale.upperBound - scale.lowerBound) * randomUnit(&rng))
      let aspect = exp(logLow + (logHigh - logLow) * randomUnit(&rng))
      // torch.round rounds halves to even, like Python's round.
      let w = Int((targetArea * aspect).squareRoot().rounded(.toNearestOrEven))
      let h = Int((targetArea / aspect).squareRoot().rounded(.toNearestOrEven))
      if w > 0 && w <= imageWidth && h > 0 && h <= imageHeight {
        let top = randomInteger(below: imageHeight - h + 1, &rng)
        let left = randomInteger(below: imageWidth - w + 1, &rng)
        return (top, left, h, w)
      }
    }
    // Fallback: the whole image, trimmed to the nearest allowed aspect ratio, centred.
    let inRatio = Double(imageWidth) / Double(imageHeight)
    var w = imageWidth
    var h = imageHeight
    if inRatio < ratio.lowerBound {
      h = Int((Double(w) / ratio.lowerBound).rounded(.toNearestOrEven))
    } else if inRatio > ratio.upperBound {
      w = Int((Double(h) * ratio.upperBound).rounded(.toNearestOrEven))
    }
    return ((imageHeight - h) / 2, (imageWidth - w) / 2, h, w)
  }

  public func apply(_ image: Image, using rng: inout RandomGenerator) throws -> Image {
    guard height > 0, width > 0 else {
      throw DataError.invalidOption("RandomResizedCrop: size must be positive, got \(height)×\(width)")
    }
    guard image.height > 0, image.width > 0 else {
      throw DataError.invalidOption("RandomResizedCrop: the image is empty")
    }
    let window = cropWindow(imageHeight: image.height, imageWidth: image.width, using: &rng)
    let crop = image.cropped(top: window.top, left: window.left, height: window.height, width: window.width)
    return crop.resized(height: height, width: width, antialias: antialias)
  }
}

/// Uniform in [0, 1) with 53 random bits (torchvision samples these in double precision too).
func randomUnit(_ rng: inout RandomGenerator) -> Double {
  Double(rng.next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
}

/// Uniform in `0..<bound`, without modulo bias (values in the short final cycle are redrawn).
func randomInteger(below bound: Int, _ rng: inout RandomGenerator) -> Int {
  precondition(bound > 0, "randomInteger: bound must be positive")
  let n = UInt64(bound)
  // 2^64 mod n: draws below it would make small residues slightly more likely.
  let threshold = (0 &- n) % n
  while true {
    let r = rng.next()
    if r >= threshold { return Int(r % n) }
  }
}
