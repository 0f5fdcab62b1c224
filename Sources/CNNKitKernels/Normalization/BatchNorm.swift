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
    // Two passes, the mean first, then squared deviations, for a stable variance; SIMD partial sums
    // over short runs are folded into Double.
    var sum: Double = 0
    for n in 0..<batch {
      sum += sumKernel(count: spatial, input + (n * channels + c) * spatial)
    }
    let mean = sum / Double(count)
    var squares: Double = 0
    for n in 0..<batch {
      squares += squaredDeviationSum(input + (n * channels + c) * spatial, spatial, Float(mean))
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
      sumDy += sumKernel(count: spatial, dy)
      sumDyXhat += Double(invStd) * centredDot(dy, x, spatial, mean)
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

/// `Σ (x[i] − mean)²` over `count` elements: Float vector partial sums over runs of 4096, in Double.
private func squaredDeviationSum(_ x: UnsafePointer<Float>, _ count: Int, _ mean: Float) -> Double {
  centredDot(x, x, count, mean, centreBoth: true)
}

/// `Σ a[i]·(b[i] − mean)` (or `Σ (a[i] − mean)·(b[i] − mean)` with `centreBoth`) over `count`
/// elements: Float vector partial sums over runs of 4096, added up in Double.
private func centredDot(
  _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int, _ mean: Float, centreBoth: Bool = false
) -> Double {
  typealias V = SIMD8<Float>
  let m = V(repeating: mean)
  let ma = centreBoth ? m : V()
  var total: Double = 0
  var i = 0
  while i < count {
    let end = min(count, i + 4096)
    var acc = V()
    var j = i
    while j + 8 <= end {
      let av = UnsafeRawPointer(a + j).loadUnaligned(as: V.self) - ma
      let bv = UnsafeRawPointer(b + j).loadUnaligned(as: V.self) - m
      acc = acc.addingProduct(av, bv)
      j += 8
    }
    var part = Double(acc.sum())
    while j < end {
      part += Double(a[j] - (centreBoth ? mean : 0)) * Double(b[j] - mean)
      j += 1
    }
    total += part
    i = end
  }
  return total
}
