import Foundation

/// One Adam/AdamW step's scalars, formed as PyTorch forms them (Python doubles rounded to Float
/// where they meet the tensors), and the update of eight elements at a time.
public struct AdamUpdate: Sendable {
  /// `1 − lr·weightDecay`, applied to the weight first when `applyDecay` (AdamW).
  public var decay: Float
  public var applyDecay: Bool
  /// The L2 term added to the gradient (Adam; 0 for AdamW).
  public var weightDecay: Float
  /// `1 − β1`, the first moment's interpolation weight.
  public var weight1: Float
  public var beta2: Float
  /// `1 − β2`.
  public var weight2: Float
  /// `lr / (1 − β1^t)`.
  public var stepSize: Float
  /// `√(1 − β2^t)`.
  public var correction2: Float
  public var eps: Float

  public init(
    learningRate: Float, beta1: Float, beta2: Float, eps: Float, weightDecay: Float, decoupled: Bool,
    step: Int
  ) {
    let lr = Double(learningRate)
    let t = Double(step)
    decay = Float(1 - lr * Double(weightDecay))
    applyDecay = decoupled && weightDecay != 0
    self.weightDecay = decoupled ? 0 : weightDecay
    weight1 = 1 - beta1
    self.beta2 = beta2
    weight2 = 1 - beta2
    stepSize = Float(lr / (1 - pow(Double(beta1), t)))
    correction2 = Float((1 - pow(Double(beta2), t)).squareRoot())
    self.eps = eps
  }

  @inline(__always) func update(w: SIMD8<Float>, g: SIMD8<Float>, m: SIMD8<Float>, v: SIMD8<Float>) -> (
    SIMD8<Float>, SIMD8<Float>, SIMD8<Float>
  ) {
    var w = w
    if applyDecay { w *= decay }
    let g = weightDecay == 0 ? g : g + weightDecay * w
    // torch.lerp's two forms, chosen by the weight, keep the result exact at both ends.
    let m = weight1 < 0.5 ? m + weight1 * (g - m) : g - (g - m) * (1 - weight1)
    let v = v * beta2 + weight2 * g * g
    w += -stepSize * m / (v.squareRoot() / correction2 + eps)  // addcdiv's order
    return (w, m, v)
  }
}

/// One Adam/AdamW step over `count` parameters in place, split across cores for large tensors.
/// Every element's arithmetic is the same whatever the split (the tail runs through the same vector
/// code, zero-padded), so results do not depend on the thread count.
public func adamUpdateKernel(
  count: Int, weight w: UnsafeMutablePointer<Float>, grad g: UnsafePointer<Float>,
  expAvg m: UnsafeMutablePointer<Float>, expAvgSq v: UnsafeMutablePointer<Float>, rule: AdamUpdate
) {
  func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
  }
  func store(_ value: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: value, as: SIMD8<Float>.self)
  }
  Parallel.forRanges(count, minimumChunk: 1 << 16) { range in
    var i = range.lowerBound
    while i + 8 <= range.upperBound {
      let (wi, mi, vi) = rule.update(w: load(w + i), g: load(g + i), m: load(m + i), v: load(v + i))
      store(wi, w + i)
      store(mi, m + i)
      store(vi, v + i)
      i += 8
    }
    let n = range.upperBound - i
    if n > 0 {
      var (tw, tg, tm, tv) = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
      for j in 0..<n { (tw[j], tg[j], tm[j], tv[j]) = (w[i + j], g[i + j], m[i + j], v[i + j]) }
      let (wi, mi, vi) = rule.update(w: tw, g: tg, m: tm, v: tv)
      for j in 0..<n { (w[i + j], m[i + j], v[i + j]) = (wi[j], mi[j], vi[j]) }
    }
  }
}
