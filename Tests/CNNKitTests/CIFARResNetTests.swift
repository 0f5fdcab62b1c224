import CNNKit
import XCTest

/// The CIFAR ResNets: He et al.'s 6n+2 family (akamaster's layout, option-A shortcuts) and
/// pytorch-tutorial's ResNet. Parameter counts and MACs of the zoo entries are in
/// `ModelZooTests.figures`; this file checks layouts, the zero-padding shortcut, and training.
final class CIFARResNetTests: XCTestCase {
  // MARK: - The option-A shortcut

  func testPadChannelsPutsZerosAroundTheInput() throws {
    let x = Tensor(shape: [2, 2, 1, 2], scalars: [1, 2, 3, 4, 5, 6, 7, 8])
    let y = try Functional.padChannels(x, before: 1, after: 2)
    XCTAssertEqual(y.shape, [2, 5, 1, 2])
    XCTAssertEqual(y.scalars, [0, 0, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 5, 6, 7, 8, 0, 0, 0, 0])
    XCTAssertTrue(try Functional.padChannels(x, before: 0, after: 0) === x)
    XCTAssertThrowsError(try Functional.padChannels(x, before: -1, after: 2))
    XCTAssertThrowsError(try Functional.padChannels(Tensor(zeros: [4]), before: 1, after: 1))
    // Summaries trace shapes only: the meta backend widens the channel dimension.
    let meta = try Functional.padChannels(Tensor(metaShape: [8, 16, 16, 16]), before: 8, after: 8)
    XCTAssertEqual(meta.shape, [8, 32, 16, 16])
  }

  /// akamaster's lambda: `F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4))`.
  func testShortcutSubsamplesAndPadsLikeAkamaster() throws {
    var data = TestData(seed: 501)
    let x = data.normal([2, 4, 5, 6], requiresGrad: false)
    let shortcut = ChannelPadShortcut(inChannels: 4, outChannels: 8, stride: 2)
    XCTAssertEqual(shortcut.padBefore, 2)
    let y = try shortcut(x)
    XCTAssertEqual(y.shape, [2, 8, 3, 3])
    for n in 0..<2 {
      for c in 0..<8 {
        for i in 0..<3 {
          for j in 0..<3 {
            let got = y.data[((n * 8 + c) * 3 + i) * 3 + j]
            let expected = (2..<6).contains(c) ? x.data[((n * 4 + c - 2) * 5 + 2 * i) * 6 + 2 * j] : 0
            XCTAssertEqual(got, expected, "[\(n), \(c), \(i), \(j)]")
          }
        }
      }
    }
    XCTAssertEqual(shortcut.parameterCount, 0)
  }

  func testGradientThroughTheShortcut() throws {
    var data = TestData(seed: 502)
    let x = data.normal([2, 3, 5, 4])
    let shortcut = ChannelPadShortcut(inChannels: 3, outChannels: 7, stride: 2)
    // Linear in x: any step is exact up to rounding.
    assertGradientsMatch("option-A shortcut", wrt: [("input", x)]) { try shortcut(x) }
  }

  func testGradientThroughADownsamplingBlock() throws {
    GlobalRandom.manualSeed(81)
    let block = CIFARBasicBlock(inplanes: 2, planes: 4, stride: 2)
    XCTAssertNotNil(block.shortcut)
    var data = TestData(seed: 503)
    let x = data.normal([2, 2, 4, 4])
    let named = block.namedParameters()
    XCTAssertEqual(
      named.map(\.name),
      ["conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight", "bn2.weight", "bn2.bias"])
    // The block is smooth between kinks: its two ReLUs' input signs. Batch norm couples the batch, so
    // a step on one weight moves every pre-activation and some land across 0 even at a tenth of the
    // step; up to a quarter of the largest tensor (conv2, 144 elements) may be skipped, as in
    // GradientTests' Sequential check. Every element that is compared must agree.
    func regime() throws -> [Int] {
      let inner = try block.bn1(block.conv1(x))
      let sum = try Functional.add(
        block.bn2(block.conv2(Functional.relu(inner))), XCTUnwrap(block.shortcut)(x))
      return pieceSignature(inner, pool: nil) + pieceSignature(sum, pool: nil)
    }
    assertGradientsMatch(
      "CIFAR basic block with option-A shortcut", wrt: named.map { ($0.name, $0.tensor) } + [("input", x)],
      regime: regime, maxSkipped: 36
    ) { try block(x) }
  }

  // MARK: - He et al. / akamaster layout

  func testResNet20Layout() throws {
    let model = try XCTUnwrap(try Zoo.build("resnet20") as? CIFARResNet)
    XCTAssertEqual(model.blocksPerStage, 3)
    let state = model.stateDict()
    // 19 convolutions, 19 BatchNorms (5 entries each), linear weight and bias.
    XCTAssertEqual(state.count, 19 + 19 * 5 + 2)
    XCTAssertEqual(model.namedParameters().count, 19 + 19 * 2 + 2)
    let shapes = Dictionary(uniqueKeysWithValues: state.map { ($0.name, $0.tensor.shape) })
    XCTAssertEqual(state.first?.name, "conv1.weight")
    XCTAssertEqual(shapes["conv1.weight"], [16, 3, 3, 3])
    XCTAssertEqual(shapes["bn1.running_var"], [16])
    XCTAssertEqual(shapes["layer1.2.conv2.weight"], [16, 16, 3, 3])
    XCTAssertEqual(shapes["layer2.0.conv1.weight"], [32, 16, 3, 3])
    XCTAssertEqual(shapes["layer3.0.bn2.num_batches_tracked"], [])
    XCTAssertEqual(shapes["linear.weight"], [10, 64])
    XCTAssertEqual(state.last?.name, "linear.bias")
    XCTAssertFalse(state.contains { $0.name.contains("shortcut") }, "option A holds no weights")
    XCTAssertEqual(model.namedChildren.map(\.name), ["conv1", "bn1", "layer1", "layer2", "layer3", "linear"])
    XCTAssertEqual(model.layer1[0].namedChildren.map(\.name), ["conv1", "bn1", "conv2", "bn2"])
    XCTAssertEqual(model.layer2[0].namedChildren.map(\.name), ["conv1", "bn1", "conv2", "bn2", "shortcut"])
    XCTAssertEqual(model.layer2[1].namedChildren.map(\.name), ["conv1", "bn1", "conv2", "bn2"])

    let trace = try ModelTrace(model: model, inputShape: [1, 3, 32, 32])
    XCTAssertEqual(trace.calls.first { $0.path == "layer2.0.shortcut" }?.outputShape, [1, 32, 16, 16])
    XCTAssertEqual(trace.calls.first { $0.path == "layer3.0.shortcut" }?.outputShape, [1, 64, 8, 8])
    XCTAssertEqual(trace.calls.first { $0.path == "layer3.2" }?.outputShape, [1, 64, 8, 8])
    XCTAssertEqual(trace.outputShape, [1, 10])

    // akamaster's init: kaiming_normal_ defaults, N(0, 2 / fan_in); BN γ 1, β 0.
    let tensors = Dictionary(uniqueKeysWithValues: state.map { ($0.name, $0.tensor) })
    let (_, convStd) = ModelZooTests.moments(try XCTUnwrap(tensors["layer3.1.conv2.weight"]))
    XCTAssertEqual(convStd, (2 / Float(64 * 9)).squareRoot(), accuracy: 2e-3)
    let (_, linearStd) = ModelZooTests.moments(try XCTUnwrap(tensors["linear.weight"]))
    XCTAssertEqual(linearStd, (2 / Float(64)).squareRoot(), accuracy: 0.02)
    XCTAssertTrue(try XCTUnwrap(tensors["layer2.1.bn1.weight"]).scalars.allSatisfy { $0 == 1 })
    XCTAssertTrue(try XCTUnwrap(tensors["layer2.1.bn1.bias"]).scalars.allSatisfy { $0 == 0 })
  }

  func testDepthsAreSixNPlusTwo() throws {
    XCTAssertEqual(try CIFARResNet(depth: 110).blocksPerStage, 18)
    XCTAssertEqual(try CIFARResNet(depth: 8).layer3.layers.count, 1)
    for depth in [0, 2, 18, 21] {
      XCTAssertThrowsError(try CIFARResNet(depth: depth), "\(depth)")
    }
    // Other class counts and input sizes: only the head and the pooled map change.
    let model = try Zoo.build("resnet20", classes: 100, input: [3, 64, 48])
    XCTAssertEqual(model.parameterCount, 269_722 - 650 + 6_500)
    XCTAssertEqual(try ModelTrace(model: model, inputShape: [1, 3, 64, 48]).outputShape, [1, 100])
  }

  // MARK: - pytorch-tutorial

  func testTutorialLayout() throws {
    let model = try XCTUnwrap(try Zoo.build("resnet-tutorial") as? TutorialResNet)
    XCTAssertEqual(model.parameterCount, 195_738)
    XCTAssertEqual(
      model.namedChildren.map(\.name),
      ["conv", "bn", "relu", "layer1", "layer2", "layer3", "avg_pool", "fc"])
    let shapes = Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.name, $0.tensor.shape) })
    XCTAssertEqual(shapes["conv.weight"], [16, 3, 3, 3])
    XCTAssertNil(shapes["conv.bias"], "the tutorial's conv3x3 has no bias")
    XCTAssertEqual(shapes["layer1.1.conv2.weight"], [16, 16, 3, 3])
    XCTAssertNil(shapes["layer1.0.downsample.0.weight"], "layer1 keeps its shape")
    XCTAssertEqual(shapes["layer2.0.downsample.0.weight"], [32, 16, 3, 3])
    XCTAssertEqual(shapes["layer2.0.downsample.1.running_mean"], [32])
    XCTAssertEqual(shapes["layer3.0.downsample.0.weight"], [64, 32, 3, 3])
    XCTAssertNil(shapes["layer3.1.downsample.0.weight"])
    XCTAssertEqual(shapes["fc.weight"], [10, 64])
    XCTAssertEqual(
      model.layer2[0].namedChildren.map(\.name), ["conv1", "bn1", "relu", "conv2", "bn2", "downsample"])
    let trace = try ModelTrace(model: model, inputShape: [1, 3, 32, 32])
    XCTAssertEqual(trace.calls.filter { $0.path == "layer1.0.relu" }.count, 2)
    XCTAssertEqual(trace.calls.first { $0.path == "avg_pool" }?.outputShape, [1, 64, 1, 1])
    XCTAssertEqual(trace.calls.first { $0.path == "layer3.0.downsample" }?.outputShape, [1, 64, 8, 8])
    // A 64×64 input leaves a 2×2 map after the 8×8 pool: fc takes 256 features.
    let wide = try XCTUnwrap(try Zoo.build("resnet-tutorial", input: [3, 64, 64]) as? TutorialResNet)
    XCTAssertEqual(wide.fc.inFeatures, 256)
  }

  func testTutorialRejectsInputsTooSmallForItsPool() {
    XCTAssertThrowsError(try Zoo.build("resnet-tutorial", input: [3, 16, 16])) { error in
      guard case .invalidOption(let message) = error as? ZooError else {
        return XCTFail("expected invalidOption, got \(error)")
      }
      XCTAssertTrue(message.hasPrefix("resnet-tutorial: input"), message)
      XCTAssertTrue(message.contains("too small"), message)
    }
    XCTAssertThrowsError(try Zoo.build("resnet20", input: [1, 32, 32]))
  }

  // MARK: - Running and training

  /// A real forward pass gives [N, 10], and a few SGD steps on one fixed batch lower its loss.
  func testForwardShapeAndTrainingSmoke() throws {
    for name in ["resnet20", "resnet-tutorial"] {
      GlobalRandom.manualSeed(11)
      let model = try Zoo.build(name)
      var data = TestData(seed: 504)
      let x = data.normal([4, 3, 32, 32], requiresGrad: false)
      let labels = [0, 3, 7, 9]
      let sgd = SGD(parameters: model.parameters(), learningRate: 0.05, momentum: 0.9)
      var losses: [Float] = []
      for _ in 0..<6 {
        sgd.zeroGrad()
        let logits = try model(x)
        XCTAssertEqual(logits.shape, [4, 10], name)
        let loss = try Functional.crossEntropy(logits, targets: labels)
        loss.backward()
        sgd.step()
        losses.append(loss.item)
      }
      XCTAssertTrue(losses.allSatisfy(\.isFinite), "\(name): \(losses)")
      XCTAssertLessThan(losses.last!, 0.5 * losses.first!, "\(name): \(losses)")
      // Every parameter took part.
      for (path, p) in model.namedParameters() { XCTAssertNotNil(p.grad, "\(name) \(path)") }
      model.eval()
      XCTAssertEqual(try GradMode.withNoGrad { try model(x) }.shape, [4, 10], name)
    }
  }
}
