/// Elementwise kernels on 16-wide SIMD vectors with a scalar tail. Large arrays are split across
/// threads in chunks of whole vectors; small ones stay on the calling thread, where a fork would
/// cost more than the work.

typealias Vector = SIMD16<Float>

/// Elements below which elementwise kernels do not fork (about 0.5 MB of traffic).
let elementwiseSerialLimit = 1 << 16

@inline(__always)
func load(_ p: UnsafePointer<Float>, _ i: Int) -> Vector {
  UnsafeRawPointer(p + i).loadUnaligned(as: Vector.self)
}

@inline(__always)
func store(_ v: Vector, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
  UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: Vector.self)
}

/// Runs `body` over `0..<count` in at most `Parallel.threadCount` ranges whose bounds are multiples
/// of the vector width (except the end), on one thread below `elementwiseSerialLimit` elements.
@inline(__always)
func forVectorRanges(_ count: Int, _ body: (Range<Int>) -> Void) {
  if count < 2 * elementwiseSerialLimit || Parallel.threadCount == 1 {
    body(0..<count)
    return
  }
  let vectors = (count + Vector.scalarCount - 1) / Vector.scalarCount
  Parallel.forRanges(vectors, minimumChunk: elementwiseSerialLimit / Vector.scalarCount) { r in
    body((r.lowerBound * Vector.scalarCount)..<min(count, r.upperBound * Vector.scalarCount))
  }
}

/// Applies `vector` to whole vectors of `range` and `scalar` to the tail.
@inline(__always)
func forEachVector(_ range: Range<Int>, _ vector: (Int) -> Void, _ scalar: (Int) -> Void) {
  var i = range.lowerBound
  while i + Vector.scalarCount <= range.upperBound {
    vector(i)
    i += Vector.scalarCount
  }
  while i < range.upperBound {
    scalar(i)
    i += 1
  }
}

/// `out = a + b`. `out` may be `a` or `b`.
public func addKernel(
  count: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>
) {
  forVectorRanges(count) { r in
    forEachVector(r, { i in store(load(a, i) + load(b, i), out, i) }, { i in out[i] = a[i] + b[i] })
  }
}

/// `out = a · b` elementwise. `out` may be `a` or `b`.
public func multiplyKernel(
  count: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>
) {
  forVectorRanges(count) { r in
    forEachVector(r, { i in store(load(a, i) * load(b, i), out, i) }, { i in out[i] = a[i] * b[i] })
  }
}

/// `out = x · factor`. `out` may be `x`.
public func scaleKernel(
  count: Int, _ x: UnsafePointer<Float>, by factor: Float, _ out: UnsafeMutablePointer<Float>
) {
  let f = Vector(repeating: factor)
  forVectorRanges(count) { r in
    forEachVector(r, { i in store(load(x, i) * f, out, i) }, { i in out[i] = x[i] * factor })
  }
}

/// Sum of `count` elements: Float vector partial sums over runs of 4096, added up in Double.
public func sumKernel(count: Int, _ x: UnsafePointer<Float>) -> Double {
  var total: Double = 0
  var i = 0
  // Float partial sums over short runs, folded into Double: fast and accurate to well below 1e-6.
  while i < count {
    let end = min(count, i + 4096)
    var acc = Vector(repeating: 0)
    var j = i
    while j + Vector.scalarCount <= end {
      acc += load(x, j)
      j += Vector.scalarCount
    }
    var part = Double(acc.sum())
    while j < end {
      part += Double(x[j])
      j += 1
    }
    total += part
    i = end
  }
  return total
}

/// One SGD step over `count` parameters, PyTorch's `torch.optim.SGD` rule:
/// `d = g + wd·w`; with momentum `v = m·v + (1 − dampening)·d` (or `v = d` when `firstStep`);
/// `w −= lr · (nesterov ? d + m·v : v)`; without momentum (`velocity` nil) `w −= lr·d`.
public func sgdUpdateKernel(
  count: Int, weight: UnsafeMutablePointer<Float>, grad: UnsafePointer<Float>,
  velocity: UnsafeMutablePointer<Float>?, learningRate: Float, momentum: Float, dampening: Float,
  weightDecay: Float, nesterov: Bool, firstStep: Bool
) {
  let (lr, wd, m, keep) = (learningRate, weightDecay, momentum, 1 - dampening)
  let (vlr, vwd, vm, vkeep) = (
    Vector(repeating: lr), Vector(repeating: wd), Vector(repeating: m), Vector(repeating: keep)
  )
  forVectorRanges(count) { r in
    guard let v = velocity else {
      forEachVector(
        r,
        { i in
          let d = load(grad, i) + vwd * load(weight, i)
          store(load(weight, i) - vlr * d, weight, i)
        },
        { i in weight[i] -= lr * (grad[i] + wd * weight[i]) })
      return
    }
    forEachVector(
      r,
      { i in
        let d = load(grad, i) + vwd * load(weight, i)
        let vi = firstStep ? d : vm * load(v, i) + vkeep * d
        store(vi, v, i)
        store(load(weight, i) - vlr * (nesterov ? d + vm * vi : vi), weight, i)
      },
      { i in
        let d = grad[i] + wd * weight[i]
        let vi = firstStep ? d : m * v[i] + keep * d
        v[i] = vi
        weight[i] -= lr * (nesterov ? d + m * vi : vi)
      })
  }
}
