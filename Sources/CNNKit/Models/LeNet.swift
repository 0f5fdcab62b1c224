// LeNet-5: Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, "Gradient-Based Learning Applied to Document
// Recognition", Proceedings of the IEEE 86(11), 1998.

/// LeNet-5 in its common modern form: the paper's 6-16-120-84 widths on a 1×32×32 input, with ReLU
/// and max-pooling in place of the paper's scaled tanh and trainable subsampling, every C3 map
/// connected to all S2 maps, and a plain `Linear` output instead of the RBF layer.
///
/// `features` = Conv 1→6 5×5 (0), ReLU, MaxPool 2 (2), Conv 6→16 5×5 (3), ReLU, MaxPool 2 (5);
/// `classifier` = Linear(400→120) (0), ReLU, Linear(120→84) (2), ReLU, Linear(84→classes) (4).
/// 61,706 parameters and 416,520 MACs at 32×32 with 10 classes. Initialisation is PyTorch's default.
public final class LeNet5: Module {
  public let features: Sequential
  public let classifier: Sequential

  /// Creates LeNet-5 for `classes` outputs and a grayscale input of `inputSize` (the first `Linear`
  /// takes 16·5·5 = 400 features at 32×32; 16·4·4 at 28×28). Throws `ZooError.invalidOption` if the
  /// input is too small.
  public init(classes: Int = 10, inputSize: (height: Int, width: Int) = (32, 32)) throws {
    features = Sequential(
      Conv2d(1, 6, kernelSize: 5), ReLU(), MaxPool2d(kernelSize: 2),
      Conv2d(6, 16, kernelSize: 5), ReLU(), MaxPool2d(kernelSize: 2))
    let flat = try outputShape(
      of: [features], input: [1, inputSize.height, inputSize.width], model: "lenet5")
    classifier = Sequential(
      Linear(flat.reduce(1, *), 120), ReLU(),
      Linear(120, 84), ReLU(),
      Linear(84, classes))
    super.init()
    register("features", features)
    register("classifier", classifier)
  }

  public override func forward(_ input: Tensor) throws -> Tensor {
    try classifier(Functional.flatten(features(input), startDim: 1))
  }
}
