import CKernelSupport
import Dispatch
import Foundation
import Synchronization

/// The one place kernels split work across cores.
///
/// Work runs on `WorkerPool`'s threads, which wait for the next region only briefly and yield their
/// CPU while they do, then block: on this class of machine the two vCPUs sometimes share one core's
/// FP units, and a pool that spins without bound collapses then.
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
    run(threads) { t in
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
    run(threads) { _ in
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
    run(chunks) { t in
      body((count * t / chunks)..<(count * (t + 1) / chunks))
    }
  }
}

extension Parallel {
  /// Whether regions run on `WorkerPool`'s threads (the default) rather than libdispatch's. Measured
  /// against libdispatch, interleaved: AlexNet batch 1 +6 %, ResNet-18 batch 1 +17 %, LeNet-5
  /// training +40 %, AlexNet training +2–5 %; level with it while another process kept one of the
  /// two CPUs busy.
  nonisolated(unsafe) public static var usesWorkerPool = true

  /// Runs `body(t)` for every `t` in `0..<threads`, each once, on up to `threads` threads.
  static func run(_ threads: Int, _ body: (Int) -> Void) {
    if usesWorkerPool, WorkerPool.shared.run(threads, body) { return }
    DispatchQueue.concurrentPerform(iterations: threads, execute: body)
  }
}

/// Threads that wait for the next parallel region by spinning briefly before they sleep.
///
/// At batch 1 a forward pass is some thirty regions a few hundred microseconds apart; waking a
/// sleeping libdispatch worker took 8–15 µs each time. A worker here waits for the next region for
/// at most `spinLimit`, yielding its CPU every few `pause`s so a thread that shares it loses little,
/// then sleeps on a condition variable: an idle program costs nothing. Indices of a region are
/// claimed by whichever thread asks first, so a worker that is slow to start (its CPU busy with
/// another process) leaves its share to the caller instead of holding the region up.
public final class WorkerPool: @unchecked Sendable {
  static let shared = WorkerPool(workers: max(0, ProcessInfo.processInfo.activeProcessorCount - 1))

  /// Longest a worker waits for the next region before it sleeps.
  public static let spinLimit: UInt64 = 100_000  // ns

  private let workers: Int
  /// The region (bits 32 and up), its index count (bits 16–31) and next unclaimed index (bits
  /// 0–15), in one word so a claim always sees the count of the region it claims from.
  private let ticket = Atomic<Int>(0)
  /// Indices of the current region finished.
  private let finished = Atomic<Int>(0)
  /// Workers asleep (or about to sleep) on `wake`.
  private let sleepers = Atomic<Int>(0)
  private let wake = NSCondition()
  /// One region at a time; a call that finds the pool busy (nested, or from another thread) falls
  /// back to libdispatch.
  private let busy = NSLock()
  private var body: ((Int) -> Void)?
  private var region = 0
  private var started = false

  init(workers: Int) { self.workers = workers }

  /// Runs `body(t)` for `t` in `0..<threads` on the caller and the workers; false (nothing run)
  /// when the pool is busy or too small.
  func run(_ threads: Int, _ body: (Int) -> Void) -> Bool {
    guard threads - 1 <= workers, threads < 1 << 16, busy.try() else { return false }
    defer { busy.unlock() }
    if !started { start() }
    withoutActuallyEscaping(body) { body in
      self.body = body
      // Numbers 1 … 2³¹ − 1 in turn, so `region << 32` stays positive.
      region = region % 0x7FFF_FFFF + 1
      finished.store(0, ordering: .relaxed)
      ticket.store(region << 32 | threads << 16, ordering: .sequentiallyConsistent)
      if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
        wake.lock()
        wake.broadcast()
        wake.unlock()
      }
      work(region: region)
      // What is left runs on the workers now: a short spin, then give the CPU away.
      var spins = 0
      while finished.load(ordering: .acquiring) < threads {
        spins += 1
        if spins % 16 == 0 { sched_yield() } else { cnnkit_spin_pause() }
      }
      self.body = nil
    }
    return true
  }

  /// Claims and runs indices of `region` until none are left or a newer region has begun.
  private func work(region: Int) {
    var current = ticket.load(ordering: .acquiring)
    while current >> 32 == region, current & 0xFFFF < current >> 16 & 0xFFFF {
      let (exchanged, seen) = ticket.compareExchange(
        expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
      if !exchanged {
        current = seen
        continue
      }
      // Claimed: `body` stays this region's until every index is finished.
      body?(current & 0xFFFF)
      finished.add(1, ordering: .releasing)
      current = ticket.load(ordering: .acquiring)
    }
  }

  private func start() {
    started = true
    for _ in 0..<workers {
      let thread = Thread { [self] in loop() }
      thread.stackSize = 1 << 20
      thread.start()
    }
  }

  private func loop() {
    var seen = 0
    while true {
      seen = waitForRegion(after: seen)
      work(region: seen)
    }
  }

  /// Waits up to `spinLimit` for a region newer than `seen`, then sleeps until one begins.
  private func waitForRegion(after seen: Int) -> Int {
    let deadline = DispatchTime.now().uptimeNanoseconds + Self.spinLimit
    var spins = 0
    while true {
      let current = ticket.load(ordering: .acquiring) >> 32
      if current != seen { return current }
      spins += 1
      if spins % 16 == 0 {
        if DispatchTime.now().uptimeNanoseconds > deadline { break }
        sched_yield()
      } else {
        cnnkit_spin_pause()
      }
    }
    wake.lock()
    defer { wake.unlock() }
    sleepers.add(1, ordering: .sequentiallyConsistent)
    defer { sleepers.subtract(1, ordering: .sequentiallyConsistent) }
    while true {
      let current = ticket.load(ordering: .sequentiallyConsistent) >> 32
      if current != seen { return current }
      wake.wait()
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
