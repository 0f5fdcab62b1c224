/// The evaluation of the AlexNet paper (§4.1), as torchvision's `TenCrop`: the four corner crops and
/// the centre crop, then the same five of the mirrored image — 10 views whose predictions are
/// averaged. Order: top-left, top-right, bottom-left, bottom-right, centre, then those of the flip.
public struct TenCrop: Sendable {
  public var height: Int
  public var width: Int
  /// Mirror top-to-bottom instead of left-to-right for the second five (torchvision's `vertical_flip`).
  public var verticalFlip: Bool

  /// Square `size × size` crops.
  public init(_ size: Int, verticalFlip: Bool = false) {
    self.init(height: size, width: size, verticalFlip: verticalFlip)
  }

  /// `height × width` crops.
  public init(height: Int, width: Int, verticalFlip: Bool = false) {
    self.height = height
    self.width = width
    self.verticalFlip = verticalFlip
  }

  /// The four corners and the centre (torchvision's `FiveCrop`).
  public func fiveCrops(of image: Image) throws -> [Image] {
    guard height > 0, width > 0 else {
      throw DataError.invalidOption("TenCrop: size must be positive, got \(height)×\(width)")
    }
    guard height <= image.height, width <= image.width else {
      throw DataError.invalidOption(
        "TenCrop: crop \(height)×\(width) is larger than the \(image.height)×\(image.width) image")
    }
    var rng = RandomGenerator(seed: 0)  // CenterCrop draws nothing.
    let bottom = image.height - height
    let right = image.width - width
    return [
      image.cropped(top: 0, left: 0, height: height, width: width),
      image.cropped(top: 0, left: right, height: height, width: width),
      image.cropped(top: bottom, left: 0, height: height, width: width),
      image.cropped(top: bottom, left: right, height: height, width: width),
      try CenterCrop(height: height, width: width).apply(image, using: &rng),
    ]
  }

  /// The ten crops.
  public func crops(of image: Image) throws -> [Image] {
    let flipped = verticalFlip ? image.flippedVertically() : image.flippedHorizontally()
    return try fiveCrops(of: image) + fiveCrops(of: flipped)
  }

  /// The ten crops as one `[10, C, height, width]` tensor, divided by 255 and normalised if asked.
  public func tensor(from image: Image, normalize: Normalize? = nil) throws -> Tensor {
    let views = try crops(of: image)
    let perView = image.channels * height * width
    let out = Tensor(zeros: [views.count, image.channels, height, width])
    if let normalize { try normalize.checkChannels(image.channels) }
    for (n, view) in views.enumerated() {
      let destination = out.data.advanced(by: n * perView)
      ToTensor().write(view, into: destination)
      normalize?.normalize(destination, channels: image.channels, plane: height * width)
    }
    return out
  }
}
