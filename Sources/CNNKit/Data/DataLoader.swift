import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// One mini-batch: images stacked as `[N, C, H, W]`, with their labels and dataset indices.
public struct Batch: Sendable {
  /// `[N, C, H, W]`, the pipeline's output for each sample.
  public var images: Tensor
  /// Class index of each sample.
  public var labels: [Int]
  /// Dataset index of each sample (after shuffling).
  public var indices: [Int]
  /// Position of this batch in its epoch, counting from 0 (skipped batches included).
  public var batchIndex: Int
  /// Where this process's rows start in the batch all processes share (0 without sharding).
  public var firstRow: Int = 0
  /// Rows of the batch all processes share (`labels.count` without sharding).
  public var globalCount: Int
}

/// Why a batch could not be made; each case names the dataset index of the sample at fault.
public enum DataLoaderError: Error, CustomStringConvertible {
  /// `item(at:)` threw.
  case itemFailed(index: Int, batch: Int, error: any Error)
  /// A transform of the pipeline threw.
  case transformFailed(index: Int, batch: Int, error: any Error)
  /// The pipeline produced a different shape than for the batch's first sample.
  case shapeMismatch(index: Int, batch: Int, shape: [Int], expected: [Int])

  public var description: String {
    switch self {
    case .itemFailed(let index, let batch, let error):
      return "sample \(index) (batch \(batch)): cannot load: \(error)"
    case .transformFailed(let index, let batch, let error):
      return "sample \(index) (batch \(batch)): transform failed: \(error)"
    case .shapeMismatch(let index, let batch, let shape, let expected):
      return "sample \(index) (batch \(batch)): the pipeline gave shape \(shape) but the batch's first sample"
        + " has \(expected); add a Resize/CenterCrop so every image comes out the same size"
    }
  }
}

/// Turns an `ImageDataset` into mini-batches, as PyTorch's `DataLoader`.
///
/// Reproducible by construction: the order of epoch `e` depends only on `(seed, e)`, and random
/// transforms of dataset sample `i` in epoch `e` draw from a generator seeded by `(seed, e, i)`, so the
/// batches are identical whatever `workers` is and however threads are scheduled, and a run resumed at
/// epoch `e`, batch `k` (`batches(epoch: e, skippingBatches: k)`) replays exactly without decoding the
/// skipped samples.
///
/// `workers` threads load and transform samples; at most `prefetch` batches (the one being consumed
/// excluded) are decoded or being decoded ahead of the consumer, so memory stays bounded whatever the
/// dataset's size. Unlike PyTorch, `prefetch` counts batches in total, not per worker. With
/// `workers: 0` everything runs on the caller's thread inside `next()`.
public struct DataLoader: Sendable {
  public let dataset: any ImageDataset
  public let batchSize: Int
  public let shuffle: Bool
  public let seed: UInt64
  /// Drop the last batch if it is smaller than `batchSize`.
  public let dropLast: Bool
  public let pipeline: ImagePipeline
  public let workers: Int
  public let prefetch: Int
  /// Which share of every batch this process loads (all of it unless `sharded(rank:of:)`).
  public private(set) var shard = DataShard(rank: 0, count: 1)

  /// The same loader for process `rank` of `count` in a data-parallel run, as PyTorch's
  /// `DistributedSampler`: every process walks the same seeded order and batches, and loads only its
  /// consecutive share of each batch, so `count` processes together see exactly the batches one
  /// process would, and the per-sample transforms draw the same numbers.
  public func sharded(rank: Int, of count: Int) -> DataLoader {
    precondition(count > 0 && (0..<count).contains(rank), "DataLoader: bad shard \(rank) of \(count)")
    var copy = self
    copy.shard = DataShard(rank: rank, count: count)
    return copy
  }

  /// Checks the options; throws `DataError.invalidOption` naming the bad one.
  public init(
    dataset: any ImageDataset, batchSize: Int, shuffle: Bool = false, seed: UInt64 = 0,
    dropLast: Bool = false,
    pipeline: ImagePipeline = ImagePipeline(), workers: Int = 2, prefetch: Int = 2
  ) throws {
    guard batchSize > 0 else {
      throw DataError.invalidOption("DataLoader: batchSize must be positive, got \(batchSize)")
    }
    guard workers >= 0 else {
      throw DataError.invalidOption("DataLoader: workers must be 0 or more, got \(workers)")
    }
    guard prefetch > 0 else {
      throw DataError.invalidOption("DataLoader: prefetch must be positive, got \(prefetch)")
    }
    self.dataset = dataset
    self.batchSize = batchSize
    self.shuffle = shuffle
    self.seed = seed
    self.dropLast = dropLast
    self.pipeline = pipeline
    self.workers = workers
    self.prefetch = prefetch
  }

  /// Batches per epoch (`len(loader)` in PyTorch).
  public var batchCount: Int {
    dropLast ? dataset.count / batchSize : (dataset.count + batchSize - 1) / batchSize
  }

  /// Samples visited per epoch.
  public var sampleCount: Int { dropLast ? batchCount * batchSize : dataset.count }

  /// The dataset indices in the order epoch `epoch` visits them (all of them, before `dropLast`).
  public func order(epoch: Int) -> [Int] {
    var order = Array(0..<dataset.count)
    guard shuffle else { return order }
    var rng = RandomGenerator(seed: Self.derivedSeed(seed, domain: 0x5045_524D, epoch: epoch, index: 0))
    // Fisher–Yates from the back.
    var i = order.count - 1
    while i > 0 {
      order.swapAt(i, randomInteger(below: i + 1, &rng))
      i -= 1
    }
    return order
  }

  /// The generator that random transforms of dataset sample `index` use in epoch `epoch`.
  public static func sampleGenerator(seed: UInt64, epoch: Int, index: Int) -> RandomGenerator {
    RandomGenerator(seed: derivedSeed(seed, domain: 0x534D_504C, epoch: epoch, index: index))
  }

  /// Hashes (seed, domain, epoch, index) with SplitMix64's finaliser: nearby inputs give unrelated seeds.
  private static func derivedSeed(_ seed: UInt64, domain: UInt64, epoch: Int, index: Int) -> UInt64 {
    let mix = splitMixHash
    return mix(mix(mix(seed ^ domain) ^ UInt64(bitPattern: Int64(epoch))) ^ UInt64(bitPattern: Int64(index)))
  }

  /// Starts epoch `epoch` at batch `skippingBatches` (for resuming); the workers start now.
  public func batches(epoch: Int, skippingBatches: Int = 0) throws -> BatchIterator {
    guard skippingBatches >= 0, skippingBatches <= batchCount else {
      throw DataError.invalidOption("DataLoader: cannot skip \(skippingBatches) of \(batchCount) batches")
    }
    let job = EpochJob(
      dataset: dataset, pipeline: pipeline, seed: seed, epoch: epoch, order: order(epoch: epoch),
      batchSize: batchSize, sampleCount: sampleCount, shard: shard)
    return BatchIterator(
      job: job, epoch: epoch, firstBatch: skippingBatches, batchCount: batchCount, workers: workers,
      prefetch: prefetch)
  }
}

/// Process `rank` of `count` loads only its share of each batch (see `DataLoader.sharded`).
public struct DataShard: Sendable, Equatable {
  public var rank: Int
  public var count: Int
}

/// The batches of one epoch, in order: `while let batch = try batches.next() { ... }`.
/// Stopping early is fine: `close()` (or releasing the iterator) stops and joins the workers.
public final class BatchIterator {
  public let epoch: Int
  /// Batches in the epoch.
  public let batchCount: Int
  /// The batch the next call to `next()` returns.
  public private(set) var nextBatchIndex: Int
  private let job: EpochJob
  private let state: LoaderState?
  private var finished = false

  init(job: EpochJob, epoch: Int, firstBatch: Int, batchCount: Int, workers: Int, prefetch: Int) {
    self.job = job
    self.epoch = epoch
    self.batchCount = batchCount
    self.nextBatchIndex = firstBatch
    if workers > 0 && firstBatch < batchCount {
      let state = LoaderState(job: job, firstBatch: firstBatch, prefetch: prefetch, workers: workers)
      for n in 0..<workers {
        let thread = Thread {
          yieldToCompute()
          state.runWorker()
        }
        thread.name = "CNNKit.DataLoader.worker.\(n)"
        thread.start()
      }
      self.state = state
    } else {
      self.state = nil
    }
  }

  deinit { close() }

  /// The next batch, or nil after the last. Throws the first error of a sample (a
  /// `DataLoaderError` naming it); the iteration is then over.
  public func next() throws -> Batch? {
    if finished { return nil }
    let b = nextBatchIndex
    if b >= batchCount {
      close()
      return nil
    }
    let result: Result<Batch, any Error>
    if let state {
      result = state.take(b)
    } else {
      result = job.loadBatch(b)
    }
    nextBatchIndex += 1
    switch result {
    case .success(let batch):
      return batch
    case .failure(let error):
      close()
      throw error
    }
  }

  /// Stops the workers and waits for them to exit; later calls to `next()` return nil.
  public func close() {
    finished = true
    state?.cancel()
  }

  /// Worker threads that have not exited yet (0 after `close()` or once all work is done).
  public var activeWorkers: Int { state?.liveWorkerCount ?? 0 }
}

/// One sample, loaded and run through the pipeline.
struct LoadedSample {
  var label: Int
  var shape: [Int]
  var values: [Float]
}

/// Everything a worker needs to turn a position in the epoch into a sample.
struct EpochJob: Sendable {
  let dataset: any ImageDataset
  let pipeline: ImagePipeline
  let seed: UInt64
  let epoch: Int
  let order: [Int]
  let batchSize: Int
  /// Positions `0..<sampleCount` of `order` are used.
  let sampleCount: Int
  let shard: DataShard

  var batchCount: Int { (sampleCount + batchSize - 1) / batchSize }

  /// The positions of batch `b` across all processes.
  func globalPositions(ofBatch b: Int) -> Range<Int> {
    (b * batchSize)..<min(sampleCount, (b + 1) * batchSize)
  }

  /// This process's consecutive share of batch `b`: the shares of all processes differ in size by at
  /// most one, so a short last batch still splits (a process may get none of it).
  func positions(ofBatch b: Int) -> Range<Int> {
    let whole = globalPositions(ofBatch: b)
    let n = whole.count
    return
      (whole.lowerBound + n * shard.rank / shard.count)..<(whole.lowerBound + n * (shard.rank + 1)
      / shard.count)
  }

  func loadSample(at position: Int) throws -> LoadedSample {
    let index = order[position]
    let batch = position / batchSize
    let item: LabeledImage
    do { item = try dataset.item(at: index) } catch {
      throw DataLoaderError.itemFailed(index: index, batch: batch, error: error)
    }
    var rng = DataLoader.sampleGenerator(seed: seed, epoch: epoch, index: index)
    do {
      let (shape, values) = try pipeline.values(for: item.image, using: &rng)
      return LoadedSample(label: item.label, shape: shape, values: values)
    } catch {
      throw DataLoaderError.transformFailed(index: index, batch: batch, error: error)
    }
  }

  /// Loads batch `b` on the calling thread (`workers: 0`).
  func loadBatch(_ b: Int) -> Result<Batch, any Error> {
    let pending = PendingBatch(batchIndex: b, job: self)
    for position in pending.positions {
      pending.claimed += 1
      pending.record(position: position, outcome: Result { try loadSample(at: position) })
      if pending.failure != nil { break }
    }
    return pending.assemble(order: order)
  }
}

/// A batch whose samples are still arriving.
final class PendingBatch: @unchecked Sendable {
  let batchIndex: Int
  let positions: Range<Int>
  let firstRow: Int
  let globalCount: Int
  var samples: [LoadedSample?]
  var claimed = 0
  var finished = 0
  /// The failure at the lowest position so far: the one reported, whatever the timing.
  var failure: (position: Int, error: any Error)?

  init(batchIndex: Int, job: EpochJob) {
    self.batchIndex = batchIndex
    self.positions = job.positions(ofBatch: batchIndex)
    let whole = job.globalPositions(ofBatch: batchIndex)
    firstRow = positions.lowerBound - whole.lowerBound
    globalCount = whole.count
    samples = Array(repeating: nil, count: positions.count)
  }

  /// All samples are in, or a sample failed and every claimed one has finished.
  var isComplete: Bool { claimed == finished && (failure != nil || finished == positions.count) }

  func record(position: Int, outcome: Result<LoadedSample, any Error>) {
    finished += 1
    switch outcome {
    case .success(let sample):
      samples[position - positions.lowerBound] = sample
    case .failure(let error):
      if failure == nil || position < failure!.position { failure = (position, error) }
    }
  }

  /// Stacks the samples into a batch, or returns the failure.
  func assemble(order: [Int]) -> Result<Batch, any Error> {
    if let failure { return .failure(failure.error) }
    guard let first = samples.first??.shape else {
      return .success(
        Batch(
          images: Tensor(zeros: [0]), labels: [], indices: [], batchIndex: batchIndex, firstRow: firstRow,
          globalCount: globalCount))
    }
    let perSample = first.reduce(1, *)
    let images = Tensor(zeros: [samples.count] + first)
    var labels: [Int] = []
    labels.reserveCapacity(samples.count)
    for (slot, sample) in samples.enumerated() {
      let sample = sample!
      guard sample.shape == first else {
        return .failure(
          DataLoaderError.shapeMismatch(
            index: order[positions.lowerBound + slot], batch: batchIndex, shape: sample.shape, expected: first
          ))
      }
      sample.values.withUnsafeBufferPointer {
        images.data.advanced(by: slot * perSample).update(from: $0.baseAddress!, count: perSample)
      }
      labels.append(sample.label)
    }
    samples = []  // Free the per-sample copies before the batch is handed over.
    return .success(
      Batch(
        images: images, labels: labels, indices: Array(order[positions]), batchIndex: batchIndex,
        firstRow: firstRow, globalCount: globalCount))
  }
}

/// The state the consumer and the workers share, guarded by `condition`. Workers claim sample positions
/// in order, but only in batches inside the window `delivered..<delivered + prefetch`; they sleep on
/// the condition otherwise, and the consumer sleeps until the batch it wants is ready.
final class LoaderState: @unchecked Sendable {
  let job: EpochJob
  let prefetch: Int
  let condition = NSCondition()
  private var nextPosition: Int
  /// The batch `nextPosition` belongs to.
  private var nextBatch: Int
  /// The batch the consumer takes next; batches before it have been handed over.
  private var delivered: Int
  private var pending: [Int: PendingBatch] = [:]
  private var ready: [Int: Result<Batch, any Error>] = [:]
  /// The lowest batch known to have failed: nothing at or after it is worth loading.
  private var failedBatch = Int.max
  private var cancelled = false
  private var liveWorkers: Int

  init(job: EpochJob, firstBatch: Int, prefetch: Int, workers: Int) {
    self.job = job
    self.prefetch = prefetch
    nextBatch = firstBatch
    nextPosition = job.positions(ofBatch: firstBatch).lowerBound
    delivered = firstBatch
    liveWorkers = workers
  }

  var liveWorkerCount: Int {
    condition.lock()
    defer { condition.unlock() }
    return liveWorkers
  }

  func runWorker() {
    condition.lock()
    while !cancelled && nextBatch < job.batchCount {
      let b = nextBatch
      if b >= failedBatch { break }
      if b >= delivered + prefetch {
        condition.wait()
        continue
      }
      let batch: PendingBatch
      if let existing = pending[b] {
        batch = existing
      } else {
        batch = PendingBatch(batchIndex: b, job: job)
        pending[b] = batch
      }
      // A process's share of a short last batch can be empty: it is complete at once.
      if batch.positions.isEmpty {
        pending[b] = nil
        ready[b] = batch.assemble(order: job.order)
        advance(to: b + 1)
        condition.broadcast()
        continue
      }
      let position = nextPosition
      nextPosition += 1
      if nextPosition >= batch.positions.upperBound { advance(to: b + 1) }
      batch.claimed += 1
      condition.unlock()
      let outcome = Result { try job.loadSample(at: position) }
      condition.lock()
      if cancelled { break }
      batch.record(position: position, outcome: outcome)
      if batch.failure != nil && b < failedBatch {
        failedBatch = b
        condition.broadcast()
      }
      guard batch.isComplete else { continue }
      // Only this thread holds the complete batch now: stack it without the lock.
      pending[b] = nil
      condition.unlock()
      let result = batch.assemble(order: job.order)
      condition.lock()
      if cancelled { break }
      if case .failure = result, b < failedBatch { failedBatch = b }
      ready[b] = result
      condition.broadcast()
    }
    liveWorkers -= 1
    condition.broadcast()
    condition.unlock()
  }

  /// Moves the claim cursor to the first position of batch `b`.
  private func advance(to b: Int) {
    nextBatch = b
    nextPosition = b < job.batchCount ? job.positions(ofBatch: b).lowerBound : job.sampleCount
  }

  /// Waits for batch `b` (the next in order) and hands it over, opening the window by one.
  func take(_ b: Int) -> Result<Batch, any Error> {
    condition.lock()
    defer { condition.unlock() }
    while ready[b] == nil && !cancelled { condition.wait() }
    guard let result = ready.removeValue(forKey: b) else {
      return .failure(DataError.invalidOption("DataLoader: the iterator was closed"))
    }
    delivered = b + 1
    condition.broadcast()
    return result
  }

  /// Stops the workers and waits until they have exited.
  func cancel() {
    condition.lock()
    cancelled = true
    condition.broadcast()
    while liveWorkers > 0 { condition.wait() }
    pending.removeAll()
    ready.removeAll()
    condition.unlock()
  }
}

/// Puts the calling data-loading thread in Linux's idle scheduling class, so it runs only on cores
/// the compute threads leave free. At normal priority a worker waking mid-step takes a core from one
/// of the kernel threads, and a statically split GEMM then waits for that straggler; idle-class
/// workers fill the gaps instead, and when a batch is late the consumer blocks, the compute threads
/// sleep, and the workers get the whole machine. Elsewhere (or if refused) nothing changes.
private func yieldToCompute() {
  #if os(Linux)
    // SCHED_IDLE is 5 in <linux/sched.h>; glibc hides the name behind _GNU_SOURCE.
    let schedIdle: Int32 = 5
    var parameters = sched_param()
    parameters.sched_priority = 0
    _ = pthread_setschedparam(pthread_self(), schedIdle, &parameters)
  #endif
}
