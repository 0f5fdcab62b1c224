import CNNKit
import XCTest

/// Seeded test data: every test draws from its own generator, so values repeat run after run.
struct TestData {
  var rng: RandomGenerator

  /// Creates a source seeded with `seed`.
  init(seed: UInt64) { rng = RandomGenerator(seed: seed) }

  /// N(mean, std²) samples.
  mutating func normal(_ shape: [Int], mean: Float = 0, std: Float = 1, requiresGrad: Bool = true) -> Tensor {
    let t = Tensor(zeros: shape, requiresGrad: requiresGrad)
    t.fillNormal(mean: mean, std: std, using: &rng)
    return t
  }

  /// U(low, high) samples.
  mutating func uniform(_ shape: [Int], _ low: Float, _ high: Float, requiresGrad: Bool = true) -> Tensor {
    let t = Tensor(zeros: shape, requiresGrad: requiresGrad)
    t.fillUniform(low, high, using: &rng)
    return t
  }

  /// Normal samples pushed at least `margin` away from 0, so a finite-difference step never
  /// crosses ReLU's kink.
  mutating func awayFromZero(_ shape: [Int], margin: Float = 0.1) -> Tensor {
    let t = normal(shape)
    for i in 0..<t.count {
      let v = t.data[i]
      if abs(v) < margin { t.data[i] = v < 0 ? v - margin : v + margin }
    }
    return t
  }

  /// A random permutation of `0, spacing, 2·spacing, ...` (shifted to be centred on 0): all values
  /// distinct and `spacing` apart, so max-pool windows have no ties a small step could flip.
  mutating func distinct(_ shape: [Int], spacing: Float = 0.1) -> Tensor {
    let t = Tensor(zeros: shape, requiresGrad: true)
    var values = (0..<t.count).map { Float($0) * spacing - Float(t.count) * spacing / 2 }
    values.shuffle(using: &rng)
    for i in 0..<t.count { t.data[i] = values[i] }
    return t
  }
}

/// Outcome of comparing autograd against central differences for one input tensor.
struct InputGradientCheck {
  /// The input's name in messages.
  var name: String
  /// Elements whose gradients disagree beyond the tolerance.
  var mismatches: Int
  /// Elements left out because every step tried crossed a kink (see `gradientCheck`'s `regime`).
  var skipped: Int
  /// The element with the largest error relative to its allowance, and its two gradients.
  var worstIndex: Int
  var worstAnalytic: Double
  var worstNumeric: Double
  /// Largest `|analytic - numeric| / allowed` over the tensor (≤ 1 passes).
  var worstRatio: Double
  /// Largest `|numeric|`: shows the check was not trivially comparing zeros.
  var numericScale: Double
  /// Largest `|analytic|`.
  var analyticScale: Double
}

/// Outcome of a whole gradient check.
struct GradientCheckReport {
  var inputs: [InputGradientCheck]
  /// True when every element of every input agrees.
  var passed: Bool { inputs.allSatisfy { $0.mismatches == 0 } }
}

/// Compares autograd gradients of `L = Σ f()·R` (R a fixed random tensor) with respect to each tensor
/// in `wrt` against central differences.
///
/// `f` reads the `wrt` tensors it closes over; the checker perturbs their elements in place. The loss
/// is accumulated in Double and the difference quotient divides by the perturbation actually applied
/// (`Float(x + h) - Float(x - h)`, computed exactly in Double), so the only noise left is the op's own
/// Float rounding, which a step of ~1e-2 makes negligible. An element passes when
/// `|analytic - numeric| ≤ rtol·|numeric| + atol·max|numeric| + 1e-4`: relative to the element and to
/// the tensor's gradient scale, so a missing backward term (typically ≥ 10% of the gradient) fails.
///
/// Networks with ReLU and max-pool are only piecewise smooth: a step can carry a pre-activation across
/// 0 or reorder a pooling window, and the difference quotient then measures a jump, not a slope.
/// `regime`, when given, returns a signature of the active pieces (ReLU signs, max-pool winners); an
/// element whose perturbed signature differs is retried once with the step divided by 10, and
/// skipped (counted in `skipped`) if it still crosses.
func gradientCheck(
  wrt: [(String, Tensor)], step: Float = 1e-2, rtol: Double = 1e-2, atol: Double = 2e-3, seed: UInt64 = 12345,
  regime: (() throws -> [Int])? = nil, _ f: () throws -> Tensor
) throws -> GradientCheckReport {
  for (_, t) in wrt {
    t.requiresGrad = true
    t.grad = nil
  }
  let output = try f()
  var data = TestData(seed: seed)
  let weights = data.normal(output.shape, requiresGrad: false)
  output.backward(weights)

  func loss() throws -> Double {
    try GradMode.withNoGrad {
      let y = try f()
      precondition(y.shape == weights.shape, "output shape changed under perturbation")
      var total: Double = 0
      for i in 0..<y.count { total += Double(y.data[i]) * Double(weights.data[i]) }
      return total
    }
  }
  let baseRegime = try regime.map { r in try GradMode.withNoGrad { try r() } }
  func sameRegime() throws -> Bool {
    guard let regime, let baseRegime else { return true }
    return try GradMode.withNoGrad { try regime() } == baseRegime
  }

  var results: [InputGradientCheck] = []
  for (name, t) in wrt {
    let analytic = t.grad?.scalars.map(Double.init) ?? [Double](repeating: 0, count: t.count)
    var numeric = [Double?](repeating: nil, count: t.count)
    for i in 0..<t.count {
      let saved = t.data[i]
      var h = step
      for _ in 0..<2 {
        let up = saved + h
        let down = saved - h
        t.data[i] = up
        let lossUp = try loss()
        var smooth = try sameRegime()
        t.data[i] = down
        let lossDown = try loss()
        smooth = try smooth && sameRegime()
        t.data[i] = saved
        if smooth {
          numeric[i] = (lossUp - lossDown) / (Double(up) - Double(down))
          break
        }
        h /= 10
      }
    }
    results.append(compareGradients(name: name, analytic: analytic, numeric: numeric, rtol: rtol, atol: atol))
  }
  return GradientCheckReport(inputs: results)
}

/// Compares one input's autograd gradient with its difference quotients (`nil`: skipped at a kink),
/// element by element, with `gradientCheck`'s allowance.
///
/// A non-finite value on either side is a mismatch with an infinite ratio. Written out because the
/// plain form, `if ratio > 1 { mismatch }`, is false for NaN: a backward pass (or a forward pass, via
/// the difference quotient) that produced NaN would have passed. The tensor's gradient scale is taken
/// over finite difference quotients only, so one NaN cannot make `max` order-dependent.
func compareGradients(
  name: String, analytic: [Double], numeric: [Double?], rtol: Double, atol: Double
) -> InputGradientCheck {
  precondition(analytic.count == numeric.count, "one difference quotient per gradient element")
  let scale = numeric.compactMap { $0 }.filter(\.isFinite).map(abs).max() ?? 0
  var result = InputGradientCheck(
    name: name, mismatches: 0, skipped: 0, worstIndex: 0, worstAnalytic: 0, worstNumeric: 0, worstRatio: -1,
    numericScale: scale, analyticScale: analytic.filter(\.isFinite).map(abs).max() ?? 0)
  for i in analytic.indices {
    guard let n = numeric[i] else {
      result.skipped += 1
      continue
    }
    let a = analytic[i]
    let allowed = rtol * abs(n) + atol * scale + 1e-4
    let ratio = a.isFinite && n.isFinite ? abs(a - n) / allowed : .infinity
    if ratio > 1 { result.mismatches += 1 }
    // The first non-finite element stays the worst: later infinite ratios do not displace it.
    if ratio > result.worstRatio {
      result.worstRatio = ratio
      result.worstIndex = i
      result.worstAnalytic = a
      result.worstNumeric = n
    }
  }
  return result
}

/// Runs `gradientCheck` and fails the test on any mismatch, on more than `maxSkipped` elements
/// skipped at kinks, or when an input's gradient is (numerically) all zero, which would make the
/// comparison meaningless. Inputs named in `zeroGradient` must instead have a zero gradient, both
/// numerically and from autograd.
func assertGradientsMatch(
  _ label: String, wrt: [(String, Tensor)], step: Float = 1e-2, rtol: Double = 1e-2, atol: Double = 2e-3,
  seed: UInt64 = 12345, regime: (() throws -> [Int])? = nil, maxSkipped: Int = 0,
  zeroGradient: Set<String> = [], file: StaticString = #filePath, line: UInt = #line,
  _ f: () throws -> Tensor
) {
  do {
    let report = try gradientCheck(
      wrt: wrt, step: step, rtol: rtol, atol: atol, seed: seed, regime: regime, f)
    for r in report.inputs {
      XCTAssertEqual(
        r.mismatches, 0,
        "\(label): d/d\(r.name) has \(r.mismatches) mismatching elements; worst [\(r.worstIndex)] autograd "
          + "\(r.worstAnalytic) vs numeric \(r.worstNumeric) (ratio \(r.worstRatio))",
        file: file, line: line)
      XCTAssertLessThanOrEqual(
        r.skipped, maxSkipped, "\(label): d/d\(r.name) skipped \(r.skipped) elements at kinks",
        file: file, line: line)
      if zeroGradient.contains(r.name) {
        XCTAssertLessThan(
          r.numericScale, 1e-3, "\(label): d/d\(r.name) should be zero", file: file, line: line)
        XCTAssertLessThan(
          r.analyticScale, 1e-4, "\(label): d/d\(r.name) should be zero", file: file, line: line)
      } else {
        XCTAssertGreaterThan(
          r.numericScale, 1e-3, "\(label): d/d\(r.name) is zero everywhere; the check proves nothing",
          file: file, line: line)
      }
    }
  } catch {
    XCTFail("\(label): \(error)", file: file, line: line)
  }
}

/// Direct convolution in Double, written independently of the library: the forward reference.
func naiveConv2d(
  _ x: Tensor, _ w: Tensor, _ b: Tensor?, stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int),
  groups: Int
) -> (shape: [Int], values: [Double]) {
  let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
  let (o, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
  let oh = (h + 2 * padding.0 - dilation.0 * (kh - 1) - 1) / stride.0 + 1
  let ow = (wd + 2 * padding.1 - dilation.1 * (kw - 1) - 1) / stride.1 + 1
  let og = o / groups
  var out = [Double](repeating: 0, count: n * o * oh * ow)
  for b0 in 0..<n {
    for oc in 0..<o {
      for y in 0..<oh {
        for xo in 0..<ow {
          var acc = b.map { Double($0.data[oc]) } ?? 0
          for ic in 0..<cg {
            let channel = (oc / og) * cg + ic
            for ky in 0..<kh {
              for kx in 0..<kw {
                let iy = y * stride.0 - padding.0 + ky * dilation.0
                let ix = xo * stride.1 - padding.1 + kx * dilation.1
                guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
                acc +=
                  Double(x.data[((b0 * c + channel) * h + iy) * wd + ix])
                  * Double(w.data[((oc * cg + ic) * kh + ky) * kw + kx])
              }
            }
          }
          out[((b0 * o + oc) * oh + y) * ow + xo] = acc
        }
      }
    }
  }
  return ([n, o, oh, ow], out)
}
