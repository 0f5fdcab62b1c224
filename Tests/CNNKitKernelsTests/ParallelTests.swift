import CNNKitKernels
import XCTest

final class ParallelTests: XCTestCase {
  func testEveryIndexRunsExactlyOnce() {
    let saved = (Parallel.threadCount, Parallel.usesWorkerPool)
    defer { (Parallel.threadCount, Parallel.usesWorkerPool) = saved }
    for (threads, pool) in [(1, true), (2, true), (3, true), (2, false), (3, false)] {
      Parallel.usesWorkerPool = pool
      Parallel.threadCount = threads
      for count in [0, 1, 2, 5, 64] {
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
        defer { hits.deallocate() }
        hits.initialize(repeating: 0, count: max(count, 1))
        Parallel.forEachDynamic(count) { hits[$0] += 1 }
        XCTAssertTrue((0..<count).allSatisfy { hits[$0] == 1 }, "dynamic, \(threads) threads, \(count)")
        hits.update(repeating: 0, count: max(count, 1))
        Parallel.forEach(count) { hits[$0] += 1 }
        XCTAssertTrue((0..<count).allSatisfy { hits[$0] == 1 }, "static, \(threads) threads, \(count)")
        hits.update(repeating: 0, count: max(count, 1))
        Parallel.forRanges(count, minimumChunk: 2) { range in for i in range { hits[i] += 1 } }
        XCTAssertTrue((0..<count).allSatisfy { hits[$0] == 1 }, "ranges, \(threads) threads, \(count)")
      }
    }
  }

  /// Regions inside regions, regions from several threads at once, and regions far enough apart
  /// that the workers have gone to sleep: each index still runs exactly once and every call returns.
  func testWorkerPoolUnderNestingConcurrencyAndSleep() {
    let saved = (Parallel.threadCount, Parallel.usesWorkerPool)
    defer { (Parallel.threadCount, Parallel.usesWorkerPool) = saved }
    Parallel.usesWorkerPool = true
    Parallel.threadCount = 2
    let (outer, inner) = (6, 5)
    let hits = UnsafeMutablePointer<Int>.allocate(capacity: outer * inner)
    defer { hits.deallocate() }
    hits.initialize(repeating: 0, count: outer * inner)
    Parallel.forEachDynamic(outer) { i in
      Parallel.forEach(inner) { j in hits[i * inner + j] += 1 }
    }
    XCTAssertEqual((0..<(outer * inner)).filter { hits[$0] != 1 }, [], "nested")

    // Four callers, 300 regions each: the pool takes one region at a time, the rest go to libdispatch.
    let callers = 4
    let rounds = 300
    let sums = UnsafeMutablePointer<Int>.allocate(capacity: callers * 2)
    defer { sums.deallocate() }
    sums.initialize(repeating: 0, count: callers * 2)
    DispatchQueue.concurrentPerform(iterations: callers) { caller in
      for _ in 0..<rounds {
        Parallel.forEach(2) { t in sums[caller * 2 + t] += t + 1 }
      }
    }
    for caller in 0..<callers {
      XCTAssertEqual([sums[caller * 2], sums[caller * 2 + 1]], [rounds, 2 * rounds], "caller \(caller)")
    }

    // Gaps longer than the spin: workers sleep and must be woken for each region.
    var total = 0
    let cells = UnsafeMutablePointer<Int>.allocate(capacity: 2)
    defer { cells.deallocate() }
    for round in 0..<12 {
      usleep(UInt32(WorkerPool.spinLimit / 1000) * (round % 2 == 0 ? 3 : 1))
      cells.initialize(repeating: 0, count: 2)
      Parallel.forEach(2) { t in cells[t] = t + 10 }
      total += cells[0] + cells[1]
    }
    XCTAssertEqual(total, 12 * 21)
  }
}
