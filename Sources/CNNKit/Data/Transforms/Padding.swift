/// Pixels added around an image, per side (torchvision's `padding` argument spelt out).
public struct Padding: Equatable, Sendable {
  public var left: Int
  public var top: Int
  public var right: Int
  public var bottom: Int

  /// Different amounts on each side.
  public init(left: Int, top: Int, right: Int, bottom: Int) {
    self.left = left
    self.top = top
    self.right = right
    self.bottom = bottom
  }

  /// The same amount on every side (torchvision's `padding=p`).
  public init(_ all: Int) { self.init(left: all, top: all, right: all, bottom: all) }

  /// `horizontal` on the left and right, `vertical` on the top and bottom (torchvision's `[h, v]`).
  public init(horizontal: Int, vertical: Int) {
    self.init(left: horizontal, top: vertical, right: horizontal, bottom: vertical)
  }

  /// True when nothing is added.
  public var isZero: Bool { left == 0 && top == 0 && right == 0 && bottom == 0 }
}

/// How padded pixels are filled, as torchvision's `padding_mode`.
public enum PaddingMode: String, Sendable, CaseIterable {
  /// The fill value.
  case constant
  /// The nearest edge pixel repeated.
  case edge
  /// Mirrored without repeating the edge pixel: `[1, 2, 3]` padded by 2 gives `3 2 | 1 2 3 | 2 1`.
  case reflect
  /// Mirrored repeating the edge pixel: `[1, 2, 3]` padded by 2 gives `2 1 | 1 2 3 | 3 2`.
  case symmetric
}

/// Pads every side, as torchvision's `Pad(padding, fill, padding_mode)`.
public struct Pad: ImageTransform {
  public var padding: Padding
  /// One value for every channel, or one per channel (0…255 scale); used by `.constant`.
  public var fill: [Float]
  public var mode: PaddingMode

  /// Pads by `padding`; `fill` is used by `.constant` mode.
  public init(_ padding: Padding, fill: [Float] = [0], mode: PaddingMode = .constant) {
    self.padding = padding
    self.fill = fill
    self.mode = mode
  }

  /// Pads every side by `all` pixels.
  public init(_ all: Int, fill: [Float] = [0], mode: PaddingMode = .constant) {
    self.init(Padding(all), fill: fill, mode: mode)
  }

  public func apply(_ image: Image, using rng: inout RandomGenerator) throws -> Image {
    try image.padded(padding, fill: fill, mode: mode)
  }
}

extension Image {
  /// This image with `padding` added around it. Reflection wraps back and forth when the padding is
  /// wider than the image, as NumPy's `pad` (which torchvision uses for PIL images) does.
  public func padded(_ padding: Padding, fill: [Float] = [0], mode: PaddingMode = .constant) throws -> Image {
    guard padding.left >= 0, padding.top >= 0, padding.right >= 0, padding.bottom >= 0 else {
      throw DataError.invalidOption("Pad: padding must not be negative, got \(padding)")
    }
    guard fill.count == 1 || fill.count == channels else {
      throw DataError.invalidOption("Pad: fill has \(fill.count) values for a \(channels)-channel image")
    }
    if padding.isZero { return self }
    if mode != .constant && (width == 0 || height == 0) {
      throw DataError.invalidOption("Pad: cannot \(mode.rawValue)-pad an empty image")
    }
    let outHeight = height + padding.top + padding.bottom
    let outWidth = width + padding.left + padding.right
    var out = Image(height: outHeight, width: outWidth, channels: channels)
    // Source column for each output column (nil = fill), computed once and reused for every row.
    let columns = (0..<outWidth).map { sourceIndex($0 - padding.left, size: width, mode: mode) }
    out.pixels.withUnsafeMutableBufferPointer { dst in
      pixels.withUnsafeBufferPointer { src in
        for y in 0..<outHeight {
          let sourceRow = sourceIndex(y - padding.top, size: height, mode: mode)
          for x in 0..<outWidth {
            let o = (y * outWidth + x) * channels
            if let sy = sourceRow, let sx = columns[x] {
              let s = (sy * width + sx) * channels
              for c in 0..<channels { dst[o + c] = src[s + c] }
            } else {
              for c in 0..<channels { dst[o + c] = fill.count == 1 ? fill[0] : fill[c] }
            }
          }
        }
      }
    }
    return out
  }
}

/// Where output coordinate `i` (may be outside `0..<size`) reads from, or nil for the fill value.
private func sourceIndex(_ i: Int, size: Int, mode: PaddingMode) -> Int? {
  if i >= 0 && i < size { return i }
  switch mode {
  case .constant:
    return nil
  case .edge:
    return min(max(i, 0), size - 1)
  case .reflect:
    // Mirror about the edge pixels: the pattern repeats every 2·(size − 1).
    if size == 1 { return 0 }
    let period = 2 * (size - 1)
    var m = i % period
    if m < 0 { m += period }
    return m < size ? m : period - m
  case .symmetric:
    // Mirror about the edges themselves: the pattern repeats every 2·size.
    let period = 2 * size
    var m = i % period
    if m < 0 { m += period }
    return m < size ? m : period - 1 - m
  }
}
