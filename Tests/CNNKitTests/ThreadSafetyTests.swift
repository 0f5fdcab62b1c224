import CNNKit
import Foundation
import Synchronization
import XCTest

/// State that several threads touch at once: grad mode is per thread, the global generator locked.
final class ThreadSafetyTests: XCTestCase {
  func testGradModeIsPerThread() {
    let wrong = Atomic<Int>(0)
    // Even threads switch recording off over and over; odd ones must never see it off.
    DispatchQueue.concurrentPerform(iterations: 8) { thread in
      for _ in 0..<20_000 {
        if thread % 2 == 0 {
          GradMode.withNoGrad { if GradMode.isEnabled { wrong.add(1, ordering: .relaxed) } }
        } else if !GradMode.isEnabled {
          wrong.add(1, ordering: .relaxed)
        }
      }
    }
    XCTAssertEqual(wrong.load(ordering: .relaxed), 0)
    XCTAssertTrue(GradMode.isEnabled)
  }

  func testGradModeNestsAndRestores() throws {
    let x = Tensor(shape: [2], scalars: [1, -1], requiresGrad: true)
    GradMode.withNoGrad {
      XCTAssertFalse(GradMode.isEnabled)
      GradMode.withNoGrad { XCTAssertFalse(GradMode.isEnabled) }
      XCTAssertFalse(Functional.relu(x).requiresGrad)
    }
    XCTAssertTrue(Functional.relu(x).requiresGrad)
  }

  func testGlobalGeneratorLosesNoDrawUnderContention() {
    GlobalRandom.manualSeed(11)
    let (threads, draws) = (8, 5_000)
    DispatchQueue.concurrentPerform(iterations: threads) { _ in
      for _ in 0..<draws { _ = GlobalRandom.with { $0.next() } }
    }
    // Each draw advances the state one step, whatever the order: the end state is the 40,000th.
    var expected = RandomGenerator(seed: 11)
    for _ in 0..<(threads * draws) { _ = expected.next() }
    XCTAssertEqual(GlobalRandom.current, expected)
  }
}
