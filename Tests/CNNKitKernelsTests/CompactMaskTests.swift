import CNNKitKernels
import XCTest

/// The one-bit ReLU and dropout masks and the one-byte max-pool indices give exactly what the full
/// float (or Int32) versions give.
final class CompactMaskTests: XCTestCase {
  private let sizes = [0, 1, 7, 16, 31, 32, 33, 1000, 262_147]

  func testReLUMaskedForwardAndBackwardMatchTheUnmaskedKernels() {
    var random = TestRandom(seed: 11)
    for n in sizes {
      var x = random.array(n)
      if n > 3 {
        x[1] = .nan
        x[2] = -0.0
        x[3] = .infinity
      }
      var expected = [Float](repeating: 7, count: n)
      reluForward(count: n, input: x, output: &expected)
      var y = [Float](repeating: 7, count: n)
      var mask = [UInt32](repeating: 0xDEAD_BEEF, count: reluMaskWords(count: n))
      reluForwardMasked(count: n, input: x, output: &y, mask: &mask)
      XCTAssertEqual(y.map(\.bitPattern), expected.map(\.bitPattern), "n \(n)")
      for i in 0..<n {
        XCTAssertEqual(mask[i / 32] >> UInt32(i % 32) & 1 == 1, expected[i] > 0, "n \(n) i \(i)")
      }
      let g = random.array(n)
      var reference = [Float](repeating: 7, count: n)
      reluBackward(count: n, output: expected, gradOutput: g, gradInput: &reference)
      var dx = [Float](repeating: 7, count: n)
      reluBackwardMasked(count: n, mask: mask, gradOutput: g, gradInput: &dx)
      XCTAssertEqual(dx.map(\.bitPattern), reference.map(\.bitPattern), "n \(n)")
      // In place, as the autograd rule runs it on a gradient it owns.
      var inPlace = g
      inPlace.withUnsafeMutableBufferPointer { p in
        reluBackwardMasked(count: n, mask: mask, gradOutput: p.baseAddress!, gradInput: p.baseAddress!)
      }
      XCTAssertEqual(inPlace.map(\.bitPattern), reference.map(\.bitPattern), "n \(n) in place")
    }
  }

  func testMaskedScaleIsTheProductWithAFloatMask() {
    var random = TestRandom(seed: 12)
    for n in sizes {
      var x = random.array(n)
      if n > 2 { x[1] = .nan }
      let keep = (0..<n).map { _ in random.next() > 0 }
      var mask = [UInt32](repeating: 0, count: reluMaskWords(count: n))
      for i in 0..<n where keep[i] { mask[i / 32] |= 1 << UInt32(i % 32) }
      var out = [Float](repeating: 7, count: n)
      maskedScaleKernel(count: n, mask: mask, scale: 2.5, input: x, output: &out)
      let expected = (0..<n).map { x[$0] * (keep[$0] ? 2.5 : 0) }
      XCTAssertEqual(out.map(\.bitPattern), expected.map(\.bitPattern), "n \(n)")
    }
  }

  func testMaxPoolWindowIndicesRouteGradientsAsPlaneIndicesDo() {
    let shapes = [
      Pool2dShape(
        batch: 2, channels: 3, inHeight: 27, inWidth: 27, kernelHeight: 3, kernelWidth: 3, strideHeight: 2,
        strideWidth: 2),
      Pool2dShape(
        batch: 2, channels: 3, inHeight: 7, inWidth: 9, kernelHeight: 3, kernelWidth: 3, strideHeight: 2,
        strideWidth: 2, padHeight: 1, padWidth: 1, ceilMode: true),
      Pool2dShape(
        batch: 1, channels: 2, inHeight: 6, inWidth: 5, kernelHeight: 2, kernelWidth: 3, strideHeight: 2,
        strideWidth: 1, padHeight: 1, padWidth: 0),
      Pool2dShape(
        batch: 1, channels: 2, inHeight: 10, inWidth: 11, kernelHeight: 4, kernelWidth: 4, strideHeight: 3,
        strideWidth: 3, padHeight: 2, padWidth: 2, ceilMode: true),
      Pool2dShape(
        batch: 1, channels: 1, inHeight: 16, inWidth: 16, kernelHeight: 16, kernelWidth: 16, strideHeight: 16,
        strideWidth: 16),
    ]
    for (index, s) in shapes.enumerated() {
      XCTAssertTrue(maxPool2dWindowIndicesApply(s))
      var random = TestRandom(seed: UInt64(70 + index))
      // Coarse values so windows tie, and a NaN: the recorded winner must survive the rewrite.
      var x = random.array(s.inputCount).map { ($0 * 3).rounded() }
      x[5] = .nan
      let g = random.array(s.outputCount)
      var out = [Float](repeating: 0, count: s.outputCount)
      var indices = [Int32](repeating: -1, count: s.outputCount)
      maxPool2dForward(s, input: x, output: &out, indices: &indices)
      var window = [UInt8](repeating: 255, count: s.outputCount)
      maxPool2dWindowIndices(s, indices: indices, windowIndices: &window)
      XCTAssertTrue(window.allSatisfy { Int($0) < s.kernelHeight * s.kernelWidth }, "shape \(index)")
      var expected = [Float](repeating: .nan, count: s.inputCount)
      maxPool2dBackward(s, gradOutput: g, indices: indices, gradInput: &expected)
      var back = [Float](repeating: .nan, count: s.inputCount)
      maxPool2dBackward(s, gradOutput: g, windowIndices: window, gradInput: &back)
      XCTAssertEqual(back.map(\.bitPattern), expected.map(\.bitPattern), "shape \(index)")
    }
    // A window wider than the input cannot be decoded from its plane index alone.
    XCTAssertFalse(
      maxPool2dWindowIndicesApply(
        Pool2dShape(
          batch: 1, channels: 1, inHeight: 4, inWidth: 2, kernelHeight: 3, kernelWidth: 3, strideHeight: 1,
          strideWidth: 1, padHeight: 1, padWidth: 1)))
  }
}
