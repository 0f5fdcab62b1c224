import XCTest

// The one closeness rule of the whole test suite, shared by CNNKitTests and CNNKitKernelsTests so
// that a kernel test and a PyTorch-fixture test cannot disagree about what "close" means.
//
// Why the rule is spelled out: every comparison with NaN is false, so a check written as
// `if error > tolerance { fail }` or `if error > worst { remember it }` never fires on NaN, and a
// kernel that returned NaN everywhere would pass. Here non-finite values are decided first and
// explicitly; only then are finite values compared.

/// Why `actual` is not close to `expected`, or `nil` when it is.
///
/// An element passes when both values are finite and `|actual − expected| ≤ absolute + relative·|expected|`,
/// or when both are the same infinity. A NaN on either side always fails, as does an infinity the other
/// side does not share; the message then names the first such element. Otherwise it names the finite
/// element furthest beyond its allowance, with both values, the allowance, and how many elements fail.
/// Counts that differ fail before any element is compared.
///
/// Separate from `assertClose` so tests can check the rule itself (a planted NaN must give a message).
@inlinable
public func closeMismatch<A: BinaryFloatingPoint, E: BinaryFloatingPoint>(
  _ actual: [A], _ expected: [E], relative: Double = 0, absolute: Double = 0
) -> String? {
  precondition(relative >= 0 && absolute >= 0, "tolerances must be non-negative numbers")
  guard actual.count == expected.count else {
    return "\(actual.count) elements, expected \(expected.count)"
  }
  var failures = 0
  var worst: (index: Int, error: Double, allowed: Double)?
  for i in 0..<actual.count {
    let a = Double(actual[i])
    let e = Double(expected[i])
    if !a.isFinite || !e.isFinite {
      // Equal infinities are the one non-finite agreement; NaN equals nothing, itself included.
      if a == e { continue }
      return
        "element \(i) of \(actual.count) is \(a), expected \(e) (NaN and unmatched infinities never pass)"
    }
    let error = abs(a - e)
    let allowed = absolute + relative * abs(e)
    if error <= allowed { continue }
    failures += 1
    if let w = worst, error - allowed <= w.error - w.allowed { continue }
    worst = (i, error, allowed)
  }
  guard let worst else { return nil }
  let i = worst.index
  return "element \(i) of \(actual.count) is \(Double(actual[i])), expected \(Double(expected[i])): "
    + "off by \(worst.error), allowed \(worst.allowed) (relative \(relative), absolute \(absolute)); "
    + "\(failures) element\(failures == 1 ? "" : "s") outside"
}

/// Fails the test unless `actual` is close to `expected` element by element (the rule of
/// `closeMismatch`: `|actual − expected| ≤ absolute + relative·|expected|`, any NaN fails, an infinity
/// passes only against the same infinity). With both tolerances 0 the values must be equal.
public func assertClose<A: BinaryFloatingPoint, E: BinaryFloatingPoint>(
  _ actual: [A], _ expected: [E], relative: Double = 0, absolute: Double = 0,
  _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line
) {
  guard let mismatch = closeMismatch(actual, expected, relative: relative, absolute: absolute) else { return }
  let label = message()
  XCTFail(label.isEmpty ? mismatch : "\(label): \(mismatch)", file: file, line: line)
}
