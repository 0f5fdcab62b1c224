import CNNKitKernels
import XCTest

/// The SIMD kernels against scalar references on sizes that are not multiples of the vector width,
/// and on sizes large enough to be split across threads.
final class ElementwiseTests: XCTestCase {
  private let sizes = [0, 1, 7, 15, 16, 17, 33, 1000, 262_147]

  func testReLUMatchesScalarRuleWithNaNAndNegativeZero() {
    var random = TestRandom(seed: 3)
    for n in sizes {
      var x = random.array(n)
      if n > 2 {
        x[1] = .nan
        x[2] = -0.0
      }
      var y = [Float](repeating: 7, count: n)
      reluForward(count: n, input: x, output: &y)
      for i in 0..<n {
        let expected: Float = x[i] > 0 || x[i].isNaN ? x[i] : 0
        XCTAssertTrue(
          y[i] == expected && y[i].sign == expected.sign || (y[i].isNaN && expected.isNaN), "n \(n) i \(i)")
      }
      let g = random.array(n)
      var dx = [Float](repeating: 7, count: n)
      reluBackward(count: n, output: y, gradOutput: g, gradInput: &dx)
      XCTAssertEqual(dx, (0..<n).map { y[$0] > 0 ? g[$0] : 0 }, "n \(n)")
    }
  }

  func testAddMultiplyScaleSum() {
    var random = TestRandom(seed: 4)
    for n in sizes {
      let a = random.array(n)
      let b = random.array(n)
      var out = [Float](repeating: 7, count: n)
      addKernel(count: n, a, b, &out)
      XCTAssertEqual(out, zip(a, b).map { $0 + $1 })
      multiplyKernel(count: n, a, b, &out)
      XCTAssertEqual(out, zip(a, b).map { $0 * $1 })
      scaleKernel(count: n, a, by: 0.3, &out)
      XCTAssertEqual(out, a.map { $0 * 0.3 })
      let expected = a.reduce(0.0) { $0 + Double($1) }
      XCTAssertEqual(sumKernel(count: n, a), expected, accuracy: 1e-5 * max(1, Double(n).squareRoot()))
    }
  }

  func testSGDUpdateMatchesScalarRule() {
    var random = TestRandom(seed: 5)
    for n in [1, 17, 100_003] {
      for (momentum, nesterov, first) in [
        (Float(0), false, false), (0.9, false, true), (0.9, false, false), (0.9, true, false),
      ] {
        let w0 = random.array(n)
        let g = random.array(n)
        let v0 = random.array(n)
        var w = w0
        var v = v0
        let (lr, wd, damp): (Float, Float, Float) = (0.1, 5e-4, 0.1)
        if momentum == 0 {
          sgdUpdateKernel(
            count: n, weight: &w, grad: g, velocity: nil, learningRate: lr, momentum: 0, dampening: damp,
            weightDecay: wd, nesterov: false, firstStep: false)
        } else {
          sgdUpdateKernel(
            count: n, weight: &w, grad: g, velocity: &v, learningRate: lr, momentum: momentum,
            dampening: damp,
            weightDecay: wd, nesterov: nesterov, firstStep: first)
        }
        for i in 0..<n {
          let d = g[i] + wd * w0[i]
          if momentum == 0 {
            XCTAssertEqual(w[i], w0[i] - lr * d, accuracy: 1e-6)
            continue
          }
          let vi = first ? d : momentum * v0[i] + (1 - damp) * d
          XCTAssertEqual(v[i], vi, accuracy: 1e-6)
          XCTAssertEqual(w[i], w0[i] - lr * (nesterov ? d + momentum * vi : vi), accuracy: 1e-6)
        }
      }
    }
  }

  /// Max pooling with stride 2 takes an eight-wide path; check it against a plain loop on odd
  /// widths, ceil mode, padding (ResNet's 3×3/2 pad 1), ties and NaN.
  func testStrideTwoMaxPoolMatchesReference() {
    var random = TestRandom(seed: 6)
    for (h, w, k, ceil, pad) in [
      (28, 28, 2, false, 0), (10, 37, 3, false, 0), (9, 9, 3, true, 0), (6, 21, 2, true, 0),
      (55, 55, 3, false, 0),
      (112, 112, 3, false, 1), (13, 29, 3, true, 1), (7, 4, 3, false, 1), (19, 40, 5, false, 2),
      (3, 2, 3, false, 1),
    ] {
      let s = Pool2dShape(
        batch: 2, channels: 3, inHeight: h, inWidth: w, kernelHeight: k, kernelWidth: k, strideHeight: 2,
        strideWidth: 2, padHeight: pad, padWidth: pad, ceilMode: ceil)
      // Coarse values make ties common; a few NaN must win wherever they fall.
      var x = random.array(s.inputCount).map { ($0 * 4).rounded() }
      for i in stride(from: 5, to: x.count, by: 97) { x[i] = .nan }
      var out = [Float](repeating: 7, count: s.outputCount)
      var idx = [Int32](repeating: -1, count: s.outputCount)
      maxPool2dForward(s, input: x, output: &out, indices: &idx)
      let (oh, ow) = (s.outHeight, s.outWidth)
      for plane in 0..<(s.batch * s.channels) {
        for oy in 0..<oh {
          for ox in 0..<ow {
            var best = -Float.infinity
            var bestIndex = -1
            for iy in max(0, oy * 2 - pad)..<min(oy * 2 - pad + k, h) {
              for ix in max(0, ox * 2 - pad)..<min(ox * 2 - pad + k, w) {
                let v = x[plane * h * w + iy * w + ix]
                if bestIndex < 0 || v > best || v.isNaN {
                  best = v
                  bestIndex = iy * w + ix
                }
              }
            }
            let o = plane * oh * ow + oy * ow + ox
            XCTAssertEqual(Int(idx[o]), bestIndex, "\(h)×\(w) k\(k) p\(pad) plane \(plane) (\(oy), \(ox))")
            XCTAssertTrue(out[o] == best || (out[o].isNaN && best.isNaN))
          }
        }
      }
    }
  }
}
