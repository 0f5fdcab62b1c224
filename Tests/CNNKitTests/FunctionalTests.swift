import CNNKit
import CNNKitTestSupport
import XCTest

/// Forward values against hand computations, autograd bookkeeping, meta tensors and shape errors.
final class FunctionalTests: XCTestCase {

  private func image(_ shape: [Int], _ values: [Float]) -> Tensor { Tensor(shape: shape, scalars: values) }

  /// The numbers 1, 2, ..., n.
  private func counting(_ shape: [Int]) -> Tensor {
    image(shape, (1...shape.reduce(1, *)).map(Float.init))
  }

  // MARK: Convolution and linear

  func testConv2dHandComputed() throws {
    // [[1 2 3] [4 5 6] [7 8 9]] ⋆ [[1 2] [3 4]] + 1: 1+4+12+20+1 = 38, ...
    let y = try Functional.conv2d(
      counting([1, 1, 3, 3]), weight: image([1, 1, 2, 2], [1, 2, 3, 4]), bias: image([1], [1]))
    XCTAssertEqual(y.shape, [1, 1, 2, 2])
    XCTAssertEqual(y.scalars, [38, 48, 68, 78])
  }

  func testConv2dPaddingAndStride() throws {
    // A 3×3 box filter, padding 1, stride 2: each output sums the 2×2 corner block it overlaps.
    let y = try Functional.conv2d(
      counting([1, 1, 3, 3]), weight: Tensor(repeating: 1, shape: [1, 1, 3, 3]), bias: nil, stride: (2, 2),
      padding: (1, 1))
    XCTAssertEqual(y.shape, [1, 1, 2, 2])
    XCTAssertEqual(y.scalars, [12, 16, 24, 28])
  }

  func testConv2dDilationAndGroups() throws {
    // Dilation 2 along the width: x[i] + x[i+2].
    let dilated = try Functional.conv2d(
      counting([1, 1, 1, 5]), weight: image([1, 1, 1, 2], [1, 1]), bias: nil, dilation: (1, 2))
    XCTAssertEqual(dilated.scalars, [4, 6, 8])
    // Two groups of one channel: each output channel sees only its own input channel.
    let x = image([1, 2, 2, 2], [1, 2, 3, 4, 10, 20, 30, 40])
    let grouped = try Functional.conv2d(
      x, weight: image([2, 1, 1, 1], [2, -1]), bias: image([2], [0.5, 0]), groups: 2)
    XCTAssertEqual(grouped.scalars, [2.5, 4.5, 6.5, 8.5, -10, -20, -30, -40])
  }

  func testConv2dMatchesDirectConvolution() throws {
    var data = TestData(seed: 100)
    let x = data.normal([2, 4, 9, 8])
    let w = data.normal([6, 2, 3, 3])
    let b = data.normal([6])
    let y = try Functional.conv2d(
      x, weight: w, bias: b, stride: (2, 1), padding: (1, 2), dilation: (1, 2), groups: 2)
    let expected = naiveConv2d(x, w, b, stride: (2, 1), padding: (1, 2), dilation: (1, 2), groups: 2)
    XCTAssertEqual(y.shape, expected.shape)
    assertClose(y.scalars, expected.values, absolute: 1e-4, "conv2d")
  }

  func testLinearHandComputed() throws {
    let y = try Functional.linear(
      image([2, 2], [1, 2, 3, 4]), weight: image([3, 2], [1, 0, 0, 1, 1, 1]),
      bias: image([3], [0.5, -0.5, 0]))
    XCTAssertEqual(y.shape, [2, 3])
    XCTAssertEqual(y.scalars, [1.5, 1.5, 3, 3.5, 3.5, 7])
  }

  // MARK: Pooling

  func testMaxPool2d() throws {
    let x = image([1, 1, 4, 4], [1, 5, 2, 0, 3, 4, 8, 7, 9, 1, 0, 6, 2, 3, 4, 5])
    x.requiresGrad = true
    let y = try Functional.maxPool2d(x, kernel: (2, 2), stride: (2, 2))
    XCTAssertEqual(y.scalars, [5, 8, 9, 6])
    // The gradient goes to each window's maximum only.
    y.backward(image([1, 1, 2, 2], [1, 2, 3, 4]))
    XCTAssertEqual(x.grad?.scalars, [0, 1, 0, 0, 0, 0, 2, 0, 3, 0, 0, 4, 0, 0, 0, 0])
    // Padding counts as −∞: the corner window sees only x[0..1][0..1].
    let padded = try Functional.maxPool2d(x, kernel: (3, 3), stride: (2, 2), padding: (1, 1))
    XCTAssertEqual(padded.scalars, [5, 8, 9, 8])
  }

  func testMaxPool2dCeilMode() throws {
    let x = counting([1, 1, 3, 3])
    let floor = try Functional.maxPool2d(x, kernel: (2, 2), stride: (2, 2))
    XCTAssertEqual(floor.shape, [1, 1, 1, 1])
    XCTAssertEqual(floor.scalars, [5])
    // Ceil mode keeps the partial windows at the right and bottom edges.
    let ceil = try Functional.maxPool2d(x, kernel: (2, 2), stride: (2, 2), ceilMode: true)
    XCTAssertEqual(ceil.shape, [1, 1, 2, 2])
    XCTAssertEqual(ceil.scalars, [5, 6, 8, 9])
    // ... but never a window that would start in the right padding: 5 + 2 - 2 = 5 → ceil(5/2) + 1 = 4,
    // and the fourth window would start at 6 - 1 = 5 ≥ 5, so PyTorch drops it.
    let edge = try Functional.maxPool2d(
      counting([1, 1, 1, 5]), kernel: (1, 2), stride: (1, 2), padding: (0, 1), ceilMode: true)
    XCTAssertEqual(edge.shape, [1, 1, 1, 3])
    XCTAssertEqual(edge.scalars, [1, 3, 5])
  }

  func testAvgPool2dCountIncludePad() throws {
    let x = counting([1, 1, 3, 3])
    // Windows of 2×2 starting at −1: corner holds 1; top edge 2+3; left edge 4+7; centre 5+6+8+9.
    let include = try Functional.avgPool2d(x, kernel: (2, 2), stride: (2, 2), padding: (1, 1))
    XCTAssertEqual(include.scalars, [0.25, 1.25, 2.75, 7])
    let exclude = try Functional.avgPool2d(
      x, kernel: (2, 2), stride: (2, 2), padding: (1, 1), countIncludePad: false)
    XCTAssertEqual(exclude.scalars, [1, 2.5, 5.5, 7])
  }

  func testAvgPool2dCeilMode() throws {
    // Width 4, kernel 3, stride 2, padding 1: windows [-1, 2), [1, 4) and, in ceil mode, [3, 6) which
    // PyTorch clips to the padded extent [3, 5): divisor 2 with padding counted, 1 without.
    let x = counting([1, 1, 1, 4])
    let floor = try Functional.avgPool2d(x, kernel: (1, 3), stride: (1, 2), padding: (0, 1))
    XCTAssertEqual(floor.scalars, [1, 3])
    let include = try Functional.avgPool2d(x, kernel: (1, 3), stride: (1, 2), padding: (0, 1), ceilMode: true)
    XCTAssertEqual(include.scalars, [1, 3, 2])
    let exclude = try Functional.avgPool2d(
      x, kernel: (1, 3), stride: (1, 2), padding: (0, 1), ceilMode: true, countIncludePad: false)
    XCTAssertEqual(exclude.scalars, [1.5, 3, 4])
  }

  func testAdaptiveAvgPool2d() throws {
    // 7 → 3: windows [0, 3), [2, 5), [4, 7) overlap.
    XCTAssertEqual(
      try Functional.adaptiveAvgPool2d(counting([1, 1, 1, 7]), outputSize: (1, 3)).scalars, [2, 4, 6])
    // 5 → 2: windows [0, 3) and [2, 5) in both directions over x = 5·row + col.
    let x = image([1, 1, 5, 5], (0..<25).map(Float.init))
    XCTAssertEqual(try Functional.adaptiveAvgPool2d(x, outputSize: (2, 2)).scalars, [6, 8, 16, 18])
    // Output larger than input repeats cells: 2 → 4 gives [x0, x0, x1, x1].
    XCTAssertEqual(
      try Functional.adaptiveAvgPool2d(counting([1, 1, 1, 2]), outputSize: (1, 4)).scalars, [1, 1, 2, 2])
    // Same size: every window is one pixel, the input comes back unchanged.
    XCTAssertEqual(try Functional.adaptiveAvgPool2d(x, outputSize: (5, 5)).scalars, x.scalars)
  }

  // MARK: Normalisation

  func testBatchNormTrainingStatistics() throws {
    var data = TestData(seed: 110)
    let x = data.normal([8, 3, 4, 5], mean: 3, std: 2, requiresGrad: false)
    let y = try Functional.batchNorm(
      x, runningMean: nil, runningVar: nil, weight: nil, bias: nil, training: true)
    for c in 0..<3 {
      var values: [Double] = []
      for n in 0..<8 { for i in 0..<20 { values.append(Double(y.data[(n * 3 + c) * 20 + i])) } }
      let mean = values.reduce(0, +) / Double(values.count)
      let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
      XCTAssertEqual(mean, 0, accuracy: 1e-5, "channel \(c) mean")
      XCTAssertEqual(variance, 1, accuracy: 1e-3, "channel \(c) variance")
    }
  }

  func testBatchNormRunningStatisticsUseUnbiasedVariance() throws {
    // Channel 0 holds 1, 2, 3, 4 (mean 2.5, biased var 1.25, unbiased 5/3);
    // channel 1 holds 0, 4, -2, 2 (mean 1, biased var 5, unbiased 20/3).
    let x = image([2, 2, 1, 2], [1, 2, 0, 4, 3, 4, -2, 2])
    let bn = BatchNorm2d(2)
    XCTAssertEqual(bn.numBatchesTracked.item, 0)
    let y = try bn(x)
    XCTAssertEqual(bn.runningMean.scalars[0], 0.25, accuracy: 1e-6)
    XCTAssertEqual(bn.runningMean.scalars[1], 0.1, accuracy: 1e-6)
    XCTAssertEqual(bn.runningVar.scalars[0], 0.9 + 0.1 * 5 / 3, accuracy: 1e-6)
    XCTAssertEqual(bn.runningVar.scalars[1], 0.9 + 0.1 * 20 / 3, accuracy: 1e-6)
    XCTAssertEqual(bn.numBatchesTracked.item, 1)
    // The output uses the biased variance: (1 - 2.5) / √(1.25 + 1e-5).
    XCTAssertEqual(y.data[0], -1.3416354, accuracy: 1e-5)

    _ = try bn(x)
    XCTAssertEqual(bn.numBatchesTracked.item, 2)
    XCTAssertEqual(bn.runningMean.scalars[0], 0.9 * 0.25 + 0.1 * 2.5, accuracy: 1e-6)

    // Eval mode: running statistics normalise, nothing is updated.
    bn.eval()
    let (mean, variance) = (bn.runningMean.scalars, bn.runningVar.scalars)
    let z = try bn(x)
    XCTAssertEqual(bn.numBatchesTracked.item, 2)
    XCTAssertEqual(bn.runningMean.scalars, mean)
    XCTAssertEqual(bn.runningVar.scalars, variance)
    XCTAssertEqual(z.data[0], (1 - mean[0]) / (variance[0] + 1e-5).squareRoot(), accuracy: 1e-6)
    XCTAssertEqual(z.data[3], (4 - mean[1]) / (variance[1] + 1e-5).squareRoot(), accuracy: 1e-6)
  }

  func testBatchNormAffine() throws {
    let x = image([2, 1, 1, 2], [1, 2, 3, 4])
    let y = try Functional.batchNorm(
      x, runningMean: nil, runningVar: nil, weight: image([1], [2]), bias: image([1], [10]), training: true)
    let s = Float((1.25 + 1e-5).squareRoot())
    assertClose(
      y.scalars, [-1.5, -0.5, 0.5, 1.5].map { Double(10 + 2 * $0 / s) }, absolute: 1e-5, "γ·x̂ + β")
  }

  func testLocalResponseNormHandComputed() throws {
    // One pixel, channels 1…5, size 3, α 0.3, β 0.75, k 2 (PyTorch convention: α/n).
    // Channel 2: window [1, 3] → 2² + 3² + 4² = 29 → 3·(2 + 0.1·29)^-0.75 = 3·4.9^-0.75.
    // Channel 0: window [-1, 1] clipped to [0, 1] → 1 + 4 = 5 → (2 + 0.5)^-0.75.
    let x = counting([1, 5, 1, 1])
    let y = try Functional.localResponseNorm(x, size: 3, alpha: 0.3, beta: 0.75, k: 2)
    XCTAssertEqual(y.data[2], 0.91090733, accuracy: 1e-6)
    XCTAssertEqual(y.data[0], 0.50297337, accuracy: 1e-6)
    // Even size 4: window [c - 2, c + 1]. Channel 2: 1 + 4 + 9 + 16 = 30 → 3·(2 + 0.075·30)^-0.75;
    // channel 4: [2, 5] clipped to [2, 4] → 9 + 16 + 25 = 50 → 5·(2 + 0.075·50)^-0.75.
    let even = try Functional.localResponseNorm(x, size: 4, alpha: 0.3, beta: 0.75, k: 2)
    XCTAssertEqual(even.data[2], 1.01351355, accuracy: 1e-6)
    XCTAssertEqual(even.data[4], 1.34653957, accuracy: 1e-6)
  }

  func testLocalResponseNormConventionsDifferByAlphaOverSize() throws {
    var data = TestData(seed: 111)
    let x = data.normal([2, 7, 3, 3], std: 3, requiresGrad: false)
    let size = 5
    let alpha: Float = 1e-2
    let paper = try Functional.localResponseNorm(
      x, size: size, alpha: alpha, beta: 0.75, k: 2, convention: .paper)
    let pytorchScaled = try Functional.localResponseNorm(
      x, size: size, alpha: alpha * Float(size), beta: 0.75, k: 2, convention: .pytorch)
    let pytorch = try Functional.localResponseNorm(
      x, size: size, alpha: alpha, beta: 0.75, k: 2, convention: .pytorch)
    var largestGap: Float = 0
    for i in 0..<x.count {
      XCTAssertEqual(paper.data[i], pytorchScaled.data[i], accuracy: 1e-6 * max(1, abs(paper.data[i])))
      largestGap = max(largestGap, abs(paper.data[i] - pytorch.data[i]))
    }
    // The conventions are not interchangeable: with α unchanged the outputs differ markedly.
    XCTAssertGreaterThan(largestGap, 0.05)
    // The layer applies its convention too.
    let layer = try LocalResponseNorm(size: size, alpha: alpha, beta: 0.75, k: 2, convention: .paper)(x)
    XCTAssertEqual(layer.scalars, paper.scalars)
  }

  // MARK: Activations and losses

  func testReLU() {
    XCTAssertEqual(Functional.relu(image([5], [-2, -0.5, 0, 0.5, 3])).scalars, [0, 0, 0, 0.5, 3])
  }

  func testSoftmaxRowsSumToOne() throws {
    var data = TestData(seed: 112)
    let x = data.normal([4, 6], std: 5, requiresGrad: false)
    let p = Functional.softmax(x)
    for r in 0..<4 {
      let row = (0..<6).map { Double(p.data[r * 6 + $0]) }
      XCTAssertEqual(row.reduce(0, +), 1, accuracy: 1e-6)
      XCTAssertTrue(row.allSatisfy { $0 > 0 })
    }
    // softmax(0, ln 2, ln 3) = (1, 2, 3)/6; huge logits do not overflow.
    assertClose(
      Functional.softmax(image([1, 3], [0, log(2), log(3)])).scalars, [1.0 / 6, 2.0 / 6, 3.0 / 6],
      absolute: 1e-6,
      "softmax")
    XCTAssertEqual(Functional.softmax(image([1, 2], [1000, 1000])).scalars, [0.5, 0.5])
    // log-softmax is the log of softmax.
    let logP = Functional.logSoftmax(x)
    for i in 0..<x.count { XCTAssertEqual(logP.data[i], log(p.data[i]), accuracy: 1e-5) }
  }

  func testCrossEntropyOfUniformLogitsIsLogC() throws {
    // Rows of equal logits (any value) give probability 1/C for every class.
    let logits = image([3, 7], (0..<21).map { Float($0 / 7) * 3 - 2 })
    let loss = try Functional.crossEntropy(logits, targets: [0, 6, 3])
    XCTAssertEqual(loss.item, Float(log(7.0)), accuracy: 1e-6)
    // nll_loss averages −logp[target]: (2 + 3) / 2.
    let nll = try Functional.nllLoss(image([2, 2], [-1, -2, -3, -4]), targets: [1, 0])
    XCTAssertEqual(nll.item, 2.5)
  }

  func testDropout() {
    let x = Tensor(repeating: 1, shape: [100, 100])
    var rng = RandomGenerator(seed: 113)
    let eval = Functional.dropout(x, p: 0.3, training: false, using: &rng)
    XCTAssertEqual(eval.scalars, x.scalars)
    let y = Functional.dropout(x, p: 0.3, training: true, using: &rng)
    let kept = y.scalars.filter { $0 != 0 }
    // Kept fraction ≈ 0.7 (10 000 Bernoulli draws: σ ≈ 0.005), each scaled to 1/0.7.
    XCTAssertEqual(Double(kept.count) / 10_000, 0.7, accuracy: 0.02)
    XCTAssertTrue(kept.allSatisfy { abs($0 - 1 / 0.7) < 1e-6 })
    // The same seed drops the same elements.
    var a = RandomGenerator(seed: 5)
    var b = RandomGenerator(seed: 5)
    XCTAssertEqual(
      Functional.dropout(x, p: 0.5, training: true, using: &a).scalars,
      Functional.dropout(x, p: 0.5, training: true, using: &b).scalars)
    // The Dropout layer is the identity in eval mode.
    let layer = Dropout(0.5)
    layer.eval()
    XCTAssertEqual(try layer(x).scalars, x.scalars)
  }

  func testElementwiseAndShapeOps() throws {
    let a = counting([2, 3])
    XCTAssertEqual(try Functional.add(a, a).scalars, [2, 4, 6, 8, 10, 12])
    XCTAssertEqual(Functional.scale(a, by: -0.5).scalars, [-0.5, -1, -1.5, -2, -2.5, -3])
    XCTAssertEqual(Functional.sum(a).item, 21)
    XCTAssertEqual(Functional.mean(a).item, 3.5)
    let r = try Functional.reshape(a, [3, -1])
    XCTAssertEqual(r.shape, [3, 2])
    XCTAssertEqual(r.scalars, a.scalars)
    XCTAssertEqual(try Functional.flatten(counting([2, 3, 4, 5])).shape, [2, 60])
    XCTAssertEqual(try Functional.flatten(counting([2, 3, 4, 5]), startDim: 2).shape, [2, 3, 20])
  }

  // MARK: Autograd bookkeeping

  func testNoGradRecordsNothing() throws {
    let x = Tensor(repeating: 1, shape: [2, 3], requiresGrad: true)
    let y = GradMode.withNoGrad { Functional.relu(x) }
    XCTAssertFalse(y.requiresGrad)
    XCTAssertTrue(GradMode.isEnabled)
    // Nested blocks restore the outer state, also when the body throws.
    GradMode.withNoGrad {
      GradMode.withNoGrad {}
      XCTAssertFalse(GradMode.isEnabled)
    }
    XCTAssertThrowsError(try GradMode.withNoGrad { _ = try Functional.add(x, Tensor(zeros: [3])) })
    XCTAssertTrue(GradMode.isEnabled)
    // With grad mode on the same op records history.
    XCTAssertTrue(Functional.relu(x).requiresGrad)
    XCTAssertFalse(Functional.relu(Tensor(zeros: [2])).requiresGrad)
  }

  func testBackwardAccumulatesAcrossCalls() throws {
    let x = image([3], [1, -2, 3])
    x.requiresGrad = true
    for _ in 0..<2 { Functional.sum(Functional.scale(x, by: 3)).backward() }
    XCTAssertEqual(x.grad?.scalars, [6, 6, 6])
    // A tensor used twice in one graph gets both contributions.
    x.grad = nil
    try Functional.sum(Functional.add(x, Functional.relu(x))).backward()
    XCTAssertEqual(x.grad?.scalars, [2, 1, 2])
  }

  func testGraphIsReleased() throws {
    // A forward pass that is never differentiated (evaluation with grad mode on) must not leak its
    // graph: outputs free themselves and everything they recorded.
    func weakOutputs(_ body: (Tensor) throws -> Tensor) throws -> (Tensor?, Tensor?) {
      weak var output: Tensor?
      weak var input: Tensor?
      try {
        let x = Tensor(repeating: 0.5, shape: [2, 4], requiresGrad: true)
        let y = try body(x)
        XCTAssertTrue(y.requiresGrad)
        output = y
        input = x
      }()
      return (output, input)
    }
    let ops: [(String, (Tensor) throws -> Tensor)] = [
      ("relu", { Functional.relu($0) }),
      ("softmax", { Functional.softmax($0) }),
      ("log_softmax", { Functional.logSoftmax($0) }),
      ("cross_entropy", { try Functional.crossEntropy($0, targets: [0, 1]) }),
      ("linear", { try Functional.linear($0, weight: Tensor(zeros: [3, 4]), bias: nil) }),
      (
        "max_pool2d",
        { try Functional.maxPool2d(Functional.reshape($0, [1, 2, 2, 2]), kernel: (2, 2), stride: (1, 1)) }
      ),
    ]
    for (name, op) in ops {
      let (output, input) = try weakOutputs(op)
      XCTAssertNil(output, "\(name) output leaked")
      XCTAssertNil(input, "\(name) input leaked")
    }
    // After backward, likewise.
    let (output, _) = try weakOutputs { x in
      let y = Functional.softmax(Functional.relu(x))
      Functional.sum(y).backward()
      return y
    }
    XCTAssertNil(output)
  }

  // MARK: Meta tensors

  func testMetaTensorsPropagateShapes() throws {
    let x = Tensor(metaShape: [2, 3, 32, 30])
    let model = Sequential(
      Conv2d(3, 8, kernelSize: 5, stride: 2, padding: 1), BatchNorm2d(8), ReLU(),
      LocalResponseNorm(size: 3), MaxPool2d(kernelSize: 3, stride: 2, ceilMode: true),
      AvgPool2d(kernelSize: 2, stride: 1, padding: 1), AdaptiveAvgPool2d((3, 2)), Flatten(), Dropout(0.5),
      Linear(48, 10), LogSoftmax())
    let y = try model(x)
    XCTAssertTrue(y.isMeta)
    XCTAssertEqual(y.shape, [2, 10])
    XCTAssertEqual(y.storage.count, 0)
    XCTAssertFalse(y.requiresGrad)
    // Conv: (32 + 2 - 5)/2 + 1 = 15, (30 + 2 - 5)/2 + 1 = 14; ceil max-pool: 7 × 7 (the width
    // ceil(11/2) + 1 = 7 where floor mode gives 6); avg-pool k2 s1 p1: 8 × 8.
    let features = Sequential(
      Conv2d(3, 8, kernelSize: 5, stride: 2, padding: 1), MaxPool2d(kernelSize: 3, stride: 2, ceilMode: true),
      AvgPool2d(kernelSize: 2, stride: 1, padding: 1))
    XCTAssertEqual(try features(x).shape, [2, 8, 8, 8])
    // Nothing ran: training-mode batch norm on meta input leaves its statistics alone.
    let bn = model[1] as! BatchNorm2d
    XCTAssertEqual(bn.numBatchesTracked.item, 0)
    XCTAssertEqual(bn.runningMean.scalars, [Float](repeating: 0, count: 8))
    // Functional ops on meta tensors.
    XCTAssertEqual(Functional.sum(Tensor(metaShape: [4, 5])).shape, [1])
    XCTAssertEqual(try Functional.reshape(Tensor(metaShape: [4, 6]), [-1, 3]).shape, [8, 3])
    XCTAssertTrue(try Functional.add(Tensor(metaShape: [2]), Tensor(metaShape: [2])).isMeta)
  }

  // MARK: Errors

  /// The op name and message of a `TensorError`, or a failure.
  private func opError(
    _ body: () throws -> Tensor, file: StaticString = #filePath, line: UInt = #line
  ) -> (kind: String, operation: String, message: String)? {
    do {
      _ = try body()
      XCTFail("expected a TensorError", file: file, line: line)
    } catch let error as TensorError {
      switch error {
      case .shapeMismatch(let op, let message): return ("shapeMismatch", op, message)
      case .emptyOutput(let op, let message): return ("emptyOutput", op, message)
      case .inLayer(let layer, let message): return ("inLayer", layer, message)
      case .deviceMismatch(let op, _): return ("deviceMismatch", op, error.description)
      }
    } catch {
      XCTFail("unexpected error \(error)", file: file, line: line)
    }
    return nil
  }

  func testShapeErrorsNameTheOp() throws {
    let w = Tensor(zeros: [4, 3, 3, 3])
    let wrongChannels = opError { try Functional.conv2d(Tensor(zeros: [1, 2, 8, 8]), weight: w, bias: nil) }
    XCTAssertEqual(wrongChannels?.kind, "shapeMismatch")
    XCTAssertEqual(wrongChannels?.operation, "conv2d")
    XCTAssertTrue(wrongChannels?.message.contains("[1, 2, 8, 8]") ?? false, wrongChannels?.message ?? "")
    let tooSmall = opError { try Functional.conv2d(Tensor(zeros: [1, 3, 2, 2]), weight: w, bias: nil) }
    XCTAssertEqual(tooSmall?.kind, "emptyOutput")
    XCTAssertEqual(tooSmall?.operation, "conv2d")
    XCTAssertEqual(
      opError { try Functional.conv2d(Tensor(zeros: [1, 3, 8, 8]), weight: w, bias: Tensor(zeros: [3])) }?
        .operation, "conv2d")

    let pool = opError {
      try Functional.maxPool2d(Tensor(zeros: [1, 1, 2, 2]), kernel: (3, 3), stride: (2, 2))
    }
    XCTAssertEqual(pool?.kind, "emptyOutput")
    XCTAssertEqual(pool?.operation, "max_pool2d")
    XCTAssertEqual(
      opError {
        try Functional.avgPool2d(
          Tensor(zeros: [1, 1, 4, 4]), kernel: (2, 2), stride: (2, 2), padding: (2, 2))
      }?
      .operation, "avg_pool2d")
    XCTAssertEqual(
      opError { try Functional.linear(Tensor(zeros: [2, 5]), weight: Tensor(zeros: [3, 4]), bias: nil) }?
        .operation, "linear")
    XCTAssertEqual(opError { try Functional.add(Tensor(zeros: [2]), Tensor(zeros: [3])) }?.operation, "add")
    XCTAssertEqual(opError { try Functional.reshape(Tensor(zeros: [2, 3]), [4, -1]) }?.operation, "reshape")
    XCTAssertEqual(
      opError { try Functional.nllLoss(Tensor(zeros: [2, 3]), targets: [0, 3]) }?.operation, "nll_loss")
    XCTAssertEqual(
      opError {
        try Functional.batchNorm(
          Tensor(zeros: [1, 2, 1, 1]), runningMean: nil, runningVar: nil, weight: nil, bias: nil,
          training: true)
      }?.operation, "batch_norm")
  }

  func testModuleWrapsErrorWithLayerDescription() throws {
    let conv = Conv2d(3, 64, kernelSize: 11, stride: 4, padding: 2)
    let layer = "Conv2d(3, 64, kernel_size=(11, 11), stride=(4, 4), padding=(2, 2))"
    // 5 + 2·2 < 11: the kernel does not fit, on real and on meta input alike.
    for input in [Tensor(zeros: [1, 3, 5, 5]), Tensor(metaShape: [1, 3, 5, 5])] {
      let small = opError { try conv(input) }
      XCTAssertEqual(small?.kind, "inLayer")
      XCTAssertEqual(small?.operation, layer)
      XCTAssertTrue(small?.message.hasPrefix("conv2d: ") ?? false, small?.message ?? "")
      XCTAssertTrue(small?.message.contains("empty") ?? false, small?.message ?? "")
    }
    let channels = opError { try conv(Tensor(metaShape: [1, 4, 224, 224])) }
    XCTAssertEqual(channels?.operation, layer)
    XCTAssertTrue(channels?.message.contains("4 channels") ?? false, channels?.message ?? "")
    // Containers pass the innermost layer's error through unchanged.
    let model = Sequential(Sequential(ReLU(), conv), ReLU())
    let nested = opError { try model(Tensor(metaShape: [1, 3, 5, 5])) }
    XCTAssertEqual(nested?.kind, "inLayer")
    XCTAssertEqual(nested?.operation, layer)
    let linear = opError { try Linear(10, 2)(Tensor(zeros: [1, 9])) }
    XCTAssertEqual(linear?.operation, "Linear(in_features=10, out_features=2, bias=True)")
    XCTAssertTrue(linear?.message.hasPrefix("linear: ") ?? false)
  }
}
