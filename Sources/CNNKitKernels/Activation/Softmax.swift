import Foundation

/// Row-wise softmax of a `rows × columns` matrix, shifted by the row maximum for stability.
public func softmaxForward(
  rows: Int, columns: Int, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>
) {
  Parallel.forRanges(rows, minimumChunk: 64) { range in
    for r in range {
      let x = input + r * columns
      let y = output + r * columns
      var m = -Float.infinity
      for j in 0..<columns { m = max(m, x[j]) }
      var sum: Float = 0
      for j in 0..<columns {
        y[j] = expf(x[j] - m)
        sum += y[j]
      }
      let inv = 1 / sum
      for j in 0..<columns { y[j] *= inv }
    }
  }
}

/// Row-wise log-softmax: `x - max - log Σ exp(x - max)`.
public func logSoftmaxForward(
  rows: Int, columns: Int, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>
) {
  Parallel.forRanges(rows, minimumChunk: 64) { range in
    for r in range {
      let x = input + r * columns
      let y = output + r * columns
      var m = -Float.infinity
      for j in 0..<columns { m = max(m, x[j]) }
      var sum: Float = 0
      for j in 0..<columns { sum += expf(x[j] - m) }
      let shift = m + logf(sum)
      for j in 0..<columns { y[j] = x[j] - shift }
    }
  }
}

/// Softmax backward from its output: `dx = y · (dy - Σ dy·y)`. Writes `gradInput`.
public func softmaxBackward(
  rows: Int, columns: Int, output: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
  gradInput: UnsafeMutablePointer<Float>
) {
  Parallel.forRanges(rows, minimumChunk: 64) { range in
    for r in range {
      let y = output + r * columns
      let dy = gradOutput + r * columns
      let dx = gradInput + r * columns
      var dot: Float = 0
      for j in 0..<columns { dot += dy[j] * y[j] }
      for j in 0..<columns { dx[j] = y[j] * (dy[j] - dot) }
    }
  }
}

/// Log-softmax backward from its output: `dx = dy - exp(y) · Σ dy`. Writes `gradInput`.
public func logSoftmaxBackward(
  rows: Int, columns: Int, output: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
  gradInput: UnsafeMutablePointer<Float>
) {
  Parallel.forRanges(rows, minimumChunk: 64) { range in
    for r in range {
      let y = output + r * columns
      let dy = gradOutput + r * columns
      let dx = gradInput + r * columns
      var sum: Float = 0
      for j in 0..<columns { sum += dy[j] }
      for j in 0..<columns { dx[j] = dy[j] - expf(y[j]) * sum }
    }
  }
}
