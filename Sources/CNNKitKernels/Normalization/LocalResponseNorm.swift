import Foundation

/// Local response normalisation across channels:
/// `y_c = x_c · (k + coefficient · Σ_{j ∈ window(c)} x_j²)^(-β)`, window `[c - size/2, c + (size-1)/2]`.
///
/// The caller picks `coefficient`: PyTorch's `LocalResponseNorm` uses `alpha / size`, the 2012 AlexNet
/// paper uses `alpha` as written. `scale` receives `k + coefficient·Σx²` for the backward pass.
/// Eight pixels at a time; `s^(-β)` through square roots for the common β = 0.75 and 0.5.
public func localResponseNormForward(
  batch: Int, channels: Int, spatial: Int, size: Int, coefficient: Float, beta: Float, k: Float,
  input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, scale: UnsafeMutablePointer<Float>
) {
  let before = size / 2
  let after = (size - 1) / 2
  let (kv, cv) = (LRNVector(repeating: k), LRNVector(repeating: coefficient))
  // Each (image, channel) plane is independent: enough tasks for every thread even at batch 1.
  Parallel.forRanges(batch * channels, minimumChunk: max(1, 8192 / max(1, spatial * size))) { planes in
    for plane in planes {
      let (n, c) = plane.quotientAndRemainder(dividingBy: channels)
      let x = input + n * channels * spatial
      let out = plane * spatial
      let lo = max(0, c - before)
      let hi = min(channels - 1, c + after)
      var i = 0
      while i + 8 <= spatial {
        var sum = LRNVector()
        for j in lo...hi {
          let v = lrnLoad(x + j * spatial + i)
          sum += v * v
        }
        let sc = kv + cv * sum
        lrnStore(sc, scale + out + i)
        lrnStore(lrnLoad(input + out + i) * lrnInversePower(sc, beta), output + out + i)
        i += 8
      }
      while i < spatial {
        var sum: Float = 0
        for j in lo...hi {
          let v = x[j * spatial + i]
          sum += v * v
        }
        let sc = k + coefficient * sum
        scale[out + i] = sc
        output[out + i] = input[out + i] * powf(sc, -beta)
        i += 1
      }
    }
  }
}

/// Backward of `localResponseNormForward`:
/// `dx_j = dy_j·s_j^(-β) - 2·coefficient·β·x_j · Σ_{c: j ∈ window(c)} dy_c·x_c·s_c^(-β-1)`.
/// Writes `gradInput`. Per image: the terms `dy_c·x_c·s_c^(-β-1)` first, then their window sums.
public func localResponseNormBackward(
  batch: Int, channels: Int, spatial: Int, size: Int, coefficient: Float, beta: Float,
  input: UnsafePointer<Float>, scale: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
  gradInput: UnsafeMutablePointer<Float>
) {
  let before = size / 2
  let after = (size - 1) / 2
  let factor = 2 * coefficient * beta
  Parallel.forEach(batch) { n in
    let base = n * channels * spatial
    let (x, s, dy, dx) = (input + base, scale + base, gradOutput + base, gradInput + base)
    let terms = UnsafeMutablePointer<Float>.allocate(capacity: channels * spatial)
    defer { terms.deallocate() }
    let count = channels * spatial
    var i = 0
    while i + 8 <= count {
      let sc = lrnLoad(s + i)
      lrnStore(lrnLoad(dy + i) * lrnLoad(x + i) * lrnInversePower(sc, beta) / sc, terms + i)
      i += 8
    }
    while i < count {
      terms[i] = dy[i] * x[i] * powf(s[i], -beta - 1)
      i += 1
    }
    // c's window covers j when c - before <= j <= c + after, i.e. c in [j - after, j + before].
    let fv = LRNVector(repeating: factor)
    for j in 0..<channels {
      let lo = max(0, j - after)
      let hi = min(channels - 1, j + before)
      let row = j * spatial
      var p = 0
      while p + 8 <= spatial {
        var cross = LRNVector()
        for c in lo...hi { cross += lrnLoad(terms + c * spatial + p) }
        let idx = row + p
        let grad = lrnLoad(dy + idx) * lrnInversePower(lrnLoad(s + idx), beta) - fv * lrnLoad(x + idx) * cross
        lrnStore(grad, dx + idx)
        p += 8
      }
      while p < spatial {
        var cross: Float = 0
        for c in lo...hi { cross += terms[c * spatial + p] }
        let idx = row + p
        dx[idx] = dy[idx] * powf(s[idx], -beta) - factor * x[idx] * cross
        p += 1
      }
    }
  }
}

typealias LRNVector = SIMD8<Float>

@inline(__always)
private func lrnLoad(_ p: UnsafePointer<Float>) -> LRNVector {
  UnsafeRawPointer(p).loadUnaligned(as: LRNVector.self)
}

@inline(__always)
private func lrnLoad(_ p: UnsafeMutablePointer<Float>) -> LRNVector { lrnLoad(UnsafePointer(p)) }

@inline(__always)
private func lrnStore(_ v: LRNVector, _ p: UnsafeMutablePointer<Float>) {
  UnsafeMutableRawPointer(p).storeBytes(of: v, as: LRNVector.self)
}

/// `s^(-β)`: square roots for β = 0.75 (AlexNet) and 0.5, `powf` per lane otherwise.
@inline(__always)
private func lrnInversePower(_ s: LRNVector, _ beta: Float) -> LRNVector {
  if beta == 0.75 {
    let root = s.squareRoot()
    return 1 / (root * root.squareRoot())
  }
  if beta == 0.5 { return 1 / s.squareRoot() }
  var result = LRNVector()
  for lane in 0..<LRNVector.scalarCount { result[lane] = powf(s[lane], -beta) }
  return result
}
