/// Applies transforms in order, as torchvision's `Compose`; random ones share the one generator,
/// so a seeded generator gives the same result every time.
public struct Compose: ImageTransform {
  public var transforms: [any ImageTransform]

  /// Chains `transforms`, first to last.
  public init(_ transforms: [any ImageTransform]) { self.transforms = transforms }

  public func apply(_ image: Image, using rng: inout RandomGenerator) throws -> Image {
    var image = image
    for transform in transforms { image = try transform.apply(image, using: &rng) }
    return image
  }
}
