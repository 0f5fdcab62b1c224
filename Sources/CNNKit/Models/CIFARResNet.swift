// ResNets for 32×32 CIFAR images, two widely copied forms:
//
// - `CIFARResNet`: the 6n+2-layer family of He et al., "Deep Residual Learning for Image Recognition"
//   (CVPR 2016, §4.2), with the parameter-free "option A" shortcut. Layout, state-dict keys and
//   initialisation follow Yerlan Idelbayev's `akamaster/pytorch_resnet_cifar10` (`resnet.py`), the
//   implementation most CIFAR tables quote: `conv1`, `bn1`, `layer1.0.conv1`, …, `linear`.
// - `TutorialResNet`: the CIFAR-10 ResNet of yunjey's `pytorch-tutorial`
//   (`tutorials/02-intermediate/deep_residual_network/main.py`): keys `conv`, `bn`, `layer1.0.conv1`,
//   `layer2.0.downsample.0`, `fc`, with 3×3 convolution + BN shortcuts where the shape changes.

/// The "option A" shortcut: `x[:, :, ::stride, ::stride]` with zero channels added on both sides, so
/// a block that halves the resolution and doubles the channels needs no parameters on its identity
/// path. akamaster writes it as a `LambdaLayer` around
/// `F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4))`; this module reports that type
/// name, so summaries list it as PyTorch's hooks do.
public final class ChannelPadShortcut: Module {
  public let inChannels: Int
  public let outChannels: Int
  public let stride: Int

  /// Creates a shortcut from `inChannels` to `outChannels` (at least as many) subsampling by `stride`.
  /// The extra channels are split evenly before and after the input's (the odd one, if any, after):
  /// with twice the channels that is akamaster's `planes // 4` on each side.
  public init(inChannels: Int, outChannels: Int, stride: Int) {
    precondition(outChannels >= inChannels && stride >= 1, "option-A shortcuts only widen and subsample")
    self.inChannels = inChannels
    self.outChannels = outChannels
    self.stride = stride
    super.init()
  }

  /// Zero channels in front of the input's.
  public var padBefore: Int { (outChannels - inChannels) / 2 }

  public override func forward(_ input: Tensor) throws -> Tensor {
    // A 1×1 average pool with stride s picks exactly x[:, :, ::s, ::s] (same output size for odd
    // sizes too), and its backward puts the gradient back at those positions and zero elsewhere.
    let picked =
      stride == 1
      ? input : try Functional.avgPool2d(input, kernel: (1, 1), stride: (stride, stride))
    return try Functional.padChannels(
      picked, before: padBefore, after: outChannels - inChannels - padBefore)
  }

  public override var typeName: String { "LambdaLayer" }
}

/// akamaster's CIFAR `BasicBlock`: 3×3 (stride) → BN → ReLU → 3×3 → BN, plus the shortcut, then
/// ReLU. The ReLUs are functional (`F.relu`), so they are no modules and have no summary rows.
public final class CIFARBasicBlock: Module {
  public let conv1: Conv2d
  public let bn1: BatchNorm2d
  public let conv2: Conv2d
  public let bn2: BatchNorm2d
  /// The option-A shortcut where the block changes shape; nil for the identity (akamaster's empty
  /// `nn.Sequential`, which neither holds weights nor shows in summaries).
  public let shortcut: ChannelPadShortcut?

  /// Creates a block `inplanes` → `planes`, striding in `conv1`.
  public init(inplanes: Int, planes: Int, stride: Int = 1) {
    conv1 = Conv2d(inplanes, planes, kernelSize: 3, stride: stride, padding: 1, bias: false)
    bn1 = BatchNorm2d(planes)
    conv2 = Conv2d(planes, planes, kernelSize: 3, padding: 1, bias: false)
    bn2 = BatchNorm2d(planes)
    shortcut =
      stride != 1 || inplanes != planes
      ? ChannelPadShortcut(inChannels: inplanes, outChannels: planes, stride: stride) : nil
    super.init()
    register("conv1", conv1)
    register("bn1", bn1)
    register("conv2", conv2)
    register("bn2", bn2)
    if let shortcut { register("shortcut", shortcut) }
  }

  public override func forward(_ input: Tensor) throws -> Tensor {
    var out = try Functional.relu(bn1(conv1(input)))
    out = try bn2(conv2(out))
    let identity = try shortcut?(input) ?? input
    return try Functional.relu(Functional.add(out, identity))
  }

  public override var typeName: String { "BasicBlock" }
}

/// The CIFAR ResNets of He et al. 2016 (§4.2): 6n + 2 weighted layers for 32×32 input. A 3×3 stem
/// of 16 channels (BN, ReLU), three stages of n `CIFARBasicBlock`s at 16, 32 and 64 channels (the
/// first block of stages 2 and 3 strides by 2 and widens through a zero-padding shortcut), global
/// average pooling and `linear` 64 → classes.
///
/// With 10 classes: ResNet-20 269,722 parameters, ResNet-32 464,154, ResNet-44 658,586, ResNet-56
/// 853,018, ResNet-110 1,727,962; ResNet-20 does 40,551,040 MACs at 32×32 (convolutions and
/// `linear`; the shortcuts have none).
///
/// Initialisation is akamaster's `_weights_init`: `kaiming_normal_` with PyTorch's defaults (fan-in,
/// gain √2) on every convolution and on `linear`'s weight; `linear`'s bias keeps PyTorch's default
/// U(−1/√64, 1/√64); BatchNorm γ 1, β 0.
public final class CIFARResNet: Module {
  /// The depths of the paper's CIFAR-10 table (n = 3, 5, 7, 9, 18).
  public static let depths = [20, 32, 44, 56, 110]

  /// Blocks per stage (n).
  public let blocksPerStage: Int
  public let conv1: Conv2d
  public let bn1: BatchNorm2d
  public let layer1: Sequential
  public let layer2: Sequential
  public let layer3: Sequential
  public let linear: Linear

  /// Creates the network with `blocksPerStage` (n ≥ 1) basic blocks per stage, for RGB input.
  public init(blocksPerStage: Int, classes: Int = 10) {
    precondition(blocksPerStage >= 1, "a CIFAR ResNet needs at least one block per stage")
    self.blocksPerStage = blocksPerStage
    conv1 = Conv2d(3, 16, kernelSize: 3, padding: 1, bias: false)
    bn1 = BatchNorm2d(16)
    var inplanes = 16
    layer1 = CIFARResNet.makeLayer(inplanes: &inplanes, planes: 16, blocks: blocksPerStage, stride: 1)
    layer2 = CIFARResNet.makeLayer(inplanes: &inplanes, planes: 32, blocks: blocksPerStage, stride: 2)
    layer3 = CIFARResNet.makeLayer(inplanes: &inplanes, planes: 64, blocks: blocksPerStage, stride: 2)
    linear = Linear(64, classes)
    super.init()
    for (name, module) in [
      ("conv1", conv1), ("bn1", bn1), ("layer1", layer1), ("layer2", layer2), ("layer3", layer3),
      ("linear", linear),
    ] as [(String, Module)] {
      register(name, module)
    }
    for (_, module) in namedModules() {
      if let conv = module as? Conv2d {
        WeightInit.kaimingNormalFanIn(conv.weight)
      } else if let fc = module as? Linear {
        WeightInit.kaimingNormalFanIn(fc.weight)
      }
    }
  }

  /// Creates ResNet-`depth` for any depth 6n + 2 with n ≥ 1 (the paper's 20 … 110, or 1202); throws
  /// `ZooError.invalidOption` for another.
  public convenience init(depth: Int, classes: Int = 10) throws {
    guard depth >= 8, (depth - 2) % 6 == 0 else {
      throw ZooError.invalidOption(
        "a CIFAR ResNet's depth must be 6n + 2 (20, 32, 44, 56, 110, …), got \(depth)")
    }
    self.init(blocksPerStage: (depth - 2) / 6, classes: classes)
  }

  /// akamaster's `_make_layer`: `blocks` blocks of `planes`, the first one striding.
  static func makeLayer(inplanes: inout Int, planes: Int, blocks: Int, stride: Int) -> Sequential {
    var layers: [Module] = []
    for index in 0..<blocks {
      layers.append(CIFARBasicBlock(inplanes: inplanes, planes: planes, stride: index == 0 ? stride : 1))
      inplanes = planes
    }
    return Sequential(layers)
  }

  public override func forward(_ input: Tensor) throws -> Tensor {
    var x = try Functional.relu(bn1(conv1(input)))
    for stage in [layer1, layer2, layer3] { x = try stage(x) }
    // akamaster pools with `F.avg_pool2d(out, out.size()[3])`: the whole map for square input. A
    // global average says the same and also holds for other aspect ratios.
    x = try Functional.adaptiveAvgPool2d(x, outputSize: (1, 1))
    return try linear(Functional.flatten(x, startDim: 1))
  }

  public override var typeName: String { "ResNet" }
}

/// The CIFAR-10 ResNet of pytorch-tutorial: `conv` 3×3 → 16 (no bias), `bn`, `relu`, `layer1` …
/// `layer3` of two `ResidualBlock`s (a `BasicBlock` by that name; its `downsample` is a 3×3 convolution + BN) at 16, 32 and 64 channels (strides 1, 2, 2), `avg_pool`
/// (`AvgPool2d(8)`) and `fc`. Every convolution is the tutorial's `conv3x3` (bias=False), so at
/// 32×32 with 10 classes it has 195,738 parameters: 464 stem, 9,344 + 37,184 + 148,096 in the
/// stages (the two 3×3 downsample shortcuts hold 4,672 and 18,560 of those) and 650 in `fc`.
///
/// Initialisation is PyTorch's default, as the tutorial leaves it. `fc` takes 64 features at 32×32 as
/// in the tutorial; for a larger input the 8×8 pool leaves a bigger map and `fc` is sized to it.
public final class TutorialResNet: Module {
  public let conv: Conv2d
  public let bn: BatchNorm2d
  public let relu: ReLU
  public let layer1: Sequential
  public let layer2: Sequential
  public let layer3: Sequential
  public let avgPool: AvgPool2d
  public let fc: Linear

  /// Creates the network for RGB input of `inputSize` (H, W); an input whose last stage is under
  /// 8×8 (below 29×29) throws `ZooError.invalidOption`.
  public init(layers: [Int] = [2, 2, 2], classes: Int = 10, inputSize: (Int, Int) = (32, 32)) throws {
    precondition(layers.count == 3 && layers.allSatisfy { $0 > 0 }, "three positive block counts")
    conv = Conv2d(3, 16, kernelSize: 3, padding: 1, bias: false)
    bn = BatchNorm2d(16)
    relu = ReLU()
    var channels = 16
    layer1 = TutorialResNet.makeLayer(inChannels: &channels, outChannels: 16, blocks: layers[0], stride: 1)
    layer2 = TutorialResNet.makeLayer(inChannels: &channels, outChannels: 32, blocks: layers[1], stride: 2)
    layer3 = TutorialResNet.makeLayer(inChannels: &channels, outChannels: 64, blocks: layers[2], stride: 2)
    avgPool = AvgPool2d(kernelSize: 8)
    let pooled = try outputShape(
      of: [conv, bn, relu, layer1, layer2, layer3, avgPool], input: [3, inputSize.0, inputSize.1],
      model: "resnet-tutorial")
    fc = Linear(pooled.reduce(1, *), classes)
    super.init()
    for (name, module) in [
      ("conv", conv), ("bn", bn), ("relu", relu), ("layer1", layer1), ("layer2", layer2),
      ("layer3", layer3), ("avg_pool", avgPool), ("fc", fc),
    ] as [(String, Module)] {
      register(name, module)
    }
  }

  /// The tutorial's `make_layer`: a 3×3 conv + BN `downsample` on the first block when it strides or
  /// changes the channel count.
  static func makeLayer(inChannels: inout Int, outChannels: Int, blocks: Int, stride: Int) -> Sequential {
    var downsample: Sequential? = nil
    if stride != 1 || inChannels != outChannels {
      downsample = Sequential(
        Conv2d(inChannels, outChannels, kernelSize: 3, stride: stride, padding: 1, bias: false),
        BatchNorm2d(outChannels))
    }
    var layers: [Module] = [
      // The tutorial's `ResidualBlock` is torchvision's `BasicBlock` under another name.
      BasicBlock(
        inplanes: inChannels, planes: outChannels, stride: stride, downsample: downsample,
        typeName: "ResidualBlock")
    ]
    inChannels = outChannels
    for _ in 1..<blocks {
      layers.append(BasicBlock(inplanes: outChannels, planes: outChannels, typeName: "ResidualBlock"))
    }
    return Sequential(layers)
  }

  public override func forward(_ input: Tensor) throws -> Tensor {
    var x = try relu(bn(conv(input)))
    for stage in [layer1, layer2, layer3] { x = try stage(x) }
    return try fc(Functional.flatten(avgPool(x), startDim: 1))
  }

  public override var typeName: String { "ResNet" }
}
