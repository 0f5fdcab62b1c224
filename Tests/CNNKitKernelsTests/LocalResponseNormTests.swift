import CNNKitKernels
import CNNKitTestSupport
import XCTest

final class LocalResponseNormTests: XCTestCase {
  /// The SIMD kernels against the scalar references: plane sizes that leave SIMD tails, fewer
  /// channels than the window, even and odd windows, the square-root β values and a general one.
  func testKernelsMatchReference() {
    let cases: [(batch: Int, channels: Int, spatial: Int, size: Int, beta: Float)] = [
      (2, 7, 13, 5, 0.75), (1, 3, 8, 5, 0.75), (3, 6, 1, 4, 0.5), (2, 9, 27, 3, 0.6), (1, 16, 169, 5, 0.75),
    ]
    for (index, t) in cases.enumerated() {
      var rng = TestRandom(seed: UInt64(700 + index))
      let count = t.batch * t.channels * t.spatial
      let x = rng.array(count).map { $0 * 3 }
      let dy = rng.array(count)
      let coefficient: Float = index % 2 == 0 ? 1e-4 : 0.02
      var expected = [Float](repeating: 0, count: count)
      var expectedScale = [Float](repeating: 0, count: count)
      var actual = [Float](repeating: .nan, count: count)
      var actualScale = [Float](repeating: .nan, count: count)
      localResponseNormForwardReference(
        batch: t.batch, channels: t.channels, spatial: t.spatial, size: t.size, coefficient: coefficient,
        beta: t.beta, k: 2, input: x, output: &expected, scale: &expectedScale)
      localResponseNormForward(
        batch: t.batch, channels: t.channels, spatial: t.spatial, size: t.size, coefficient: coefficient,
        beta: t.beta, k: 2, input: x, output: &actual, scale: &actualScale)
      assertClose(actual, expected, relative: 1e-5, absolute: 1e-5, "forward case \(index)")
      assertClose(actualScale, expectedScale, relative: 1e-5, absolute: 1e-5, "scale case \(index)")
      var expectedGrad = [Float](repeating: 0, count: count)
      var actualGrad = [Float](repeating: .nan, count: count)
      localResponseNormBackwardReference(
        batch: t.batch, channels: t.channels, spatial: t.spatial, size: t.size, coefficient: coefficient,
        beta: t.beta, input: x, scale: expectedScale, gradOutput: dy, gradInput: &expectedGrad)
      localResponseNormBackward(
        batch: t.batch, channels: t.channels, spatial: t.spatial, size: t.size, coefficient: coefficient,
        beta: t.beta, input: x, scale: expectedScale, gradOutput: dy, gradInput: &actualGrad)
      assertClose(actualGrad, expectedGrad, relative: 1e-5, absolute: 1e-5, "backward case \(index)")
    }
  }
}
