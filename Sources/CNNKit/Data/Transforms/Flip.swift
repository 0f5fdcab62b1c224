extension Image {
  /// This image mirrored left to right.
  public func flippedHorizontally() -> Image {
    var out = self
    out.pixels.withUnsafeMutableBufferPointer { dst in
      pixels.withUnsafeBufferPointer { src in
        for y in 0..<height {
          let row = y * width
          for x in 0..<width {
            let s = (row + x) * channels
            let d = (row + width - 1 - x) * channels
            for c in 0..<channels { dst[d + c] = src[s + c] }
          }
        }
      }
    }
    return out
  }

  /// This image mirrored top to bottom.
  public func flippedVertically() -> Image {
    var out = self
    let rowLength = width * channels
    out.pixels.withUnsafeMutableBufferPointer { dst in
      pixels.withUnsafeBufferPointer { src in
        for y in 0..<height {
          let s = src.baseAddress!.advanced(by: y * rowLength)
          dst.baseAddress!.advanced(by: (height - 1 - y) * rowLength).update(from: s, count: rowLength)
        }
      }
    }
    return out
  }
}

/// Mirrors left to right with probability `p`, as torchvision's `RandomHorizontalFlip`.
/// Draws one uniform number per image whatever the outcome, so later draws do not shift.
public struct RandomHorizontalFlip: ImageTransform {
  public var p: Float

  /// Flips with probability `p` (default ½).
  public init(p: Float = 0.5) { self.p = p }

  public func apply(_ image: Image, using rng: inout RandomGenerator) throws -> Image {
    rng.nextUniform() < p ? image.flippedHorizontally() : image
  }
}

/// Mirrors top to bottom with probability `p`, as torchvision's `RandomVerticalFlip`.
public struct RandomVerticalFlip: ImageTransform {
  public var p: Float

  /// Flips with probability `p` (default ½).
  public init(p: Float = 0.5) { self.p = p }

  public func apply(_ image: Image, using rng: inout RandomGenerator) throws -> Image {
    rng.nextUniform() < p ? image.flippedVertically() : image
  }
}
