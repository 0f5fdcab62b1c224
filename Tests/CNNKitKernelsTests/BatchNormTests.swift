import CNNKitKernels
import XCTest

final class BatchNormTests: XCTestCase {
  /// Training-mode forward and backward against the formulas evaluated plainly in Double, on plane
  /// sizes that leave SIMD tails and values far from zero mean (where a one-pass variance would fail).
  func testTrainingKernelsMatchPlainFormulas() {
    for (batch, channels, spatial) in [(3, 2, 13), (1, 3, 1), (2, 1, 4099)] {
      var rng = TestRandom(seed: UInt64(batch * 100 + spatial))
      let count = batch * channels * spatial
      let x = rng.array(count).map { 100 + $0 }
      let dy = rng.array(count)
      let gamma = rng.array(channels)
      let beta = rng.array(channels)
      var y = [Float](repeating: .nan, count: count)
      var mean = [Float](repeating: .nan, count: channels)
      var invStd = [Float](repeating: .nan, count: channels)
      batchNormForwardTraining(
        batch: batch, channels: channels, spatial: spatial, input: x, weight: gamma, bias: beta,
        runningMean: nil, runningVar: nil, momentum: 0.1, eps: 1e-5, output: &y, saveMean: &mean,
        saveInvStd: &invStd)
      var dx = [Float](repeating: .nan, count: count)
      var dGamma = [Float](repeating: .nan, count: channels)
      var dBeta = [Float](repeating: .nan, count: channels)
      batchNormBackwardTraining(
        batch: batch, channels: channels, spatial: spatial, input: x, gradOutput: dy, weight: gamma,
        saveMean: mean, saveInvStd: invStd, gradInput: &dx, gradWeight: &dGamma, gradBias: &dBeta)
      for c in 0..<channels {
        let indices = (0..<batch).flatMap { n in (0..<spatial).map { (n * channels + c) * spatial + $0 } }
        let n = Double(indices.count)
        let mu = indices.reduce(0.0) { $0 + Double(x[$1]) } / n
        let variance = indices.reduce(0.0) { $0 + (Double(x[$1]) - mu) * (Double(x[$1]) - mu) } / n
        let inv = 1 / (variance + 1e-5).squareRoot()
        XCTAssertEqual(Double(mean[c]), mu, accuracy: 1e-4)
        XCTAssertEqual(Double(invStd[c]), inv, accuracy: 1e-3 * inv)
        let sumDy = indices.reduce(0.0) { $0 + Double(dy[$1]) }
        let sumDyXhat = indices.reduce(0.0) { $0 + Double(dy[$1]) * (Double(x[$1]) - mu) * inv }
        XCTAssertEqual(Double(dBeta[c]), sumDy, accuracy: 1e-4 * max(1, abs(sumDy)))
        XCTAssertEqual(Double(dGamma[c]), sumDyXhat, accuracy: 2e-3 * max(1, abs(sumDyXhat)))
        for i in indices {
          let xhat = (Double(x[i]) - mu) * inv
          XCTAssertEqual(Double(y[i]), Double(gamma[c]) * xhat + Double(beta[c]), accuracy: 2e-3)
          let expected = Double(gamma[c]) * inv / n * (n * Double(dy[i]) - sumDy - xhat * sumDyXhat)
          XCTAssertEqual(Double(dx[i]), expected, accuracy: 2e-3 * max(1, abs(expected)))
        }
      }
    }
  }
}
