import CNNKit
import CNNKitKernels
import XCTest

final class BufferPoolTests: XCTestCase {
  func testSizeClassesCoverTheRequestWithLittleSlack() {
    for bytes in [1, 63, 64, 65, 4095, 4096, 4097, 10_000, 1 << 20, (1 << 20) + 1, 99_123_456] {
      let size = BufferPool.sizeClass(forBytes: bytes)
      XCTAssertGreaterThanOrEqual(size, bytes)
      XCTAssertEqual(size % 64, 0)
      if bytes > 4096 { XCTAssertLessThanOrEqual(Double(size), Double(bytes) * 1.125 + 64) }
    }
  }

  func testBudgetIsTheLivePeakPlusAnEighthOrTheMinimumHeadroom() {
    let mib = 1 << 20
    XCTAssertEqual(BufferPool.minimumHeadroom, 64 * mib)
    XCTAssertEqual(BufferPool.budget(peakLiveBytes: 0), 64 * mib)
    XCTAssertEqual(BufferPool.budget(peakLiveBytes: 60 * mib), 124 * mib)
    XCTAssertEqual(BufferPool.budget(peakLiveBytes: 512 * mib), 576 * mib)
    // AlexNet's batch-128 training step: 930 MiB live at the peak.
    XCTAssertEqual(BufferPool.budget(peakLiveBytes: 930 * mib), 930 * mib + 930 * mib / 8)
    // Freed buffers are kept only within the budget.
    var tensors: [Tensor] = (0..<8).map { _ in Tensor(uninitializedShape: [3_000_000]) }
    tensors.removeAll()
    let stats = BufferPool.statistics
    XCTAssertLessThanOrEqual(
      stats.liveBytes + stats.cachedBytes, BufferPool.budget(peakLiveBytes: stats.peakLiveBytes))
  }

  func testReusedBufferIsZeroedWhenZerosAreRequested() {
    let count = 12_345
    var pointer: UnsafeMutablePointer<Float>
    do {
      let dirty = Tensor(uninitializedShape: [count])
      dirty.fill(.nan)
      pointer = dirty.data
    }
    let before = BufferPool.statistics.hits
    let clean = Tensor(zeros: [count])
    // Same size class: the freed buffer comes back, and must come back zeroed.
    XCTAssertEqual(clean.data, pointer)
    XCTAssertGreaterThan(BufferPool.statistics.hits, before)
    XCTAssertTrue(clean.scalars.allSatisfy { $0 == 0 && $0.sign == .plus })
    XCTAssertTrue(Tensor(repeating: 2, shape: [count]).scalars.allSatisfy { $0 == 2 })
  }

  func testLargeRequestIsCutFromALargerCachedBuffer() throws {
    try XCTSkipUnless(LargeAllocation.splitsMappings)
    BufferPool.trim()
    var big: Tensor? = Tensor(uninitializedShape: [1_500_000])
    let address = big!.data
    big = nil
    let before = BufferPool.statistics
    // A smaller size class: served from the front of the cached 6 MB buffer, its pages already there.
    let small = Tensor(repeating: 3, shape: [600_000])
    let after = BufferPool.statistics
    XCTAssertEqual(small.data, address)
    XCTAssertEqual(after.misses, before.misses)
    XCTAssertEqual(after.hits, before.hits + 1)
    let rest = BufferPool.sizeClass(forBytes: 6_000_000) - BufferPool.sizeClass(forBytes: 2_400_000)
    XCTAssertEqual(after.cachedBytes, before.cachedBytes - BufferPool.sizeClass(forBytes: 6_000_000) + rest)
    // The rest is a buffer of its own: handed out, written and freed without touching `small`.
    do {
      let other = Tensor(repeating: 5, shape: [rest / 4])
      let expected = UnsafeMutableRawPointer(address) + BufferPool.sizeClass(forBytes: 2_400_000)
      XCTAssertEqual(UnsafeMutableRawPointer(other.data), expected)
    }
    XCTAssertTrue(small.scalars.allSatisfy { $0 == 3 })
  }

  /// The parts of a cut-up buffer join again once all are free, in whatever order they come back,
  /// so the next request of the full size is a hit on the same pages (ResNet-18's 104 MiB maps had
  /// missed on every pass).
  func testPartsOfACutBufferJoinAgainWhenFreed() throws {
    try XCTSkipUnless(LargeAllocation.splitsMappings)
    BufferPool.trim()
    let fullCount = 1 << 21  // 8 MiB, a size class
    var whole: Tensor? = Tensor(uninitializedShape: [fullCount])
    let address = UnsafeMutableRawPointer(whole!.data)
    whole = nil
    // Four 2 MiB parts cut one after another from the cached buffer, the last an exact fit.
    let full = BufferPool.sizeClass(forBytes: fullCount * 4)
    let part = full / 4
    var parts: [Tensor?] = (0..<4).map { _ in Tensor(uninitializedShape: [part / 4]) }
    for (i, t) in parts.enumerated() { XCTAssertEqual(UnsafeMutableRawPointer(t!.data), address + i * part) }
    for i in [2, 0, 3, 1] { parts[i] = nil }
    let before = BufferPool.statistics
    XCTAssertEqual(before.cachedBytes, full)
    let again = Tensor(repeating: 1, shape: [fullCount])
    let after = BufferPool.statistics
    XCTAssertEqual(UnsafeMutableRawPointer(again.data), address)
    XCTAssertEqual(after.misses, before.misses)
    XCTAssertEqual(after.hits, before.hits + 1)
    XCTAssertEqual(after.cachedBytes, 0)
    XCTAssertTrue(again.scalars.allSatisfy { $0 == 1 })
  }

  func testSteadyTrainingStepAllocatesFromThePool() throws {
    let model = try LeNet5()
    var rng = RandomGenerator(seed: 1)
    let x = Tensor.randn([8, 1, 32, 32], using: &rng)
    let optimizer = SGD(parameters: model.parameters(), learningRate: 0.01, momentum: 0.9)
    func step() throws {
      optimizer.zeroGrad()
      let loss = try Functional.crossEntropy(model(x), targets: Array(0..<8))
      loss.backward()
      optimizer.step()
    }
    try step()
    try step()
    let before = BufferPool.statistics
    try step()
    let after = BufferPool.statistics
    XCTAssertGreaterThan(after.hits - before.hits, 20)
    // The conv kernels' own scratch is not pooled; tensors are, nearly all of them.
    XCTAssertLessThanOrEqual(after.misses - before.misses, 2)
  }

  func testBackwardFreesIntermediatesNoRuleSaved() throws {
    let w = Tensor(shape: [4], scalars: [1, -2, 3, -4], requiresGrad: true)
    weak var intermediate: TensorStorage?
    let y: Tensor
    do {
      let scaled = Functional.scale(w, by: 2)
      intermediate = scaled.storage
      y = Functional.sum(Functional.relu(scaled))
    }
    // ReLU keeps its output, not its input: the scaled tensor is gone before backward.
    XCTAssertNil(intermediate)
    y.backward()
    XCTAssertEqual(w.grad?.scalars, [2, 0, 2, 0])
  }

  func testGradientsHandedToTwoLeavesDoNotAlias() throws {
    let a = Tensor(shape: [3], scalars: [1, 2, 3], requiresGrad: true)
    let b = Tensor(shape: [3], scalars: [4, 5, 6], requiresGrad: true)
    // `add` hands the same gradient tensor to both inputs.
    let y = try Functional.add(a, b)
    y.backward(Tensor(shape: [3], scalars: [1, 1, 1]))
    XCTAssertFalse(a.grad!.storage === b.grad!.storage)
    a.grad!.fill(9)
    XCTAssertEqual(b.grad?.scalars, [1, 1, 1])
    // A second pass accumulates; the caller's seed is never written.
    let seed = Tensor(shape: [3], scalars: [1, 2, 3])
    try Functional.add(a, a).backward(seed)
    XCTAssertEqual(a.grad?.scalars, [11, 13, 15])
    XCTAssertEqual(seed.scalars, [1, 2, 3])
  }
}

final class AutogradOrderTests: XCTestCase {
  /// y = r + relu(r) with r = 2x: r feeds two consumers and must run after both.
  func testSharedIntermediateGetsEveryContributionBeforeItRuns() throws {
    let x = Tensor(shape: [3], scalars: [1, -2, 3], requiresGrad: true)
    // Both operand orders: a depth-first search must not emit r before relu either way.
    for reluFirst in [false, true] {
      x.grad = nil
      let r = Functional.scale(x, by: 2)
      let y = Functional.sum(
        try reluFirst ? Functional.add(Functional.relu(r), r) : Functional.add(r, Functional.relu(r)))
      y.backward()
      // d/dx = 2·(1 + [2x > 0])
      XCTAssertEqual(x.grad?.scalars, [4, 2, 4], "relu first: \(reluFirst)")
    }
    let z = Functional.sum(
      try Functional.add(Functional.scale(x, by: 1), Functional.scale(Functional.relu(x), by: 3)))
    x.grad = nil
    z.backward()
    XCTAssertEqual(x.grad?.scalars, [4, 1, 4])
  }
}
