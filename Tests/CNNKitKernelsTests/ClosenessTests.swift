import CNNKitTestSupport
import XCTest

/// The suite's one closeness rule (`closeMismatch`, behind `assertClose`) must fail on NaN and on
/// unmatched infinities wherever they are planted: a comparison that lets NaN through would let a
/// kernel that returns garbage pass every test built on it.
final class ClosenessTests: XCTestCase {
  private let clean: [Float] = [0.5, -1.25, 3, 1e-3, -7]

  /// `clean` with `value` at `index`.
  private func planted(_ value: Float, at index: Int) -> [Float] {
    var v = clean
    v[index] = value
    return v
  }

  func testEqualAndNearlyEqualPass() {
    XCTAssertNil(closeMismatch(clean, clean))
    XCTAssertNil(closeMismatch(clean, clean.map(Double.init)))
    let nudged = clean.map { $0 * (1 + 1e-6) }
    XCTAssertNil(closeMismatch(nudged, clean, relative: 1e-5))
    XCTAssertNotNil(closeMismatch(nudged, clean), "zero tolerance means equal")
  }

  func testNaNFailsInActualAnywhere() {
    for index in clean.indices {
      let message = closeMismatch(planted(.nan, at: index), clean, relative: 1, absolute: 1)
      XCTAssertNotNil(message, "NaN at \(index) passed")
      XCTAssertTrue(message?.contains("element \(index) ") ?? false, message ?? "")
    }
  }

  func testNaNFailsInExpectedAnywhere() {
    for index in clean.indices {
      XCTAssertNotNil(
        closeMismatch(clean, planted(.nan, at: index), relative: 1, absolute: 1), "NaN at \(index) passed")
    }
  }

  func testNaNFailsOnBothSidesAndAgainstItself() {
    XCTAssertNotNil(closeMismatch([Float.nan], [Float.nan], relative: 1, absolute: 1))
    XCTAssertNotNil(closeMismatch(planted(.nan, at: 2), planted(.nan, at: 2), relative: 1, absolute: 1))
    // A NaN after a larger finite error is still reported: non-finite values are not ranked.
    var far = clean
    far[0] = 100
    far[3] = .nan
    XCTAssertTrue(closeMismatch(far, clean, absolute: 1)?.contains("element 3 ") ?? false)
  }

  func testInfinityFailsUnlessBothSidesAgree() {
    for index in clean.indices {
      XCTAssertNotNil(
        closeMismatch(planted(.infinity, at: index), clean, relative: 1, absolute: 1e30), "+∞ in actual")
      XCTAssertNotNil(
        closeMismatch(clean, planted(-.infinity, at: index), relative: 1, absolute: 1e30), "−∞ in expected")
      XCTAssertNotNil(
        closeMismatch(
          planted(.infinity, at: index), planted(-.infinity, at: index), relative: 1, absolute: 1),
        "+∞ against −∞")
      XCTAssertNil(
        closeMismatch(planted(.infinity, at: index), planted(.infinity, at: index)), "+∞ against +∞")
      XCTAssertNil(
        closeMismatch(planted(-.infinity, at: index), planted(-.infinity, at: index)), "−∞ against −∞")
    }
    // However large the slack, an infinity is never within it of a finite value.
    XCTAssertNotNil(closeMismatch([Float.infinity], [Double.greatestFiniteMagnitude], relative: 1))
  }

  func testToleranceIsAbsolutePlusRelative() {
    // |a − e| ≤ absolute + relative·|e|: 100 against 101 needs 1 of slack.
    XCTAssertNil(closeMismatch([Float(101)], [Float(100)], relative: 0.01))
    XCTAssertNil(closeMismatch([Float(101)], [Float(100)], relative: 0.005, absolute: 0.5))
    XCTAssertNotNil(closeMismatch([Float(101)], [Float(100)], relative: 0.005, absolute: 0.4))
    // Near zero the absolute part is all there is.
    XCTAssertNil(closeMismatch([Float(1e-6)], [Float(0)], relative: 0.5, absolute: 1e-6))
    XCTAssertNotNil(closeMismatch([Float(1e-6)], [Float(0)], relative: 0.5, absolute: 1e-7))
  }

  func testMessageNamesTheWorstElementAndCountsFailures() throws {
    let actual: [Float] = [1, 2.5, 3.1, 4]
    let expected: [Float] = [1, 2, 3, 4]
    let message = try XCTUnwrap(closeMismatch(actual, expected, absolute: 0.05))
    XCTAssertTrue(message.contains("element 1 of 4 is 2.5, expected 2.0"), message)
    XCTAssertTrue(message.contains("2 elements outside"), message)
    XCTAssertTrue(message.contains("absolute 0.05"), message)
  }

  func testCountsMustMatch() {
    XCTAssertEqual(closeMismatch([Float](), [Float(1)]), "0 elements, expected 1")
    XCTAssertNil(closeMismatch([Float](), [Float]()))
  }
}
