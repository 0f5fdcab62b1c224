// AlexNet and its common variants.
//
// - Paper: A. Krizhevsky, I. Sutskever, G. E. Hinton, "ImageNet Classification with Deep
//   Convolutional Neural Networks", NeurIPS 2012.
// - torchvision's layout: A. Krizhevsky, "One weird trick for parallelizing convolutional neural
//   networks", arXiv:1404.5997, 2014.
//
// Every variant keeps PyTorch module names, so its parameter paths are the state-dict keys the
// matching PyTorch code produces. Variants whose classifier follows a plain flatten size their first
// `Linear` from the input they are built for (9216 = 256·6·6 at 227×227).

/// AlexNet as torchvision builds it ("One weird trick", Krizhevsky 2014): 64-192-384-256-256 filters,
/// AdaptiveAvgPool to 6×6, then a dropout classifier 9216-4096-4096-classes. Parameter paths equal
/// torchvision's state-dict keys (`features.0.weight`, `classifier.1.weight`, ...).
///
/// 61,100,840 parameters with 1000 classes; 714,188,480 MACs at 224×224, 716,767,232 at 227×227.
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

/// AlexNet as the 2012 paper describes it: 96-256-384-384-256 filters on a 3×227×227 input, ReLU,
/// local response normalisation (n 5, α 1e-4, β 0.75, k 2, α *not* divided by n) after conv1 and
/// conv2, overlapping 3×3/2 max-pooling, and a dropout classifier 9216-4096-4096-classes.
///
/// `grouped` reproduces the paper's split over two GPUs: conv2, conv4 and conv5 see only the half of
/// the previous layer on their own GPU (`groups: 2`); conv3 and the classifier see both halves.
/// Grouped: 60,965,224 parameters and 724,406,816 MACs; single tower: 62,378,344 parameters and
/// 1,135,256,096 MACs (1000 classes, 227×227). The paper's text says 224×224, but only 227 gives its
/// 55×55 conv1 output.
///
/// Initialisation is the paper's (§5): every weight N(0, 0.01²); biases 1 on conv2, conv4, conv5 and
/// the two hidden fully connected layers (to give ReLUs positive input early on), 0 elsewhere.
///
/// Layout (torchvision-like names): `features` = conv1 0, ReLU 1, LRN 2, pool 3, conv2 4, ReLU 5,
/// LRN 6, pool 7, conv3 8, ReLU 9, conv4 10, ReLU 11, conv5 12, ReLU 13, pool 14; `classifier` =
/// Dropout 0, Linear 1, ReLU 2, Dropout 3, Linear 4, ReLU 5, Linear 6.
public final class AlexNetPaper: Module {
  public let features: Sequential
  public let classifier: Sequential
  /// Whether conv2, conv4 and conv5 use the paper's two-GPU grouping.
  public let grouped: Bool

  /// Creates the paper's AlexNet for `classes` outputs and an RGB input of `inputSize` (227×227 in
  /// the paper). Throws `ZooError.invalidOption` if the input is too small for the network.
  public init(
    classes: Int = 1000, grouped: Bool = true, inputSize: (height: Int, width: Int) = (227, 227),
    dropout: Float = 0.5
  ) throws {
    let groups = grouped ? 2 : 1
    func lrn() -> LocalResponseNorm {
      LocalResponseNorm(size: 5, alpha: 1e-4, beta: 0.75, k: 2, convention: .paper)
    }
    features = Sequential(
      Conv2d(3, 96, kernelSize: 11, stride: 4), ReLU(), lrn(), MaxPool2d(kernelSize: 3, stride: 2),
      Conv2d(96, 256, kernelSize: 5, padding: 2, groups: groups), ReLU(), lrn(),
      MaxPool2d(kernelSize: 3, stride: 2),
      Conv2d(256, 384, kernelSize: 3, padding: 1), ReLU(),
      Conv2d(384, 384, kernelSize: 3, padding: 1, groups: groups), ReLU(),
      Conv2d(384, 256, kernelSize: 3, padding: 1, groups: groups), ReLU(),
      MaxPool2d(kernelSize: 3, stride: 2))
    let name = grouped ? "alexnet-paper" : "alexnet-paper-single"
    let flat = try outputShape(of: [features], input: [3, inputSize.height, inputSize.width], model: name)
    classifier = Sequential(
      Dropout(dropout), Linear(flat.reduce(1, *), 4096), ReLU(),
      Dropout(dropout), Linear(4096, 4096), ReLU(),
      Linear(4096, classes))
    self.grouped = grouped
    super.init()
    register("features", features)
    register("classifier", classifier)
    initializeAsPaper()
  }

  /// §5 of the paper: N(0, 0.01²) weights everywhere; bias 1 on conv2, conv4, conv5, fc6, fc7.
  private func initializeAsPaper() {
    let biasOne: Set<String> = ["features.4", "features.10", "features.12", "classifier.1", "classifier.4"]
    for (path, module) in namedModules() {
      let value: Float = biasOne.contains(path) ? 1 : 0
      if let conv = module as? Conv2d {
        WeightInit.normal(conv.weight, std: 0.01, bias: conv.bias, biasValue: value)
      } else if let linear = module as? Linear {
        WeightInit.normal(linear.weight, std: 0.01, bias: linear.bias, biasValue: value)
      }
    }
  }

  public override func forward(_ input: Tensor) throws -> Tensor {
    try classifier(Functional.flatten(features(input), startDim: 1))
  }
}

/// AlexNet with BatchNorm in place of LRN, as written in a common PyTorch study notebook: 96-256-384-
/// 384-256 single tower on 3×227×227, each stage its own `Sequential` so a state dict saved from that
/// notebook loads unchanged (`conv1.0.weight`, `conv1.3.running_mean`, `fc1.2.weight`, `fc3.0.bias`).
///
/// - `conv1` = Conv(3→96, 11/4), ReLU, MaxPool 3/2, BN(96); `conv2` = Conv(96→256, 5, pad 2), ReLU,
///   MaxPool 3/2, BN(256); `conv3`/`conv4` = Conv(→384, 3, pad 1), ReLU; `conv5` = Conv(384→256, 3,
///   pad 1), ReLU, MaxPool 3/2.
/// - `fc1` = Flatten, Dropout, Linear(9216→4096), ReLU; `fc2` = Dropout, Linear(4096→4096), ReLU;
///   `fc3` = Linear(4096→classes).
///
/// Parameters: 34,944 + 192 + 614,656 + 512 + 885,120 + 1,327,488 + 884,992 + 37,752,832 + 16,781,312
/// + 4,097,000 = 62,379,048 (1000 classes); 1,135,256,096 MACs at 227×227. The notebook ends its
/// `forward` with `log_softmax`; this model returns logits (pair it with cross-entropy).
/// Initialisation is PyTorch's default.
public final class AlexNetBatchNorm: Module {
  public let conv1: Sequential
  public let conv2: Sequential
  public let conv3: Sequential
  public let conv4: Sequential
  public let conv5: Sequential
  public let fc1: Sequential
  public let fc2: Sequential
  public let fc3: Sequential

  /// Creates the BatchNorm AlexNet for `classes` outputs and an RGB input of `inputSize`. Throws
  /// `ZooError.invalidOption` if the input is too small for the network.
  public init(classes: Int = 1000, inputSize: (height: Int, width: Int) = (227, 227), dropout: Float = 0.5)
    throws
  {
    conv1 = Sequential(
      Conv2d(3, 96, kernelSize: 11, stride: 4), ReLU(), MaxPool2d(kernelSize: 3, stride: 2), BatchNorm2d(96))
    conv2 = Sequential(
      Conv2d(96, 256, kernelSize: 5, padding: 2), ReLU(), MaxPool2d(kernelSize: 3, stride: 2),
      BatchNorm2d(256))
    conv3 = Sequential(Conv2d(256, 384, kernelSize: 3, padding: 1), ReLU())
    conv4 = Sequential(Conv2d(384, 384, kernelSize: 3, padding: 1), ReLU())
    conv5 = Sequential(
      Conv2d(384, 256, kernelSize: 3, padding: 1), ReLU(), MaxPool2d(kernelSize: 3, stride: 2))
    let flat = try outputShape(
      of: [conv1, conv2, conv3, conv4, conv5], input: [3, inputSize.height, inputSize.width],
      model: "alexnet-bn")
    fc1 = Sequential(Flatten(), Dropout(dropout), Linear(flat.reduce(1, *), 4096), ReLU())
    fc2 = Sequential(Dropout(dropout), Linear(4096, 4096), ReLU())
    fc3 = Sequential(Linear(4096, classes))
    super.init()
    for (name, stage) in [
      ("conv1", conv1), ("conv2", conv2), ("conv3", conv3), ("conv4", conv4), ("conv5", conv5),
      ("fc1", fc1), ("fc2", fc2), ("fc3", fc3),
    ] {
      register(name, stage)
    }
  }

  public override func forward(_ input: Tensor) throws -> Tensor {
    var x = input
    for stage in [conv1, conv2, conv3, conv4, conv5, fc1, fc2, fc3] { x = try stage(x) }
    return x
  }
}

/// AlexNet without any normalisation, the form most tutorials write: 96-256-384-384-256 single tower
/// on 3×227×227, 3×3/2 max-pooling after conv1, conv2 and conv5, and a classifier with dropout 0.5
/// before its first two `Linear`s. Names follow the usual PyTorch notebook: `layers` (conv 0, 3, 6, 8,
/// 10) and `classifier` (Linear 1, 4, 6).
///
/// 58,322,314 parameters with 10 classes (62,378,344 with 1000); 1,131,201,056 MACs at 227×227 with
/// 10 classes. Initialisation is PyTorch's default.
public final class AlexNetPlain: Module {
  public let layers: Sequential
  public let classifier: Sequential

  /// Creates the plain AlexNet for `classes` outputs and an RGB input of `inputSize`. Throws
  /// `ZooError.invalidOption` if the input is too small for the network.
  public init(classes: Int = 1000, inputSize: (height: Int, width: Int) = (227, 227), dropout: Float = 0.5)
    throws
  {
    layers = Sequential(
      Conv2d(3, 96, kernelSize: 11, stride: 4), ReLU(), MaxPool2d(kernelSize: 3, stride: 2),
      Conv2d(96, 256, kernelSize: 5, padding: 2), ReLU(), MaxPool2d(kernelSize: 3, stride: 2),
      Conv2d(256, 384, kernelSize: 3, padding: 1), ReLU(),
      Conv2d(384, 384, kernelSize: 3, padding: 1), ReLU(),
      Conv2d(384, 256, kernelSize: 3, padding: 1), ReLU(), MaxPool2d(kernelSize: 3, stride: 2))
    let flat = try outputShape(
      of: [layers], input: [3, inputSize.height, inputSize.width], model: "alexnet-plain")
    classifier = Sequential(
      Dropout(dropout), Linear(flat.reduce(1, *), 4096), ReLU(),
      Dropout(dropout), Linear(4096, 4096), ReLU(),
      Linear(4096, classes))
    super.init()
    register("layers", layers)
    register("classifier", classifier)
  }

  public override func forward(_ input: Tensor) throws -> Tensor {
    try classifier(Functional.flatten(layers(input), startDim: 1))
  }
}
