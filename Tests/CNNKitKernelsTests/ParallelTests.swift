import CNNKitKernels
import XCTest

final class ParallelTests: XCTestCase {
  func testEveryIndexRunsExactlyOnce() {
    let saved = Parallel.threadCount
    defer { Parallel.threadCount = saved }
    for threads in [1, 2, 3] {
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
}
