import CNNKitKernels
import CNNKitTestSupport
import XCTest

/// Batch norm, softmax and ReLU kernels against their naive twins (BatchNormReference.swift,
/// SoftmaxReference.swift, ReLUReference.swift) on odd shapes: 5 channels, batches of 1 and 3,
/// planes of 5×7 and 1×1, rows that are not multiples of any vector width.
final class NormActivationTwinTests: XCTestCase {
  // MARK: Batch norm

  /// (batch, spatial, offset): the offset moves the inputs far from zero mean, where a one-pass
  /// variance would lose everything; the fast kernel's Float `x·scale + shift` then loses a few bits
  /// to cancellation, hence the looser tolerance there.
  private let batchNormCases: [(Int, Int, Float, Double)] = [
    (1, 35, 0, 1e-5), (3, 35, 0, 1e-5), (3, 1, 0, 1e-5), (1, 2, 0, 1e-5), (3, 35, 100, 2e-3),
    (3, 4099, 0, 1e-5),
  ]
  private let channels = 5

  func testBatchNormTrainingForwardMatchesTwin() {
    for (index, (batch, spatial, offset, tol)) in batchNormCases.enumerated() {
      var rng = TestRandom(seed: UInt64(1300 + index))
      let count = batch * channels * spatial
      let x = rng.array(count).map { $0 * 2 + offset }
      let gamma = rng.array(channels).map { $0 + 1.5 }
      let beta = rng.array(channels)
      let runningStart = rng.array(2 * channels).map { abs($0) + 0.5 }
      for affine in [true, false] {
        let name = "batch \(batch) spatial \(spatial) offset \(offset) affine \(affine)"
        var results: [[[Float]]] = []
        for fast in [true, false] {
          var y = [Float](repeating: .nan, count: count)
          var mean = [Float](repeating: .nan, count: channels)
          var invStd = [Float](repeating: .nan, count: channels)
          var runningMean = Array(runningStart[..<channels])
          var runningVar = Array(runningStart[channels...])
          gamma.withUnsafeBufferPointer { g in
            beta.withUnsafeBufferPointer { b in
              let (w, bi) = affine ? (g.baseAddress, b.baseAddress) : (nil, nil)
              let run = fast ? batchNormForwardTraining : batchNormForwardTrainingReference
              run(
                batch, channels, spatial, x, w, bi, &runningMean, &runningVar, 0.1, 1e-5, &y, &mean, &invStd)
            }
          }
          results.append([y, mean, invStd, runningMean, runningVar])
        }
        let (fast, twin) = (results[0], results[1])
        assertClose(fast[0], twin[0], relative: tol, absolute: tol, "output \(name)")
        assertClose(fast[1], twin[1], relative: 1e-6, absolute: 1e-6, "saved mean \(name)")
        assertClose(fast[2], twin[2], relative: 1e-5, absolute: 0, "saved 1/std \(name)")
        assertClose(fast[3], twin[3], relative: 1e-6, absolute: 1e-6, "running mean \(name)")
        assertClose(fast[4], twin[4], relative: 1e-5, absolute: 1e-6, "running variance \(name)")
      }
    }
  }

  func testBatchNormInferenceForwardMatchesTwin() {
    for (index, batch) in [1, 3].enumerated() {
      var rng = TestRandom(seed: UInt64(1400 + index))
      let spatial = 35
      let x = rng.array(batch * channels * spatial)
      let mean = rng.array(channels)
      let variance = rng.array(channels).map { abs($0) + 0.1 }
      let gamma = rng.array(channels)
      let beta = rng.array(channels)
      var expected = [Float](repeating: .nan, count: x.count)
      batchNormForwardInferenceReference(
        batch: batch, channels: channels, spatial: spatial, input: x, weight: gamma, bias: beta, mean: mean,
        variance: variance, eps: 1e-5, output: &expected)
      var actual = [Float](repeating: .nan, count: x.count)
      batchNormForwardInference(
        batch: batch, channels: channels, spatial: spatial, input: x, weight: gamma, bias: beta, mean: mean,
        variance: variance, eps: 1e-5, output: &actual)
      assertClose(actual, expected, relative: 1e-5, absolute: 1e-5, "inference, batch \(batch)")
      // Without γ and β: the plain standardisation.
      batchNormForwardInferenceReference(
        batch: batch, channels: channels, spatial: spatial, input: x, weight: nil, bias: nil, mean: mean,
        variance: variance, eps: 1e-5, output: &expected)
      batchNormForwardInference(
        batch: batch, channels: channels, spatial: spatial, input: x, weight: nil, bias: nil, mean: mean,
        variance: variance, eps: 1e-5, output: &actual)
      assertClose(
        actual, expected, relative: 1e-5, absolute: 1e-5, "inference without affine, batch \(batch)")
    }
  }

  func testBatchNormBackwardMatchesTwin() {
    for (index, (batch, spatial, offset, tol)) in batchNormCases.enumerated() {
      var rng = TestRandom(seed: UInt64(1500 + index))
      let count = batch * channels * spatial
      let x = rng.array(count).map { $0 * 2 + offset }
      let dy = rng.array(count)
      let gamma = rng.array(channels).map { $0 + 1.5 }
      // Both sides start from the same saved statistics, the fast forward's.
      var y = [Float](repeating: .nan, count: count)
      var mean = [Float](repeating: .nan, count: channels)
      var invStd = [Float](repeating: .nan, count: channels)
      batchNormForwardTraining(
        batch: batch, channels: channels, spatial: spatial, input: x, weight: gamma, bias: nil,
        runningMean: nil, runningVar: nil, momentum: 0.1, eps: 1e-5, output: &y, saveMean: &mean,
        saveInvStd: &invStd)
      let name = "batch \(batch) spatial \(spatial) offset \(offset)"
      var results: [[[Float]]] = []
      for fast in [true, false] {
        var dx = [Float](repeating: .nan, count: count)
        var dGamma = [Float](repeating: .nan, count: channels)
        var dBeta = [Float](repeating: .nan, count: channels)
        let run = fast ? batchNormBackwardTraining : batchNormBackwardTrainingReference
        run(batch, channels, spatial, x, dy, gamma, mean, invStd, &dx, &dGamma, &dBeta)
        results.append([dx, dGamma, dBeta])
        // Parameter gradients alone (a frozen input) are the same without a gradInput buffer.
        run(batch, channels, spatial, x, dy, gamma, mean, invStd, nil, &dGamma, &dBeta)
        XCTAssertEqual(results.last![1], dGamma, "dγ without gradInput \(name) fast \(fast)")
        XCTAssertEqual(results.last![2], dBeta, "dβ without gradInput \(name) fast \(fast)")
      }
      let (fast, twin) = (results[0], results[1])
      let scale = Double(spatial * batch).squareRoot()
      assertClose(fast[0], twin[0], relative: tol, absolute: tol, "dx \(name)")
      assertClose(fast[1], twin[1], relative: 1e-5, absolute: 1e-5 * scale, "dγ \(name)")
      assertClose(fast[2], twin[2], relative: 1e-5, absolute: 1e-5 * scale, "dβ \(name)")
    }
  }

  // MARK: Softmax

  func testSoftmaxAndLogSoftmaxMatchTwins() {
    for (index, (rows, columns)) in [(1, 5), (3, 7), (5, 1), (3, 1000), (130, 10)].enumerated() {
      var rng = TestRandom(seed: UInt64(1600 + index))
      // Spread out logits, so some probabilities are tiny and the max shift matters.
      let x = rng.array(rows * columns).map { $0 * 12 }
      let dy = rng.array(rows * columns)
      let name = "\(rows)×\(columns)"
      var expected = [Float](repeating: .nan, count: x.count)
      var actual = [Float](repeating: .nan, count: x.count)
      softmaxForwardReference(rows: rows, columns: columns, input: x, output: &expected)
      softmaxForward(rows: rows, columns: columns, input: x, output: &actual)
      assertClose(actual, expected, relative: 1e-5, absolute: 1e-7, "softmax \(name)")
      let probabilities = expected
      var expectedGrad = [Float](repeating: .nan, count: x.count)
      var actualGrad = [Float](repeating: .nan, count: x.count)
      softmaxBackwardReference(
        rows: rows, columns: columns, output: probabilities, gradOutput: dy, gradInput: &expectedGrad)
      softmaxBackward(
        rows: rows, columns: columns, output: probabilities, gradOutput: dy, gradInput: &actualGrad)
      assertClose(actualGrad, expectedGrad, relative: 1e-5, absolute: 1e-6, "softmax backward \(name)")

      logSoftmaxForwardReference(rows: rows, columns: columns, input: x, output: &expected)
      logSoftmaxForward(rows: rows, columns: columns, input: x, output: &actual)
      assertClose(actual, expected, relative: 1e-6, absolute: 1e-5, "log-softmax \(name)")
      let logProbabilities = expected
      logSoftmaxBackwardReference(
        rows: rows, columns: columns, output: logProbabilities, gradOutput: dy, gradInput: &expectedGrad)
      logSoftmaxBackward(
        rows: rows, columns: columns, output: logProbabilities, gradOutput: dy, gradInput: &actualGrad)
      assertClose(actualGrad, expectedGrad, relative: 1e-5, absolute: 1e-5, "log-softmax backward \(name)")
    }
  }

  // MARK: ReLU

  /// Sizes around the vector width and the 32-element mask word, and one large enough to be split
  /// across threads.
  private let reluSizes = [0, 1, 7, 15, 16, 17, 31, 33, 35, 105, 262_147]

  func testReLUMatchesTwin() {
    var rng = TestRandom(seed: 1700)
    for n in reluSizes {
      var x = rng.array(n)
      // −0 must become +0 and infinities pass the closeness rule only against themselves.
      for (i, v) in [Float(-0.0), .infinity, -.infinity, 0].enumerated() where i * 5 + 2 < n {
        x[i * 5 + 2] = v
      }
      let g = rng.array(n)
      var expected = [Float](repeating: 7, count: n)
      reluForwardReference(count: n, input: x, output: &expected)
      var actual = [Float](repeating: 7, count: n)
      reluForward(count: n, input: x, output: &actual)
      assertClose(actual, expected, "forward n \(n)")
      XCTAssertEqual(actual.map(\.bitPattern), expected.map(\.bitPattern), "forward bits n \(n)")
      var masked = [Float](repeating: 7, count: n)
      var mask = [UInt32](repeating: 0xDEAD_BEEF, count: reluMaskWords(count: n))
      reluForwardMasked(count: n, input: x, output: &masked, mask: &mask)
      XCTAssertEqual(masked.map(\.bitPattern), expected.map(\.bitPattern), "masked forward bits n \(n)")

      var expectedGrad = [Float](repeating: 7, count: n)
      reluBackwardReference(count: n, output: expected, gradOutput: g, gradInput: &expectedGrad)
      var actualGrad = [Float](repeating: 7, count: n)
      reluBackward(count: n, output: expected, gradOutput: g, gradInput: &actualGrad)
      assertClose(actualGrad, expectedGrad, "backward n \(n)")
      var maskedGrad = [Float](repeating: 7, count: n)
      reluBackwardMasked(count: n, mask: mask, gradOutput: g, gradInput: &maskedGrad)
      assertClose(maskedGrad, expectedGrad, "masked backward n \(n)")
    }
  }

  /// NaN passes through ReLU and blocks its gradient, in the fast kernels as in the twin; compared
  /// bit for bit, since the closeness rule fails on any NaN.
  func testReLUNaNMatchesTwin() {
    var rng = TestRandom(seed: 1701)
    for n in reluSizes where n > 0 {
      var x = rng.array(n)
      for i in stride(from: 0, to: n, by: 6) { x[i] = .nan }
      var expected = [Float](repeating: 7, count: n)
      reluForwardReference(count: n, input: x, output: &expected)
      var actual = [Float](repeating: 7, count: n)
      reluForward(count: n, input: x, output: &actual)
      XCTAssertEqual(actual.map(\.bitPattern), expected.map(\.bitPattern), "forward n \(n)")
      let g = rng.array(n)
      var expectedGrad = [Float](repeating: 7, count: n)
      reluBackwardReference(count: n, output: expected, gradOutput: g, gradInput: &expectedGrad)
      var actualGrad = [Float](repeating: 7, count: n)
      reluBackward(count: n, output: expected, gradOutput: g, gradInput: &actualGrad)
      assertClose(actualGrad, expectedGrad, "backward n \(n)")
    }
  }
}
