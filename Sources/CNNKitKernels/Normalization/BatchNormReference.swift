// Batch normalisation written out from its formulas, channel by channel, everything in Double:
// the references the kernels in BatchNorm.swift (SIMD partial sums, threads) are tested against.
// Same contracts and argument lists as the fast kernels. Slow on purpose.

/// The values of channel `c` across the batch: element `n·channels·spatial + c·spatial + i`.
@inline(__always)
private func channelElement(_ n: Int, _ c: Int, _ i: Int, channels: Int, spatial: Int) -> Int {
  (n * channels + c) * spatial + i
}

/// The reference `batchNormForwardTraining`: the batch mean, the biased variance (two passes, the
/// mean first), `y = γ·(x − mean)/√(var + eps) + β`, and, when given, the running statistics moved
/// by `momentum` towards the mean and the *unbiased* variance. `saveMean` and `saveInvStd` receive
/// the mean and `1/√(var + eps)` for the backward pass.
public func batchNormForwardTrainingReference(
  batch: Int, channels: Int, spatial: Int, input: UnsafePointer<Float>,
  weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
  runningMean: UnsafeMutablePointer<Float>?, runningVar: UnsafeMutablePointer<Float>?,
  momentum: Float, eps: Float, output: UnsafeMutablePointer<Float>,
  saveMean: UnsafeMutablePointer<Float>, saveInvStd: UnsafeMutablePointer<Float>
) {
  let count = batch * spatial
  for c in 0..<channels {
    var sum: Double = 0
    for n in 0..<batch {
      for i in 0..<spatial {
        sum += Double(input[channelElement(n, c, i, channels: channels, spatial: spatial)])
      }
    }
    let mean = sum / Double(count)
    var squares: Double = 0
    for n in 0..<batch {
      for i in 0..<spatial {
        let d = Double(input[channelElement(n, c, i, channels: channels, spatial: spatial)]) - mean
        squares += d * d
      }
    }
    let variance = squares / Double(count)
    let invStd = 1 / (variance + Double(eps)).squareRoot()
    saveMean[c] = Float(mean)
    saveInvStd[c] = Float(invStd)
    if let runningMean, let runningVar {
      // One element has no unbiased variance; PyTorch then uses the biased one, as the fast kernel does.
      let unbiased = count > 1 ? squares / Double(count - 1) : variance
      let m = Double(momentum)
      runningMean[c] = Float((1 - m) * Double(runningMean[c]) + m * mean)
      runningVar[c] = Float((1 - m) * Double(runningVar[c]) + m * unbiased)
    }
    let gamma = Double(weight?[c] ?? 1)
    let beta = Double(bias?[c] ?? 0)
    for n in 0..<batch {
      for i in 0..<spatial {
        let e = channelElement(n, c, i, channels: channels, spatial: spatial)
        output[e] = Float(gamma * (Double(input[e]) - mean) * invStd + beta)
      }
    }
  }
}

/// The reference `batchNormForwardInference`: `y = γ·(x − mean)/√(variance + eps) + β` with the given
/// (running) statistics.
public func batchNormForwardInferenceReference(
  batch: Int, channels: Int, spatial: Int, input: UnsafePointer<Float>,
  weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
  mean: UnsafePointer<Float>, variance: UnsafePointer<Float>, eps: Float,
  output: UnsafeMutablePointer<Float>
) {
  for n in 0..<batch {
    for c in 0..<channels {
      let gamma = Double(weight?[c] ?? 1)
      let beta = Double(bias?[c] ?? 0)
      let std = (Double(variance[c]) + Double(eps)).squareRoot()
      for i in 0..<spatial {
        let e = channelElement(n, c, i, channels: channels, spatial: spatial)
        output[e] = Float(gamma * (Double(input[e]) - Double(mean[c])) / std + beta)
      }
    }
  }
}

/// The reference `batchNormBackwardTraining`. With x̂ = (x − mean)·invStd from the saved statistics
/// and N = batch·spatial: `dβ = Σ dy`, `dγ = Σ dy·x̂`, and
/// `dx = γ·invStd·(dy − Σdy/N − x̂·Σ(dy·x̂)/N)` (the gradient through the batch mean and variance
/// included). Writes `gradInput`, `gradWeight` and `gradBias`, each when given.
public func batchNormBackwardTrainingReference(
  batch: Int, channels: Int, spatial: Int, input: UnsafePointer<Float>,
  gradOutput: UnsafePointer<Float>, weight: UnsafePointer<Float>?,
  saveMean: UnsafePointer<Float>, saveInvStd: UnsafePointer<Float>,
  gradInput: UnsafeMutablePointer<Float>?, gradWeight: UnsafeMutablePointer<Float>?,
  gradBias: UnsafeMutablePointer<Float>?
) {
  let count = Double(batch * spatial)
  for c in 0..<channels {
    let mean = Double(saveMean[c])
    let invStd = Double(saveInvStd[c])
    var sumDy: Double = 0
    var sumDyXhat: Double = 0
    for n in 0..<batch {
      for i in 0..<spatial {
        let e = channelElement(n, c, i, channels: channels, spatial: spatial)
        let dy = Double(gradOutput[e])
        sumDy += dy
        sumDyXhat += dy * (Double(input[e]) - mean) * invStd
      }
    }
    gradBias?[c] = Float(sumDy)
    gradWeight?[c] = Float(sumDyXhat)
    guard let gradInput else { continue }
    let gamma = Double(weight?[c] ?? 1)
    for n in 0..<batch {
      for i in 0..<spatial {
        let e = channelElement(n, c, i, channels: channels, spatial: spatial)
        let xhat = (Double(input[e]) - mean) * invStd
        gradInput[e] = Float(
          gamma * invStd * (Double(gradOutput[e]) - sumDy / count - xhat * sumDyXhat / count))
      }
    }
  }
}
