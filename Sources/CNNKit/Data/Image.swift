/// A decoded image before it becomes a tensor: height × width × channels, interleaved (HWC), values
/// on the 0…255 scale as floats so that resizing and colour augmentation lose nothing to rounding.
/// torchvision's transforms work on PIL images at this stage; ours work on `Image`.
public struct Image: Equatable, Sendable {
  public var height: Int
  public var width: Int
  /// 1 (grey) or 3 (RGB).
  public var channels: Int
  /// `height · width · channels` values, row-major, channels innermost.
  public var pixels: [Float]

  /// Wraps pixel values (HWC order, 0…255).
  public init(height: Int, width: Int, channels: Int, pixels: [Float]) {
    precondition(
      pixels.count == height * width * channels,
      "Image: \(pixels.count) values for \(height)×\(width)×\(channels)")
    self.height = height
    self.width = width
    self.channels = channels
    self.pixels = pixels
  }

  /// A black image.
  public init(height: Int, width: Int, channels: Int) {
    self.init(
      height: height, width: width, channels: channels,
      pixels: Array(repeating: 0, count: height * width * channels))
  }

  /// Value at row `y`, column `x`, channel `c`.
  public subscript(y: Int, x: Int, c: Int) -> Float {
    get { pixels[(y * width + x) * channels + c] }
    set { pixels[(y * width + x) * channels + c] = newValue }
  }
}

/// An image with its class index.
public struct LabeledImage: Equatable, Sendable {
  public var image: Image
  public var label: Int

  /// Pairs an image with its label.
  public init(image: Image, label: Int) {
    self.image = image
    self.label = label
  }
}

/// Errors from reading datasets and decoding images; each names the file (and record) at fault.
public enum DataError: Error, Equatable, CustomStringConvertible {
  /// The file could not be opened or read.
  case unreadable(path: String, reason: String)
  /// The file's contents are not what its format requires (bad magic, wrong length, corrupt image).
  case corrupt(path: String, reason: String)
  /// A label is outside `0..<classes`.
  case labelOutOfRange(path: String, label: Int, classes: Int)
  /// A folder-based dataset is missing something it needs (no classes, an empty class).
  case badLayout(path: String, reason: String)
  /// An option does not make sense (a crop larger than the image, a zero batch size, ...).
  case invalidOption(String)

  public var description: String {
    switch self {
    case .unreadable(let path, let reason): return "\(path): cannot read: \(reason)"
    case .corrupt(let path, let reason): return "\(path): \(reason)"
    case .labelOutOfRange(let path, let label, let classes):
      return "\(path): label \(label) is outside 0..<\(classes)"
    case .badLayout(let path, let reason): return "\(path): \(reason)"
    case .invalidOption(let message): return message
    }
  }
}

/// A finite, indexable collection of labelled images, as torchvision's map-style datasets.
/// `item(at:)` may be called from several threads at once.
public protocol ImageDataset: Sendable {
  /// Number of samples.
  var count: Int { get }
  /// Class names, index = label.
  var classNames: [String] { get }
  /// Sample `index` (0 ≤ index < count), decoded.
  func item(at index: Int) throws -> LabeledImage
}

/// One step of preprocessing or augmentation on an `Image`. Random transforms draw from `rng`, which
/// the loader seeds per sample so results do not depend on thread scheduling.
public protocol ImageTransform: Sendable {
  /// Returns the transformed image.
  func apply(_ image: Image, using rng: inout RandomGenerator) throws -> Image
}
