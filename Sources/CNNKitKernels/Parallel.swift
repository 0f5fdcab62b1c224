import Dispatch
import Foundation

/// The one place kernels split work across cores.
///
/// Work runs on libdispatch's worker threads, which block when idle: on this class of machine the two
/// vCPUs sometimes share one core's FP units, and a spinning pool collapses then.
public enum Parallel {
  nonisolated(unsafe) private static var configuredThreads = ProcessInfo.processInfo.activeProcessorCount

  /// How many threads heavy kernels use (at least 1). Defaults to the number of active cores.
  public static var threadCount: Int {
    get { configuredThreads }
    set { configuredThreads = max(1, newValue) }
  }

  /// Runs `body(i)` for `i` in `0..<count`, spread over at most `threadCount` threads.
  /// Each call of `body` must touch disjoint memory.
  public static func forEach(_ count: Int, _ body: (Int) -> Void) {
    if count <= 0 { return }
    let threads = min(threadCount, count)
    if threads == 1 {
      for i in 0..<count { body(i) }
      return
    }
    // Contiguous chunks, one per thread: fewer wake-ups than one task per index.
    DispatchQueue.concurrentPerform(iterations: threads) { t in
      let start = count * t / threads
      let end = count * (t + 1) / threads
      for i in start..<end { body(i) }
    }
  }

  /// Runs `body(i)` for `i` in `0..<count` on at most `threadCount` threads that claim indices one
  /// at a time, so a thread slowed by other load on its core simply takes fewer. For coarse tasks.
  /// Each call of `body` must touch disjoint memory.
  public static func forEachDynamic(_ count: Int, _ body: (Int) -> Void) {
    if count <= 0 { return }
    let threads = min(threadCount, count)
    if threads == 1 {
      for i in 0..<count { body(i) }
      return
    }
    let counter = TaskCounter()
    DispatchQueue.concurrentPerform(iterations: threads) { _ in
      while true {
        let i = counter.next()
        if i >= count { return }
        body(i)
      }
    }
  }

  /// Splits `0..<count` into at most `threadCount` contiguous ranges and runs `body` on each.
  /// Ranges are no shorter than `minimumChunk` so tiny jobs stay on one thread.
  public static func forRanges(_ count: Int, minimumChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    if count <= 0 { return }
    let chunks = max(1, min(threadCount, count / max(1, minimumChunk)))
    if chunks == 1 {
      body(0..<count)
      return
    }
    DispatchQueue.concurrentPerform(iterations: chunks) { t in
      body((count * t / chunks)..<(count * (t + 1) / chunks))
    }
  }
}

/// Hands out 0, 1, 2, … to whichever thread asks next.
private final class TaskCounter: @unchecked Sendable {
  private let lock = NSLock()
  private var value = 0

  func next() -> Int {
    lock.lock()
    defer { lock.unlock() }
    value += 1
    return value - 1
  }
}
