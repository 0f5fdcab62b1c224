/// Image (HWC, 0…255) → tensor `[C, H, W]` on 0…1, as torchvision's `ToTensor` on PIL images.
public struct ToTensor: Sendable {
  public init() {}

  /// The image as a `[C, H, W]` tensor divided by 255.
  public func callAsFunction(_ image: Image) -> Tensor {
    let tensor = Tensor(zeros: [image.channels, image.height, image.width])
    write(image, into: tensor.data)
    return tensor
  }

  /// Writes the `C·H·W` values of `image`, channel-major and divided by 255, at `destination`.
  func write(_ image: Image, into destination: UnsafeMutablePointer<Float>) {
    let plane = image.height * image.width
    let channels = image.channels
    image.pixels.withUnsafeBufferPointer { src in
      for c in 0..<channels {
        let dst = destination.advanced(by: c * plane)
        // A division, as torchvision's, rather than a multiply by 1/255, which can differ in the last bit.
        for i in 0..<plane { dst[i] = src[i * channels + c] / 255 }
      }
    }
  }
}

/// Per-channel `(x − mean) / std` on a `[C, H, W]` or `[N, C, H, W]` tensor, as torchvision's
/// `Normalize`. A single mean/std applies to every channel.
public struct Normalize: Equatable, Sendable {
  public var mean: [Float]
  public var std: [Float]

  /// ImageNet's statistics, which torchvision's pretrained models expect.
  public static let imagenet = Normalize(uncheckedMean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
  /// MNIST's training-set mean and standard deviation.
  public static let mnist = Normalize(uncheckedMean: [0.1307], std: [0.3081])
  /// Fashion-MNIST's training-set mean and standard deviation.
  public static let fashionMNIST = Normalize(uncheckedMean: [0.2860], std: [0.3530])
  /// CIFAR-100's training-set per-channel statistics.
  public static let cifar100 = Normalize(
    uncheckedMean: [0.5071, 0.4865, 0.4409], std: [0.2673, 0.2564, 0.2762])
  /// CIFAR-10's training-set per-channel statistics.
  public static let cifar10 = Normalize(
    uncheckedMean: [0.4914, 0.4822, 0.4465], std: [0.2470, 0.2435, 0.2616])

  /// Checks that `mean` and `std` have the same length and no standard deviation is zero.
  public init(mean: [Float], std: [Float]) throws {
    guard !mean.isEmpty, mean.count == std.count else {
      throw DataError.invalidOption("Normalize: \(mean.count) means but \(std.count) standard deviations")
    }
    guard std.allSatisfy({ $0 != 0 && $0.isFinite }) else {
      throw DataError.invalidOption("Normalize: standard deviations must be finite and non-zero, got \(std)")
    }
    self.init(uncheckedMean: mean, std: std)
  }

  private init(uncheckedMean mean: [Float], std: [Float]) {
    self.mean = mean
    self.std = std
  }

  /// A normalised copy of `tensor`, whose channel axis is the third from last.
  public func callAsFunction(_ tensor: Tensor) throws -> Tensor {
    guard tensor.rank >= 3 else {
      throw DataError.invalidOption(
        "Normalize: needs a [C, H, W] or [N, C, H, W] tensor, got \(tensor.shape)")
    }
    let channels = tensor.shape[tensor.rank - 3]
    let plane = tensor.shape[tensor.rank - 2] * tensor.shape[tensor.rank - 1]
    try checkChannels(channels)
    let out = tensor.copy()
    let images = channels == 0 || plane == 0 ? 0 : tensor.count / (channels * plane)
    for n in 0..<images {
      normalize(out.data.advanced(by: n * channels * plane), channels: channels, plane: plane)
    }
    return out
  }

  func checkChannels(_ channels: Int) throws {
    guard mean.count == 1 || mean.count == channels else {
      throw DataError.invalidOption("Normalize: \(mean.count) means for \(channels) channel(s)")
    }
  }

  /// Normalises one `[C, H, W]` image in place.
  func normalize(_ values: UnsafeMutablePointer<Float>, channels: Int, plane: Int) {
    for c in 0..<channels {
      let m = mean.count == 1 ? mean[0] : mean[c]
      let inverse = 1 / (std.count == 1 ? std[0] : std[c])
      let p = values.advanced(by: c * plane)
      for i in 0..<plane { p[i] = (p[i] - m) * inverse }
    }
  }
}

/// What turns one decoded image into one model input: image transforms, then `ToTensor`, then an
/// optional `Normalize` — torchvision's usual `Compose([..., ToTensor(), Normalize(...)])`.
public struct ImagePipeline: Sendable {
  public var transforms: [any ImageTransform]
  public var normalize: Normalize?

  /// `transforms` run in order on the image; `normalize` (if any) on the resulting tensor.
  public init(_ transforms: [any ImageTransform] = [], normalize: Normalize? = nil) {
    self.transforms = transforms
    self.normalize = normalize
  }

  /// Applies the image transforms only.
  public func transform(_ image: Image, using rng: inout RandomGenerator) throws -> Image {
    var image = image
    for transform in transforms { image = try transform.apply(image, using: &rng) }
    return image
  }

  /// The `[C, H, W]` tensor for `image`, random transforms drawing from `rng`.
  public func tensor(from image: Image, using rng: inout RandomGenerator) throws -> Tensor {
    let (shape, values) = try values(for: image, using: &rng)
    return Tensor(shape: shape, scalars: values)
  }

  /// The `[C, H, W]` shape and values for `image` (what the loader copies into a batch).
  func values(for image: Image, using rng: inout RandomGenerator) throws -> (shape: [Int], values: [Float]) {
    let image = try transform(image, using: &rng)
    let plane = image.height * image.width
    var values = [Float](repeating: 0, count: image.channels * plane)
    try values.withUnsafeMutableBufferPointer { buffer in
      guard let base = buffer.baseAddress else { return }
      ToTensor().write(image, into: base)
      if let normalize {
        try normalize.checkChannels(image.channels)
        normalize.normalize(base, channels: image.channels, plane: plane)
      }
    }
    return ([image.channels, image.height, image.width], values)
  }
}
