import CNNKit
import CNNKitTestSupport
import XCTest

/// Every differentiable op's backward against central differences (see `GradientCheck.swift`).
final class GradientTests: XCTestCase {

  // MARK: The checker itself

  func testCheckerAcceptsCorrectGradient() throws {
    var data = TestData(seed: 1)
    let x = data.normal([3, 4])
    let report = try gradientCheck(wrt: [("x", x)]) { try Functional.add(x, x) }
    XCTAssertTrue(report.passed)
    // d/dx Σ (x + x)·R = 2R: the gradient is exact, so the errors are pure rounding.
    XCTAssertLessThan(report.inputs[0].worstRatio, 0.1)
  }

  func testCheckerRejectsMissingPath() throws {
    // Forward is 2x, but one branch is detached: autograd says R, the truth is 2R.
    var data = TestData(seed: 2)
    let x = data.normal([3, 4])
    let report = try gradientCheck(wrt: [("x", x)]) { try Functional.add(x, x.detached()) }
    XCTAssertFalse(report.passed)
    XCTAssertGreaterThan(report.inputs[0].mismatches, 9)
  }

  func testCheckerRejectsThreePercentError() throws {
    // A gradient 3% too small must be caught: the tolerance is 1% of each element.
    var data = TestData(seed: 3)
    let x = data.normal([4, 5])
    let report = try gradientCheck(wrt: [("x", x)]) {
      try Functional.add(x, Functional.scale(x.detached(), by: 0.03))
    }
    XCTAssertFalse(report.passed)
    XCTAssertGreaterThan(report.inputs[0].mismatches, 10)
  }

  func testCheckerRetriesAcrossKinks() throws {
    // Inputs 0.004 from ReLU's kink: a step of 1e-2 crosses it and measures half the slope.
    let x = Tensor(shape: [6], scalars: [0.004, -0.004, 0.5, -0.5, 0.003, 1], requiresGrad: true)
    let naive = try gradientCheck(wrt: [("x", x)]) { Functional.relu(x) }
    XCTAssertEqual(naive.inputs[0].mismatches, 3)
    // With the ReLU signs as the regime, those elements are redone with a step of 1e-3.
    let guarded = try gradientCheck(wrt: [("x", x)], regime: { pieceSignature(x, pool: nil) }) {
      Functional.relu(x)
    }
    XCTAssertTrue(guarded.passed)
    XCTAssertEqual(guarded.inputs[0].skipped, 0)
  }

  func testCheckerRejectsBatchNormWithoutStatisticsTerms() throws {
    // Batch statistics fed in as constants: the forward equals training-mode batch norm, but the
    // backward lacks the terms through the mean and variance, the classic batch-norm bug.
    var data = TestData(seed: 4)
    let x = data.normal([4, 3, 2, 2], mean: 0.5, std: 1.5)
    let gamma = data.uniform([3], 0.5, 1.5)
    let beta = data.normal([3])
    func frozenStatistics() -> (Tensor, Tensor) {
      let (n, c, spatial) = (4, 3, 4)
      let mean = Tensor(zeros: [c])
      let variance = Tensor(zeros: [c])
      for ch in 0..<c {
        var values: [Double] = []
        for b in 0..<n { for i in 0..<spatial { values.append(Double(x.data[(b * c + ch) * spatial + i])) } }
        let m = values.reduce(0, +) / Double(values.count)
        mean.data[ch] = Float(m)
        variance.data[ch] = Float(values.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(values.count))
      }
      return (mean, variance)
    }
    let (m, v) = frozenStatistics()
    let training = try Functional.batchNorm(
      x, runningMean: nil, runningVar: nil, weight: gamma, bias: beta, training: true)
    let frozen = try Functional.batchNorm(
      x, runningMean: m, runningVar: v, weight: gamma, bias: beta, training: false)
    assertClose(frozen.scalars, training.scalars.map(Double.init), absolute: 1e-5, "frozen forward")

    let report = try gradientCheck(wrt: [("x", x)]) {
      let (m, v) = frozenStatistics()
      return try Functional.batchNorm(
        x, runningMean: m, runningVar: v, weight: gamma, bias: beta, training: false)
    }
    XCTAssertFalse(report.passed)
  }

  // MARK: Convolution and linear

  private struct ConvCase {
    var batch = 2
    var inChannels: Int
    var outChannels: Int
    var size: (Int, Int)
    var kernel: (Int, Int)
    var stride = (1, 1)
    var padding = (0, 0)
    var dilation = (1, 1)
    var groups = 1
    var bias = true
  }

  private func checkConv(_ c: ConvCase, seed: UInt64, file: StaticString = #filePath, line: UInt = #line)
    throws
  {
    var data = TestData(seed: seed)
    let x = data.normal([c.batch, c.inChannels, c.size.0, c.size.1])
    let w = data.normal([c.outChannels, c.inChannels / c.groups, c.kernel.0, c.kernel.1], std: 0.5)
    let b = c.bias ? data.normal([c.outChannels]) : nil
    func conv() throws -> Tensor {
      try Functional.conv2d(
        x, weight: w, bias: b, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
    }
    let y = try conv()
    let expected = naiveConv2d(
      x, w, b, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
    XCTAssertEqual(y.shape, expected.shape, "conv forward shape", file: file, line: line)
    assertClose(y.scalars, expected.values, absolute: 1e-4, "conv forward", file: file, line: line)
    var wrt = [("input", x), ("weight", w)]
    if let b { wrt.append(("bias", b)) }
    assertGradientsMatch("conv2d \(c)", wrt: wrt, file: file, line: line, conv)
  }

  func testConv2dStrideOnePaddingZero() throws {
    try checkConv(ConvCase(inChannels: 3, outChannels: 4, size: (7, 6), kernel: (3, 3)), seed: 10)
  }

  func testConv2dStrideTwoPaddingOneNonSquareKernel() throws {
    try checkConv(
      ConvCase(inChannels: 3, outChannels: 4, size: (7, 9), kernel: (3, 2), stride: (2, 2), padding: (1, 1)),
      seed: 11)
  }

  func testConv2dStrideThreePaddingTwoWithoutBias() throws {
    try checkConv(
      ConvCase(
        batch: 1, inChannels: 2, outChannels: 3, size: (8, 7), kernel: (3, 3), stride: (3, 3),
        padding: (2, 2),
        bias: false),
      seed: 12)
  }

  func testConv2dDilationTwo() throws {
    try checkConv(
      ConvCase(
        inChannels: 2, outChannels: 2, size: (7, 7), kernel: (3, 3), padding: (2, 2), dilation: (2, 2)),
      seed: 13)
  }

  func testConv2dGroupsTwo() throws {
    try checkConv(
      ConvCase(inChannels: 4, outChannels: 6, size: (6, 5), kernel: (3, 3), padding: (1, 1), groups: 2),
      seed: 14)
  }

  func testConv2dDepthwise() throws {
    try checkConv(
      ConvCase(
        inChannels: 3, outChannels: 3, size: (5, 7), kernel: (3, 3), stride: (2, 2), padding: (1, 1),
        groups: 3,
        bias: false),
      seed: 15)
    // Channel multiplier 2: each input channel feeds two filters.
    try checkConv(
      ConvCase(inChannels: 3, outChannels: 6, size: (5, 5), kernel: (3, 3), padding: (1, 1), groups: 3),
      seed: 16)
  }

  func testConv2dAsymmetricStridePaddingDilation() throws {
    try checkConv(
      ConvCase(
        inChannels: 2, outChannels: 3, size: (9, 5), kernel: (2, 3), stride: (2, 1), padding: (1, 0),
        dilation: (2, 1)),
      seed: 17)
  }

  func testConv2dKernelCoversInput() throws {
    // 1×1 output: every weight sees exactly one input per image.
    try checkConv(ConvCase(inChannels: 2, outChannels: 3, size: (3, 3), kernel: (3, 3)), seed: 18)
  }

  func testLinear() throws {
    var data = TestData(seed: 20)
    let x = data.normal([3, 5])
    let w = data.normal([4, 5], std: 0.5)
    let b = data.normal([4])
    assertGradientsMatch("linear", wrt: [("input", x), ("weight", w), ("bias", b)]) {
      try Functional.linear(x, weight: w, bias: b)
    }
    assertGradientsMatch("linear without bias", wrt: [("input", x), ("weight", w)]) {
      try Functional.linear(x, weight: w, bias: nil)
    }
  }

  // MARK: Pooling

  func testMaxPool2d() throws {
    var data = TestData(seed: 30)
    let cases: [(shape: [Int], kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int), ceil: Bool)] = [
      ([2, 2, 6, 7], (2, 2), (2, 2), (0, 0), false),
      ([1, 3, 7, 6], (3, 3), (2, 2), (1, 1), false),
      ([2, 2, 6, 6], (3, 3), (2, 2), (0, 0), true),
      ([1, 2, 7, 5], (3, 3), (2, 2), (1, 1), true),
      ([1, 2, 5, 8], (2, 3), (1, 2), (1, 1), false),
    ]
    for c in cases {
      let x = data.distinct(c.shape)
      assertGradientsMatch("max_pool2d \(c)", wrt: [("input", x)]) {
        try Functional.maxPool2d(x, kernel: c.kernel, stride: c.stride, padding: c.padding, ceilMode: c.ceil)
      }
    }
  }

  func testAvgPool2d() throws {
    var data = TestData(seed: 31)
    let cases: [(shape: [Int], kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int), ceil: Bool)] = [
      ([2, 2, 6, 7], (2, 2), (2, 2), (0, 0), false),
      ([1, 3, 7, 6], (3, 3), (2, 2), (1, 1), false),
      ([2, 2, 6, 6], (3, 3), (2, 2), (0, 0), true),
      ([1, 2, 7, 5], (3, 3), (2, 2), (1, 1), true),
      ([1, 2, 4, 4], (3, 3), (2, 2), (1, 1), true),
      ([1, 2, 5, 8], (2, 3), (1, 2), (1, 1), false),
    ]
    for c in cases {
      for includePad in [true, false] {
        let x = data.normal(c.shape)
        assertGradientsMatch("avg_pool2d \(c) count_include_pad=\(includePad)", wrt: [("input", x)]) {
          try Functional.avgPool2d(
            x, kernel: c.kernel, stride: c.stride, padding: c.padding, ceilMode: c.ceil,
            countIncludePad: includePad)
        }
      }
    }
  }

  func testPadChannels() throws {
    var data = TestData(seed: 33)
    // NCHW as the option-A shortcut uses it, uneven padding, and a rank-2 input.
    for (shape, before, after) in [([2, 3, 2, 3], 1, 2), ([1, 2, 3, 3], 0, 3), ([3, 4], 2, 0)] {
      let x = data.normal(shape)
      assertGradientsMatch("pad_channels \(shape) (\(before), \(after))", wrt: [("input", x)]) {
        try Functional.padChannels(x, before: before, after: after)
      }
    }
  }

  func testAvgPool2dOneByOneStrideTwoIsStridedSlicing() throws {
    // The CIFAR ResNets' x[:, :, ::2, ::2], odd sizes included: the gradient lands on the picked
    // positions only.
    var data = TestData(seed: 34)
    for shape in [[2, 2, 6, 6], [1, 3, 5, 7]] {
      let x = data.normal(shape)
      assertGradientsMatch("avg_pool2d 1×1/2 \(shape)", wrt: [("input", x)]) {
        try Functional.avgPool2d(x, kernel: (1, 1), stride: (2, 2))
      }
    }
  }

  func testAdaptiveAvgPool2d() throws {
    var data = TestData(seed: 32)
    let cases: [(input: (Int, Int), output: (Int, Int))] = [
      ((7, 7), (3, 3)), ((5, 5), (2, 2)), ((7, 5), (3, 2)), ((6, 6), (6, 6)), ((4, 6), (1, 1)),
      ((3, 4), (5, 6)),
    ]
    for c in cases {
      let x = data.normal([2, 2, c.input.0, c.input.1])
      assertGradientsMatch("adaptive_avg_pool2d \(c)", wrt: [("input", x)]) {
        try Functional.adaptiveAvgPool2d(x, outputSize: c.output)
      }
    }
  }

  // MARK: Normalisation

  func testBatchNormTraining() throws {
    var data = TestData(seed: 40)
    let x = data.normal([4, 3, 3, 2], mean: 0.5, std: 1.5)
    let gamma = data.uniform([3], 0.5, 1.5)
    let beta = data.normal([3])
    assertGradientsMatch("batch_norm training NCHW", wrt: [("input", x), ("gamma", gamma), ("beta", beta)]) {
      try Functional.batchNorm(
        x, runningMean: nil, runningVar: nil, weight: gamma, bias: beta, training: true)
    }
    // NC input (BatchNorm1d layout), and no affine parameters.
    let x2 = data.normal([6, 4], mean: -1, std: 2)
    let gamma2 = data.uniform([4], 0.5, 1.5)
    let beta2 = data.normal([4])
    assertGradientsMatch("batch_norm training NC", wrt: [("input", x2), ("gamma", gamma2), ("beta", beta2)]) {
      try Functional.batchNorm(
        x2, runningMean: nil, runningVar: nil, weight: gamma2, bias: beta2, training: true)
    }
    assertGradientsMatch("batch_norm training without affine", wrt: [("input", x)]) {
      try Functional.batchNorm(x, runningMean: nil, runningVar: nil, weight: nil, bias: nil, training: true)
    }
  }

  func testBatchNormTrainingWithRunningStatistics() throws {
    // Updating the buffers must not change the output or the gradients.
    var data = TestData(seed: 41)
    let x = data.normal([3, 2, 3, 3])
    let gamma = data.uniform([2], 0.5, 1.5)
    let beta = data.normal([2])
    let runningMean = Tensor(zeros: [2])
    let runningVar = Tensor(repeating: 1, shape: [2])
    assertGradientsMatch(
      "batch_norm training with buffers", wrt: [("input", x), ("gamma", gamma), ("beta", beta)]
    ) {
      try Functional.batchNorm(
        x, runningMean: runningMean, runningVar: runningVar, weight: gamma, bias: beta, training: true)
    }
  }

  func testBatchNormEval() throws {
    var data = TestData(seed: 42)
    let x = data.normal([3, 3, 2, 3])
    let gamma = data.uniform([3], 0.5, 1.5)
    let beta = data.normal([3])
    let runningMean = data.normal([3], requiresGrad: false)
    let runningVar = data.uniform([3], 0.5, 2, requiresGrad: false)
    assertGradientsMatch("batch_norm eval", wrt: [("input", x), ("gamma", gamma), ("beta", beta)]) {
      try Functional.batchNorm(
        x, runningMean: runningMean, runningVar: runningVar, weight: gamma, bias: beta, training: false)
    }
  }

  func testLocalResponseNormBothConventions() throws {
    var data = TestData(seed: 50)
    // α large enough that the cross-channel term is a big part of the gradient.
    let cases: [(channels: Int, size: Int, alpha: Float, beta: Float, k: Float)] = [
      (6, 3, 0.6, 0.75, 1.5), (6, 4, 1.0, 0.5, 1.0), (4, 5, 2.0, 0.75, 2.0), (5, 1, 0.5, 0.75, 1.0),
    ]
    for c in cases {
      for convention in [LRNConvention.pytorch, .paper] {
        let x = data.normal([2, c.channels, 3, 2])
        assertGradientsMatch("local_response_norm \(c) \(convention)", wrt: [("input", x)]) {
          try Functional.localResponseNorm(
            x, size: c.size, alpha: c.alpha, beta: c.beta, k: c.k, convention: convention)
        }
      }
    }
  }

  // MARK: Activations

  func testReLU() throws {
    var data = TestData(seed: 60)
    let x = data.awayFromZero([3, 4, 5])
    assertGradientsMatch("relu", wrt: [("input", x)]) { Functional.relu(x) }
  }

  func testDropoutGradientIsMask() throws {
    var data = TestData(seed: 61)
    let x = data.awayFromZero([4, 50])
    let p: Float = 0.3
    func dropped() -> Tensor {
      var rng = RandomGenerator(seed: 7)
      return Functional.dropout(x, p: p, training: true, using: &rng)
    }
    let y = dropped()
    y.backward(Tensor(repeating: 1, shape: y.shape))
    let grad = try XCTUnwrap(x.grad)
    var dropped0 = 0
    for i in 0..<x.count {
      // Each element is either dropped (y = 0, grad 0) or kept and scaled by 1/(1-p).
      let mask = grad.data[i]
      XCTAssertTrue(mask == 0 || abs(mask - 1 / (1 - p)) < 1e-6, "mask value \(mask)")
      XCTAssertEqual(y.data[i], x.data[i] * mask, accuracy: 1e-6)
      if mask == 0 { dropped0 += 1 }
    }
    XCTAssertGreaterThan(dropped0, 0)
    XCTAssertLessThan(dropped0, x.count)
    assertGradientsMatch("dropout (fixed seed)", wrt: [("input", x)], dropped)
  }

  func testSoftmaxAndLogSoftmax() throws {
    var data = TestData(seed: 62)
    let x = data.normal([3, 5], std: 2)
    assertGradientsMatch("softmax", wrt: [("input", x)]) { Functional.softmax(x) }
    assertGradientsMatch("log_softmax", wrt: [("input", x)]) { Functional.logSoftmax(x) }
    let x3 = data.normal([2, 3, 4])
    assertGradientsMatch("softmax rank 3", wrt: [("input", x3)]) { Functional.softmax(x3) }
    assertGradientsMatch("log_softmax rank 3", wrt: [("input", x3)]) { Functional.logSoftmax(x3) }
  }

  // MARK: Elementwise, shape and reductions

  func testAddScaleSumMean() throws {
    var data = TestData(seed: 70)
    let a = data.normal([2, 3, 4])
    let b = data.normal([2, 3, 4])
    assertGradientsMatch("add", wrt: [("a", a), ("b", b)]) { try Functional.add(a, b) }
    assertGradientsMatch("add same tensor twice", wrt: [("a", a)]) { try Functional.add(a, a) }
    assertGradientsMatch("scale", wrt: [("a", a)]) { Functional.scale(a, by: -2.5) }
    assertGradientsMatch("sum", wrt: [("a", a)]) { Functional.sum(a) }
    assertGradientsMatch("mean", wrt: [("a", a)], atol: 0) { Functional.mean(a) }
  }

  func testReshapeAndFlatten() throws {
    var data = TestData(seed: 71)
    let x = data.normal([2, 3, 2, 2])
    let w = data.normal([4, 12], std: 0.5)
    assertGradientsMatch("reshape", wrt: [("input", x)]) { try Functional.reshape(x, [4, -1]) }
    // Flatten feeding a linear layer: a wrong element order would pair inputs with the wrong weights.
    assertGradientsMatch("flatten → linear", wrt: [("input", x), ("weight", w)]) {
      try Functional.linear(Functional.flatten(x), weight: w, bias: nil)
    }
    // A reshape that sits between two nonlinear ops.
    assertGradientsMatch("softmax(reshape)", wrt: [("input", x)]) {
      Functional.softmax(try Functional.reshape(x, [3, 8]))
    }
  }

  func testCrossEntropyAndNLLLoss() throws {
    var data = TestData(seed: 72)
    let logits = data.normal([4, 5], std: 2)
    let targets = [1, 0, 4, 1]
    assertGradientsMatch("cross_entropy", wrt: [("logits", logits)]) {
      try Functional.crossEntropy(logits, targets: targets)
    }
    let logProbabilities = data.normal([3, 4])
    assertGradientsMatch("nll_loss", wrt: [("input", logProbabilities)], atol: 0) {
      try Functional.nllLoss(logProbabilities, targets: [3, 3, 0])
    }
    // d CE / d logits = (softmax - onehot) / N exactly.
    logits.grad = nil
    let loss = try Functional.crossEntropy(logits, targets: targets)
    loss.backward()
    let p = Functional.softmax(logits.detached()).scalars
    var expected = p.map(Double.init)
    for (r, t) in targets.enumerated() { expected[r * 5 + t] -= 1 }
    assertClose(try XCTUnwrap(logits.grad).scalars, expected.map { $0 / 4 }, absolute: 1e-6, "CE gradient")
  }

  // MARK: Composites

  func testSequentialConvBatchNormReLUMaxPoolLinear() throws {
    // Seeds chosen so that no pre-activation or max-pool pair sits within a step of a kink; other
    // seeds skip up to a third of the conv weights, hence the allowance of a quarter of 108.
    GlobalRandom.manualSeed(80)
    let model = Sequential(
      Conv2d(3, 4, kernelSize: 3, padding: 1), BatchNorm2d(4), ReLU(), MaxPool2d(kernelSize: 2), Flatten(),
      Linear(4 * 3 * 3, 5))
    var data = TestData(seed: 181)
    let x = data.normal([2, 3, 6, 6])
    let named = model.namedParameters()
    XCTAssertEqual(
      named.map(\.name), ["0.weight", "0.bias", "1.weight", "1.bias", "5.weight", "5.bias"])
    // γ away from 1 and β away from 0, so their gradients are not special cases.
    let bn = model[1] as! BatchNorm2d
    for c in 0..<4 {
      bn.weight.data[c] = 0.6 + 0.3 * Float(c)
      bn.bias.data[c] = 0.2 * Float(c) - 0.3
    }
    // The network is smooth between kinks; the regime is its ReLU signs and max-pool winners.
    func regime() throws -> [Int] { pieceSignature(try model[2](model[1](model[0](x))), pool: 2) }
    // The conv bias feeds straight into batch norm, which subtracts it again: its gradient is zero.
    assertGradientsMatch(
      "Sequential", wrt: named.map { ($0.name, $0.tensor) } + [("input", x)], regime: regime, maxSkipped: 27,
      zeroGradient: ["0.bias"]
    ) { try model(x) }
    // Every parameter received a gradient.
    for (name, p) in model.namedParameters() { XCTAssertNotNil(p.grad, name) }
  }

  func testResidualBlock() throws {
    GlobalRandom.manualSeed(80)
    let block = ResidualBlock(channels: 3)
    var data = TestData(seed: 280)
    let x = data.normal([2, 3, 5, 4])
    let named = block.namedParameters()
    XCTAssertEqual(named.map(\.name), ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias"])
    assertGradientsMatch(
      "residual block", wrt: named.map { ($0.name, $0.tensor) } + [("input", x)],
      regime: { pieceSignature(try block.conv1(x), pool: nil) }, maxSkipped: 3
    ) { try block(x) }
  }
}

/// `x + conv2(relu(conv1(x)))`: the identity path makes `x` receive gradient along two routes.
final class ResidualBlock: Module {
  let conv1: Conv2d
  let conv2: Conv2d

  init(channels: Int) {
    conv1 = Conv2d(channels, channels, kernelSize: 3, padding: 1)
    conv2 = Conv2d(channels, channels, kernelSize: 3, padding: 1)
    super.init()
    register("conv1", conv1)
    register("conv2", conv2)
  }

  override func forward(_ input: Tensor) throws -> Tensor {
    try Functional.add(input, conv2(Functional.relu(conv1(input))))
  }
}

/// Which piece of a piecewise-linear stage `t` is on: the sign of each element (ReLU) and, with
/// `pool`, the winner of each non-overlapping `pool`×`pool` max-pool window over `relu(t)`.
func pieceSignature(_ t: Tensor, pool: Int?) -> [Int] {
  var signature = (0..<t.count).map { t.data[$0] > 0 ? 1 : 0 }
  guard let pool else { return signature }
  let (planes, h, w) = (t.shape[0] * t.shape[1], t.shape[2], t.shape[3])
  for plane in 0..<planes {
    for y in stride(from: 0, through: h - pool, by: pool) {
      for x in stride(from: 0, through: w - pool, by: pool) {
        var best = -Float.infinity
        var winner = 0
        for dy in 0..<pool {
          for dx in 0..<pool {
            let v = max(t.data[(plane * h + y + dy) * w + x + dx], 0)
            if v > best {
              best = v
              winner = dy * pool + dx
            }
          }
        }
        signature.append(winner)
      }
    }
  }
  return signature
}
