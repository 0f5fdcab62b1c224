import CNNKitKernels
import CNNKitTestSupport
import XCTest

final class Pool2dTests: XCTestCase {
  /// A single plane `0, 1, 2, …` of the given size, so each value names its own flat index.
  private func ramp(_ height: Int, _ width: Int, plus offset: Float = 0) -> [Float] {
    (0..<(height * width)).map { Float($0) + offset }
  }

  private func maxPool(_ s: Pool2dShape, _ input: [Float]) -> ([Float], [Int32]) {
    var output = [Float](repeating: .nan, count: s.outputCount)
    var indices = [Int32](repeating: -1, count: s.outputCount)
    maxPool2dForward(s, input: input, output: &output, indices: &indices)
    return (output, indices)
  }

  private func avgPool(_ s: Pool2dShape, includePad: Bool, _ input: [Float]) -> [Float] {
    var output = [Float](repeating: .nan, count: s.outputCount)
    avgPool2dForward(s, countIncludePad: includePad, input: input, output: &output)
    return output
  }

  func testOutputSizesFollowPyTorch() {
    func size(_ i: Int, _ k: Int, _ s: Int, _ p: Int, _ ceil: Bool) -> Int {
      Pool2dShape.outputSize(input: i, kernel: k, stride: s, pad: p, ceilMode: ceil)
    }
    XCTAssertEqual(size(6, 3, 2, 0, true), 3)
    XCTAssertEqual(size(6, 3, 2, 0, false), 2)
    XCTAssertEqual(size(5, 3, 2, 0, true), 2)
    XCTAssertEqual(size(5, 3, 2, 0, false), 2)
    XCTAssertEqual(size(55, 3, 2, 0, false), 27)  // AlexNet pool1
    XCTAssertEqual(size(112, 3, 2, 1, false), 56)  // ResNet stem pool
    // The window that would start in the right padding is dropped: 4 → 3.
    XCTAssertEqual(size(5, 2, 2, 1, true), 3)
    XCTAssertEqual(size(5, 2, 2, 1, false), 3)
    XCTAssertEqual(size(7, 2, 2, 0, true), 4)
  }

  func testMaxPoolCeilModeSixBySix() {
    // MaxPool2d(3, 2, ceil_mode=True) on 6×6: windows start at rows/cols 0, 2, 4; the last is
    // clipped to [4, 6). On a ramp the maximum is each window's bottom-right element.
    let s = Pool2dShape(
      batch: 1, channels: 1, inHeight: 6, inWidth: 6, kernelHeight: 3, kernelWidth: 3,
      strideHeight: 2, strideWidth: 2, ceilMode: true)
    XCTAssertEqual(s.outHeight, 3)
    XCTAssertEqual(s.outWidth, 3)
    let (out, indices) = maxPool(s, ramp(6, 6))
    XCTAssertEqual(out, [14, 16, 17, 26, 28, 29, 32, 34, 35])
    XCTAssertEqual(indices, [14, 16, 17, 26, 28, 29, 32, 34, 35])
  }

  func testMaxPoolCeilModeFiveByFive() {
    let s = Pool2dShape(
      batch: 1, channels: 1, inHeight: 5, inWidth: 5, kernelHeight: 3, kernelWidth: 3,
      strideHeight: 2, strideWidth: 2, ceilMode: true)
    XCTAssertEqual(s.outHeight, 2)
    XCTAssertEqual(s.outWidth, 2)
    let (out, indices) = maxPool(s, ramp(5, 5))
    XCTAssertEqual(out, [12, 14, 22, 24])
    XCTAssertEqual(indices, [12, 14, 22, 24])
  }

  func testMaxPoolWithPaddingAndPlanes() {
    // 2 planes of 4×4, kernel 3, stride 2, padding 1 → 2×2. Padding never wins, even over negatives.
    let s = Pool2dShape(
      batch: 1, channels: 2, inHeight: 4, inWidth: 4, kernelHeight: 3, kernelWidth: 3,
      strideHeight: 2, strideWidth: 2, padHeight: 1, padWidth: 1)
    let input = ramp(4, 4, plus: -100) + ramp(4, 4).map { -$0 }
    let (out, indices) = maxPool(s, input)
    // Plane 0 (ramp − 100): windows rows/cols [0,2), [1,4) → bottom-right elements 5, 7, 13, 15.
    // Plane 1 (−ramp): top-left elements 0, 1, 4, 5.
    XCTAssertEqual(out, [-95, -93, -87, -85, 0, -1, -4, -5])
    XCTAssertEqual(indices, [5, 7, 13, 15, 0, 1, 4, 5])
  }

  func testMaxPoolPropagatesNaN() {
    let s = Pool2dShape(
      batch: 1, channels: 1, inHeight: 4, inWidth: 4, kernelHeight: 2, kernelWidth: 2,
      strideHeight: 2, strideWidth: 2)
    var input = ramp(4, 4)
    input[5] = .nan
    let (out, indices) = maxPool(s, input)
    XCTAssertTrue(out[0].isNaN)
    XCTAssertEqual(indices[0], 5)
    XCTAssertEqual(Array(out[1...]), [7, 13, 15])
  }

  /// Both fast kernels, the index-free inference one and the indexed one, give the naive twin's maxima:
  /// AlexNet's 3×3/2 on wide rows (the 16-output SIMD path), stride 1 and 3, padding, ceil mode, NaN
  /// and −∞ in the input.
  func testMaxPoolValuesMatchTwin() {
    let shapes = [
      Pool2dShape(
        batch: 2, channels: 3, inHeight: 55, inWidth: 55, kernelHeight: 3, kernelWidth: 3,
        strideHeight: 2, strideWidth: 2),
      Pool2dShape(
        batch: 1, channels: 2, inHeight: 9, inWidth: 40, kernelHeight: 3, kernelWidth: 3,
        strideHeight: 1, strideWidth: 1, padHeight: 1, padWidth: 1),
      Pool2dShape(
        batch: 1, channels: 3, inHeight: 8, inWidth: 70, kernelHeight: 3, kernelWidth: 2,
        strideHeight: 2, strideWidth: 3, padHeight: 1, padWidth: 1, ceilMode: true),
      Pool2dShape(
        batch: 2, channels: 1, inHeight: 13, inWidth: 37, kernelHeight: 2, kernelWidth: 4,
        strideHeight: 2, strideWidth: 2, padHeight: 1, padWidth: 2, ceilMode: true),
      // Rows under 16 wide (window by window), exactly 16, and 20 (the last column vector overlaps).
      Pool2dShape(
        batch: 1, channels: 3, inHeight: 13, inWidth: 13, kernelHeight: 3, kernelWidth: 3,
        strideHeight: 2, strideWidth: 2),
      Pool2dShape(
        batch: 1, channels: 2, inHeight: 7, inWidth: 11, kernelHeight: 3, kernelWidth: 3,
        strideHeight: 1, strideWidth: 1, padHeight: 1, padWidth: 1),
      Pool2dShape(
        batch: 1, channels: 2, inHeight: 6, inWidth: 16, kernelHeight: 2, kernelWidth: 2,
        strideHeight: 2, strideWidth: 2),
      Pool2dShape(
        batch: 2, channels: 1, inHeight: 5, inWidth: 20, kernelHeight: 3, kernelWidth: 3,
        strideHeight: 2, strideWidth: 2, padHeight: 1, padWidth: 1),
    ]
    for (index, s) in shapes.enumerated() {
      var rng = TestRandom(seed: UInt64(700 + index))
      var input = rng.array(s.inputCount)
      for i in stride(from: 11, to: input.count, by: 97) { input[i] = .nan }
      for i in stride(from: 5, to: input.count, by: 89) { input[i] = -.infinity }
      var expected = [Float](repeating: 0, count: s.outputCount)
      var expectedIndices = [Int32](repeating: -1, count: s.outputCount)
      maxPool2dForwardReference(s, input: input, output: &expected, indices: &expectedIndices)
      let (indexed, indices) = maxPool(s, input)
      XCTAssertEqual(indices, expectedIndices, "shape \(index) winners")
      var actual = [Float](repeating: 1234, count: s.outputCount)
      maxPool2dForwardValues(s, input: input, output: &actual)
      // NaN wins its windows, so compare bit patterns (NaN positions included), not closeness.
      XCTAssertEqual(actual.map(\.bitPattern), expected.map(\.bitPattern), "shape \(index) values only")
      XCTAssertEqual(indexed.map(\.bitPattern), expected.map(\.bitPattern), "shape \(index) indexed")
    }
  }

  func testMaxPoolBackwardRoutesToWinners() {
    // Overlapping 6×6 ceil-mode windows: each winner gets its own output's gradient.
    let s = Pool2dShape(
      batch: 1, channels: 1, inHeight: 6, inWidth: 6, kernelHeight: 3, kernelWidth: 3,
      strideHeight: 2, strideWidth: 2, ceilMode: true)
    let (_, indices) = maxPool(s, ramp(6, 6))
    let gradOutput: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
    var gradInput = [Float](repeating: .nan, count: 36)
    maxPool2dBackward(s, gradOutput: gradOutput, indices: indices, gradInput: &gradInput)
    var expected = [Float](repeating: 0, count: 36)
    for (o, i) in [14, 16, 17, 26, 28, 29, 32, 34, 35].enumerated() { expected[i] = gradOutput[o] }
    XCTAssertEqual(gradInput, expected)

    // With ties of a constant input every window picks its first element; shared winners add up.
    let (_, flatIndices) = maxPool(s, [Float](repeating: 1, count: 36))
    XCTAssertEqual(flatIndices, [0, 2, 4, 12, 14, 16, 24, 26, 28])
  }

  func testAvgPoolCountIncludePad() {
    // AvgPool2d(3, stride 2, padding 1) on the 4×4 plane 1…16 → 2×2.
    // Window sums: rows/cols [0,2)×[0,2) = 14, [0,2)×[1,4) = 30, [1,4)×[0,2) = 57, [1,4)×[1,4) = 99.
    let s = Pool2dShape(
      batch: 1, channels: 1, inHeight: 4, inWidth: 4, kernelHeight: 3, kernelWidth: 3,
      strideHeight: 2, strideWidth: 2, padHeight: 1, padWidth: 1)
    let input = ramp(4, 4, plus: 1)
    // count_include_pad=True divides by the full 3×3 window, padding included.
    assertClose(
      avgPool(s, includePad: true, input), [14 / 9, 30 / 9, 57 / 9, 11] as [Float], relative: 1e-6,
      absolute: 1e-6,
      "include")
    // count_include_pad=False divides by the real elements: 4, 6, 6, 9.
    assertClose(
      avgPool(s, includePad: false, input), [3.5, 5, 9.5, 11], relative: 1e-6, absolute: 1e-6, "exclude")
  }

  func testAvgPoolCeilModeClipsToInput() {
    // 5×5, kernel 2, stride 2, ceil mode → 3×3; the last window holds one row/column, and PyTorch
    // divides by the clipped size even with count_include_pad (it only counts left/right padding).
    let s = Pool2dShape(
      batch: 1, channels: 1, inHeight: 5, inWidth: 5, kernelHeight: 2, kernelWidth: 2,
      strideHeight: 2, strideWidth: 2, ceilMode: true)
    XCTAssertEqual(s.outHeight, 3)
    let input = ramp(5, 5)
    let expected: [Float] = [
      (0 + 1 + 5 + 6) / 4, (2 + 3 + 7 + 8) / 4, (4 + 9) / 2,
      (10 + 11 + 15 + 16) / 4, (12 + 13 + 17 + 18) / 4, (14 + 19) / 2,
      (20 + 21) / 2, (22 + 23) / 2, 24,
    ]
    for includePad in [true, false] {
      assertClose(
        avgPool(s, includePad: includePad, input), expected, relative: 1e-6, absolute: 1e-6,
        "ceil \(includePad)")
    }
  }

  func testAvgPoolCeilModeWithPaddingDivisors() {
    // 4 wide, kernel 3, stride 2, padding 1, ceil → 3 outputs per axis (starts −1, 1, 3).
    // The last window [3, 6) reaches one column past the padded extent [−1, 5): with padding counted
    // its divisor per axis is 5 − 3 = 2, without it the single real column.
    let s = Pool2dShape(
      batch: 1, channels: 1, inHeight: 1, inWidth: 4, kernelHeight: 1, kernelWidth: 3,
      strideHeight: 1, strideWidth: 2, padHeight: 0, padWidth: 1, ceilMode: true)
    XCTAssertEqual(s.outWidth, 3)
    let input: [Float] = [1, 2, 4, 8]
    assertClose(
      avgPool(s, includePad: true, input), [3 / 3, 14 / 3, 8 / 2] as [Float], relative: 1e-6, absolute: 1e-6,
      "include")
    assertClose(
      avgPool(s, includePad: false, input), [3 / 2, 14 / 3, 8] as [Float], relative: 1e-6, absolute: 1e-6,
      "exclude")
  }

  func testAdaptiveAvgPoolWindows() {
    // Rows 5 → 3: windows [0,2), [1,4), [3,5) (means 0.5, 2, 3.5).
    // Columns 13 → 6: [0,3), [2,5), [4,7), [6,9), [8,11), [10,13) (means 1, 3, 5, 7, 9, 11).
    let (h, w) = (5, 13)
    var input = [Float](repeating: 0, count: h * w)
    for r in 0..<h { for c in 0..<w { input[r * w + c] = Float(100 * r + c) } }
    var output = [Float](repeating: .nan, count: 18)
    adaptiveAvgPool2dForward(
      planes: 1, inHeight: h, inWidth: w, outHeight: 3, outWidth: 6, input: input, output: &output)
    var expected: [Float] = []
    for rowMean: Float in [0.5, 2, 3.5] {
      for colMean: Float in [1, 3, 5, 7, 9, 11] { expected.append(100 * rowMean + colMean) }
    }
    assertClose(output, expected, relative: 1e-6, absolute: 1e-6, "adaptive 5x13 → 3x6")
  }

  func testAdaptiveAvgPoolBackwardSharesOverlaps() {
    // 5 → 3 along one axis: input 1 lies in windows 0 (size 2) and 1 (size 3), and so on.
    var gradInput = [Float](repeating: .nan, count: 5)
    adaptiveAvgPool2dBackward(
      planes: 1, inHeight: 5, inWidth: 1, outHeight: 3, outWidth: 1, gradOutput: [1, 1, 1],
      gradInput: &gradInput)
    assertClose(
      gradInput, [1 / 2, 1 / 2 + 1 / 3, 1 / 3, 1 / 3 + 1 / 2, 1 / 2] as [Float], relative: 1e-6,
      absolute: 1e-6,
      "adaptive backward")
  }

  func testAdaptiveToSameSizeIsIdentity() {
    var rng = TestRandom(seed: 7)
    let input = rng.array(2 * 6 * 6)
    var output = [Float](repeating: .nan, count: input.count)
    adaptiveAvgPool2dForward(
      planes: 2, inHeight: 6, inWidth: 6, outHeight: 6, outWidth: 6, input: input, output: &output)
    XCTAssertEqual(output, input)
  }

  /// `<forward(x), g> == <x, backward(g)>` for the linear pools (and max pooling at fixed winners).
  func testBackwardPassesAreAdjoint() {
    let shapes = [
      Pool2dShape(
        batch: 2, channels: 3, inHeight: 7, inWidth: 9, kernelHeight: 3, kernelWidth: 3,
        strideHeight: 2, strideWidth: 2, padHeight: 1, padWidth: 1, ceilMode: true),
      Pool2dShape(
        batch: 1, channels: 2, inHeight: 6, inWidth: 5, kernelHeight: 2, kernelWidth: 3,
        strideHeight: 2, strideWidth: 1, padHeight: 1, padWidth: 0),
      Pool2dShape(
        batch: 1, channels: 1, inHeight: 13, inWidth: 13, kernelHeight: 3, kernelWidth: 3,
        strideHeight: 2, strideWidth: 2, ceilMode: true),
    ]
    func dot(_ x: [Float], _ y: [Float]) -> Double {
      zip(x, y).reduce(0) { $0 + Double($1.0) * Double($1.1) }
    }
    for (index, s) in shapes.enumerated() {
      var rng = TestRandom(seed: UInt64(50 + index))
      let x = rng.array(s.inputCount)
      let g = rng.array(s.outputCount)
      for includePad in [true, false] {
        var back = [Float](repeating: .nan, count: s.inputCount)
        avgPool2dBackward(s, countIncludePad: includePad, gradOutput: g, gradInput: &back)
        XCTAssertEqual(dot(avgPool(s, includePad: includePad, x), g), dot(x, back), accuracy: 1e-4)
      }
      let (out, indices) = maxPool(s, x)
      var back = [Float](repeating: .nan, count: s.inputCount)
      maxPool2dBackward(s, gradOutput: g, indices: indices, gradInput: &back)
      XCTAssertEqual(dot(out, g), dot(x, back), accuracy: 1e-4)
    }
    var rng = TestRandom(seed: 99)
    let x = rng.array(2 * 13 * 5)
    let g = rng.array(2 * 6 * 3)
    var out = [Float](repeating: 0, count: g.count)
    var back = [Float](repeating: .nan, count: x.count)
    adaptiveAvgPool2dForward(
      planes: 2, inHeight: 13, inWidth: 5, outHeight: 6, outWidth: 3, input: x, output: &out)
    adaptiveAvgPool2dBackward(
      planes: 2, inHeight: 13, inWidth: 5, outHeight: 6, outWidth: 3, gradOutput: g, gradInput: &back)
    XCTAssertEqual(dot(out, g), dot(x, back), accuracy: 1e-4)
  }
}
