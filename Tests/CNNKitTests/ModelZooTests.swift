import CNNKit
import XCTest

/// Parameter counts, MACs, state-dict names and initialisation of every zoo model.
///
/// MACs are conv + linear multiply-accumulates without bias (torchvision's "GFLOPS"), from
/// `ModelTrace` at batch 1. Big models are built once each, in `testEveryZooModel`, which also runs
/// the name-specific checks in `checks` on the model it built.
final class ModelZooTests: XCTestCase {
  struct Figures {
    let parameters: Int
    let macs: Int
  }

  /// Every zoo model at its default input and class count.
  static let figures: [String: Figures] = [
    // 156 + 2,416 + 48,120 + 10,164 + 850; MACs 28·28·6·25 + 10·10·16·150 + 400·120 + 120·84 + 84·10.
    "lenet5": Figures(parameters: 61_706, macs: 416_520),
    // reference.md, torchvision table.
    "alexnet": Figures(parameters: 61_100_840, macs: 714_188_480),
    // reference.md, paper AlexNet (grouped and single tower).
    "alexnet-paper": Figures(parameters: 60_965_224, macs: 724_406_816),
    "alexnet-paper-single": Figures(parameters: 62_378_344, macs: 1_135_256_096),
    // Single tower + BN(96) 192 + BN(256) 512; BN adds no MACs.
    "alexnet-bn": Figures(parameters: 62_379_048, macs: 1_135_256_096),
    // The single tower without LRN: same parameters and MACs.
    "alexnet-plain": Figures(parameters: 62_378_344, macs: 1_135_256_096),
    // Layer tables in AlexNetSmall.swift: conv (k·k·in + 1)·out, MACs H·W·out·k·k·in; linear in·out (+out).
    // 240 + 13,888 + 55,392 + 83,040 + 55,360 + 147,712 + 65,792 + 2,570.
    "alexnet-mnist": Figures(parameters: 423_994, macs: 12_577_664),
    // 1,344 + 55,424 + 221,376 + 331,968 + 221,312 + 1,049,088 + 262,656 + 5,130.
    "alexnet-cifar": Figures(parameters: 2_148_298, macs: 66_343_936),
    // reference.md, torchvision table (BN variants: same MACs, BN adds no multiply-accumulates).
    "vgg11": Figures(parameters: 132_863_336, macs: 7_609_090_048),
    "vgg13": Figures(parameters: 133_047_848, macs: 11_308_466_176),
    "vgg16": Figures(parameters: 138_357_544, macs: 15_470_264_320),
    "vgg19": Figures(parameters: 143_667_240, macs: 19_632_062_464),
    "vgg11_bn": Figures(parameters: 132_868_840, macs: 7_609_090_048),
    "vgg13_bn": Figures(parameters: 133_053_736, macs: 11_308_466_176),
    "vgg16_bn": Figures(parameters: 138_365_992, macs: 15_470_264_320),
    "vgg19_bn": Figures(parameters: 143_678_248, macs: 19_632_062_464),
    // CIFAR head: features = torchvision count − its classifier (102,764,544 + 16,781,312 + 4,097,000 =
    // 123,642,856), plus 262,656 + 262,656 + 5,130 = 530,442. MACs: every feature map is 7× smaller
    // per side than at 224, so features = (torchvision MACs − 123,633,664) / 49, plus 262,144 + 262,144
    // + 5,120 = 529,408. E.g. VGG-11: 9,220,480 + 530,442; 152,764,416 + 529,408.
    "vgg11-cifar": Figures(parameters: 9_750_922, macs: 153_293_824),
    "vgg13-cifar": Figures(parameters: 9_935_434, macs: 228_791_296),
    "vgg16-cifar": Figures(parameters: 15_245_130, macs: 313_725_952),
    "vgg19-cifar": Figures(parameters: 20_554_826, macs: 398_660_608),
    // Plus the BN parameters, the same per depth as for the ImageNet models (5,504 / 5,888 / 8,448 / 11,008).
    "vgg11_bn-cifar": Figures(parameters: 9_756_426, macs: 153_293_824),
    "vgg13_bn-cifar": Figures(parameters: 9_941_322, macs: 228_791_296),
    "vgg16_bn-cifar": Figures(parameters: 15_253_578, macs: 313_725_952),
    "vgg19_bn-cifar": Figures(parameters: 20_565_834, macs: 398_660_608),
    // reference.md, torchvision table.
    "resnet18": Figures(parameters: 11_689_512, macs: 1_814_073_344),
    "resnet34": Figures(parameters: 21_797_672, macs: 3_663_761_408),
    "resnet50": Figures(parameters: 25_557_032, macs: 4_089_184_256),
    "resnet101": Figures(parameters: 44_549_160, macs: 7_801_405_440),
    "resnet152": Figures(parameters: 60_192_808, macs: 11_513_626_624),
    // CIFAR ResNet-(6n+2), 10 classes: 97,216·n − 21,926 parameters (stem 464 + linear 650; stage
    // blocks 4,672 / 18,560 / 73,984; the first block of stages 2 and 3 13,952 and 55,552). MACs: the
    // stem 442,368, 6n − 1 convolutions' worth of 2,359,296 (every 3×3 conv past the stem does that
    // much, the two strided ones that widen half), linear 640.
    "resnet20": Figures(parameters: 269_722, macs: 40_551_040),
    "resnet32": Figures(parameters: 464_154, macs: 68_862_592),
    "resnet44": Figures(parameters: 658_586, macs: 97_174_144),
    "resnet56": Figures(parameters: 853_018, macs: 125_485_696),
    "resnet110": Figures(parameters: 1_727_962, macs: 252_887_680),
    // 464 + 9,344 + 37,184 + 148,096 + 650 (torchsummary's total); MACs: stem 442,368, each stage
    // 4 × 2,359,296 (the 3×3 downsample convs count), fc 640.
    "resnet-tutorial": Figures(parameters: 195_738, macs: 28_754_560),
  ]

  /// Extra checks on the model `testEveryZooModel` built for `name`.
  func runChecks(for name: String, on model: Module) throws {
    switch name {
    case "alexnet": try checkAlexNetKeys(model)
    case "alexnet-paper": try checkPaperInitialization(model)
    case "alexnet-bn": try checkBatchNormAlexNetKeys(model)
    case "vgg11": try checkVGGInitialization(model)
    case "vgg16": try checkVGG16Keys(model)
    case "vgg16_bn": try checkVGG16BatchNormKeys(model)
    case "resnet18": try checkResNet18(model)
    case "resnet50": try checkResNet50(model)
    default: break
    }
  }

  func testEveryZooModel() throws {
    XCTAssertEqual(Set(Zoo.names), Set(Self.figures.keys), "every zoo model needs its figures")
    XCTAssertEqual(Zoo.names.count, Set(Zoo.names).count, "duplicate zoo names")
    for entry in Zoo.entries {
      let model = try entry.build(entry.defaultClasses, entry.defaultInput)
      let trace = try ModelTrace(model: model, inputShape: [1] + entry.defaultInput)
      XCTAssertEqual(trace.outputShape, [1, entry.defaultClasses], entry.name)
      if let expected = Self.figures[entry.name] {
        XCTAssertEqual(model.parameterCount, expected.parameters, "\(entry.name) parameters")
        XCTAssertEqual(trace.totalMultiplyAccumulates, expected.macs, "\(entry.name) MACs")
      }
      try runChecks(for: entry.name, on: model)
    }
  }

  func testEntriesDescribeThemselves() {
    XCTAssertEqual(Zoo.names.first, "lenet5")
    for name in ["alexnet-mnist", "vgg16-cifar", "vgg19_bn-cifar", "resnet152"] {
      XCTAssertTrue(Zoo.names.contains(name), name)
    }
    for entry in Zoo.entries {
      XCTAssertFalse(entry.summary.isEmpty, entry.name)
      XCTAssertFalse(entry.summary.contains("\n"), entry.name)
      XCTAssertEqual(entry.defaultInput.count, 3, entry.name)
    }
    XCTAssertEqual(try Zoo.entry(named: "alexnet-cifar").defaultInput, [3, 32, 32])
    XCTAssertEqual(try Zoo.entry(named: "alexnet-mnist").defaultInput, [1, 28, 28])
    XCTAssertEqual(try Zoo.entry(named: "alexnet-paper").defaultInput, [3, 227, 227])
    XCTAssertEqual(try Zoo.entry(named: "vgg16-cifar").defaultClasses, 10)
  }

  // MARK: - AlexNet variants

  func testTorchvisionAlexNetAt227() throws {
    let model = try Zoo.build("alexnet", input: [3, 227, 227])
    XCTAssertEqual(model.parameterCount, 61_100_840)
    XCTAssertEqual(
      try ModelTrace(model: model, inputShape: [1, 3, 227, 227]).totalMultiplyAccumulates, 716_767_232)
  }

  func testPlainAlexNetWithTenClasses() throws {
    // Seed 004's Keras total: 3,747,200 conv + 37,752,832 + 16,781,312 + 40,970.
    let model = try Zoo.build("alexnet-plain", classes: 10)
    XCTAssertEqual(model.parameterCount, 58_322_314)
    XCTAssertEqual(
      model.stateDict().map(\.name),
      ["0", "3", "6", "8", "10"].flatMap { ["layers.\($0).weight", "layers.\($0).bias"] }
        + ["1", "4", "6"].flatMap { ["classifier.\($0).weight", "classifier.\($0).bias"] })
    XCTAssertTrue((model as? AlexNetPlain)?.classifier[0] is Dropout)
    XCTAssertTrue((model as? AlexNetPlain)?.classifier[3] is Dropout)
    XCTAssertEqual(try ModelTrace(model: model, inputShape: [1, 3, 227, 227]).outputShape, [1, 10])
  }

  func checkAlexNetKeys(_ model: Module) throws {
    let expected: [(String, [Int])] = [
      ("features.0.weight", [64, 3, 11, 11]), ("features.0.bias", [64]),
      ("features.3.weight", [192, 64, 5, 5]), ("features.3.bias", [192]),
      ("features.6.weight", [384, 192, 3, 3]), ("features.6.bias", [384]),
      ("features.8.weight", [256, 384, 3, 3]), ("features.8.bias", [256]),
      ("features.10.weight", [256, 256, 3, 3]), ("features.10.bias", [256]),
      ("classifier.1.weight", [4096, 9216]), ("classifier.1.bias", [4096]),
      ("classifier.4.weight", [4096, 4096]), ("classifier.4.bias", [4096]),
      ("classifier.6.weight", [1000, 4096]), ("classifier.6.bias", [1000]),
    ]
    let state = model.stateDict()
    XCTAssertEqual(state.map(\.name), expected.map(\.0))
    XCTAssertEqual(state.map(\.tensor.shape), expected.map(\.1))
  }

  func checkPaperInitialization(_ model: Module) throws {
    let state = Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.name, $0.tensor) })
    XCTAssertEqual(state.count, 16)
    XCTAssertEqual(state["features.4.weight"]?.shape, [256, 48, 5, 5], "conv2 is grouped")
    XCTAssertEqual(state["features.10.weight"]?.shape, [384, 192, 3, 3], "conv4 is grouped")
    XCTAssertEqual(state["features.12.weight"]?.shape, [256, 192, 3, 3], "conv5 is grouped")
    XCTAssertEqual(state["features.8.weight"]?.shape, [384, 256, 3, 3], "conv3 sees both towers")
    // §5: biases 1 on conv2, conv4, conv5 and the hidden FC layers, 0 on conv1, conv3 and the output.
    for (path, value) in [
      ("features.0", 0), ("features.4", 1), ("features.8", 0), ("features.10", 1), ("features.12", 1),
      ("classifier.1", 1), ("classifier.4", 1), ("classifier.6", 0),
    ] as [(String, Float)] {
      let bias = try XCTUnwrap(state[path + ".bias"], path)
      XCTAssertTrue(bias.scalars.allSatisfy { $0 == value }, "\(path).bias should be all \(value)")
    }
    // Weights N(0, 0.01²): the sample std of 16.8M (fc7) and 885k (conv3) draws is within 1%.
    for path in ["classifier.4.weight", "features.8.weight", "features.0.weight"] {
      let (mean, std) = Self.moments(try XCTUnwrap(state[path]))
      XCTAssertEqual(std, 0.01, accuracy: path == "features.0.weight" ? 3e-4 : 1e-4, path)
      XCTAssertEqual(mean, 0, accuracy: 2e-4, path)
    }
    let lrn = try XCTUnwrap((model as? AlexNetPaper)?.features[2] as? LocalResponseNorm)
    XCTAssertEqual(lrn.convention, .paper)
    XCTAssertEqual([lrn.alpha, lrn.beta, lrn.k], [1e-4, 0.75, 2])
    XCTAssertEqual(lrn.size, 5)
  }

  func testPaperInitializationIsSeeded() throws {
    GlobalRandom.manualSeed(7)
    let first = try AlexNetPaper(classes: 3, grouped: false, inputSize: (67, 67))
    GlobalRandom.manualSeed(7)
    let second = try AlexNetPaper(classes: 3, grouped: false, inputSize: (67, 67))
    // 67×67 → 15 → 7 → 7 → 3 → 3 → 1: flatten width 256.
    XCTAssertEqual((first.classifier[1] as? Linear)?.inFeatures, 256)
    for (a, b) in zip(first.parameters(), second.parameters()) { XCTAssertEqual(a.scalars, b.scalars) }
  }

  func checkBatchNormAlexNetKeys(_ model: Module) throws {
    let state = model.stateDict()
    // Seed 000's torchsummary rows, per layer.
    let counts: [(String, Int)] = [
      ("conv1.0", 34_944), ("conv1.3", 192), ("conv2.0", 614_656), ("conv2.3", 512), ("conv3.0", 885_120),
      ("conv4.0", 1_327_488), ("conv5.0", 884_992), ("fc1.2", 37_752_832), ("fc2.1", 16_781_312),
      ("fc3.0", 4_097_000),
    ]
    let parameters = model.namedParameters()
    for (prefix, count) in counts {
      let owned = parameters.filter { $0.name.hasPrefix(prefix + ".") }.reduce(0) { $0 + $1.tensor.count }
      XCTAssertEqual(owned, count, prefix)
    }
    XCTAssertEqual(parameters.count, 20)
    XCTAssertEqual(
      Array(state.map(\.name).prefix(7)),
      [
        "conv1.0.weight", "conv1.0.bias", "conv1.3.weight", "conv1.3.bias", "conv1.3.running_mean",
        "conv1.3.running_var", "conv1.3.num_batches_tracked",
      ])
    let names = Set(state.map(\.name))
    for key in ["conv2.3.running_var", "conv5.0.weight", "fc1.2.weight", "fc2.1.bias", "fc3.0.weight"] {
      XCTAssertTrue(names.contains(key), key)
    }
    let bn = try XCTUnwrap(model as? AlexNetBatchNorm)
    XCTAssertTrue(bn.fc1[0] is Flatten)
    XCTAssertTrue(bn.fc1[1] is Dropout)
    XCTAssertTrue(bn.conv1[2] is MaxPool2d)
  }

  func testSmallAlexNetsFollowTheirInput() throws {
    // 64×64 CIFAR-like input: 128·8·8 = 8,192 features into the first Linear.
    let cifar = try XCTUnwrap(
      try Zoo.build("alexnet-cifar", classes: 100, input: [3, 64, 64]) as? AlexNetSmall)
    XCTAssertEqual((cifar.classifier[1] as? Linear)?.inFeatures, 8_192)
    XCTAssertEqual(try ModelTrace(model: cifar, inputShape: [2, 3, 64, 64]).outputShape, [2, 100])
    let mnist = try XCTUnwrap(try Zoo.build("alexnet-mnist") as? AlexNetSmall)
    XCTAssertEqual((mnist.classifier[1] as? Linear)?.inFeatures, 576)
    XCTAssertEqual(
      mnist.stateDict().map(\.name).filter { $0.hasSuffix("weight") },
      [
        "features.0", "features.3", "features.6", "features.8", "features.10", "classifier.1", "classifier.4",
        "classifier.6",
      ]
      .map { $0 + ".weight" })
  }

  func testSmallAlexNetsRunForward() throws {
    // A real (non-meta) pass at batch 2 in eval mode: cheap, and checks the shapes the trace predicts.
    for (name, shape) in [
      ("alexnet-mnist", [2, 1, 28, 28]), ("alexnet-cifar", [2, 3, 32, 32]), ("lenet5", [2, 1, 32, 32]),
    ] {
      let model = try Zoo.build(name).eval()
      var rng = RandomGenerator(seed: 1)
      let output = try model(Tensor.randn(shape, using: &rng))
      XCTAssertEqual(output.shape, [2, 10], name)
      XCTAssertTrue(output.scalars.allSatisfy { $0.isFinite }, name)
    }
  }

  // MARK: - LeNet

  func testLeNetAt28() throws {
    // 16·4·4 = 256 features: 61,706 − 400·120 + 256·120 = 44,426 parameters.
    let model = try Zoo.build("lenet5", input: [1, 28, 28])
    XCTAssertEqual(model.parameterCount, 44_426)
    XCTAssertEqual(
      model.stateDict().map(\.name).filter { $0.hasSuffix("weight") },
      [
        "features.0.weight", "features.3.weight", "classifier.0.weight", "classifier.2.weight",
        "classifier.4.weight",
      ])
  }

  // MARK: - VGG

  func checkVGGInitialization(_ model: Module) throws {
    let state = Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.name, $0.tensor) })
    // Config A: the last conv (512→512) is features.18; Kaiming fan-out std = √(2 / (512·9)).
    let (_, convStd) = Self.moments(try XCTUnwrap(state["features.18.weight"]))
    XCTAssertEqual(convStd, (2 / Float(512 * 9)).squareRoot(), accuracy: 2e-4)
    let (_, linearStd) = Self.moments(try XCTUnwrap(state["classifier.3.weight"]))
    XCTAssertEqual(linearStd, 0.01, accuracy: 1e-4)
    for (name, tensor) in state where name.hasSuffix(".bias") {
      XCTAssertTrue(tensor.scalars.allSatisfy { $0 == 0 }, name)
    }
  }

  func checkVGG16Keys(_ model: Module) throws {
    let convs = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    XCTAssertEqual(
      model.stateDict().map(\.name),
      convs.flatMap { ["features.\($0).weight", "features.\($0).bias"] }
        + [0, 3, 6].flatMap { ["classifier.\($0).weight", "classifier.\($0).bias"] })
  }

  func checkVGG16BatchNormKeys(_ model: Module) throws {
    let convs = [0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40]
    let bnKeys = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    var expected: [String] = []
    for conv in convs {
      expected += ["features.\(conv).weight", "features.\(conv).bias"]
      expected += bnKeys.map { "features.\(conv + 1).\($0)" }
    }
    expected += [0, 3, 6].flatMap { ["classifier.\($0).weight", "classifier.\($0).bias"] }
    let state = model.stateDict()
    XCTAssertEqual(state.map(\.name), expected)
    XCTAssertEqual(state.first { $0.name == "features.41.num_batches_tracked" }?.tensor.shape, [])
    XCTAssertEqual(state.first { $0.name == "classifier.0.weight" }?.tensor.shape, [4096, 25088])
    let bnWeights = state.filter { $0.name.hasSuffix(".weight") && $0.tensor.rank == 1 }
    XCTAssertEqual(bnWeights.count, 13)
    XCTAssertTrue(bnWeights.allSatisfy { $0.tensor.scalars.allSatisfy { $0 == 1 } })
  }

  func testVGGCifarLayout() throws {
    let model = try XCTUnwrap(try Zoo.build("vgg11-cifar", classes: 7) as? VGG)
    XCTAssertNil(model.avgpool)
    XCTAssertEqual(
      model.stateDict().map(\.name).filter { $0.hasPrefix("classifier") },
      [
        "classifier.1.weight", "classifier.1.bias", "classifier.4.weight", "classifier.4.bias",
        "classifier.6.weight",
        "classifier.6.bias",
      ])
    XCTAssertEqual((model.classifier[1] as? Linear)?.inFeatures, 512)
    XCTAssertEqual((model.classifier[6] as? Linear)?.outFeatures, 7)
    XCTAssertTrue(model.classifier[0] is Dropout)
    // 64×64 input: 512·2·2 features.
    let wide = try XCTUnwrap(try Zoo.build("vgg11_bn-cifar", input: [3, 64, 64]) as? VGG)
    XCTAssertEqual((wide.classifier[1] as? Linear)?.inFeatures, 2_048)
  }

  // MARK: - ResNet

  func checkResNet18(_ model: Module) throws {
    let state = model.stateDict()
    XCTAssertEqual(state.count, 122)
    XCTAssertEqual(model.namedParameters().count, 62)
    let shapes = Dictionary(uniqueKeysWithValues: state.map { ($0.name, $0.tensor.shape) })
    XCTAssertEqual(state.first?.name, "conv1.weight")
    XCTAssertEqual(shapes["conv1.weight"], [64, 3, 7, 7])
    XCTAssertEqual(shapes["layer1.0.bn1.running_mean"], [64])
    XCTAssertEqual(shapes["layer2.0.downsample.0.weight"], [128, 64, 1, 1])
    XCTAssertEqual(shapes["layer4.0.downsample.1.num_batches_tracked"], [])
    XCTAssertEqual(shapes["fc.weight"], [1000, 512])
    XCTAssertEqual(state.last?.name, "fc.bias")
    XCTAssertNil(shapes["layer1.0.downsample.0.weight"], "layer1 keeps its shape, no downsample")
    XCTAssertNil(shapes["layer2.1.downsample.0.weight"])
    XCTAssertEqual(
      state.map(\.name).filter { $0.hasPrefix("layer1.0.") && !$0.contains("bn") },
      ["layer1.0.conv1.weight", "layer1.0.conv2.weight"])
    // torchvision's module order, and one ReLU called twice per block.
    let block = try XCTUnwrap((model as? ResNet)?.layer1[0])
    XCTAssertEqual(block.namedChildren.map(\.name), ["conv1", "bn1", "relu", "conv2", "bn2"])
    let trace = try ModelTrace(model: model, inputShape: [1, 3, 64, 64])
    XCTAssertEqual(trace.calls.filter { $0.path == "layer1.0.relu" }.count, 2)
    XCTAssertEqual(trace.calls.filter { $0.path == "relu" }.count, 1)
    XCTAssertEqual(trace.outputShape, [1, 1000])
    // Kaiming fan-out: √(2 / (512·9)) for layer4's 3×3 convs; BN γ 1.
    let (_, std) = Self.moments(try XCTUnwrap(state.first { $0.name == "layer4.1.conv2.weight" }?.tensor))
    XCTAssertEqual(std, (2 / Float(512 * 9)).squareRoot(), accuracy: 2e-4)
    XCTAssertTrue(
      try XCTUnwrap(state.first { $0.name == "layer3.1.bn2.weight" }).tensor.scalars.allSatisfy { $0 == 1 })
  }

  func checkResNet50(_ model: Module) throws {
    let shapes = Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.name, $0.tensor.shape) })
    XCTAssertEqual(shapes["layer1.0.downsample.0.weight"], [256, 64, 1, 1])
    XCTAssertEqual(shapes["layer1.0.conv3.weight"], [256, 64, 1, 1])
    // v1.5: layer2's first block strides in its 3×3 conv; the trace shows 56 → 28 there.
    let trace = try ModelTrace(model: model, inputShape: [1, 3, 224, 224])
    XCTAssertEqual(trace.calls.first { $0.path == "layer2.0.conv1" }?.outputShape, [1, 128, 56, 56])
    XCTAssertEqual(trace.calls.first { $0.path == "layer2.0.conv2" }?.outputShape, [1, 128, 28, 28])
    XCTAssertEqual(trace.calls.filter { $0.path == "layer3.5.relu" }.count, 3)
    XCTAssertEqual(shapes["fc.weight"], [1000, 2048])
    let block = try XCTUnwrap((model as? ResNet)?.layer1[0])
    XCTAssertEqual(
      block.namedChildren.map(\.name), ["conv1", "bn1", "conv2", "bn2", "conv3", "bn3", "relu", "downsample"])
  }

  func testResNetHonoursClassesAndInput() throws {
    let model = try Zoo.build("resnet18", classes: 10, input: [3, 32, 32])
    XCTAssertEqual(model.parameterCount, 11_689_512 - 513_000 + 5_130)
    XCTAssertEqual(try ModelTrace(model: model, inputShape: [1, 3, 32, 32]).outputShape, [1, 10])
  }

  // MARK: - Errors

  func testUnknownModelThrows() {
    XCTAssertThrowsError(try Zoo.build("alexnet2")) { error in
      guard case .unknownModel(let name, let known) = error as? ZooError else {
        return XCTFail("expected unknownModel, got \(error)")
      }
      XCTAssertEqual(name, "alexnet2")
      XCTAssertEqual(known, Zoo.names)
    }
  }

  func testWrongChannelsThrow() {
    for (name, input) in [
      ("lenet5", [3, 32, 32]), ("alexnet-mnist", [3, 28, 28]), ("vgg16", [1, 224, 224]),
    ] {
      XCTAssertThrowsError(try Zoo.build(name, input: input), name) { error in
        guard case .invalidOption(let message) = error as? ZooError else {
          return XCTFail("expected invalidOption, got \(error)")
        }
        XCTAssertTrue(message.hasPrefix(name + " takes"), message)
      }
    }
  }

  func testTooSmallInputsThrow() {
    for (name, input) in [
      ("lenet5", [1, 8, 8]), ("alexnet-paper", [3, 50, 50]), ("alexnet-bn", [3, 32, 32]),
      ("alexnet-plain", [3, 40, 40]),
      ("alexnet-mnist", [1, 7, 7]), ("alexnet-cifar", [3, 7, 9]), ("vgg11-cifar", [3, 16, 16]),
      ("alexnet", [3, 16, 16]),
    ] {
      XCTAssertThrowsError(try Zoo.build(name, input: input), name) { error in
        guard case .invalidOption(let message) = error as? ZooError else {
          return XCTFail("expected invalidOption, got \(error)")
        }
        XCTAssertTrue(message.hasPrefix(name + ": input"), message)
        XCTAssertTrue(message.contains("too small"), message)
      }
    }
  }

  func testBadClassesAndShapesThrow() {
    XCTAssertThrowsError(try Zoo.build("lenet5", classes: 0))
    XCTAssertThrowsError(try Zoo.build("lenet5", input: [1, 32]))
    XCTAssertThrowsError(try Zoo.entry(named: "lenet5").build(10, [1, 0, 32]))
  }

  // MARK: - Helpers

  /// Sample mean and standard deviation (in Double, to keep 37M-element sums exact enough).
  static func moments(_ tensor: Tensor) -> (mean: Float, std: Float) {
    var sum = 0.0
    var squares = 0.0
    for i in 0..<tensor.count {
      let x = Double(tensor.data[i])
      sum += x
      squares += x * x
    }
    let n = Double(tensor.count)
    let mean = sum / n
    return (Float(mean), Float((squares / n - mean * mean).squareRoot()))
  }
}
