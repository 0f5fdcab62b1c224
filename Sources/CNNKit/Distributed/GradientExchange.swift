import Foundation

/// The exchanges of data-parallel training, as PyTorch's DDP does them: weights broadcast from rank 0
/// once, gradients summed over processes after every backward pass. Gradients travel in buckets of
/// about 25 MB (DDP's default), packed into one buffer, so a model of many small tensors costs a few large messages
/// rather than one small message per tensor (MPI's latency per call dominates small ones).
public enum GradientExchange {
  /// Floats per bucket: 25 MB, DDP's default.
  public static let bucketFloats = 25 << 18
  /// Floats in the first bucket of an overlapped exchange: 1 MB, as DDP, so the last layers' small
  /// gradients go out at once instead of waiting for a full bucket.
  public static let firstBucketFloats = 1 << 18

  /// Overwrites every tensor with rank 0's values.
  public static func broadcast(_ tensors: [Tensor], communicator: any Communicator) throws {
    guard communicator.size > 1 else { return }
    try inBuckets(tensors, communicator: communicator) { buffer, count in
      try communicator.broadcast(buffer, count: count, root: 0)
    } read: {
      $0.storage.readOnlyPointer
    } write: { tensor, pointer in
      tensor.data.update(from: pointer, count: tensor.count)
    }
  }

  /// Replaces each parameter's gradient with the sum over processes; a process whose share of the
  /// batch was empty (no gradient yet) contributes zeros and receives the sum.
  public static func sumGradients(_ parameters: [Tensor], communicator: any Communicator) throws {
    guard communicator.size > 1 else { return }
    // Zeros only for a process that had no samples this step.
    let zeros = Tensor(zeros: [
      parameters.contains { $0.grad == nil } ? parameters.map(\.count).max() ?? 0 : 0
    ])
    try inBuckets(parameters, communicator: communicator) { buffer, count in
      try communicator.allReduceSum(buffer, count: count)
    } read: { parameter in
      parameter.grad?.storage.readOnlyPointer ?? zeros.storage.readOnlyPointer
    } write: { parameter, pointer in
      if parameter.grad == nil { parameter.grad = Tensor(zeros: parameter.shape) }
      parameter.grad!.data.update(from: pointer, count: parameter.count)
    }
  }

  /// Packs consecutive tensors into buckets of at most `bucketFloats` (a larger tensor travels on
  /// its own), runs `exchange` on each and unpacks the result.
  private static func inBuckets(
    _ tensors: [Tensor], communicator: any Communicator,
    exchange: (UnsafeMutablePointer<Float>, Int) throws -> Void,
    read: (Tensor) -> UnsafePointer<Float>, write: (Tensor, UnsafePointer<Float>) -> Void
  ) throws {
    if let device = tensors.first(where: { $0.isAccelerated || ($0.grad?.isAccelerated ?? false) })?.device {
      throw DistributedError.unsupported(
        "data-parallel training keeps tensors on the CPU; this model is on \(device) (NCCL is not wired in yet)"
      )
    }
    let largest = max(bucketFloats, tensors.map(\.count).max() ?? 0)
    let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(largest, 1))
    defer { buffer.deallocate() }
    var start = 0
    while start < tensors.count {
      var end = start
      var filled = 0
      while end < tensors.count, end == start || filled + tensors[end].count <= bucketFloats {
        (buffer + filled).update(from: read(tensors[end]), count: tensors[end].count)
        filled += tensors[end].count
        end += 1
      }
      try exchange(buffer, filled)
      var offset = 0
      for tensor in tensors[start..<end] {
        write(tensor, buffer + offset)
        offset += tensor.count
      }
      start = end
    }
  }
}

/// The gradient sum of `GradientExchange.sumGradients`, overlapped with backward as DDP does it:
/// parameters are grouped into buckets in reverse order (the order backward finishes them), and a
/// communication thread sums each bucket over processes as soon as its last gradient is written,
/// while backward computes the earlier layers. Buckets go out strictly in index order, so every
/// process makes the same calls in the same order. The first step only counts how many times backward
/// writes each parameter's gradient (shared weights are written more than once) and sums afterwards.
/// Not for `--sync-bn`, whose backward makes exchanges of its own on the training thread.
public final class OverlappedGradientSum: @unchecked Sendable {
  private let communicator: any Communicator
  private let parameters: [Tensor]
  /// Parameter indices of each bucket; bucket 0 holds the last parameters.
  private let buckets: [[Int]]
  private let bucketOf: [ObjectIdentifier: (bucket: Int, index: Int)]
  /// Writes backward makes into each parameter's gradient per step (learnt in the first step).
  private var expectedWrites: [Int]?
  private var writes: [Int]
  private var missing: [Int]
  private var nextToSend = 0
  private var sent = 0
  private var stepOpen = false
  private var failure: (any Error)?
  private let condition = NSCondition()
  private var thread: Thread?
  /// Seconds the communication thread spent exchanging, and the training thread spent waiting for it
  /// after backward, over all steps: the hidden share is 1 − waited / exchanged.
  public private(set) var exchangedSeconds = 0.0
  public private(set) var waitedSeconds = 0.0

  public init(parameters: [Tensor], communicator: any Communicator) {
    self.communicator = communicator
    self.parameters = parameters
    var buckets: [[Int]] = []
    var current: [Int] = []
    var filled = 0
    for index in parameters.indices.reversed() {
      let limit = buckets.isEmpty ? GradientExchange.firstBucketFloats : GradientExchange.bucketFloats
      if !current.isEmpty && filled + parameters[index].count > limit {
        buckets.append(current)
        (current, filled) = ([], 0)
      }
      current.append(index)
      filled += parameters[index].count
    }
    if !current.isEmpty { buckets.append(current) }
    self.buckets = buckets
    var bucketOf: [ObjectIdentifier: (Int, Int)] = [:]
    for (b, members) in buckets.enumerated() {
      for index in members { bucketOf[ObjectIdentifier(parameters[index])] = (b, index) }
    }
    self.bucketOf = bucketOf
    writes = Array(repeating: 0, count: parameters.count)
    missing = buckets.map(\.count)
  }

  /// Stops the communication thread (at the end of training).
  public func close() {
    condition.lock()
    thread?.cancel()
    thread = nil
    condition.broadcast()
    condition.unlock()
  }

  /// Call before backward: from the second step on, buckets start going out during it.
  public func beginStep() {
    condition.lock()
    defer { condition.unlock() }
    writes = Array(repeating: 0, count: parameters.count)
    missing = buckets.map(\.count)
    (nextToSend, sent, failure) = (0, 0, nil)
    stepOpen = expectedWrites != nil
    if stepOpen && thread == nil {
      let thread = Thread { self.sendLoop() }
      thread.name = "CNNKit.GradientExchange"
      thread.start()
      self.thread = thread
    }
    BackwardHooks.leafAccumulated = { [weak self] leaf in self?.written(leaf) }
  }

  /// Call after backward: marks what backward did not write (a process with no samples this step),
  /// waits for every bucket, and leaves each gradient summed over processes.
  public func finishStep() throws {
    BackwardHooks.leafAccumulated = nil
    guard let expected = expectedWrites else {
      // First step: learn the write counts, then exchange the plain way.
      condition.lock()
      expectedWrites = writes.map { max($0, 1) }
      condition.unlock()
      let started = ProgressBar.now()
      try GradientExchange.sumGradients(parameters, communicator: communicator)
      let seconds = ProgressBar.now() - started
      exchangedSeconds += seconds
      waitedSeconds += seconds
      return
    }
    let started = ProgressBar.now()
    condition.lock()
    for index in parameters.indices where writes[index] < expected[index] {
      if parameters[index].grad == nil { parameters[index].grad = Tensor(zeros: parameters[index].shape) }
      writes[index] = expected[index]
      missing[bucketOf[ObjectIdentifier(parameters[index])]!.bucket] -= 1
    }
    condition.broadcast()
    while sent < buckets.count && failure == nil { condition.wait() }
    stepOpen = false
    let error = failure
    condition.unlock()
    waitedSeconds += ProgressBar.now() - started
    if let error { throw error }
  }

  /// The hook: counts a write into `leaf`'s gradient and wakes the sender when a bucket completes.
  private func written(_ leaf: Tensor) {
    guard let (bucket, index) = bucketOf[ObjectIdentifier(leaf)] else { return }
    condition.lock()
    defer { condition.unlock() }
    writes[index] += 1
    if let expected = expectedWrites, writes[index] == expected[index] {
      missing[bucket] -= 1
      if missing[bucket] == 0 { condition.broadcast() }
    }
  }

  /// The communication thread: sends bucket 0, 1, … of each step as each becomes complete.
  private func sendLoop() {
    condition.lock()
    while !Thread.current.isCancelled {
      guard stepOpen, nextToSend < buckets.count, missing[nextToSend] == 0, failure == nil else {
        condition.wait()
        continue
      }
      let bucket = nextToSend
      nextToSend += 1
      condition.unlock()
      let started = ProgressBar.now()
      var error: (any Error)?
      do {
        try GradientExchange.sumGradients(buckets[bucket].map { parameters[$0] }, communicator: communicator)
      } catch let caught {
        error = caught
      }
      condition.lock()
      exchangedSeconds += ProgressBar.now() - started
      if let error { failure = error }
      sent += 1
      condition.broadcast()
    }
    condition.unlock()
  }
}
