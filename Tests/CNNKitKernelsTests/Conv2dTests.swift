import CNNKitKernels
import CNNKitTestSupport
import XCTest

final class Conv2dTests: XCTestCase {
  /// Odd geometries: every stride 1…4, padding 0…3, dilation 1…2, grouped and depthwise,
  /// non-square inputs and kernels, batch 1…3.
  private static let shapes: [Conv2dShape] = [
    Conv2dShape(
      batch: 1, inChannels: 3, inHeight: 11, inWidth: 11, outChannels: 5, kernelHeight: 3, kernelWidth: 3),
    Conv2dShape(
      batch: 2, inChannels: 3, inHeight: 13, inWidth: 9, outChannels: 7, kernelHeight: 3, kernelWidth: 3,
      strideHeight: 2, strideWidth: 2, padHeight: 1, padWidth: 1),
    Conv2dShape(
      batch: 3, inChannels: 4, inHeight: 17, inWidth: 19, outChannels: 6, kernelHeight: 5, kernelWidth: 5,
      strideHeight: 3, strideWidth: 3, padHeight: 2, padWidth: 2, groups: 2),
    Conv2dShape(
      batch: 1, inChannels: 3, inHeight: 23, inWidth: 23, outChannels: 8, kernelHeight: 11, kernelWidth: 11,
      strideHeight: 4, strideWidth: 4, padHeight: 2, padWidth: 2),
    Conv2dShape(
      batch: 2, inChannels: 6, inHeight: 9, inWidth: 14, outChannels: 9, kernelHeight: 3, kernelWidth: 3,
      padHeight: 3, padWidth: 3, dilationHeight: 2, dilationWidth: 2, groups: 3),
    Conv2dShape(
      batch: 2, inChannels: 5, inHeight: 10, inWidth: 7, outChannels: 5, kernelHeight: 3, kernelWidth: 3,
      strideHeight: 1, strideWidth: 2, padHeight: 1, padWidth: 0, groups: 5),
    Conv2dShape(
      batch: 3, inChannels: 4, inHeight: 8, inWidth: 12, outChannels: 8, kernelHeight: 3, kernelWidth: 5,
      strideHeight: 2, strideWidth: 1, padHeight: 1, padWidth: 2, dilationHeight: 1, dilationWidth: 2,
      groups: 4),
    Conv2dShape(
      batch: 1, inChannels: 7, inHeight: 6, inWidth: 5, outChannels: 4, kernelHeight: 1, kernelWidth: 1,
      strideHeight: 4, strideWidth: 3),
    Conv2dShape(
      batch: 2, inChannels: 2, inHeight: 7, inWidth: 7, outChannels: 3, kernelHeight: 2, kernelWidth: 4,
      strideHeight: 3, strideWidth: 4, padHeight: 3, padWidth: 1, dilationHeight: 2, dilationWidth: 1),
    Conv2dShape(
      batch: 1, inChannels: 16, inHeight: 15, inWidth: 13, outChannels: 33, kernelHeight: 3, kernelWidth: 3,
      padHeight: 1, padWidth: 1),
    Conv2dShape(
      batch: 3, inChannels: 9, inHeight: 12, inWidth: 5, outChannels: 12, kernelHeight: 3, kernelWidth: 2,
      strideHeight: 2, strideWidth: 1, padHeight: 0, padWidth: 1, dilationHeight: 2, dilationWidth: 2,
      groups: 3),
    Conv2dShape(
      batch: 2, inChannels: 4, inHeight: 5, inWidth: 9, outChannels: 4, kernelHeight: 5, kernelWidth: 3,
      strideHeight: 1, strideWidth: 1, padHeight: 2, padWidth: 1, groups: 4),
    // Rows 33 wide with unequal padding: the padded-copy unfolding copies three vectors per row.
    Conv2dShape(
      batch: 3, inChannels: 5, inHeight: 7, inWidth: 31, outChannels: 10, kernelHeight: 5, kernelWidth: 3,
      padHeight: 1, padWidth: 2),
    // Large enough that the input gradient, computed as a convolution, takes the Winograd path.
    Conv2dShape(
      batch: 4, inChannels: 16, inHeight: 23, inWidth: 24, outChannels: 17, kernelHeight: 3, kernelWidth: 3,
      padHeight: 1, padWidth: 1),
  ]

  private func tolerance(_ s: Conv2dShape, depth: Int) -> Double {
    2e-6 * Double(depth + 8)
  }

  /// Runs `body` twice: with the default plan, and with images unfolded two at a time so batches
  /// of 3 split into a full and a partial chunk.
  private func withEachChunking(_ s: Conv2dShape, _ body: (String) -> Void) {
    body("")
    let saved = Conv2dPlan.columnBudget
    defer { Conv2dPlan.columnBudget = saved }
    let kdim = s.inChannelsPerGroup * s.kernelHeight * s.kernelWidth
    Conv2dPlan.columnBudget = 2 * max(kdim, s.outChannelsPerGroup) * s.outHeight * s.outWidth
    XCTAssertEqual(Conv2dPlan.imagesPerChunk(s), min(2, s.batch))
    body(" chunk=2")
  }

  private func label(_ s: Conv2dShape) -> String {
    "N\(s.batch) C\(s.inChannels) \(s.inHeight)x\(s.inWidth) → O\(s.outChannels)"
      + " k\(s.kernelHeight)x\(s.kernelWidth) s\(s.strideHeight),\(s.strideWidth)"
      + " p\(s.padHeight),\(s.padWidth) d\(s.dilationHeight),\(s.dilationWidth) g\(s.groups)"
  }

  func testInputGradientOfLastShapeRunsAsWinograd() {
    let s = Self.shapes.last!
    guard let t = conv2dInputGradientShape(s) else { return XCTFail("no transposed geometry") }
    XCTAssertTrue(conv2dWinogradApplies(t))
  }

  func testShapesAreValid() {
    for s in Self.shapes {
      XCTAssertGreaterThan(s.outHeight, 0, label(s))
      XCTAssertGreaterThan(s.outWidth, 0, label(s))
      XCTAssertEqual(s.inChannels % s.groups, 0, label(s))
      XCTAssertEqual(s.outChannels % s.groups, 0, label(s))
    }
  }

  func testForwardMatchesReference() {
    for (index, s) in Self.shapes.enumerated() {
      var rng = TestRandom(seed: UInt64(index + 1))
      let input = rng.array(s.inputCount)
      let weight = rng.array(s.weightCount)
      let bias = rng.array(s.outChannels)
      for useBias in [false, true] {
        withEachChunking(s) { chunking in
          var expected = [Float](repeating: 0, count: s.outputCount)
          // NaN-filled so any output the kernel forgets to write fails.
          var actual = [Float](repeating: .nan, count: s.outputCount)
          bias.withUnsafeBufferPointer { pb in
            let b = useBias ? pb.baseAddress : nil
            conv2dForwardReference(s, input: input, weight: weight, bias: b, output: &expected)
            conv2dForward(s, input: input, weight: weight, bias: b, output: &actual)
          }
          let tol = tolerance(s, depth: s.inChannelsPerGroup * s.kernelHeight * s.kernelWidth)
          assertClose(
            actual, expected, relative: tol, absolute: tol, "forward \(label(s)) bias=\(useBias)\(chunking)")
          guard conv2dRunsAsGEMM(s) else { return }
          // The GEMM path with the weight packed beforehand must not read `weight` at all: NaN there.
          var packed = [Float](repeating: .nan, count: conv2dPackedWeightCount(s))
          conv2dPackWeights(s, weight: weight, dst: &packed)
          let poisoned = [Float](repeating: .nan, count: s.weightCount)
          actual = [Float](repeating: .nan, count: s.outputCount)
          bias.withUnsafeBufferPointer { pb in
            conv2dForward(
              s, input: input, weight: poisoned, bias: useBias ? pb.baseAddress : nil, output: &actual,
              packedWeight: packed)
          }
          assertClose(
            actual, expected, relative: tol, absolute: tol,
            "forward, packed weight \(label(s)) bias=\(useBias)\(chunking)")
        }
      }
    }
  }

  /// A packed weight on a GEMM whose threads share one packed copy of the unfolded input.
  func testPackedWeightWithSharedUnfoldingMatchesReference() {
    let saved = Parallel.threadCount
    defer { Parallel.threadCount = saved }
    Parallel.threadCount = 2
    // The first of these whose GEMM shares B with this build's tile.
    var found: Conv2dShape? = nil
    for cout in [100, 60, 250] {
      for (cin, height, width) in [(111, 9, 5), (64, 13, 13), (111, 9, 9)] {
        let s = Conv2dShape(
          batch: 1, inChannels: cin, inHeight: height, inWidth: width, outChannels: cout, kernelHeight: 3,
          kernelWidth: 3, padHeight: 1, padWidth: 1)
        let split = GEMMKernelInfo.threadSplit(m: cout, n: height * width, k: cin * 9, packedA: true)
        if found == nil && conv2dRunsAsGEMM(s) && split.sharesB { found = s }
      }
    }
    guard let s = found else { return XCTFail("no candidate shares B") }
    var rng = TestRandom(seed: 77)
    let input = rng.array(s.inputCount)
    let weight = rng.array(s.weightCount)
    let bias = rng.array(s.outChannels)
    var expected = [Float](repeating: 0, count: s.outputCount)
    conv2dForwardReference(s, input: input, weight: weight, bias: bias, output: &expected)
    var packed = [Float](repeating: .nan, count: conv2dPackedWeightCount(s))
    conv2dPackWeights(s, weight: weight, dst: &packed)
    var actual = [Float](repeating: .nan, count: s.outputCount)
    conv2dForward(
      s, input: input, weight: [Float](repeating: .nan, count: s.weightCount), bias: bias, output: &actual,
      packedWeight: packed)
    let tol = tolerance(s, depth: s.inChannels * 9)
    assertClose(actual, expected, relative: tol, absolute: tol, "shared unfolding \(label(s))")
  }

  /// Most of these shapes run as GEMMs, so the packed-weight case above is exercised.
  func testPackedWeightPathIsCovered() {
    XCTAssertGreaterThanOrEqual(Self.shapes.filter(conv2dRunsAsGEMM).count, 8)
  }

  func testBackwardInputMatchesReference() {
    for (index, s) in Self.shapes.enumerated() {
      var rng = TestRandom(seed: UInt64(100 + index))
      let gradOutput = rng.array(s.outputCount)
      let weight = rng.array(s.weightCount)
      withEachChunking(s) { chunking in
        var expected = [Float](repeating: 0, count: s.inputCount)
        var actual = [Float](repeating: .nan, count: s.inputCount)
        conv2dBackwardInputReference(s, gradOutput: gradOutput, weight: weight, gradInput: &expected)
        conv2dBackwardInput(s, gradOutput: gradOutput, weight: weight, gradInput: &actual)
        let tol = tolerance(s, depth: s.outChannelsPerGroup * s.kernelHeight * s.kernelWidth)
        assertClose(actual, expected, relative: tol, absolute: tol, "backward input \(label(s))\(chunking)")
      }
    }
  }

  func testBackwardWeightMatchesReference() {
    for (index, s) in Self.shapes.enumerated() {
      var rng = TestRandom(seed: UInt64(200 + index))
      let input = rng.array(s.inputCount)
      let gradOutput = rng.array(s.outputCount)
      for withBias in [false, true] {
        withEachChunking(s) { chunking in
          var expectedWeight = [Float](repeating: 0, count: s.weightCount)
          var actualWeight = [Float](repeating: .nan, count: s.weightCount)
          var expectedBias = [Float](repeating: 0, count: s.outChannels)
          var actualBias = [Float](repeating: .nan, count: s.outChannels)
          expectedBias.withUnsafeMutableBufferPointer { eb in
            actualBias.withUnsafeMutableBufferPointer { ab in
              conv2dBackwardWeightReference(
                s, input: input, gradOutput: gradOutput, gradWeight: &expectedWeight,
                gradBias: withBias ? eb.baseAddress : nil)
              conv2dBackwardWeight(
                s, input: input, gradOutput: gradOutput, gradWeight: &actualWeight,
                gradBias: withBias ? ab.baseAddress : nil)
            }
          }
          let tol = tolerance(s, depth: s.batch * s.outHeight * s.outWidth)
          assertClose(
            actualWeight, expectedWeight, relative: tol, absolute: tol,
            "backward weight \(label(s)) bias=\(withBias)\(chunking)")
          if withBias {
            assertClose(
              actualBias, expectedBias, relative: tol, absolute: tol, "backward bias \(label(s))")
          } else {
            XCTAssertTrue(actualBias.allSatisfy { $0.isNaN }, "bias gradient written without a buffer")
          }
        }
      }
    }
  }

  func testIm2colAndCol2imAreAdjoint() {
    // <im2col(x), y> == <x, col2im(y)> for every geometry: the two must visit the same pixels.
    for (index, s) in Self.shapes.enumerated() {
      var rng = TestRandom(seed: UInt64(300 + index))
      let channels = s.inChannelsPerGroup
      let rows = channels * s.kernelHeight * s.kernelWidth
      let columnsCount = rows * s.outHeight * s.outWidth
      let image = rng.array(s.inChannels * s.inHeight * s.inWidth)
      let y = rng.array(columnsCount)
      var columns = [Float](repeating: .nan, count: columnsCount)
      var back = [Float](repeating: 0, count: image.count)
      let offset = s.inChannels - channels
      im2col(s, image: image, channelOffset: offset, channels: channels, columns: &columns)
      col2imAccumulate(s, columns: y, channelOffset: offset, channels: channels, image: &back)
      var lhs: Double = 0
      var rhs: Double = 0
      for i in 0..<columnsCount { lhs += Double(columns[i]) * Double(y[i]) }
      for i in 0..<image.count { rhs += Double(image[i]) * Double(back[i]) }
      XCTAssertEqual(lhs, rhs, accuracy: 1e-4 * max(1, abs(lhs)), label(s))
    }
  }

  func testAlexNetFirstLayerGeometry() {
    // torchvision AlexNet conv1: 224 → 55 with an 11×11 stride-4 kernel and padding 2.
    let s = Conv2dShape(
      batch: 1, inChannels: 3, inHeight: 224, inWidth: 224, outChannels: 64, kernelHeight: 11,
      kernelWidth: 11, strideHeight: 4, strideWidth: 4, padHeight: 2, padWidth: 2)
    XCTAssertEqual(s.outHeight, 55)
    XCTAssertEqual(s.outWidth, 55)
  }
}

final class Conv2dDirectTests: XCTestCase {
  /// The direct kernels against the seven-loop references: LeNet's first layer, padding, odd widths
  /// (SIMD tails), a 1×1 kernel.
  func testDirectKernelsMatchReference() {
    let shapes = [
      Conv2dShape(
        batch: 3, inChannels: 1, inHeight: 32, inWidth: 32, outChannels: 6, kernelHeight: 5, kernelWidth: 5),
      Conv2dShape(
        batch: 2, inChannels: 2, inHeight: 9, inWidth: 13, outChannels: 7, kernelHeight: 3, kernelWidth: 5,
        padHeight: 1, padWidth: 2),
      Conv2dShape(
        batch: 1, inChannels: 3, inHeight: 4, inWidth: 3, outChannels: 1, kernelHeight: 1, kernelWidth: 1),
      Conv2dShape(
        batch: 2, inChannels: 1, inHeight: 3, inWidth: 19, outChannels: 8, kernelHeight: 3, kernelWidth: 3,
        padHeight: 2, padWidth: 2),
      // Rows of 71 pixels: two whole 32-pixel blocks and a ragged one.
      Conv2dShape(
        batch: 3, inChannels: 2, inHeight: 5, inWidth: 73, outChannels: 3, kernelHeight: 2, kernelWidth: 5,
        padHeight: 0, padWidth: 1),
    ]
    for (index, s) in shapes.enumerated() {
      XCTAssertTrue(conv2dDirectApplies(s))
      var rng = TestRandom(seed: UInt64(500 + index))
      let input = rng.array(s.inputCount)
      let weight = rng.array(s.weightCount)
      let bias = rng.array(s.outChannels)
      let gradOutput = rng.array(s.outputCount)
      var expected = [Float](repeating: 0, count: s.outputCount)
      var actual = [Float](repeating: .nan, count: s.outputCount)
      var expectedW = [Float](repeating: 0, count: s.weightCount)
      var actualW = [Float](repeating: .nan, count: s.weightCount)
      var expectedB = [Float](repeating: 0, count: s.outChannels)
      var actualB = [Float](repeating: .nan, count: s.outChannels)
      bias.withUnsafeBufferPointer { b in
        conv2dForwardReference(s, input: input, weight: weight, bias: b.baseAddress, output: &expected)
        conv2dDirectForward(s, input: input, weight: weight, bias: b.baseAddress, output: &actual)
      }
      expectedB.withUnsafeMutableBufferPointer { eb in
        actualB.withUnsafeMutableBufferPointer { ab in
          conv2dBackwardWeightReference(
            s, input: input, gradOutput: gradOutput, gradWeight: &expectedW, gradBias: eb.baseAddress)
          conv2dDirectBackwardWeight(
            s, input: input, gradOutput: gradOutput, gradWeight: &actualW, gradBias: ab.baseAddress)
        }
      }
      let depth = s.inChannels * s.kernelHeight * s.kernelWidth
      let pixels = s.batch * s.outHeight * s.outWidth
      let forwardTol = 2e-6 * Double(depth + 8)
      let gradientTol = 2e-6 * Double(pixels + 8)
      assertClose(actual, expected, relative: forwardTol, absolute: forwardTol, "direct forward \(index)")
      assertClose(
        actualW, expectedW, relative: gradientTol, absolute: gradientTol, "direct weight gradient \(index)")
      assertClose(
        actualB, expectedB, relative: gradientTol, absolute: gradientTol, "direct bias gradient \(index)")
    }
  }

  func testDirectPathOnlyForSmallUnstridedLayers() {
    let lenet2 = Conv2dShape(
      batch: 1, inChannels: 6, inHeight: 14, inWidth: 14, outChannels: 16, kernelHeight: 5, kernelWidth: 5)
    let strided = Conv2dShape(
      batch: 1, inChannels: 1, inHeight: 14, inWidth: 14, outChannels: 4, kernelHeight: 3, kernelWidth: 3,
      strideHeight: 2, strideWidth: 2)
    let grouped = Conv2dShape(
      batch: 1, inChannels: 2, inHeight: 8, inWidth: 8, outChannels: 2, kernelHeight: 3, kernelWidth: 3,
      groups: 2)
    let deep = Conv2dShape(
      batch: 1, inChannels: 8, inHeight: 8, inWidth: 8, outChannels: 4, kernelHeight: 3, kernelWidth: 3)
    for s in [lenet2, strided, grouped, deep] { XCTAssertFalse(conv2dDirectApplies(s)) }
  }
}
