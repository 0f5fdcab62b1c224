/// Resizes with bilinear interpolation, as torchvision's `Resize` on PIL images.
///
/// `Resize(256)` scales the shorter side to 256 and the longer to `int(256 · long / short)`
/// (truncated, as torchvision); `Resize(height:width:)` gives an exact size. The resampling follows
/// Pillow's `Image.resize(..., BILINEAR)`: a separable triangle filter whose support grows with the
/// shrink factor (antialiasing), sample centres at `(i + 0.5) · scale`, edge taps renormalised,
/// horizontal pass first. On float input it equals Pillow's mode-"F" result to float rounding; on
/// 8-bit RGB, Pillow rounds to integers after each pass, so the two differ by at most about 1 level.
/// With `antialias: false` the filter is not widened, which gives PyTorch's
/// `interpolate(mode="bilinear", align_corners=False)`.
public struct Resize: ImageTransform {
  /// The target: the shorter side's length, or an exact size.
  public enum Size: Equatable, Sendable {
    case shorterSide(Int)
    case exact(height: Int, width: Int)
  }

  public var size: Size
  /// With `.shorterSide`, the longer side is capped at this and the shorter scaled down to match
  /// (torchvision's `max_size`).
  public var maxSize: Int?
  public var antialias: Bool

  /// Scales the shorter side to `shorterSide`, keeping the aspect ratio.
  public init(_ shorterSide: Int, maxSize: Int? = nil, antialias: Bool = true) {
    self.size = .shorterSide(shorterSide)
    self.maxSize = maxSize
    self.antialias = antialias
  }

  /// Resizes to exactly `height × width`.
  public init(height: Int, width: Int, antialias: Bool = true) {
    self.size = .exact(height: height, width: width)
    self.maxSize = nil
    self.antialias = antialias
  }

  /// The output size for an `imageHeight × imageWidth` input (torchvision's
  /// `_compute_resized_output_size`).
  public func outputSize(imageHeight: Int, imageWidth: Int) throws -> (height: Int, width: Int) {
    switch size {
    case .exact(let h, let w):
      guard h > 0, w > 0 else {
        throw DataError.invalidOption("Resize: size must be positive, got \(h)×\(w)")
      }
      return (h, w)
    case .shorterSide(let requested):
      guard requested > 0 else {
        throw DataError.invalidOption("Resize: size must be positive, got \(requested)")
      }
      let (short, long) = imageWidth <= imageHeight ? (imageWidth, imageHeight) : (imageHeight, imageWidth)
      guard short > 0 else { throw DataError.invalidOption("Resize: the image is empty") }
      var newShort = requested
      var newLong = Int(Double(requested) * Double(long) / Double(short))
      if let maxSize {
        guard maxSize > requested else {
          throw DataError.invalidOption(
            "Resize: maxSize \(maxSize) must be greater than the size \(requested)")
        }
        if newLong > maxSize {
          newShort = Int(Double(maxSize) * Double(newShort) / Double(newLong))
          newLong = maxSize
        }
      }
      return imageWidth <= imageHeight ? (newLong, newShort) : (newShort, newLong)
    }
  }

  public func apply(_ image: Image, using rng: inout RandomGenerator) throws -> Image {
    let (h, w) = try outputSize(imageHeight: image.height, imageWidth: image.width)
    guard image.height > 0, image.width > 0 else {
      throw DataError.invalidOption("Resize: the image is empty")
    }
    return image.resized(height: h, width: w, antialias: antialias)
  }
}

extension Image {
  /// This image resampled to `height × width` by Pillow's bilinear filter (see `Resize`).
  public func resized(height outHeight: Int, width outWidth: Int, antialias: Bool = true) -> Image {
    precondition(
      outHeight > 0 && outWidth > 0, "resized: size must be positive, got \(outHeight)×\(outWidth)")
    precondition(height > 0 && width > 0, "resized: the image is empty")
    if outHeight == height && outWidth == width { return self }
    var current = self
    if outWidth != width {
      let taps = ResamplingTaps(inputSize: width, outputSize: outWidth, antialias: antialias)
      current = current.resampledHorizontally(taps)
    }
    if outHeight != height {
      let taps = ResamplingTaps(inputSize: height, outputSize: outHeight, antialias: antialias)
      current = current.resampledVertically(taps)
    }
    return current
  }

  private func resampledHorizontally(_ taps: ResamplingTaps) -> Image {
    let outWidth = taps.outputSize
    var out = Image(height: height, width: outWidth, channels: channels)
    let channels = channels
    let width = width
    out.pixels.withUnsafeMutableBufferPointer { dst in
      pixels.withUnsafeBufferPointer { src in
        taps.weights.withUnsafeBufferPointer { weights in
          for y in 0..<height {
            let srcRow = y * width * channels
            let dstRow = y * outWidth * channels
            for x in 0..<outWidth {
              let first = taps.first[x]
              let base = x * taps.stride
              for c in 0..<channels {
                var sum: Float = 0
                for k in 0..<taps.count[x] {
                  sum += weights[base + k] * src[srcRow + (first + k) * channels + c]
                }
                dst[dstRow + x * channels + c] = sum
              }
            }
          }
        }
      }
    }
    return out
  }

  private func resampledVertically(_ taps: ResamplingTaps) -> Image {
    let outHeight = taps.outputSize
    var out = Image(height: outHeight, width: width, channels: channels)
    let rowLength = width * channels
    out.pixels.withUnsafeMutableBufferPointer { dst in
      pixels.withUnsafeBufferPointer { src in
        taps.weights.withUnsafeBufferPointer { weights in
          // Whole rows at a time: contiguous, so the inner loop vectorises.
          for y in 0..<outHeight {
            let dstRow = y * rowLength
            for k in 0..<taps.count[y] {
              let weight = weights[y * taps.stride + k]
              let srcRow = (taps.first[y] + k) * rowLength
              for i in 0..<rowLength { dst[dstRow + i] += weight * src[srcRow + i] }
            }
          }
        }
      }
    }
    return out
  }
}

/// For each output position along one axis, the input positions it reads and their weights:
/// Pillow's `precompute_coeffs` for the triangle (bilinear) filter of support 1.
struct ResamplingTaps {
  let outputSize: Int
  /// First input index read by each output.
  var first: [Int]
  /// Number of inputs read by each output.
  var count: [Int]
  /// `stride` weights per output, the first `count` used; they sum to 1.
  var weights: [Float]
  let stride: Int

  init(inputSize: Int, outputSize: Int, antialias: Bool) {
    self.outputSize = outputSize
    let scale = Double(inputSize) / Double(outputSize)
    // Shrinking widens the filter by the shrink factor so every input pixel contributes.
    let filterScale = antialias ? max(scale, 1) : 1
    let support = filterScale
    stride = Int(support.rounded(.up)) * 2 + 1
    first = Array(repeating: 0, count: outputSize)
    count = Array(repeating: 0, count: outputSize)
    weights = Array(repeating: 0, count: outputSize * stride)
    for i in 0..<outputSize {
      let center = (Double(i) + 0.5) * scale
      // C's (int) cast truncates toward zero; negatives are clamped to 0 right after anyway.
      let low = max(0, Int(center - support + 0.5))
      let high = min(inputSize, Int(center + support + 0.5))
      var total = 0.0
      var row = [Double](repeating: 0, count: max(0, high - low))
      for k in 0..<(high - low) {
        let distance = abs((Double(low + k) - center + 0.5) / filterScale)
        let weight = distance < 1 ? 1 - distance : 0
        row[k] = weight
        total += weight
      }
      first[i] = low
      count[i] = high - low
      for k in 0..<row.count { weights[i * stride + k] = Float(total != 0 ? row[k] / total : row[k]) }
    }
  }
}
