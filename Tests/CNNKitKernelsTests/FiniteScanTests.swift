import CNNKitKernels
import XCTest

/// The training loop's NaN/Inf guard against its one-comparison-per-value twin, with the bad value
/// planted at the first and last position, inside a vector and in the scalar tail.
final class FiniteScanTests: XCTestCase {
  func testAllFiniteAgreesWithTheNaiveScanWhereverTheBadValueSits() {
    var random = TestRandom(seed: 11)
    // 262,147 is split across threads.
    for n in [0, 1, 15, 16, 17, 33, 1000, 262_147] {
      // Large finite values must not count as bad: x - x is still exactly 0.
      var x = random.array(n).map { $0 * Float.greatestFiniteMagnitude }
      XCTAssertTrue(allFinite(count: n, x), "n \(n)")
      XCTAssertTrue(allFiniteReference(count: n, x), "n \(n)")
      for position in Set([0, n / 2, n - 1]) where n > 0 {
        for bad in [Float.nan, .infinity, -.infinity, .signalingNaN] {
          let kept = x[position]
          x[position] = bad
          XCTAssertFalse(allFinite(count: n, x), "n \(n) at \(position): \(bad)")
          XCTAssertFalse(allFiniteReference(count: n, x), "n \(n) at \(position): \(bad)")
          x[position] = kept
        }
      }
    }
  }
}
