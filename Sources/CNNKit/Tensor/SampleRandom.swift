import Foundation

/// Random draws keyed by sample rather than by call order, for training: inside `with(seed:step:firstRow:)`
/// the `k`-th dropout layer of the forward pass draws row `r` of its input from a generator seeded by
/// `(seed, step, k, firstRow + r)`. A sample's masks therefore do not depend on which process of a
/// data-parallel run holds it, nor on how many processes share the batch: N processes draw exactly
/// what one process draws (PyTorch's DDP does not promise this). Outside `with`, layers draw from
/// `GlobalRandom` as before.
public enum SampleRandom {
  private struct Key {
    var seed: UInt64
    var step: Int
    var firstRow: Int
    var calls = 0
  }

  nonisolated(unsafe) private static var key: Key?
  private static let lock = NSLock()

  /// Runs `body` (a training step's forward pass) with per-sample streams for global step `step`,
  /// where this process's rows start at `firstRow` of the shared batch.
  public static func with<T>(seed: UInt64, step: Int, firstRow: Int, _ body: () throws -> T) rethrows -> T {
    lock.lock()
    let saved = key
    key = Key(seed: seed, step: step, firstRow: firstRow)
    lock.unlock()
    defer {
      lock.lock()
      key = saved
      lock.unlock()
    }
    return try body()
  }

  /// One generator per row for the next random layer, or nil outside `with`.
  public static func rowStreams(rows: Int) -> [RandomGenerator]? {
    lock.lock()
    defer { lock.unlock() }
    guard var current = key else { return nil }
    let call = current.calls
    current.calls += 1
    key = current
    let base = splitMixHash(
      splitMixHash(splitMixHash(current.seed ^ 0x4452_4F50) ^ UInt64(current.step)) ^ UInt64(call))
    return (0..<rows).map { RandomGenerator(seed: splitMixHash(base ^ UInt64(current.firstRow + $0))) }
  }
}
