// ResNet: K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image Recognition", CVPR 2016
// (arXiv:1512.03385). Layout and initialisation follow torchvision's `resnet.py` (ResNet v1.5: a
// Bottleneck downsamples in its 3×3 convolution, not its first 1×1), so parameter paths are
// torchvision's state-dict keys: `layer1.0.bn1.running_mean`, `layer2.0.downsample.0.weight`, ...

/// A residual block type that `ResNet.makeLayer` can stack.
public protocol ResidualBlock: Module {
  /// Output channels per `planes` (1 for `BasicBlock`, 4 for `Bottleneck`).
  static var expansion: Int { get }
  /// Creates a block taking `inplanes` channels to `planes · expansion`, downsampling by `stride`;
  /// `downsample` (1×1 conv + BN) reshapes the shortcut when the shapes differ.
  init(inplanes: Int, planes: Int, stride: Int, downsample: Sequential?)
}

/// The two-convolution block of ResNet-18/34: 3×3 (stride) → BN → ReLU → 3×3 → BN, plus the shortcut,
/// then ReLU. One `relu` module is called twice, as in torchvision.
public final class BasicBlock: Module, ResidualBlock {
  /// Output channels equal `planes`.
  public static let expansion = 1
  public let conv1: Conv2d
  public let bn1: BatchNorm2d
  public let relu: ReLU
  public let conv2: Conv2d
  public let bn2: BatchNorm2d
  /// Shortcut projection (1×1 conv + BN) when the block changes shape; nil for identity.
  public let downsample: Sequential?

  private let displayName: String

  /// Creates a basic block `inplanes` → `planes`, striding in `conv1`.
  public convenience init(inplanes: Int, planes: Int, stride: Int = 1, downsample: Sequential? = nil) {
    self.init(
      inplanes: inplanes, planes: planes, stride: stride, downsample: downsample, typeName: "BasicBlock")
  }

  /// A basic block that summaries list as `typeName` (pytorch-tutorial calls the same block
  /// `ResidualBlock`).
  public init(inplanes: Int, planes: Int, stride: Int = 1, downsample: Sequential? = nil, typeName: String) {
    displayName = typeName
    conv1 = Conv2d(inplanes, planes, kernelSize: 3, stride: stride, padding: 1, bias: false)
    bn1 = BatchNorm2d(planes)
    relu = ReLU()
    conv2 = Conv2d(planes, planes, kernelSize: 3, padding: 1, bias: false)
    bn2 = BatchNorm2d(planes)
    self.downsample = downsample
    super.init()
    // torchvision's attribute order (what `print(model)` lists).
    register("conv1", conv1)
    register("bn1", bn1)
    register("relu", relu)
    register("conv2", conv2)
    register("bn2", bn2)
    if let downsample { register("downsample", downsample) }
  }

  public override func forward(_ input: Tensor) throws -> Tensor {
    var out = try relu(bn1(conv1(input)))
    out = try bn2(conv2(out))
    // The shortcut runs after the main path, as in torchvision, so traces list calls in its order.
    let identity = try downsample?(input) ?? input
    return try relu(Functional.add(out, identity))
  }

  public override var typeName: String { displayName }
}

/// The bottleneck block of ResNet-50/101/152: 1×1 → BN → ReLU → 3×3 (stride) → BN → ReLU → 1×1 (×4
/// channels) → BN, plus the shortcut, then ReLU. One `relu` module is called three times.
public final class Bottleneck: Module, ResidualBlock {
  /// Output channels are 4 · `planes`.
  public static let expansion = 4
  public let conv1: Conv2d
  public let bn1: BatchNorm2d
  public let conv2: Conv2d
  public let bn2: BatchNorm2d
  public let conv3: Conv2d
  public let bn3: BatchNorm2d
  public let relu: ReLU
  /// Shortcut projection (1×1 conv + BN) when the block changes shape; nil for identity.
  public let downsample: Sequential?

  /// Creates a bottleneck block `inplanes` → 4 · `planes`, striding in `conv2` (v1.5).
  public init(inplanes: Int, planes: Int, stride: Int = 1, downsample: Sequential? = nil) {
    conv1 = Conv2d(inplanes, planes, kernelSize: 1, bias: false)
    bn1 = BatchNorm2d(planes)
    conv2 = Conv2d(planes, planes, kernelSize: 3, stride: stride, padding: 1, bias: false)
    bn2 = BatchNorm2d(planes)
    conv3 = Conv2d(planes, planes * Bottleneck.expansion, kernelSize: 1, bias: false)
    bn3 = BatchNorm2d(planes * Bottleneck.expansion)
    relu = ReLU()
    self.downsample = downsample
    super.init()
    for (name, module) in [
      ("conv1", conv1), ("bn1", bn1), ("conv2", conv2), ("bn2", bn2), ("conv3", conv3), ("bn3", bn3),
      ("relu", relu),
    ] as [(String, Module)] {
      register(name, module)
    }
    if let downsample { register("downsample", downsample) }
  }

  public override func forward(_ input: Tensor) throws -> Tensor {
    var out = try relu(bn1(conv1(input)))
    out = try relu(bn2(conv2(out)))
    out = try bn3(conv3(out))
    let identity = try downsample?(input) ?? input
    return try relu(Functional.add(out, identity))
  }
}

/// ResNet in torchvision's layout: `conv1` 7×7/2 (no bias), `bn1`, `relu`, `maxpool` 3×3/2 pad 1,
/// `layer1`…`layer4` (64, 128, 256, 512 planes; strides 1, 2, 2, 2), `avgpool` to 1×1, `fc`.
///
/// Initialisation is torchvision's: convolutions Kaiming-normal (fan-out, ReLU), BatchNorm γ 1 β 0,
/// `fc` PyTorch's default. At 224×224 with 1000 classes: ResNet-18 11,689,512 parameters and
/// 1,814,073,344 MACs; ResNet-50 25,557,032 and 4,089,184,256.
public final class ResNet: Module {
  /// Block type and blocks per stage for each depth torchvision ships.
  public static let depths: [Int: (block: any ResidualBlock.Type, layers: [Int])] = [
    18: (BasicBlock.self, [2, 2, 2, 2]),
    34: (BasicBlock.self, [3, 4, 6, 3]),
    50: (Bottleneck.self, [3, 4, 6, 3]),
    101: (Bottleneck.self, [3, 4, 23, 3]),
    152: (Bottleneck.self, [3, 8, 36, 3]),
  ]

  public let conv1: Conv2d
  public let bn1: BatchNorm2d
  public let relu: ReLU
  public let maxpool: MaxPool2d
  public let layer1: Sequential
  public let layer2: Sequential
  public let layer3: Sequential
  public let layer4: Sequential
  public let avgpool: AdaptiveAvgPool2d
  public let fc: Linear

  /// Creates a ResNet of `block`s with `layers[i]` blocks in stage i (four stages), for RGB input.
  public init(block: any ResidualBlock.Type, layers: [Int], classes: Int = 1000) {
    precondition(layers.count == 4 && layers.allSatisfy { $0 > 0 }, "ResNet needs four positive block counts")
    conv1 = Conv2d(3, 64, kernelSize: 7, stride: 2, padding: 3, bias: false)
    bn1 = BatchNorm2d(64)
    relu = ReLU()
    maxpool = MaxPool2d(kernelSize: 3, stride: 2, padding: 1)
    var inplanes = 64
    layer1 = ResNet.makeLayer(block, inplanes: &inplanes, planes: 64, blocks: layers[0], stride: 1)
    layer2 = ResNet.makeLayer(block, inplanes: &inplanes, planes: 128, blocks: layers[1], stride: 2)
    layer3 = ResNet.makeLayer(block, inplanes: &inplanes, planes: 256, blocks: layers[2], stride: 2)
    layer4 = ResNet.makeLayer(block, inplanes: &inplanes, planes: 512, blocks: layers[3], stride: 2)
    avgpool = AdaptiveAvgPool2d(1)
    fc = Linear(512 * block.expansion, classes)
    super.init()
    for (name, module) in [
      ("conv1", conv1), ("bn1", bn1), ("relu", relu), ("maxpool", maxpool), ("layer1", layer1),
      ("layer2", layer2), ("layer3", layer3), ("layer4", layer4), ("avgpool", avgpool), ("fc", fc),
    ] as [(String, Module)] {
      register(name, module)
    }
    WeightInit.torchvision(self, linearStd: nil)
  }

  /// Creates ResNet-`depth` (18, 34, 50, 101 or 152); throws `ZooError.invalidOption` for another.
  public convenience init(depth: Int, classes: Int = 1000) throws {
    guard let spec = ResNet.depths[depth] else {
      throw ZooError.invalidOption("ResNet depth must be 18, 34, 50, 101 or 152, got \(depth)")
    }
    self.init(block: spec.block, layers: spec.layers, classes: classes)
  }

  /// torchvision's `_make_layer`: `blocks` blocks of `planes`; the first one strides and, when the
  /// shape changes, gets a `downsample` shortcut (1×1 conv with that stride, then BN).
  public static func makeLayer(
    _ block: any ResidualBlock.Type, inplanes: inout Int, planes: Int, blocks: Int, stride: Int
  ) -> Sequential {
    let outChannels = planes * block.expansion
    var downsample: Sequential? = nil
    if stride != 1 || inplanes != outChannels {
      downsample = Sequential(
        Conv2d(inplanes, outChannels, kernelSize: 1, stride: stride, bias: false), BatchNorm2d(outChannels))
    }
    var layers: [Module] = [
      block.init(inplanes: inplanes, planes: planes, stride: stride, downsample: downsample)
    ]
    inplanes = outChannels
    for _ in 1..<blocks {
      layers.append(block.init(inplanes: inplanes, planes: planes, stride: 1, downsample: nil))
    }
    return Sequential(layers)
  }

  public override func forward(_ input: Tensor) throws -> Tensor {
    var x = try maxpool(relu(bn1(conv1(input))))
    for stage in [layer1, layer2, layer3, layer4] { x = try stage(x) }
    return try fc(Functional.flatten(avgpool(x), startDim: 1))
  }
}
