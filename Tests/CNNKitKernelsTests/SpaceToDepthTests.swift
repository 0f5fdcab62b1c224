import CNNKitKernels
import CNNKitTestSupport
import XCTest

/// Strided convolutions through space-to-depth (phase images + a stride-1 convolution) against the
/// seven-loop references, forward and both gradients.
final class SpaceToDepthTests: XCTestCase {
  /// Odd strides, kernels that the stride does not divide, padding wider and narrower than the
  /// stride, non-square everything; the first is a narrow AlexNet conv1 and takes the Winograd route.
  private static let shapes: [Conv2dShape] = [
    Conv2dShape(
      batch: 3, inChannels: 3, inHeight: 119, inWidth: 115, outChannels: 16, kernelHeight: 11,
      kernelWidth: 11,
      strideHeight: 4, strideWidth: 4, padHeight: 2, padWidth: 2),
    Conv2dShape(
      batch: 3, inChannels: 2, inHeight: 13, inWidth: 10, outChannels: 5, kernelHeight: 5, kernelWidth: 3,
      strideHeight: 2, strideWidth: 3, padHeight: 3, padWidth: 0),
    Conv2dShape(
      batch: 1, inChannels: 4, inHeight: 9, inWidth: 11, outChannels: 3, kernelHeight: 2, kernelWidth: 7,
      strideHeight: 3, strideWidth: 2, padHeight: 1, padWidth: 4),
    Conv2dShape(
      batch: 2, inChannels: 1, inHeight: 8, inWidth: 8, outChannels: 2, kernelHeight: 1, kernelWidth: 1,
      strideHeight: 2, strideWidth: 2),
  ]

  /// Runs `body` with the default chunking and with phase images made two images at a time, so a
  /// batch of 3 splits into a full and a partial chunk.
  private func withEachChunking(_ s: Conv2dShape, _ body: (String) -> Void) {
    body("")
    let saved = Conv2dPlan.columnBudget
    defer { Conv2dPlan.columnBudget = saved }
    let t = conv2dSpaceToDepthShape(s)!
    Conv2dPlan.columnBudget = 2 * t.inChannels * t.inHeight * t.inWidth
    body(" chunk=2")
  }

  private func label(_ s: Conv2dShape) -> String {
    "N\(s.batch) C\(s.inChannels) \(s.inHeight)x\(s.inWidth) → O\(s.outChannels)"
      + " k\(s.kernelHeight)x\(s.kernelWidth) s\(s.strideHeight),\(s.strideWidth) p\(s.padHeight),\(s.padWidth)"
  }

  func testRewrittenGeometry() throws {
    let alexnet = Conv2dShape(
      batch: 1, inChannels: 3, inHeight: 224, inWidth: 224, outChannels: 64, kernelHeight: 11,
      kernelWidth: 11, strideHeight: 4, strideWidth: 4, padHeight: 2, padWidth: 2)
    let t = try XCTUnwrap(conv2dSpaceToDepthShape(alexnet))
    XCTAssertEqual([t.inChannels, t.inHeight, t.inWidth, t.kernelHeight, t.kernelWidth], [48, 57, 57, 3, 3])
    XCTAssertEqual([t.outHeight, t.outWidth], [55, 55])
    XCTAssertTrue(conv2dSpaceToDepthApplies(alexnet))
    XCTAssertTrue(conv2dSpaceToDepthApplies(Self.shapes[0]))
    // Not strided, grouped or dilated: no rewrite.
    var plain = alexnet
    (plain.strideHeight, plain.strideWidth) = (1, 1)
    XCTAssertNil(conv2dSpaceToDepthShape(plain))
    var grouped = alexnet
    (grouped.inChannels, grouped.outChannels, grouped.groups) = (4, 64, 2)
    XCTAssertNil(conv2dSpaceToDepthShape(grouped))
  }

  func testForwardMatchesReference() {
    for (index, s) in Self.shapes.enumerated() {
      var rng = TestRandom(seed: UInt64(500 + index))
      let input = rng.array(s.inputCount)
      let weight = rng.array(s.weightCount)
      let bias = rng.array(s.outChannels)
      var expected = [Float](repeating: 0, count: s.outputCount)
      conv2dForwardReference(s, input: input, weight: weight, bias: bias, output: &expected)
      withEachChunking(s) { chunking in
        var actual = [Float](repeating: .nan, count: s.outputCount)
        conv2dSpaceToDepthForward(s, input: input, weight: weight, bias: bias, output: &actual)
        let depth = s.inChannels * s.kernelHeight * s.kernelWidth
        assertClose(
          actual, expected, relative: 2e-6 * Double(depth + 8), absolute: 2e-6 * Double(depth + 8),
          "forward \(label(s))\(chunking)")
      }
    }
  }

  func testBackwardInputMatchesReference() {
    for (index, s) in Self.shapes.enumerated() {
      var rng = TestRandom(seed: UInt64(600 + index))
      let gradOutput = rng.array(s.outputCount)
      let weight = rng.array(s.weightCount)
      var expected = [Float](repeating: 0, count: s.inputCount)
      conv2dBackwardInputReference(s, gradOutput: gradOutput, weight: weight, gradInput: &expected)
      withEachChunking(s) { chunking in
        var actual = [Float](repeating: .nan, count: s.inputCount)
        conv2dSpaceToDepthBackwardInput(s, gradOutput: gradOutput, weight: weight, gradInput: &actual)
        let depth = s.outChannels * s.kernelHeight * s.kernelWidth
        assertClose(
          actual, expected, relative: 2e-6 * Double(depth + 8), absolute: 2e-6 * Double(depth + 8),
          "backward input \(label(s))\(chunking)")
      }
    }
  }

  func testBackwardWeightMatchesReference() {
    for (index, s) in Self.shapes.enumerated() {
      var rng = TestRandom(seed: UInt64(700 + index))
      let input = rng.array(s.inputCount)
      let gradOutput = rng.array(s.outputCount)
      var expectedWeight = [Float](repeating: 0, count: s.weightCount)
      var expectedBias = [Float](repeating: 0, count: s.outChannels)
      conv2dBackwardWeightReference(
        s, input: input, gradOutput: gradOutput, gradWeight: &expectedWeight, gradBias: &expectedBias)
      withEachChunking(s) { chunking in
        var actualWeight = [Float](repeating: .nan, count: s.weightCount)
        var actualBias = [Float](repeating: .nan, count: s.outChannels)
        conv2dSpaceToDepthBackwardWeight(
          s, input: input, gradOutput: gradOutput, gradWeight: &actualWeight, gradBias: &actualBias)
        let depth = s.batch * s.outHeight * s.outWidth
        let tolerance = 2e-6 * Double(depth + 8)
        assertClose(
          actualWeight, expectedWeight, relative: tolerance, absolute: tolerance,
          "weight \(label(s))\(chunking)")
        assertClose(
          actualBias, expectedBias, relative: tolerance, absolute: tolerance, "bias \(label(s))\(chunking)")
      }
    }
  }
}
