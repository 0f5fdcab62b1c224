/// AlexNet's "fancy PCA" colour augmentation (Krizhevsky et al. 2012, §4.1): to every pixel add
/// `Σᵢ αᵢ λᵢ pᵢ`, where `pᵢ`, `λᵢ` are the eigenvectors and eigenvalues of the RGB covariance of the
/// training set and `αᵢ ~ N(0, std²)` is drawn once per image (three draws, in order α₀, α₁, α₂).
///
/// The defaults are the ImageNet statistics that fb.resnet.torch published on the 0…1 scale; the
/// offset is multiplied by `scale` (255) because `Image` is on 0…255. Values are not clamped: the paper
/// does not clamp, and later steps work in floats.
public struct PCAColorAugmentation: ImageTransform {
  /// ImageNet's RGB eigenvalues (0…1 scale), largest first.
  public static let imagenetEigenvalues: [Float] = [0.2175, 0.0188, 0.0045]
  /// ImageNet's RGB eigenvectors: row = R, G, B component; column i = eigenvector i.
  public static let imagenetEigenvectors: [[Float]] = [
    [-0.5675, 0.7192, 0.4009],
    [-0.5808, -0.0045, -0.8140],
    [-0.5836, -0.6948, 0.4203],
  ]

  public var std: Float
  public var eigenvalues: [Float]
  /// `eigenvectors[channel][i]` = component `channel` of eigenvector `i`.
  public var eigenvectors: [[Float]]
  /// Multiplies the offset: 255 for statistics on 0…1 applied to 0…255 images.
  public var scale: Float

  /// The paper's augmentation with ImageNet's statistics by default.
  public init(
    std: Float = 0.1, eigenvalues: [Float] = imagenetEigenvalues,
    eigenvectors: [[Float]] = imagenetEigenvectors, scale: Float = 255
  ) {
    self.std = std
    self.eigenvalues = eigenvalues
    self.eigenvectors = eigenvectors
    self.scale = scale
  }

  /// Draws the α's from `rng` and returns the per-channel (R, G, B) offset on the 0…255 scale.
  public func offset(using rng: inout RandomGenerator) -> [Float] {
    let alphas = eigenvalues.indices.map { _ in rng.nextNormal(mean: 0, std: std) }
    return eigenvectors.map { row in
      var sum: Float = 0
      for i in eigenvalues.indices { sum += alphas[i] * eigenvalues[i] * row[i] }
      return sum * scale
    }
  }

  public func apply(_ image: Image, using rng: inout RandomGenerator) throws -> Image {
    guard image.channels == 3 else {
      throw DataError.invalidOption(
        "PCAColorAugmentation: needs an RGB image, got \(image.channels) channel(s)")
    }
    guard eigenvalues.count == 3, eigenvectors.count == 3, eigenvectors.allSatisfy({ $0.count == 3 }) else {
      throw DataError.invalidOption("PCAColorAugmentation: needs 3 eigenvalues and a 3×3 eigenvector matrix")
    }
    let delta = offset(using: &rng)
    var out = image
    out.pixels.withUnsafeMutableBufferPointer { p in
      var i = 0
      while i < p.count {
        p[i] += delta[0]
        p[i + 1] += delta[1]
        p[i + 2] += delta[2]
        i += 3
      }
    }
    return out
  }
}

/// Converts to grey, as torchvision's `Grayscale(num_output_channels)`: luma
/// `0.299 R + 0.587 G + 0.114 B` (ITU-R 601-2, what PIL's `convert("L")` uses, without its rounding
/// to integers), repeated over `outputChannels`. A one-channel input is repeated, which also
/// turns MNIST digits into 3-channel images for ImageNet-shaped models.
public struct Grayscale: ImageTransform {
  public var outputChannels: Int

  /// `outputChannels` is 1 or 3.
  public init(outputChannels: Int = 1) { self.outputChannels = outputChannels }

  public func apply(_ image: Image, using rng: inout RandomGenerator) throws -> Image {
    guard outputChannels == 1 || outputChannels == 3 else {
      throw DataError.invalidOption("Grayscale: outputChannels must be 1 or 3, got \(outputChannels)")
    }
    guard image.channels == 1 || image.channels == 3 else {
      throw DataError.invalidOption("Grayscale: needs a 1- or 3-channel image, got \(image.channels)")
    }
    if image.channels == outputChannels && outputChannels == 1 { return image }
    let pixelCount = image.height * image.width
    var out = Image(height: image.height, width: image.width, channels: outputChannels)
    for i in 0..<pixelCount {
      let grey: Float
      if image.channels == 3 {
        let s = i * 3
        grey = 0.299 * image.pixels[s] + 0.587 * image.pixels[s + 1] + 0.114 * image.pixels[s + 2]
      } else {
        grey = image.pixels[i]
      }
      for c in 0..<outputChannels { out.pixels[i * outputChannels + c] = grey }
    }
    return out
  }
}
