import CNNKitKernels
import CNNKitTestSupport
import XCTest

/// Every pooling kernel against its naive twin in Pool2dReference.swift, on odd shapes: planes of
/// 5×7 and 7×5, rows wider than 16 (the separable max-pool path) and stride-2 rows long enough for
/// the eight-wide path, kernel 3 stride 2 with padding, ceil mode, batches of 1 and 3, 5 channels.
final class PoolingTwinTests: XCTestCase {
  /// (batch, height, width, kernel, stride, pad, ceil mode), each as (rows, columns) where they differ.
  static let shapes: [Pool2dShape] = [
    pool(batch: 1, 5, 7, kernel: (3, 3), stride: (2, 2), pad: (1, 1), ceil: false),
    pool(batch: 3, 5, 7, kernel: (3, 3), stride: (2, 2), pad: (1, 1), ceil: true),
    pool(batch: 3, 7, 5, kernel: (3, 3), stride: (2, 2), pad: (0, 0), ceil: true),
    pool(batch: 1, 7, 5, kernel: (2, 2), stride: (2, 2), pad: (1, 0), ceil: true),
    pool(batch: 3, 5, 7, kernel: (3, 3), stride: (1, 1), pad: (1, 1), ceil: false),
    pool(batch: 1, 9, 21, kernel: (2, 3), stride: (1, 2), pad: (1, 1), ceil: true),
    pool(batch: 3, 11, 37, kernel: (3, 3), stride: (2, 2), pad: (1, 1), ceil: false),
    pool(batch: 1, 13, 29, kernel: (3, 3), stride: (2, 3), pad: (0, 1), ceil: true),
    pool(batch: 1, 6, 19, kernel: (4, 4), stride: (3, 3), pad: (2, 2), ceil: true),
  ]

  private static func pool(
    batch: Int, _ height: Int, _ width: Int, kernel: (Int, Int), stride: (Int, Int), pad: (Int, Int),
    ceil: Bool
  ) -> Pool2dShape {
    Pool2dShape(
      batch: batch, channels: 5, inHeight: height, inWidth: width, kernelHeight: kernel.0,
      kernelWidth: kernel.1, strideHeight: stride.0, strideWidth: stride.1, padHeight: pad.0, padWidth: pad.1,
      ceilMode: ceil)
  }

  private func label(_ s: Pool2dShape) -> String {
    "\(s.batch)×\(s.channels)×\(s.inHeight)×\(s.inWidth) k\(s.kernelHeight)×\(s.kernelWidth)"
      + " s\(s.strideHeight)×\(s.strideWidth) p\(s.padHeight)×\(s.padWidth) ceil \(s.ceilMode)"
  }

  /// Random inputs: fine values (no ties), then coarse ones (many ties, which decide the winners).
  private func inputs(_ s: Pool2dShape, seed: UInt64) -> [(String, [Float])] {
    var rng = TestRandom(seed: seed)
    let fine = rng.array(s.inputCount)
    let coarse = rng.array(s.inputCount).map { ($0 * 3).rounded() }
    return [("fine", fine), ("coarse", coarse)]
  }

  func testMaxPoolForwardMatchesTwin() {
    for (index, s) in Self.shapes.enumerated() {
      for (kind, x) in inputs(s, seed: UInt64(900 + index)) {
        let name = "\(label(s)) \(kind)"
        var expected = [Float](repeating: .nan, count: s.outputCount)
        var expectedIndices = [Int32](repeating: -1, count: s.outputCount)
        maxPool2dForwardReference(s, input: x, output: &expected, indices: &expectedIndices)
        var actual = [Float](repeating: .nan, count: s.outputCount)
        var indices = [Int32](repeating: -1, count: s.outputCount)
        maxPool2dForward(s, input: x, output: &actual, indices: &indices)
        // A maximum is one of the inputs, so the twins must agree exactly.
        assertClose(actual, expected, "max-pool \(name)")
        XCTAssertEqual(indices, expectedIndices, "max-pool winners \(name)")
        var values = [Float](repeating: .nan, count: s.outputCount)
        maxPool2dForwardValues(s, input: x, output: &values)
        assertClose(values, expected, "max-pool values only \(name)")
      }
    }
  }

  func testMaxPoolBackwardMatchesTwin() {
    for (index, s) in Self.shapes.enumerated() {
      for (kind, x) in inputs(s, seed: UInt64(950 + index)) {
        let name = "\(label(s)) \(kind)"
        var rng = TestRandom(seed: UInt64(980 + index))
        let g = rng.array(s.outputCount)
        var expected = [Float](repeating: .nan, count: s.inputCount)
        maxPool2dBackwardReference(s, input: x, gradOutput: g, gradInput: &expected)
        var out = [Float](repeating: .nan, count: s.outputCount)
        var indices = [Int32](repeating: -1, count: s.outputCount)
        maxPool2dForward(s, input: x, output: &out, indices: &indices)
        var actual = [Float](repeating: .nan, count: s.inputCount)
        maxPool2dBackward(s, gradOutput: g, indices: indices, gradInput: &actual)
        // Overlapping windows add several gradients into one winner, perhaps in another order.
        assertClose(actual, expected, relative: 1e-6, absolute: 1e-6, "max-pool backward \(name)")
        guard maxPool2dWindowIndicesApply(s) else { continue }
        var windowIndices = [UInt8](repeating: 0xFF, count: s.outputCount)
        maxPool2dWindowIndices(s, indices: indices, windowIndices: &windowIndices)
        var compact = [Float](repeating: .nan, count: s.inputCount)
        maxPool2dBackward(s, gradOutput: g, windowIndices: windowIndices, gradInput: &compact)
        assertClose(
          compact, expected, relative: 1e-6, absolute: 1e-6, "max-pool backward, window indices \(name)")
      }
    }
  }

  func testAvgPoolForwardAndBackwardMatchTwins() {
    for (index, s) in Self.shapes.enumerated() {
      var rng = TestRandom(seed: UInt64(1000 + index))
      let x = rng.array(s.inputCount)
      let g = rng.array(s.outputCount)
      for includePad in [true, false] {
        let name = "\(label(s)) count_include_pad \(includePad)"
        var expected = [Float](repeating: .nan, count: s.outputCount)
        avgPool2dForwardReference(s, countIncludePad: includePad, input: x, output: &expected)
        var actual = [Float](repeating: .nan, count: s.outputCount)
        avgPool2dForward(s, countIncludePad: includePad, input: x, output: &actual)
        // At most 16 Float additions and a division against a Double sum.
        assertClose(actual, expected, relative: 1e-6, absolute: 1e-6, "avg-pool \(name)")
        var expectedGrad = [Float](repeating: .nan, count: s.inputCount)
        avgPool2dBackwardReference(s, countIncludePad: includePad, gradOutput: g, gradInput: &expectedGrad)
        var actualGrad = [Float](repeating: .nan, count: s.inputCount)
        avgPool2dBackward(s, countIncludePad: includePad, gradOutput: g, gradInput: &actualGrad)
        assertClose(actualGrad, expectedGrad, relative: 1e-6, absolute: 1e-6, "avg-pool backward \(name)")
      }
    }
  }

  func testAdaptiveAvgPoolMatchesTwin() {
    // Shrinking, growing (windows of one element, repeated) and uneven ratios.
    let sizes = [(5, 7, 3, 2), (7, 5, 1, 1), (5, 7, 7, 9), (13, 29, 4, 6), (6, 6, 6, 6)]
    for (index, (ih, iw, oh, ow)) in sizes.enumerated() {
      let planes = index % 2 == 0 ? 5 : 15
      var rng = TestRandom(seed: UInt64(1100 + index))
      let x = rng.array(planes * ih * iw)
      let g = rng.array(planes * oh * ow)
      let name = "\(planes)×\(ih)×\(iw) → \(oh)×\(ow)"
      var expected = [Float](repeating: .nan, count: g.count)
      adaptiveAvgPool2dForwardReference(
        planes: planes, inHeight: ih, inWidth: iw, outHeight: oh, outWidth: ow, input: x, output: &expected)
      var actual = [Float](repeating: .nan, count: g.count)
      adaptiveAvgPool2dForward(
        planes: planes, inHeight: ih, inWidth: iw, outHeight: oh, outWidth: ow, input: x, output: &actual)
      assertClose(actual, expected, relative: 1e-6, absolute: 1e-6, "adaptive \(name)")
      var expectedGrad = [Float](repeating: .nan, count: x.count)
      adaptiveAvgPool2dBackwardReference(
        planes: planes, inHeight: ih, inWidth: iw, outHeight: oh, outWidth: ow, gradOutput: g,
        gradInput: &expectedGrad)
      var actualGrad = [Float](repeating: .nan, count: x.count)
      adaptiveAvgPool2dBackward(
        planes: planes, inHeight: ih, inWidth: iw, outHeight: oh, outWidth: ow, gradOutput: g,
        gradInput: &actualGrad)
      assertClose(actualGrad, expectedGrad, relative: 1e-6, absolute: 1e-6, "adaptive backward \(name)")
    }
  }

  /// NaN must win a max-pool window in the fast kernels as in the twin (assertClose rejects NaN on
  /// purpose, so this compares NaN positions and winners directly).
  func testMaxPoolNaNWinsAsInTwin() {
    for (index, s) in Self.shapes.enumerated() {
      var rng = TestRandom(seed: UInt64(1200 + index))
      var x = rng.array(s.inputCount)
      for i in stride(from: 3, to: x.count, by: 23) { x[i] = .nan }
      for i in stride(from: 8, to: x.count, by: 31) { x[i] = -.infinity }
      var expected = [Float](repeating: 0, count: s.outputCount)
      var expectedIndices = [Int32](repeating: -1, count: s.outputCount)
      maxPool2dForwardReference(s, input: x, output: &expected, indices: &expectedIndices)
      XCTAssertTrue(expected.contains { $0.isNaN }, "no NaN reached an output of \(label(s))")
      var actual = [Float](repeating: 0, count: s.outputCount)
      var indices = [Int32](repeating: -1, count: s.outputCount)
      maxPool2dForward(s, input: x, output: &actual, indices: &indices)
      var values = [Float](repeating: 0, count: s.outputCount)
      maxPool2dForwardValues(s, input: x, output: &values)
      XCTAssertEqual(indices, expectedIndices, label(s))
      XCTAssertEqual(actual.map(\.isNaN), expected.map(\.isNaN), label(s))
      XCTAssertEqual(values.map(\.isNaN), expected.map(\.isNaN), "values only \(label(s))")
      let finite = expected.indices.filter { !expected[$0].isNaN }
      assertClose(finite.map { actual[$0] }, finite.map { expected[$0] }, "non-NaN outputs \(label(s))")
      assertClose(finite.map { values[$0] }, finite.map { expected[$0] }, "non-NaN values only \(label(s))")
    }
  }
}
