import Foundation

/// The plain scalar LRN the fast kernels are tested against (same contract as
/// `localResponseNormForward`). Local response normalisation across channels:
/// `y_c = x_c · (k + coefficient · Σ_{j ∈ window(c)} x_j²)^(-β)`, window `[c - size/2, c + (size-1)/2]`.
///
/// The caller picks `coefficient`: PyTorch's `LocalResponseNorm` uses `alpha / size`, the 2012 AlexNet
/// paper uses `alpha` as written. `scale` receives `k + coefficient·Σx²` for the backward pass.
public func localResponseNormForwardReference(
  batch: Int, channels: Int, spatial: Int, size: Int, coefficient: Float, beta: Float, k: Float,
  input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scale: UnsafeMutablePointer<Float>
) {
  let before = size / 2
  let after = (size - 1) / 2
  for n in 0..<batch {
    let x = input + n * channels * spatial
    let y = output + n * channels * spatial
    let s = scale + n * channels * spatial
    for c in 0..<channels {
      let lo = max(0, c - before)
      let hi = min(channels - 1, c + after)
      for i in 0..<spatial {
        var sum: Float = 0
        for j in lo...hi {
          let v = x[j * spatial + i]
          sum += v * v
        }
        let sc = k + coefficient * sum
        s[c * spatial + i] = sc
        y[c * spatial + i] = x[c * spatial + i] * powf(sc, -beta)
      }
    }
  }
}

/// The plain scalar LRN backward (same contract as `localResponseNormBackward`):
/// `dx_j = dy_j·s_j^(-β) - 2·coefficient·β·x_j · Σ_{c: j ∈ window(c)} dy_c·x_c·s_c^(-β-1)`.
/// Writes `gradInput`.
public func localResponseNormBackwardReference(
  batch: Int, channels: Int, spatial: Int, size: Int, coefficient: Float, beta: Float,
  input: UnsafePointer<Float>, scale: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
  gradInput: UnsafeMutablePointer<Float>
) {
  let before = size / 2
  let after = (size - 1) / 2
  for n in 0..<batch {
    let x = input + n * channels * spatial
    let s = scale + n * channels * spatial
    let dy = gradOutput + n * channels * spatial
    let dx = gradInput + n * channels * spatial
    // c's window covers j when c - before <= j <= c + after, i.e. c in [j - after, j + before].
    for j in 0..<channels {
      let lo = max(0, j - after)
      let hi = min(channels - 1, j + before)
      for i in 0..<spatial {
        var cross: Float = 0
        for c in lo...hi {
          let idx = c * spatial + i
          cross += dy[idx] * x[idx] * powf(s[idx], -beta - 1)
        }
        let idx = j * spatial + i
        dx[idx] = dy[idx] * powf(s[idx], -beta) - 2 * coefficient * beta * x[idx] * cross
      }
    }
  }
}
