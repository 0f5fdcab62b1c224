#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Large buffers straight from the kernel (`mmap`), small ones from `malloc`.
///
/// glibc raises its mmap threshold to the size of every mmap'd block freed (up to 32 MiB), after
/// which blocks of tens of MiB come from the heap, and the holes they leave when freed stay resident:
/// a training step's activations, freed and reallocated in a different order each pass, left
/// ≈ 250 MiB of such holes in AlexNet's batch-128 step. Mapping large buffers here returns them to the
/// system the moment they are freed, whatever malloc's state.
public enum LargeAllocation {
  /// Sizes from this many bytes up are mapped; smaller ones use `malloc`.
  public static let threshold = 1 << 20

  /// A buffer of `bytes` bytes, 64-byte aligned (page aligned when mapped), uninitialised.
  /// Release it with `deallocate(_:bytes:)` and the same `bytes`.
  public static func allocate(bytes: Int) -> UnsafeMutableRawPointer {
    #if canImport(Glibc) || canImport(Darwin)
      if bytes >= threshold {
        let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let p, p != MAP_FAILED else { fatalError("out of memory mapping \(bytes) bytes") }
        return p
      }
    #endif
    return UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
  }

  /// Returns a buffer from `allocate(bytes:)`; `bytes` must be the size it was allocated with.
  public static func deallocate(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
    #if canImport(Glibc) || canImport(Darwin)
      if bytes >= threshold {
        munmap(pointer, bytes)
        return
      }
    #endif
    pointer.deallocate()
  }

  /// Asks the kernel to back the whole 2 MiB pages inside `bytes` at `pointer` with huge pages, now
  /// (copying what is there). For long-lived buffers that are streamed: a fully connected layer's
  /// weights read at batch 1 ran 3–10 % faster on huge pages here, with fewer TLB misses. Transient
  /// buffers should not: faulting in a 2 MiB page costs more than it saves. Best effort: kernels
  /// without `MADV_COLLAPSE` (before Linux 6.1) or without transparent huge pages leave it as it was.
  public static func preferHugePages(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
    #if os(Linux)
      let huge = 2 << 20
      let start = (Int(bitPattern: pointer) + huge - 1) / huge * huge
      let end = (Int(bitPattern: pointer) + bytes) / huge * huge
      guard end > start, let aligned = UnsafeMutableRawPointer(bitPattern: start) else { return }
      // MADV_HUGEPAGE (14) keeps them huge; MADV_COLLAPSE (25) makes them huge now.
      _ = madvise(aligned, end - start, 14)
      _ = madvise(aligned, end - start, 25)
    #endif
  }

  /// Bytes of one transparent huge page on x86-64 Linux.
  public static let hugePageBytes = 2 << 20

  /// A buffer for long-lived data that every pass streams (weights kept in a kernel's layout), on
  /// huge pages where Linux has them: `bytes` rounded up to whole 2 MiB pages, starting on a 2 MiB
  /// boundary, so no part of it sits on small pages. At batch 1 such weights are evicted between
  /// passes and each 4 KiB page cost a page walk: AlexNet's conv3–5 ran 5–10 % faster with their
  /// weights on huge pages. Returns the buffer and the bytes to pass to `deallocate(_:bytes:)`.
  public static func allocateOnHugePages(bytes: Int) -> (UnsafeMutableRawPointer, Int) {
    #if os(Linux)
      let huge = hugePageBytes
      let size = (max(bytes, 1) + huge - 1) / huge * huge
      // One spare huge page of address space, trimmed again, to find an aligned start.
      let mapped = mmap(nil, size + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
      guard let mapped, mapped != MAP_FAILED else { fatalError("out of memory mapping \(size) bytes") }
      let address = Int(bitPattern: mapped)
      let head = (huge - address % huge) % huge
      if head > 0 { munmap(mapped, head) }
      if huge - head > 0 { munmap(mapped + head + size, huge - head) }
      let buffer = mapped + head
      // MADV_HUGEPAGE (14) before the first touch: the faults then map whole huge pages.
      _ = madvise(buffer, size, 14)
      return (buffer, size)
    #else
      let size = max(bytes, threshold)
      return (allocate(bytes: size), size)
    #endif
  }

  /// Whether buffers of `threshold` bytes or more are mappings that `split` can cut.
  public static var splitsMappings: Bool {
    #if canImport(Glibc) || canImport(Darwin)
      return true
    #else
      return false
    #endif
  }

  /// Cuts a mapped buffer of `bytes` into its first `keeping` bytes and the rest, without touching
  /// a page: each part is released on its own later. A rest below `threshold` (which `deallocate`
  /// would take for a `malloc` block) is unmapped now and nil returned. Needs `splitsMappings`,
  /// `keeping ≥ threshold` and `keeping` a multiple of the page size.
  public static func split(_ pointer: UnsafeMutableRawPointer, bytes: Int, keeping: Int)
    -> UnsafeMutableRawPointer?
  {
    precondition(splitsMappings && keeping >= threshold && keeping < bytes && keeping % 4096 == 0)
    let rest = pointer + keeping
    #if canImport(Glibc) || canImport(Darwin)
      if bytes - keeping < threshold {
        munmap(rest, bytes - keeping)
        return nil
      }
    #endif
    return rest
  }
}
