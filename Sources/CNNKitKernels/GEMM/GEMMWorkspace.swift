import Foundation

/// Reuses GEMM packing buffers and convolution scratch (unfolded columns) across calls.
///
/// Buffers of a few MiB come from `mmap` and go back on `free`, so a fresh one per call page-faults
/// every time: that cost the packed GEMM half its speed on mid-sized problems. A few buffers (one per
/// concurrently running GEMM thread, plus a convolution's scratch) are kept instead.
enum GEMMWorkspace {
  private static let lock = NSLock()
  nonisolated(unsafe) private static var free: [(pointer: UnsafeMutableRawPointer, bytes: Int)] = []
  /// Buffers kept once released; beyond this they are freed (bounds retained memory).
  private static let keep = 8

  /// Runs `body` with a 64-byte-aligned buffer of at least `floats` floats, then returns it to the pool.
  static func with<R>(floats: Int, _ body: (UnsafeMutablePointer<Float>) -> R) -> R {
    let bytes = max(floats, 16) * MemoryLayout<Float>.stride
    var buffer = take(bytes: bytes)
    if buffer == nil {
      buffer = (UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64), bytes)
    }
    let (pointer, size) = buffer!
    defer { give(pointer: pointer, bytes: size) }
    return body(pointer.bindMemory(to: Float.self, capacity: size / MemoryLayout<Float>.stride))
  }

  /// The smallest pooled buffer that is big enough; if none is, the largest is freed (the caller
  /// then allocates a bigger one, so the pool grows to the sizes in use).
  private static func take(bytes: Int) -> (UnsafeMutableRawPointer, Int)? {
    lock.lock()
    defer { lock.unlock() }
    let fitting = free.indices.filter { free[$0].bytes >= bytes }
    if let index = fitting.min(by: { free[$0].bytes < free[$1].bytes }) {
      let entry = free.remove(at: index)
      return (entry.pointer, entry.bytes)
    }
    if let index = free.indices.max(by: { free[$0].bytes < free[$1].bytes }) {
      free.remove(at: index).pointer.deallocate()
    }
    return nil
  }

  private static func give(pointer: UnsafeMutableRawPointer, bytes: Int) {
    lock.lock()
    defer { lock.unlock() }
    if free.count < keep {
      free.append((pointer, bytes))
    } else {
      pointer.deallocate()
    }
  }
}
