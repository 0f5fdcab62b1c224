/// The training loop's NaN/Inf guard: does a buffer hold only finite values?
///
/// The guard runs over every gradient before each optimizer step, so it must cost next to nothing.
/// `x - x` is 0 for a finite `x` and NaN for ±Inf or NaN, so summing those differences over whole
/// vectors (no branch, no early exit) leaves a NaN in some lane exactly when a non-finite value was
/// seen. One check per call then decides.

/// True when all `count` values at `values` are finite (no NaN, no ±Inf). Large buffers (AlexNet's
/// 38M-weight fc6) are scanned in one chunk per thread, each with its own verdict.
public func allFinite(count: Int, _ values: UnsafePointer<Float>) -> Bool {
  if count < 2 * elementwiseSerialLimit || Parallel.threadCount == 1 {
    return allFiniteSerial(values, 0..<count)
  }
  let chunks = Parallel.threadCount
  let chunk = (count + chunks - 1) / chunks
  let verdicts = UnsafeMutablePointer<Bool>.allocate(capacity: chunks)
  defer { verdicts.deallocate() }
  Parallel.forEach(chunks) { c in
    verdicts[c] = allFiniteSerial(values, min(count, c * chunk)..<min(count, (c + 1) * chunk))
  }
  return UnsafeBufferPointer(start: verdicts, count: chunks).allSatisfy { $0 }
}

private func allFiniteSerial(_ values: UnsafePointer<Float>, _ range: Range<Int>) -> Bool {
  var poison = Vector(repeating: 0)
  var tail: Float = 0
  forEachVector(
    range,
    { i in
      let v = load(values, i)
      poison += v - v
    },
    { i in tail += values[i] - values[i] })
  // A lane holding NaN compares unequal to itself; an untouched lane stays 0.
  return poison.sum() == 0 && tail == 0
}

/// The naive twin of `allFinite`: one comparison per value.
public func allFiniteReference(count: Int, _ values: UnsafePointer<Float>) -> Bool {
  for i in 0..<count where !values[i].isFinite { return false }
  return true
}
