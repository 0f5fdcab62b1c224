/// Batch normalisation in training mode over NCHW: per-channel batch mean and biased variance
/// normalise the input; the running statistics move by `momentum` towards the batch mean and the
/// *unbiased* variance, as PyTorch's `BatchNorm2d` does. `saveMean`/`saveInvStd` feed the backward pass.
public func batchNormForwardTraining(
  batch: Int, channels: Int, spatial: Int, input: UnsafePointer<Float>,
  weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
  runningMean: UnsafeMutablePointer<Float>?, runningVar: UnsafeMutablePointer<Float>?,
  momentum: Float, eps: Float, output: UnsafeMutablePointer<Float>,
  saveMean: UnsafeMutablePointer<Float>, saveInvStd: UnsafeMutablePointer<Float>
) {
  let count = batch * spatial
  Parallel.forEach(channels) { c in
    // Two passes in Double: the mean first, then squared deviations, for a stable variance.
    var sum: Double = 0
    for n in 0..<batch {
      let p = input + (n * channels + c) * spatial
      for i in 0..<spatial { sum += Double(p[i]) }
    }
    let mean = sum / Double(count)
    var squares: Double = 0
    for n in 0..<batch {
      let p = input + (n * channels + c) * spatial
      for i in 0..<spatial {
        let d = Double(p[i]) - mean
        squares += d * d
      }
    }
    let variance = squares / Double(count)
    let invStd = Float(1 / (variance + Double(eps)).squareRoot())
    saveMean[c] = Float(mean)
    saveInvStd[c] = invStd
    if let runningMean, let runningVar {
      let unbiased = count > 1 ? squares / Double(count - 1) : variance
      runningMean[c] = (1 - momentum) * runningMean[c] + momentum * Float(mean)
      runningVar[c] = (1 - momentum) * runningVar[c] + momentum * Float(unbiased)
    }
    let scale = (weight?[c] ?? 1) * invStd
    let shift = (bias?[c] ?? 0) - Float(mean) * scale
    for n in 0..<batch {
      let p = input + (n * channels + c) * spatial
      let q = output + (n * channels + c) * spatial
      for i in 0..<spatial { q[i] = p[i] * scale + shift }
    }
  }
}

/// Batch normalisation with fixed statistics (eval mode): `y = (x - mean)/sqrt(var + eps)·γ + β`.
public func batchNormForwardInference(
  batch: Int, channels: Int, spatial: Int, input: UnsafePointer<Float>,
  weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
  mean: UnsafePointer<Float>, variance: UnsafePointer<Float>, eps: Float,
  output: UnsafeMutablePointer<Float>
) {
  Parallel.forEach(batch * channels) { plane in
    let c = plane % channels
    let scale = (weight?[c] ?? 1) / (variance[c] + eps).squareRoot()
    let shift = (bias?[c] ?? 0) - mean[c] * scale
    let p = input + plane * spatial
    let q = output + plane * spatial
    for i in 0..<spatial { q[i] = p[i] * scale + shift }
  }
}

/// Backward of training-mode batch norm. With x̂ = (x - μ)·invstd and N = batch·spatial:
/// `dx = γ·invstd/N · (N·dy - Σdy - x̂·Σ(dy·x̂))`, `dγ = Σ dy·x̂`, `dβ = Σ dy`.
/// Writes `gradInput`, `gradWeight` and `gradBias` (the last two when given).
public func batchNormBackwardTraining(
  batch: Int, channels: Int, spatial: Int, input: UnsafePointer<Float>,
  gradOutput: UnsafePointer<Float>, weight: UnsafePointer<Float>?,
  saveMean: UnsafePointer<Float>, saveInvStd: UnsafePointer<Float>,
  gradInput: UnsafeMutablePointer<Float>?, gradWeight: UnsafeMutablePointer<Float>?,
  gradBias: UnsafeMutablePointer<Float>?
) {
  let count = Float(batch * spatial)
  Parallel.forEach(channels) { c in
    let mean = saveMean[c]
    let invStd = saveInvStd[c]
    var sumDy: Double = 0
    var sumDyXhat: Double = 0
    for n in 0..<batch {
      let x = input + (n * channels + c) * spatial
      let dy = gradOutput + (n * channels + c) * spatial
      for i in 0..<spatial {
        sumDy += Double(dy[i])
        sumDyXhat += Double(dy[i]) * Double((x[i] - mean) * invStd)
      }
    }
    gradWeight?[c] = Float(sumDyXhat)
    gradBias?[c] = Float(sumDy)
    guard let gradInput else { return }
    let gamma = weight?[c] ?? 1
    let k = gamma * invStd / count
    let meanDy = Float(sumDy)
    let meanDyXhat = Float(sumDyXhat)
    for n in 0..<batch {
      let x = input + (n * channels + c) * spatial
      let dy = gradOutput + (n * channels + c) * spatial
      let dx = gradInput + (n * channels + c) * spatial
      for i in 0..<spatial {
        let xhat = (x[i] - mean) * invStd
        dx[i] = k * (count * dy[i] - meanDy - xhat * meanDyXhat)
      }
    }
  }
}
