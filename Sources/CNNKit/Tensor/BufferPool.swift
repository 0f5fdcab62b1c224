import CNNKitKernels
import Foundation

/// A size-bucketed cache of 64-byte aligned buffers behind `TensorStorage`.
///
/// A training step frees and reallocates the same sizes every iteration; handing buffers back out
/// avoids `malloc`'s `mmap`/`munmap` of large blocks and the page faults of touching them again.
/// Live plus cached bytes stay within `budget(peakLiveBytes:)`: the peak of live bytes seen so far plus
/// a headroom of an eighth of it (at least `minimumHeadroom`). With no headroom a step's buffers of
/// many sizes did not fit back into the live peak, and about half of all requests page-faulted fresh
/// memory (AlexNet-CIFAR at batch 128: 13.5k faults and ≈ 10 % of each step). To make room it
/// frees the smallest cached buffers first: those come back cheaply from malloc's heap, while a
/// large one (mmap'd) costs a page fault per page every time it is allocated afresh. For the same
/// reason a large request with no cached buffer of its size is cut from the front of a larger one,
/// and cached parts that border each other join again.
public enum BufferPool {
  /// Bytes the pool may hold beyond the live peak however small that peak is.
  public static let minimumHeadroom = 64 << 20

  /// The most bytes live and cached together, given the peak of live bytes.
  public static func budget(peakLiveBytes: Int) -> Int {
    peakLiveBytes + max(minimumHeadroom, peakLiveBytes / 8)
  }

  private static let lock = NSLock()
  nonisolated(unsafe) private static var free: [Int: [UnsafeMutableRawPointer]] = [:]
  nonisolated(unsafe) private static var cachedBytes = 0
  nonisolated(unsafe) private static var liveBytes = 0
  nonisolated(unsafe) private static var peakLiveBytes = 0
  nonisolated(unsafe) private static var hitCount = 0
  nonisolated(unsafe) private static var missCount = 0
  nonisolated(unsafe) private static var enabled = true
  /// Cached mapped buffers (`LargeAllocation.threshold` and up) by start address, with their sizes,
  /// and the start of each by its end address: a buffer freed next to a cached one joins it.
  nonisolated(unsafe) private static var mappedByStart: [UInt: Int] = [:]
  nonisolated(unsafe) private static var mappedByEnd: [UInt: UInt] = [:]

  /// The bucket a request of `bytes` is rounded up to: powers of two below 4 KiB, then eight steps per octave
  /// (at most 12.5 % slack), so nearby sizes share buffers.
  public static func sizeClass(forBytes bytes: Int) -> Int {
    if bytes <= 64 { return 64 }
    if bytes <= 4096 { return 1 << (Int.bitWidth - (bytes - 1).leadingZeroBitCount) }
    let octave = Int.bitWidth - 1 - (bytes - 1).leadingZeroBitCount
    let step = 1 << (octave - 3)
    return (bytes + step - 1) / step * step
  }

  /// A buffer of at least `bytes` (a size class, returned), uninitialised.
  static func allocate(bytes: Int) -> (UnsafeMutableRawPointer, Int) {
    let size = sizeClass(forBytes: bytes)
    lock.lock()
    liveBytes += size
    peakLiveBytes = max(peakLiveBytes, liveBytes)
    if enabled, let buffer = uncache(size: size) {
      hitCount += 1
      lock.unlock()
      return (buffer, size)
    }
    if enabled, size >= LargeAllocation.threshold, LargeAllocation.splitsMappings,
      let larger = free.keys.filter({ $0 > size && !(free[$0]?.isEmpty ?? true) }).min(),
      let buffer = uncache(size: larger)
    {
      // Pages already resident serve the request (no page faults); the rest stays cached.
      if let rest = LargeAllocation.split(buffer, bytes: larger, keeping: size) {
        cache(rest, size: larger - size)
      }
      hitCount += 1
      lock.unlock()
      return (buffer, size)
    }
    missCount += 1
    // Make room: live + cached stays within `budget(peakLiveBytes:)`.
    let evicted = evictSmallest(toFit: 0, below: Int.max)
    lock.unlock()
    for (p, n) in evicted { LargeAllocation.deallocate(p, bytes: n) }
    return (LargeAllocation.allocate(bytes: size), size)
  }

  /// Takes back a buffer from `allocate` with its size class. Smaller cached buffers make way for it
  /// if needed: they come back cheaply from malloc's heap, large ones only through fresh page faults.
  static func release(_ buffer: UnsafeMutableRawPointer, size: Int) {
    lock.lock()
    liveBytes -= size
    var evicted: [(UnsafeMutableRawPointer, Int)] = []
    if enabled {
      evicted = evictSmallest(toFit: size, below: size)
      if liveBytes + cachedBytes + size <= budget(peakLiveBytes: peakLiveBytes) {
        cache(buffer, size: size)
        lock.unlock()
        for (p, n) in evicted { LargeAllocation.deallocate(p, bytes: n) }
        return
      }
    }
    lock.unlock()
    for (p, n) in evicted { LargeAllocation.deallocate(p, bytes: n) }
    LargeAllocation.deallocate(buffer, bytes: size)
  }

  /// Removes cached buffers, smallest size class first and none of `below` bytes or more, until
  /// `extra` more bytes fit the budget; returns them for the caller to free outside the lock.
  /// Call with the lock held.
  private static func evictSmallest(toFit extra: Int, below limit: Int) -> [(UnsafeMutableRawPointer, Int)] {
    var evicted: [(UnsafeMutableRawPointer, Int)] = []
    let budget = budget(peakLiveBytes: peakLiveBytes)
    if liveBytes + cachedBytes + extra <= budget { return evicted }
    for key in free.keys.sorted() where key < limit {
      while liveBytes + cachedBytes + extra > budget, let p = uncache(size: key) {
        evicted.append((p, key))
      }
      if liveBytes + cachedBytes + extra <= budget { break }
    }
    return evicted
  }

  /// Adds a free buffer to the cache (lock held). A mapped one that borders a cached mapped one
  /// merges with it: a large buffer cut up for smaller requests (see `allocate`) is whole again once
  /// its parts come back, instead of its next request of the full size faulting in fresh pages
  /// (ResNet-18 at batch 32: two 104 MiB buffers, 53k page faults per pass).
  private static func cache(_ buffer: UnsafeMutableRawPointer, size: Int) {
    cachedBytes += size
    guard size >= LargeAllocation.threshold, LargeAllocation.splitsMappings else {
      free[size, default: []].append(buffer)
      return
    }
    var start = UInt(bitPattern: buffer)
    var total = size
    if let nextSize = mappedByStart[start + UInt(total)] {
      remove(start: start + UInt(total), size: nextSize)
      total += nextSize
    }
    if let previous = mappedByEnd[start], let previousSize = mappedByStart[previous] {
      remove(start: previous, size: previousSize)
      start = previous
      total += previousSize
    }
    mappedByStart[start] = total
    mappedByEnd[start + UInt(total)] = start
    free[total, default: []].append(UnsafeMutableRawPointer(bitPattern: start)!)
  }

  /// Takes a cached buffer of exactly `size` bytes out of the cache (lock held).
  private static func uncache(size: Int) -> UnsafeMutableRawPointer? {
    guard let buffer = free[size]?.popLast() else { return nil }
    cachedBytes -= size
    let start = UInt(bitPattern: buffer)
    if mappedByStart.removeValue(forKey: start) != nil { mappedByEnd[start + UInt(size)] = nil }
    return buffer
  }

  /// Drops a cached mapped buffer from the free list and the address maps before a merge.
  private static func remove(start: UInt, size: Int) {
    free[size]?.removeAll { UInt(bitPattern: $0) == start }
    mappedByStart[start] = nil
    mappedByEnd[start + UInt(size)] = nil
  }

  /// Counters for tests and benchmarks.
  public struct Statistics: Sendable, Equatable {
    /// Allocations served from the cache.
    public var hits: Int
    /// Allocations that went to the system allocator.
    public var misses: Int
    /// Bytes held in the cache.
    public var cachedBytes: Int
    /// Bytes handed out and not yet returned.
    public var liveBytes: Int
    /// The most bytes ever handed out at once (what `budget(peakLiveBytes:)` is computed from).
    public var peakLiveBytes: Int
  }

  /// The current counters.
  public static var statistics: Statistics {
    lock.lock()
    defer { lock.unlock() }
    return Statistics(
      hits: hitCount, misses: missCount, cachedBytes: cachedBytes, liveBytes: liveBytes,
      peakLiveBytes: peakLiveBytes)
  }

  /// Whether freed buffers are kept for reuse (on by default). Turning it off empties the cache.
  public static var isEnabled: Bool {
    get {
      lock.lock()
      defer { lock.unlock() }
      return enabled
    }
    set {
      lock.lock()
      enabled = newValue
      lock.unlock()
      if !newValue { trim() }
    }
  }

  /// Returns every cached buffer to the system allocator.
  public static func trim() {
    lock.lock()
    let buffers = free.flatMap { size, list in list.map { ($0, size) } }
    free = [:]
    mappedByStart = [:]
    mappedByEnd = [:]
    cachedBytes = 0
    lock.unlock()
    for (p, bytes) in buffers { LargeAllocation.deallocate(p, bytes: bytes) }
  }
}
