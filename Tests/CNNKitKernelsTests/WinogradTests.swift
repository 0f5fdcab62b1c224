import CNNKitKernels
import XCTest

final class WinogradTests: XCTestCase {
  /// Largest `|winograd − reference| / Σ|products|` seen over all elements of all cases so far.
  private var worstError: Double = 0

  private func label(_ s: Conv2dShape, bias: Bool) -> String {
    "N\(s.batch) C\(s.inChannels) \(s.inHeight)x\(s.inWidth) → O\(s.outChannels)"
      + " p\(s.padHeight),\(s.padWidth) bias \(bias)"
  }

  /// Runs both kernels and checks every element against the magnitude of the sum it is: the error
  /// of the transforms scales with `Σ|input · weight|`, not with the (possibly cancelling) result.
  private func check(
    _ s: Conv2dShape, bias useBias: Bool, seed: UInt64, scratchBytes: Int = 16 << 20,
    pretransformed: Bool = false, tileTwo: Bool = false, tolerance: Double = 1e-5,
    file: StaticString = #filePath, line: UInt = #line
  ) {
    var random = TestRandom(seed: seed)
    let input = random.array(s.inputCount)
    let weight = random.array(s.weightCount)
    let bias = useBias ? random.array(s.outChannels) : nil
    var expected = [Float](repeating: 0, count: s.outputCount)
    var magnitude = [Float](repeating: 0, count: s.outputCount)
    // NaN everywhere first: every element must be written.
    var actual = [Float](repeating: .nan, count: s.outputCount)
    let absBias = (bias ?? []).map(abs)
    (bias ?? []).withUnsafeBufferPointer { pb in
      absBias.withUnsafeBufferPointer { pab in
        let (b, ab) = useBias ? (pb.baseAddress, pab.baseAddress) : (nil, nil)
        conv2dForwardReference(s, input: input, weight: weight, bias: b, output: &expected)
        conv2dForwardReference(
          s, input: input.map(abs), weight: weight.map(abs), bias: ab, output: &magnitude)
        if tileTwo && pretransformed {
          var transformed = [Float](repeating: .nan, count: conv2dWinogradF2TransformedWeightCount(s))
          conv2dWinogradF2TransformWeights(s, weight: weight, dst: &transformed)
          conv2dWinogradF2Forward(
            s, input: input, weight: weight, bias: b, output: &actual, transformedWeight: transformed)
        } else if tileTwo {
          conv2dWinogradF2Forward(s, input: input, weight: weight, bias: b, output: &actual)
        } else if pretransformed {
          var transformed = [Float](repeating: .nan, count: conv2dWinogradTransformedWeightCount(s))
          conv2dWinogradTransformWeights(s, weight: weight, dst: &transformed)
          conv2dWinogradForward(
            s, input: input, weight: weight, bias: b, output: &actual, scratchBytes: scratchBytes,
            transformedWeight: transformed)
        } else {
          conv2dWinogradForward(
            s, input: input, weight: weight, bias: b, output: &actual, scratchBytes: scratchBytes)
        }
      }
    }
    var worst: Double = 0
    var worstIndex = 0
    for i in 0..<s.outputCount {
      let error = Double(abs(actual[i] - expected[i])) / max(1e-30, Double(magnitude[i]))
      if !(error <= worst) {
        worst = error
        worstIndex = i
        if error.isNaN { break }
      }
    }
    worstError = max(worstError, worst)
    XCTAssert(
      worst <= tolerance,
      "\(label(s, bias: useBias)): element \(worstIndex) is \(actual[worstIndex]), expected"
        + " \(expected[worstIndex]) (error \(worst) of Σ|products| \(magnitude[worstIndex]))",
      file: file, line: line)
  }

  private func shape(
    batch: Int, inChannels: Int, height: Int, width: Int, outChannels: Int, pad: Int
  ) -> Conv2dShape {
    Conv2dShape(
      batch: batch, inChannels: inChannels, inHeight: height, inWidth: width, outChannels: outChannels,
      kernelHeight: 3, kernelWidth: 3, padHeight: pad, padWidth: pad)
  }

  func testOddShapesMatchReference() {
    let sizes = [1, 2, 3, 5, 7, 13, 14, 17]
    let channels = [1, 3, 5, 17]
    var cases = 0
    for (hi, h) in sizes.enumerated() {
      for pad in 0...2 {
        let k = hi * 3 + pad
        let w = sizes[(hi + 2 * pad + 3) % sizes.count]
        let s = shape(
          batch: 1 + k % 3, inChannels: channels[k % 4], height: h, width: w,
          outChannels: channels[(k / 4 + k) % 4], pad: pad)
        if s.outHeight <= 0 || s.outWidth <= 0 { continue }
        check(s, bias: k % 2 == 0, seed: UInt64(k + 1))
        cases += 1
      }
    }
    XCTAssertGreaterThan(cases, 16)
    print("WinogradTests: worst error over \(cases) odd shapes \(worstError) of Σ|products|")
  }

  func testSquareAndNonSquarePaddingMix() {
    check(
      Conv2dShape(
        batch: 2, inChannels: 5, inHeight: 9, inWidth: 6, outChannels: 3, kernelHeight: 3, kernelWidth: 3,
        padHeight: 2, padWidth: 0),
      bias: true, seed: 41)
    check(
      Conv2dShape(
        batch: 3, inChannels: 3, inHeight: 4, inWidth: 11, outChannels: 5, kernelHeight: 3, kernelWidth: 3,
        padHeight: 0, padWidth: 1),
      bias: false, seed: 42)
  }

  func testChunksSplitImagesAndBatches() {
    // A tiny scratch budget forces chunks of 8 tiles that end inside tile rows and images.
    let s = shape(batch: 3, inChannels: 17, height: 17, width: 13, outChannels: 5, pad: 1)
    check(s, bias: true, seed: 7, scratchBytes: 1)
    check(s, bias: false, seed: 8, scratchBytes: 40_000)
  }

  func testWideRowsRunEightTilesAtOnce() {
    // 12 and 16 tiles per row: full 8-tile runs, a short run, and (with a small scratch) chunks
    // that end inside a run.
    check(shape(batch: 2, inChannels: 5, height: 11, width: 45, outChannels: 6, pad: 1), bias: true, seed: 51)
    check(
      shape(batch: 3, inChannels: 4, height: 9, width: 66, outChannels: 3, pad: 0), bias: false, seed: 52,
      scratchBytes: 30_000)
  }

  func testDeepInputsSpanSeveralPackedSlices() {
    // More input channels than one packed GEMM slice holds (unequal slices of 150 and 135), on
    // 13-wide maps (tiles gathered 8 at a time) and on 7-tile rows, whose 8-tile runs cross from one
    // 32-tile sliver of the packed input into the next; with weights transformed per call and kept.
    let narrow = shape(batch: 2, inChannels: 300, height: 13, width: 13, outChannels: 20, pad: 1)
    let wide = shape(batch: 3, inChannels: 270, height: 6, width: 26, outChannels: 7, pad: 1)
    for pretransformed in [false, true] {
      check(narrow, bias: true, seed: 61, pretransformed: pretransformed)
      check(wide, bias: false, seed: 62, pretransformed: pretransformed)
      check(wide, bias: true, seed: 63, scratchBytes: 1_000_000, pretransformed: pretransformed)
    }
  }

  func testVGGLikeLayer() {
    let s = shape(batch: 1, inChannels: 64, height: 28, width: 28, outChannels: 64, pad: 1)
    check(s, bias: true, seed: 99)
    print("WinogradTests: VGG-like 64→64 28×28 worst error \(worstError) of Σ|products|")
  }

  func testAppliesOnlyToThreeByThreeStrideOne() {
    let vgg = shape(batch: 2, inChannels: 64, height: 28, width: 28, outChannels: 64, pad: 1)
    XCTAssertTrue(conv2dWinogradApplies(vgg))
    XCTAssertFalse(
      conv2dWinogradApplies(
        Conv2dShape(
          batch: 1, inChannels: 512, inHeight: 7, inWidth: 7, outChannels: 512, kernelHeight: 3,
          kernelWidth: 3,
          padHeight: 1, padWidth: 1)), "too few tiles")
    // Kept (inference) weights: a 14×14 layer's sixteen tiles are enough.
    XCTAssertTrue(
      conv2dWinogradApplies(
        Conv2dShape(
          batch: 1, inChannels: 512, inHeight: 14, inWidth: 14, outChannels: 512, kernelHeight: 3,
          kernelWidth: 3, padHeight: 1, padWidth: 1), weightsKept: true))
    var thin = vgg
    thin.inChannels = 3
    XCTAssertFalse(conv2dWinogradApplies(thin), "3 input channels")
    var s = vgg
    s.strideHeight = 2
    s.strideWidth = 2
    XCTAssertFalse(conv2dWinogradApplies(s), "stride 2")
    s = vgg
    s.kernelHeight = 5
    s.kernelWidth = 5
    s.padHeight = 2
    s.padWidth = 2
    XCTAssertFalse(conv2dWinogradApplies(s), "5×5")
    s = vgg
    s.groups = 2
    XCTAssertFalse(conv2dWinogradApplies(s), "groups 2")
    s = vgg
    s.dilationHeight = 2
    s.dilationWidth = 2
    s.padHeight = 2
    s.padWidth = 2
    XCTAssertFalse(conv2dWinogradApplies(s), "dilation 2")
    s = vgg
    s.strideWidth = 2
    XCTAssertFalse(conv2dWinogradApplies(s), "stride 1×2")
    s = vgg
    s.kernelWidth = 1
    XCTAssertFalse(conv2dWinogradApplies(s), "3×1")
  }
}

/// Winograd F(2×2, 3×3) (`tileTwo`) against the naive convolution, through the same `check`.
extension WinogradTests {
  func testTileTwoOddShapesMatchReference() {
    // Odd and even maps, every padding, ragged channels, several images, with and without bias.
    var cases = 0
    for (k, (h, w)) in [(1, 1), (2, 3), (5, 4), (7, 7), (9, 6), (14, 14)].enumerated() {
      for pad in 0...2 {
        let s = Conv2dShape(
          batch: 1 + (k + pad) % 3, inChannels: [1, 5, 17, 3][(k + pad) % 4], inHeight: h, inWidth: w,
          outChannels: [7, 2, 13][(k + 2 * pad) % 3], kernelHeight: 3, kernelWidth: 3, padHeight: pad,
          padWidth: pad)
        if s.outHeight <= 0 || s.outWidth <= 0 { continue }
        check(
          s, bias: (k + pad) % 2 == 0, seed: UInt64(10 * k + pad + 1), pretransformed: pad != 1, tileTwo: true
        )
        cases += 1
      }
    }
    XCTAssertGreaterThan(cases, 12)
  }

  func testTileTwoResNetSevenBySevenLayerAndChunks() {
    // ResNet-18's 512→512 layer at batch 1, and a batch of 40 (640 tiles: three chunks).
    let layer = Conv2dShape(
      batch: 1, inChannels: 512, inHeight: 7, inWidth: 7, outChannels: 512, kernelHeight: 3, kernelWidth: 3,
      padHeight: 1, padWidth: 1)
    check(layer, bias: false, seed: 77, pretransformed: true, tileTwo: true)
    var many = layer
    (many.batch, many.inChannels, many.outChannels) = (40, 70, 9)
    check(many, bias: true, seed: 78, tileTwo: true)
  }

  func testTileTwoAppliesOnlyWhereFourByFourTilesDoNot() {
    let layer = Conv2dShape(
      batch: 1, inChannels: 512, inHeight: 7, inWidth: 7, outChannels: 512, kernelHeight: 3, kernelWidth: 3,
      padHeight: 1, padWidth: 1)
    XCTAssertEqual(conv2dWinogradF2Applies(layer, weightsKept: true), !conv2dTiledPreferred(layer))
    XCTAssertFalse(conv2dWinogradF2Applies(layer, weightsKept: false), "weights transformed per call")
    var big = layer
    (big.inHeight, big.inWidth) = (14, 14)
    XCTAssertFalse(conv2dWinogradF2Applies(big, weightsKept: true), "F(4×4, 3×3) takes 14×14")
    var thin = layer
    thin.inChannels = 32
    XCTAssertFalse(conv2dWinogradF2Applies(thin, weightsKept: true), "32 input channels")
    var strided = layer
    strided.strideHeight = 2
    XCTAssertFalse(conv2dWinogradF2Applies(strided, weightsKept: true), "stride 2")
  }
}
