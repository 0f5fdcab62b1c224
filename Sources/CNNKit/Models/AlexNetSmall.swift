/// AlexNet scaled down for small images (MNIST 28×28, CIFAR 32×32), cheap enough to train on a laptop
/// CPU. A CNNKit design after A. Krizhevsky, I. Sutskever, G. E. Hinton, "ImageNet Classification with
/// Deep Convolutional Neural Networks", NeurIPS 2012: the same five convolutions with AlexNet's
/// 96-256-384-384-256 width ratios, three max-pools after conv1, conv2 and conv5, and a three-layer
/// classifier with dropout before its first two `Linear`s. The 11×11/4 and 5×5 kernels that suit
/// 227-pixel photos would erase a 28-pixel digit, so every convolution is 3×3 with padding 1 and every
/// pool 2×2/2.
///
/// **`alexnet-mnist`** (`AlexNetSmall.mnist`, quarter width, hidden 4096/16 = 256), 1×28×28, 10 classes:
///
/// | Path | Layer | Output | Parameters | MACs |
/// |---|---|---|---|---|
/// | features.0 | Conv 1→24 | 24×28×28 | 240 | 169,344 |
/// | features.2 | MaxPool 2/2 | 24×14×14 | 0 | 0 |
/// | features.3 | Conv 24→64 | 64×14×14 | 13,888 | 2,709,504 |
/// | features.5 | MaxPool 2/2 | 64×7×7 | 0 | 0 |
/// | features.6 | Conv 64→96 | 96×7×7 | 55,392 | 2,709,504 |
/// | features.8 | Conv 96→96 | 96×7×7 | 83,040 | 4,064,256 |
/// | features.10 | Conv 96→64 | 64×7×7 | 55,360 | 2,709,504 |
/// | features.12 | MaxPool 2/2 | 64×3×3 | 0 | 0 |
/// | classifier.1 | Linear 576→256 | 256 | 147,712 | 147,456 |
/// | classifier.4 | Linear 256→256 | 256 | 65,792 | 65,536 |
/// | classifier.6 | Linear 256→10 | 10 | 2,570 | 2,560 |
/// | | **Total** | | **423,994** | **12,577,664** |
///
/// **`alexnet-cifar`** (`AlexNetSmall.cifar`, half width, hidden 4096/8 = 512), 3×32×32, 10 classes:
///
/// | Path | Layer | Output | Parameters | MACs |
/// |---|---|---|---|---|
/// | features.0 | Conv 3→48 | 48×32×32 | 1,344 | 1,327,104 |
/// | features.2 | MaxPool 2/2 | 48×16×16 | 0 | 0 |
/// | features.3 | Conv 48→128 | 128×16×16 | 55,424 | 14,155,776 |
/// | features.5 | MaxPool 2/2 | 128×8×8 | 0 | 0 |
/// | features.6 | Conv 128→192 | 192×8×8 | 221,376 | 14,155,776 |
/// | features.8 | Conv 192→192 | 192×8×8 | 331,968 | 21,233,664 |
/// | features.10 | Conv 192→128 | 128×8×8 | 221,312 | 14,155,776 |
/// | features.12 | MaxPool 2/2 | 128×4×4 | 0 | 0 |
/// | classifier.1 | Linear 2048→512 | 512 | 1,049,088 | 1,048,576 |
/// | classifier.4 | Linear 512→512 | 512 | 262,656 | 262,144 |
/// | classifier.6 | Linear 512→10 | 10 | 5,130 | 5,120 |
/// | | **Total** | | **2,148,298** | **66,343,936** |
///
/// A ReLU follows every convolution (`features.1, 4, 7, 9, 11`) and both hidden `Linear`s
/// (`classifier.2, 5`); `classifier.0` and `classifier.3` are Dropout. MACs count conv and linear
/// multiply-accumulates without bias. Initialisation is PyTorch's default.
public final class AlexNetSmall: Module {
  /// The five convolution widths and the hidden width of one small AlexNet.
  public struct Configuration: Equatable, Sendable {
    /// Input channels (1 for grayscale, 3 for RGB).
    public let inChannels: Int
    /// Output channels of conv1 … conv5.
    public let widths: [Int]
    /// Width of the two hidden fully connected layers.
    public let hidden: Int

    /// Creates a configuration; `widths` must hold five positive numbers.
    public init(inChannels: Int, widths: [Int], hidden: Int) {
      precondition(widths.count == 5 && widths.allSatisfy { $0 > 0 }, "AlexNetSmall needs five conv widths")
      self.inChannels = inChannels
      self.widths = widths
      self.hidden = hidden
    }

    /// AlexNet at a quarter width for 1×28×28 digits.
    public static let mnist = Configuration(inChannels: 1, widths: [24, 64, 96, 96, 64], hidden: 256)
    /// AlexNet at half width for 3×32×32 images.
    public static let cifar = Configuration(inChannels: 3, widths: [48, 128, 192, 192, 128], hidden: 512)

    /// The convolutions as a `cfg` list: conv1, pool, conv2, pool, conv3, conv4, conv5, pool.
    var layers: [FeatureLayer] {
      let w = widths
      return [.conv(w[0]), .maxPool, .conv(w[1]), .maxPool, .conv(w[2]), .conv(w[3]), .conv(w[4]), .maxPool]
    }
  }

  public let features: Sequential
  public let classifier: Sequential
  public let configuration: Configuration

  /// Creates a small AlexNet for `classes` outputs and an input of `inputSize`. Throws
  /// `ZooError.invalidOption` if the input is smaller than 8×8 (three 2×2 pools).
  public init(
    _ configuration: Configuration, classes: Int = 10, inputSize: (height: Int, width: Int),
    dropout: Float = 0.5
  ) throws {
    self.configuration = configuration
    features = FeatureLayer.makeLayers(
      configuration.layers, inChannels: configuration.inChannels, batchNorm: false)
    let name =
      configuration == .mnist ? "alexnet-mnist" : configuration == .cifar ? "alexnet-cifar" : "AlexNetSmall"
    let flat = try outputShape(
      of: [features], input: [configuration.inChannels, inputSize.height, inputSize.width], model: name)
    let hidden = configuration.hidden
    classifier = Sequential(
      Dropout(dropout), Linear(flat.reduce(1, *), hidden), ReLU(),
      Dropout(dropout), Linear(hidden, hidden), ReLU(),
      Linear(hidden, classes))
    super.init()
    register("features", features)
    register("classifier", classifier)
  }

  /// The MNIST model (1×28×28 by default).
  public static func mnist(classes: Int = 10, inputSize: (height: Int, width: Int) = (28, 28)) throws
    -> AlexNetSmall
  {
    try AlexNetSmall(.mnist, classes: classes, inputSize: inputSize)
  }

  /// The CIFAR model (3×32×32 by default).
  public static func cifar(classes: Int = 10, inputSize: (height: Int, width: Int) = (32, 32)) throws
    -> AlexNetSmall
  {
    try AlexNetSmall(.cifar, classes: classes, inputSize: inputSize)
  }

  public override func forward(_ input: Tensor) throws -> Tensor {
    try classifier(Functional.flatten(features(input), startDim: 1))
  }
}
