import CNNKit
import XCTest

/// The finite-difference gradient checker must fail when NaN or an infinity shows up in either
/// gradient: from a backward pass, from a forward pass (through the difference quotient), or both.
/// Every comparison with NaN is false, so a check written as "mismatch when the error is too big"
/// passes NaN unless it asks about finiteness first.
final class GradientCheckNaNTests: XCTestCase {
  private let clean: [Double] = [0.5, -1, 2, 0.25]

  private func compare(analytic: [Double], numeric: [Double?]) -> InputGradientCheck {
    compareGradients(name: "x", analytic: analytic, numeric: numeric, rtol: 1e-2, atol: 2e-3)
  }

  func testAgreeingGradientsPass() {
    let r = compare(analytic: clean, numeric: clean)
    XCTAssertEqual(r.mismatches, 0)
    XCTAssertEqual(r.numericScale, 2)
  }

  func testPlantedNaNInAnalyticGradientFails() {
    for index in clean.indices {
      var analytic = clean
      analytic[index] = .nan
      let r = compare(analytic: analytic, numeric: clean)
      XCTAssertEqual(r.mismatches, 1, "NaN at \(index)")
      XCTAssertEqual(r.worstIndex, index)
      XCTAssertTrue(r.worstAnalytic.isNaN)
    }
  }

  func testPlantedNaNInNumericGradientFails() {
    for index in clean.indices {
      var numeric: [Double?] = clean
      numeric[index] = .nan
      let r = compare(analytic: clean, numeric: numeric)
      XCTAssertEqual(r.mismatches, 1, "NaN at \(index)")
      XCTAssertEqual(r.worstIndex, index)
      // One NaN does not poison the scale the other elements are judged by.
      XCTAssertEqual(
        r.numericScale, clean.enumerated().filter { $0.offset != index }.map { abs($0.element) }.max())
    }
  }

  func testPlantedInfinitiesFail() {
    for value in [Double.infinity, -.infinity] {
      var analytic = clean
      analytic[1] = value
      XCTAssertEqual(compare(analytic: analytic, numeric: clean).mismatches, 1, "analytic \(value)")
      var numeric: [Double?] = clean
      numeric[2] = value
      XCTAssertEqual(compare(analytic: clean, numeric: numeric).mismatches, 1, "numeric \(value)")
      // Both sides infinite is no agreement either: the slope is not measured.
      XCTAssertEqual(compare(analytic: analytic, numeric: analytic).mismatches, 1, "both \(value)")
    }
    XCTAssertEqual(compare(analytic: [.nan, .nan], numeric: [.nan, .nan]).mismatches, 2)
  }

  /// End to end: a forward pass that writes NaN into one output poisons the loss, so every
  /// difference quotient is NaN while autograd's gradient stays finite. The check must fail.
  func testCheckerRejectsNaNFromTheForwardPass() throws {
    var data = TestData(seed: 21)
    let x = data.normal([3, 4])
    var poison = [Float](repeating: 0, count: 12)
    poison[5] = .nan
    let c = Tensor(shape: [3, 4], scalars: poison)
    let report = try gradientCheck(wrt: [("x", x)]) { try Functional.add(x, c) }
    XCTAssertFalse(report.passed)
    XCTAssertEqual(report.inputs[0].mismatches, 12)
  }

  /// End to end: a backward pass that yields NaN (a NaN factor seen only while recording) while the
  /// forward the checker differentiates numerically stays finite.
  func testCheckerRejectsNaNFromTheBackwardPass() throws {
    var data = TestData(seed: 22)
    let x = data.normal([2, 5])
    let report = try gradientCheck(wrt: [("x", x)]) {
      GradMode.isEnabled ? Functional.scale(x, by: .nan) : Functional.scale(x, by: 1)
    }
    XCTAssertFalse(report.passed)
    XCTAssertEqual(report.inputs[0].mismatches, 10)
    XCTAssertTrue(report.inputs[0].worstAnalytic.isNaN)
  }

  /// And an infinite forward value: ∞ − ∞ in the difference quotient is NaN.
  func testCheckerRejectsInfinityFromTheForwardPass() throws {
    var data = TestData(seed: 23)
    let x = data.normal([4])
    let c = Tensor(shape: [4], scalars: [0, 0, .infinity, 0])
    let report = try gradientCheck(wrt: [("x", x)]) { try Functional.add(x, c) }
    XCTAssertFalse(report.passed)
  }
}
