import XCTest

/// A small deterministic generator so failures reproduce and filling large buffers stays cheap.
struct TestRandom {
  private var state: UInt64

  init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }

  /// Uniform in [-1, 1).
  mutating func next() -> Float {
    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    return Float(state >> 40) / Float(1 << 23) - 1
  }

  mutating func array(_ count: Int) -> [Float] {
    (0..<count).map { _ in next() }
  }
}

/// Asserts `actual ≈ expected` element-wise within `tolerance · max(1, |expected|)`.
func assertClose(
  _ actual: [Float], _ expected: [Float], tolerance: Float, _ message: @autoclosure () -> String,
  file: StaticString = #filePath, line: UInt = #line
) {
  XCTAssertEqual(actual.count, expected.count, message(), file: file, line: line)
  var worst: Float = 0
  var worstIndex = -1
  for i in 0..<min(actual.count, expected.count) {
    let error = abs(actual[i] - expected[i]) / max(1, abs(expected[i]))
    // NaN must fail, so compare in the negated form.
    if !(error <= worst) {
      worst = error
      worstIndex = i
      if error.isNaN { break }
    }
  }
  if !(worst <= tolerance) {
    XCTFail(
      "\(message()): element \(worstIndex) is \(actual[worstIndex]), expected \(expected[worstIndex])"
        + " (relative error \(worst) > \(tolerance))", file: file, line: line)
  }
}
