import Foundation

// Row-wise softmax and log-softmax written out from their definitions in Double: the references the
// kernels in Softmax.swift are tested against. Same contracts and argument lists. Slow on purpose.

/// The largest value of row `x` (NaN if the row holds one, so it spreads as in the fast kernels'
/// arithmetic), the shift that keeps `exp` from overflowing.
private func rowMaximum(_ x: UnsafePointer<Float>, _ columns: Int) -> Double {
  var m = -Double.infinity
  for j in 0..<columns {
    let v = Double(x[j])
    if v.isNaN { return v }
    if v > m { m = v }
  }
  return m
}

/// The reference `softmaxForward`: `y_j = exp(x_j − m) / Σ_k exp(x_k − m)` per row, `m` the row maximum.
public func softmaxForwardReference(
  rows: Int, columns: Int, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>
) {
  for r in 0..<rows {
    let x = input + r * columns
    let m = rowMaximum(x, columns)
    var sum: Double = 0
    for j in 0..<columns { sum += exp(Double(x[j]) - m) }
    for j in 0..<columns { output[r * columns + j] = Float(exp(Double(x[j]) - m) / sum) }
  }
}

/// The reference `logSoftmaxForward`: `y_j = x_j − m − log Σ_k exp(x_k − m)` per row.
public func logSoftmaxForwardReference(
  rows: Int, columns: Int, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>
) {
  for r in 0..<rows {
    let x = input + r * columns
    let m = rowMaximum(x, columns)
    var sum: Double = 0
    for j in 0..<columns { sum += exp(Double(x[j]) - m) }
    let logSum = log(sum)
    for j in 0..<columns { output[r * columns + j] = Float(Double(x[j]) - m - logSum) }
  }
}

/// The reference `softmaxBackward` from the forward output `y`: the Jacobian `∂y_j/∂x_i = y_j·(δ_ij − y_i)`
/// applied to `dy`, i.e. `dx_i = y_i·(dy_i − Σ_j dy_j·y_j)`. Writes `gradInput`.
public func softmaxBackwardReference(
  rows: Int, columns: Int, output: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
  gradInput: UnsafeMutablePointer<Float>
) {
  for r in 0..<rows {
    let base = r * columns
    var dot: Double = 0
    for j in 0..<columns { dot += Double(gradOutput[base + j]) * Double(output[base + j]) }
    for i in 0..<columns {
      gradInput[base + i] = Float(Double(output[base + i]) * (Double(gradOutput[base + i]) - dot))
    }
  }
}

/// The reference `logSoftmaxBackward` from the forward output `y` (log-probabilities):
/// `dx_i = dy_i − softmax_i·Σ_j dy_j`, with `softmax_i = exp(y_i)`. Writes `gradInput`.
public func logSoftmaxBackwardReference(
  rows: Int, columns: Int, output: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
  gradInput: UnsafeMutablePointer<Float>
) {
  for r in 0..<rows {
    let base = r * columns
    var sum: Double = 0
    for j in 0..<columns { sum += Double(gradOutput[base + j]) }
    for i in 0..<columns {
      gradInput[base + i] = Float(Double(gradOutput[base + i]) - exp(Double(output[base + i])) * sum)
    }
  }
}
