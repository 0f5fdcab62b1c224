/// AlexNet as torchvision builds it ("One weird trick", Krizhevsky 2014): 64-192-384-256-256 filters,
/// AdaptiveAvgPool to 6×6, then a dropout classifier 9216-4096-4096-classes. Parameter paths equal
/// torchvision's state-dict keys (`features.0.weight`, `classifier.1.weight`, ...).
public final class AlexNet: Module {
  public let features: Sequential
  public let avgpool: AdaptiveAvgPool2d
  public let classifier: Sequential

  /// Creates torchvision's AlexNet with `classes` outputs (1000 for ImageNet) and dropout `dropout`.
  public init(classes: Int = 1000, dropout: Float = 0.5) {
    features = Sequential(
      Conv2d(3, 64, kernelSize: 11, stride: 4, padding: 2), ReLU(), MaxPool2d(kernelSize: 3, stride: 2),
      Conv2d(64, 192, kernelSize: 5, padding: 2), ReLU(), MaxPool2d(kernelSize: 3, stride: 2),
      Conv2d(192, 384, kernelSize: 3, padding: 1), ReLU(),
      Conv2d(384, 256, kernelSize: 3, padding: 1), ReLU(),
      Conv2d(256, 256, kernelSize: 3, padding: 1), ReLU(), MaxPool2d(kernelSize: 3, stride: 2))
    avgpool = AdaptiveAvgPool2d(6)
    classifier = Sequential(
      Dropout(dropout), Linear(256 * 6 * 6, 4096), ReLU(),
      Dropout(dropout), Linear(4096, 4096), ReLU(),
      Linear(4096, classes))
    super.init()
    register("features", features)
    register("avgpool", avgpool)
    register("classifier", classifier)
  }

  public override func forward(_ input: Tensor) throws -> Tensor {
    let x = try avgpool(features(input))
    return try classifier(Functional.flatten(x, startDim: 1))
  }
}
