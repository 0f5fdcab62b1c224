// Shared pieces of the zoo's models: the "models are data" layer lists, sizing of the first fully
// connected layer from the input, and the `torch.nn.init` schemes the papers and torchvision use.

/// One entry of a torchvision-style `cfg` list: a 3×3 convolution (padding 1) with that many output
/// channels, followed by BatchNorm (optionally) and ReLU; or a 2×2 max-pool with stride 2.
///
/// Integer literals are convolutions, so a list reads like torchvision's: `[64, .maxPool, 128, ...]`.
public enum FeatureLayer: Equatable, Sendable, ExpressibleByIntegerLiteral {
  /// 3×3 convolution, padding 1, with this many output channels, then [BatchNorm2d] and ReLU.
  case conv(Int)
  /// 2×2 max-pool, stride 2 (torchvision's `"M"`).
  case maxPool

  /// An integer in a `cfg` list is a convolution with that many output channels.
  public init(integerLiteral channels: Int) { self = .conv(channels) }

  /// Builds the layers of `configuration` as one `Sequential`, torchvision's `make_layers`: conv,
  /// [BN], ReLU per convolution, so with BatchNorm the convolutions sit at indices 0, 3, 7, ...
  public static func makeLayers(_ configuration: [FeatureLayer], inChannels: Int, batchNorm: Bool)
    -> Sequential
  {
    var layers: [Module] = []
    var channels = inChannels
    for entry in configuration {
      switch entry {
      case .maxPool:
        layers.append(MaxPool2d(kernelSize: 2, stride: 2))
      case .conv(let width):
        layers.append(Conv2d(channels, width, kernelSize: 3, padding: 1))
        if batchNorm { layers.append(BatchNorm2d(width)) }
        layers.append(ReLU())
        channels = width
      }
    }
    return Sequential(layers)
  }
}

/// Output shape (C, H, W) of running `stages` in order on one input of shape `input` (C, H, W).
///
/// Runs on a shape-only tensor, so nothing is computed; this is how models with a plain `Flatten`
/// size their first `Linear` for the input they were asked to take. An input too small for a kernel
/// or pooling window becomes a `ZooError.invalidOption` that names `model` and the layer.
func outputShape(of stages: [Module], input: [Int], model: String) throws -> [Int] {
  do {
    // A silent observer keeps this probe out of any trace that may be running around it.
    let output = try ModuleCallObserver().observing { () throws -> Tensor in
      var x = Tensor(metaShape: [1] + input)
      for stage in stages { x = try stage(x) }
      return x
    }
    return Array(output.shape.dropFirst())
  } catch let error as TensorError {
    throw ZooError.invalidOption(
      "\(model): input \(shapeText(input)) is too small for this network (\(error))")
  }
}

/// `3×224×224`.
func shapeText(_ shape: [Int]) -> String { shape.map(String.init).joined(separator: "×") }

/// The initialisation schemes of `torch.nn.init` the zoo needs, drawn from `GlobalRandom`.
enum WeightInit {
  /// `kaiming_normal_(w, mode="fan_out", nonlinearity="relu")`: N(0, 2 / fan_out) with PyTorch's
  /// fan_out = out_channels · kh · kw (groups ignored, as PyTorch does); the bias, if any, becomes 0.
  static func kaimingNormalFanOut(_ conv: Conv2d) {
    let fanOut = conv.outChannels * conv.kernelSize.0 * conv.kernelSize.1
    let std = (2 / Float(fanOut)).squareRoot()
    GlobalRandom.with { rng in conv.weight.fillNormal(std: std, using: &rng) }
    conv.bias?.fill(0)
  }

  /// `kaiming_normal_(w)` with PyTorch's defaults (mode "fan_in", `leaky_relu` with a = 0, so gain
  /// √2): N(0, 2 / fan_in), fan_in being the weight's elements per output (in_channels/groups · kh · kw
  /// for a convolution, in_features for a linear layer). Biases are left as they are.
  static func kaimingNormalFanIn(_ weight: Tensor) {
    let fanIn = weight.count / max(weight.shape[0], 1)
    let std = (2 / Float(fanIn)).squareRoot()
    GlobalRandom.with { rng in weight.fillNormal(std: std, using: &rng) }
  }

  /// Weight N(0, std²) and a constant bias, as the AlexNet paper and torchvision's VGG classifier do.
  static func normal(_ weight: Tensor, std: Float, bias: Tensor?, biasValue: Float = 0) {
    GlobalRandom.with { rng in weight.fillNormal(std: std, using: &rng) }
    bias?.fill(biasValue)
  }

  /// torchvision's VGG/ResNet scheme over every module of `model` in registration order: Kaiming
  /// (fan-out) for convolutions, γ = 1 and β = 0 for BatchNorm, and for `Linear` either N(0, 0.01)
  /// with bias 0 (`linearStd`) or PyTorch's default, left as constructed (nil).
  static func torchvision(_ model: Module, linearStd: Float?) {
    for (_, module) in model.namedModules() {
      if let conv = module as? Conv2d {
        kaimingNormalFanOut(conv)
      } else if let norm = module as? BatchNorm2d {
        norm.weight.fill(1)
        norm.bias.fill(0)
      } else if let linear = module as? Linear, let std = linearStd {
        normal(linear.weight, std: std, bias: linear.bias)
      }
    }
  }
}
