// VGG: K. Simonyan, A. Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
// Recognition", ICLR 2015 (arXiv:1409.1556). Layout and initialisation follow torchvision's
// `vgg.py`, so parameter paths are torchvision's state-dict keys.

/// VGG in torchvision's layout: `features` built from a `cfg` list (configurations A, B, D, E of the
/// paper's Table 1 are VGG-11, 13, 16, 19), then either the ImageNet head — `avgpool`
/// (AdaptiveAvgPool2d 7×7) and `classifier` Linear(25088→4096), ReLU, Dropout, Linear(4096→4096),
/// ReLU, Dropout, Linear(4096→classes) — or the small-image head used for CIFAR-10: no pooling,
/// `classifier` Dropout, Linear(512·h·w→512), ReLU, Dropout, Linear(512→512), ReLU, Linear(512→classes).
///
/// With BatchNorm each convolution is followed by BatchNorm2d then ReLU (convs at `features.0, 3, 7,
/// 10, ...`, BN one index later); without it, conv then ReLU (`features.0, 2, 5, 7, ...`).
///
/// Initialisation is torchvision's: convolutions Kaiming-normal (fan-out, ReLU), bias 0; BatchNorm
/// γ 1, β 0; linear N(0, 0.01²), bias 0.
///
/// ImageNet head, 1000 classes: VGG-11 132,863,336, VGG-13 133,047,848, VGG-16 138,357,544, VGG-19
/// 143,667,240 parameters (BatchNorm adds twice the sum of conv widths, 8,448 for VGG-16).
public final class VGG: Module {
  /// Which classifier follows the convolutions.
  public enum Head: Sendable {
    /// torchvision's: AdaptiveAvgPool2d(7), 25088→4096→4096→classes with dropout (224×224 input).
    case imagenet
    /// For 32×32 images: flatten (512 at 32×32), dropout, 512→512→classes.
    case cifar
  }

  /// The paper's configurations by letter: A (11 layers), B (13), D (16), E (19); integers are 3×3
  /// convolutions with that many channels.
  public static let configurations: [String: [FeatureLayer]] = [
    "A": [64, .maxPool, 128, .maxPool, 256, 256, .maxPool, 512, 512, .maxPool, 512, 512, .maxPool],
    "B": [64, 64, .maxPool, 128, 128, .maxPool, 256, 256, .maxPool, 512, 512, .maxPool, 512, 512, .maxPool],
    "D": [
      64, 64, .maxPool, 128, 128, .maxPool, 256, 256, 256, .maxPool, 512, 512, 512, .maxPool,
      512, 512, 512, .maxPool,
    ],
    "E": [
      64, 64, .maxPool, 128, 128, .maxPool, 256, 256, 256, 256, .maxPool, 512, 512, 512, 512, .maxPool,
      512, 512, 512, 512, .maxPool,
    ],
  ]

  /// The configuration letter for a depth: 11 → A, 13 → B, 16 → D, 19 → E.
  public static let configurationForDepth: [Int: String] = [11: "A", 13: "B", 16: "D", 19: "E"]

  public let features: Sequential
  /// Present with the ImageNet head only.
  public let avgpool: AdaptiveAvgPool2d?
  public let classifier: Sequential

  /// Creates a VGG from a `cfg` list for an RGB input of `inputSize`. The CIFAR head sizes its first
  /// `Linear` from the input; an input too small for the five pools throws `ZooError.invalidOption`.
  public init(
    configuration: [FeatureLayer], batchNorm: Bool = false, classes: Int = 1000, head: Head = .imagenet,
    inputSize: (height: Int, width: Int) = (224, 224), dropout: Float = 0.5
  ) throws {
    features = FeatureLayer.makeLayers(configuration, inChannels: 3, batchNorm: batchNorm)
    // The zoo's name for this model (`vgg16_bn-cifar`), for error messages: convs + 3 linear layers.
    let depth = configuration.filter { $0 != .maxPool }.count + 3
    let name = "vgg\(depth)\(batchNorm ? "_bn" : "")\(head == .cifar ? "-cifar" : "")"
    let flat = try outputShape(of: [features], input: [3, inputSize.height, inputSize.width], model: name)
    switch head {
    case .imagenet:
      let channels = flat[0]
      avgpool = AdaptiveAvgPool2d(7)
      classifier = Sequential(
        Linear(channels * 7 * 7, 4096), ReLU(), Dropout(dropout),
        Linear(4096, 4096), ReLU(), Dropout(dropout),
        Linear(4096, classes))
    case .cifar:
      avgpool = nil
      classifier = Sequential(
        Dropout(dropout), Linear(flat.reduce(1, *), 512), ReLU(),
        Dropout(dropout), Linear(512, 512), ReLU(),
        Linear(512, classes))
    }
    super.init()
    register("features", features)
    if let avgpool { register("avgpool", avgpool) }
    register("classifier", classifier)
    WeightInit.torchvision(self, linearStd: 0.01)
  }

  /// Creates VGG-`depth` (11, 13, 16 or 19); throws `ZooError.invalidOption` for another depth.
  public convenience init(
    depth: Int, batchNorm: Bool = false, classes: Int = 1000, head: Head = .imagenet,
    inputSize: (height: Int, width: Int) = (224, 224)
  ) throws {
    guard let letter = VGG.configurationForDepth[depth], let configuration = VGG.configurations[letter] else {
      throw ZooError.invalidOption("VGG depth must be 11, 13, 16 or 19, got \(depth)")
    }
    try self.init(
      configuration: configuration, batchNorm: batchNorm, classes: classes, head: head, inputSize: inputSize)
  }

  public override func forward(_ input: Tensor) throws -> Tensor {
    var x = try features(input)
    if let avgpool { x = try avgpool(x) }
    return try classifier(Functional.flatten(x, startDim: 1))
  }
}
