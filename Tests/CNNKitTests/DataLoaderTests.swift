import CNNKit
import Foundation
import XCTest

/// An in-memory dataset: sample i is an image filled with the value i (mod 256), label i mod 3.
/// It counts calls and in-flight loads, can fail at one index, and can check that no load runs
/// outside the loader's prefetch window.
private final class MemoryDataset: ImageDataset, @unchecked Sendable {
  let count: Int
  let height: Int
  let width: Int
  let channels: Int
  let failingIndex: Int?
  /// Sample i gets width `width + 1` when i is this (to provoke a shape mismatch).
  let oddSizedIndex: Int?
  var classNames: [String] { ["a", "b", "c"] }

  private let lock = NSLock()
  private var calls = 0
  private var inFlight = 0
  /// Set by the test before asking for batch b: b + 1 batches may have been handed out.
  private var batchesRequested = 0
  private var windowCheck: (batchSize: Int, prefetch: Int)?
  private var violations: [Int] = []

  init(
    count: Int, height: Int = 2, width: Int = 2, channels: Int = 1, failingIndex: Int? = nil,
    oddSizedIndex: Int? = nil
  ) {
    self.count = count
    self.height = height
    self.width = width
    self.channels = channels
    self.failingIndex = failingIndex
    self.oddSizedIndex = oddSizedIndex
  }

  func checkWindow(batchSize: Int, prefetch: Int) {
    lock.withLock { windowCheck = (batchSize, prefetch) }
  }

  func willRequest(batch: Int) { lock.withLock { batchesRequested = batch + 1 } }

  var callCount: Int { lock.withLock { calls } }
  var inFlightCount: Int { lock.withLock { inFlight } }
  var windowViolations: [Int] { lock.withLock { violations } }

  func item(at index: Int) throws -> LabeledImage {
    lock.withLock {
      calls += 1
      inFlight += 1
      // Without shuffling, index = position: its batch must be inside the window.
      if let (batchSize, prefetch) = windowCheck, index / batchSize >= batchesRequested + prefetch {
        violations.append(index)
      }
    }
    defer { lock.withLock { inFlight -= 1 } }
    if index == failingIndex { throw DataError.corrupt(path: "images/\(index).png", reason: "truncated") }
    let w = index == oddSizedIndex ? width + 1 : width
    let image = Image(
      height: height, width: w, channels: channels,
      pixels: (0..<(height * w * channels)).map { Float((index + $0) % 256) })
    return LabeledImage(image: image, label: index % 3)
  }
}

final class DataLoaderTests: XCTestCase {
  private func allBatches(_ loader: DataLoader, epoch: Int = 0, skipping: Int = 0) throws -> [Batch] {
    let iterator = try loader.batches(epoch: epoch, skippingBatches: skipping)
    var out: [Batch] = []
    while let batch = try iterator.next() { out.append(batch) }
    XCTAssertEqual(iterator.activeWorkers, 0)
    return out
  }

  func testBatchShapesLabelsAndOrderWithoutShuffle() throws {
    let loader = try DataLoader(dataset: MemoryDataset(count: 10), batchSize: 4, workers: 2)
    XCTAssertEqual(loader.batchCount, 3)
    let batches = try allBatches(loader)
    XCTAssertEqual(batches.map(\.images.shape), [[4, 1, 2, 2], [4, 1, 2, 2], [2, 1, 2, 2]])
    XCTAssertEqual(batches.flatMap(\.indices), Array(0..<10))
    XCTAssertEqual(batches.flatMap(\.labels), (0..<10).map { $0 % 3 })
    XCTAssertEqual(batches.map(\.batchIndex), [0, 1, 2])
    // Sample 5 is the second of batch 1: its first value is 5/255.
    XCTAssertEqual(batches[1].images.scalars[4], 5 / 255, accuracy: 1e-7)
  }

  func testDropLast() throws {
    let loader = try DataLoader(dataset: MemoryDataset(count: 10), batchSize: 4, dropLast: true)
    XCTAssertEqual(loader.batchCount, 2)
    XCTAssertEqual(loader.sampleCount, 8)
    XCTAssertEqual(try allBatches(loader).map(\.labels.count), [4, 4])
    let exact = try DataLoader(dataset: MemoryDataset(count: 8), batchSize: 4, dropLast: true)
    XCTAssertEqual(try allBatches(exact).count, 2)
  }

  func testShuffleDependsOnlyOnSeedAndEpoch() throws {
    let dataset = MemoryDataset(count: 50)
    let loader = try DataLoader(dataset: dataset, batchSize: 8, shuffle: true, seed: 7)
    let again = try DataLoader(dataset: dataset, batchSize: 5, shuffle: true, seed: 7, workers: 0)
    let other = try DataLoader(dataset: dataset, batchSize: 8, shuffle: true, seed: 8)
    let epoch0 = loader.order(epoch: 0)
    XCTAssertEqual(epoch0.sorted(), Array(0..<50))
    XCTAssertNotEqual(epoch0, Array(0..<50))
    XCTAssertEqual(epoch0, again.order(epoch: 0))
    XCTAssertNotEqual(epoch0, loader.order(epoch: 1))
    XCTAssertNotEqual(epoch0, other.order(epoch: 0))
    XCTAssertEqual(try allBatches(loader, epoch: 3).flatMap(\.indices), loader.order(epoch: 3))
    let labels = try allBatches(loader, epoch: 3).flatMap(\.labels)
    XCTAssertEqual(labels, loader.order(epoch: 3).map { $0 % 3 })
  }

  /// Random augmentation draws from a generator per (seed, epoch, sample), so the thread count
  /// and timing change nothing; the batch equals the pipeline applied sample by sample.
  func testBatchesIdenticalForAnyWorkerCount() throws {
    let dataset = MemoryDataset(count: 23, height: 6, width: 5, channels: 3)
    let pipeline = ImagePipeline(
      [RandomResizedCrop(4, scale: 0.3...1), RandomHorizontalFlip(), PCAColorAugmentation()],
      normalize: .imagenet)
    func run(_ workers: Int) throws -> [Batch] {
      let loader = try DataLoader(
        dataset: dataset, batchSize: 4, shuffle: true, seed: 99, pipeline: pipeline, workers: workers,
        prefetch: 2)
      return try allBatches(loader, epoch: 2)
    }
    let reference = try run(0)
    XCTAssertEqual(reference.count, 6)
    for workers in [1, 2, 4] {
      let batches = try run(workers)
      XCTAssertEqual(batches.map(\.indices), reference.map(\.indices), "workers \(workers)")
      XCTAssertEqual(batches.map(\.images.scalars), reference.map(\.images.scalars), "workers \(workers)")
    }
    let first = reference[0]
    var rng = DataLoader.sampleGenerator(seed: 99, epoch: 2, index: first.indices[1])
    let expected = try pipeline.tensor(from: dataset.item(at: first.indices[1]).image, using: &rng)
    XCTAssertEqual(Array(first.images.scalars[48..<96]), expected.scalars)
    // A different epoch augments the same sample differently.
    var other = DataLoader.sampleGenerator(seed: 99, epoch: 3, index: first.indices[1])
    XCTAssertNotEqual(
      try pipeline.tensor(from: dataset.item(at: first.indices[1]).image, using: &other).scalars,
      expected.scalars)
  }

  /// Resuming at batch k replays the same batches and never loads the skipped samples.
  func testResumeSkipsBatchesWithoutLoadingThem() throws {
    let dataset = MemoryDataset(count: 30)
    let pipeline = ImagePipeline([RandomCrop(2, padding: Padding(1)), RandomHorizontalFlip()])
    let loader = try DataLoader(dataset: dataset, batchSize: 4, shuffle: true, seed: 5, pipeline: pipeline)
    let full = try allBatches(loader, epoch: 1)
    let callsBefore = dataset.callCount
    let resumed = try allBatches(loader, epoch: 1, skipping: 3)
    XCTAssertEqual(dataset.callCount - callsBefore, 30 - 12)
    XCTAssertEqual(resumed.map(\.batchIndex), Array(3..<8))
    XCTAssertEqual(resumed.map(\.indices), full[3...].map(\.indices))
    XCTAssertEqual(resumed.map(\.images.scalars), full[3...].map(\.images.scalars))
    XCTAssertEqual(try allBatches(loader, epoch: 1, skipping: 8).count, 0)
    XCTAssertThrowsError(try loader.batches(epoch: 1, skippingBatches: 9))
  }

  /// No sample of batch b + prefetch starts before the consumer has asked for batch b.
  func testPrefetchWindowIsHonoured() throws {
    for (workers, prefetch) in [(4, 1), (2, 2), (3, 3)] {
      let dataset = MemoryDataset(count: 60)
      dataset.checkWindow(batchSize: 3, prefetch: prefetch)
      let loader = try DataLoader(dataset: dataset, batchSize: 3, workers: workers, prefetch: prefetch)
      let iterator = try loader.batches(epoch: 0)
      var batch = 0
      while true {
        dataset.willRequest(batch: batch)
        guard try iterator.next() != nil else { break }
        batch += 1
        usleep(500)  // A slow consumer, so the workers run into the window's edge.
      }
      XCTAssertEqual(batch, 20)
      XCTAssertEqual(dataset.windowViolations, [], "workers \(workers), prefetch \(prefetch)")
    }
  }

  func testItemErrorNamesTheSampleAndStopsWorkers() throws {
    let dataset = MemoryDataset(count: 40, failingIndex: 6)
    for workers in [0, 3] {
      let loader = try DataLoader(dataset: dataset, batchSize: 4, workers: workers)
      let iterator = try loader.batches(epoch: 0)
      XCTAssertEqual(try iterator.next()?.indices, [0, 1, 2, 3])
      XCTAssertThrowsError(try iterator.next()) { error in
        let message = "\(error)"
        XCTAssertTrue(message.contains("sample 6"), message)
        XCTAssertTrue(message.contains("images/6.png"), message)
        guard
          case DataLoaderError.itemFailed(let index, let batch, let underlying)? = error as? DataLoaderError
        else {
          return XCTFail("unexpected \(error)")
        }
        XCTAssertEqual(index, 6)
        XCTAssertEqual(batch, 1)
        XCTAssertEqual(underlying as? DataError, .corrupt(path: "images/6.png", reason: "truncated"))
      }
      XCTAssertNil(try iterator.next())
      XCTAssertEqual(iterator.activeWorkers, 0)
      XCTAssertEqual(dataset.inFlightCount, 0)
    }
  }

  func testTransformErrorsAndShapeMismatchNameTheSample() throws {
    let tooBig = try DataLoader(
      dataset: MemoryDataset(count: 8), batchSize: 4, pipeline: ImagePipeline([RandomCrop(3)]))
    XCTAssertThrowsError(try allBatches(tooBig)) { error in
      XCTAssertTrue("\(error)".contains("sample 0 (batch 0): transform failed: RandomCrop"), "\(error)")
    }
    let ragged = try DataLoader(dataset: MemoryDataset(count: 8, oddSizedIndex: 5), batchSize: 4)
    XCTAssertThrowsError(try allBatches(ragged)) { error in
      guard case DataLoaderError.shapeMismatch(5, 1, [1, 2, 3], [1, 2, 2])? = error as? DataLoaderError else {
        return XCTFail("unexpected \(error)")
      }
    }
  }

  /// Stopping after one batch must neither hang nor keep loading: close() joins the workers, and
  /// dropping the iterator does the same.
  func testEarlyExitStopsWorkersAndBoundsWork() throws {
    let dataset = MemoryDataset(count: 2000)
    let loader = try DataLoader(dataset: dataset, batchSize: 4, workers: 4, prefetch: 2)
    let iterator = try loader.batches(epoch: 0)
    XCTAssertNotNil(try iterator.next())
    iterator.close()
    XCTAssertEqual(iterator.activeWorkers, 0)
    XCTAssertEqual(dataset.inFlightCount, 0)
    // The batch taken plus the two-batch window.
    XCTAssertLessThanOrEqual(dataset.callCount, 12)
    XCTAssertNil(try iterator.next())

    let second = MemoryDataset(count: 2000)
    try {
      let batches = try DataLoader(dataset: second, batchSize: 4, workers: 4, prefetch: 2).batches(epoch: 0)
      while let batch = try batches.next() {
        if batch.batchIndex == 0 { break }
      }
    }()
    XCTAssertEqual(second.inFlightCount, 0)
    let calls = second.callCount
    XCTAssertLessThanOrEqual(calls, 12)
    usleep(20_000)
    XCTAssertEqual(second.callCount, calls, "no loading after the iterator is gone")
  }

  func testInvalidOptionsThrow() {
    let dataset = MemoryDataset(count: 3)
    XCTAssertThrowsError(try DataLoader(dataset: dataset, batchSize: 0))
    XCTAssertThrowsError(try DataLoader(dataset: dataset, batchSize: 1, workers: -1))
    XCTAssertThrowsError(try DataLoader(dataset: dataset, batchSize: 1, prefetch: 0))
  }
}
