import CNNKitKernels
import Foundation
import Synchronization

/// Errors raised by tensor operations and layers: always say which op or layer and what was expected.
public enum TensorError: Error, Equatable, CustomStringConvertible {
  /// An operation got operands whose shapes do not fit; the message names both shapes.
  case shapeMismatch(operation: String, message: String)
  /// A layer's output would be empty (e.g. an input smaller than the kernel).
  case emptyOutput(operation: String, message: String)
  /// A layer failed; `layer` is its PyTorch-style description, `underlying` the op's message.
  case inLayer(layer: String, underlying: String)
  /// An op got operands on different devices.
  case deviceMismatch(operation: String, devices: [Device])

  public var description: String {
    switch self {
    case .shapeMismatch(let op, let message): return "\(op): \(message)"
    case .emptyOutput(let op, let message): return "\(op): \(message)"
    case .inLayer(let layer, let underlying): return "\(layer): \(underlying)"
    case .deviceMismatch(let op, let devices):
      return
        "\(op): expected all tensors on one device, found \(devices.map(\.description).joined(separator: " and "))"
    }
  }
}

/// Owner of a tensor's element buffer: 64-byte aligned so SIMD loads never split cache lines.
/// Buffers come from and go back to `BufferPool`, so a steady training loop reuses them.
///
/// Handing out `pointer` counts as a write: it advances `version`, which drops what `derived` has
/// computed from the contents (convolution weights reordered for a kernel, reused across inference
/// calls). Write through a pointer right after getting it, not after later forward passes.
public final class TensorStorage: @unchecked Sendable {
  private let base: UnsafeMutablePointer<Float>
  /// Number of elements.
  public let count: Int
  /// Bytes of the pooled buffer (its size class), or of the mapping when not `pooled`.
  private let capacityBytes: Int
  /// Whether the buffer goes back to `BufferPool`; long-lived ones are unmapped instead.
  private let pooled: Bool
  private let versionCounter = Atomic<UInt64>(0)
  private let derivedLock = NSLock()
  /// Kept derived buffers, most recently used first (at most `derivedKept`).
  private var derivedEntries: [(key: DerivedKey, version: UInt64, storage: TensorStorage)] = []
  /// Two forms per tensor: a linear layer's weight serves batches of 1 (transposed) and of more
  /// (packed), and an evaluation's last, smaller batch must not throw the other form away.
  private static let derivedKept = 2
  /// The last form asked for with `onlyWhenReused` and not made yet, with the contents' version then.
  private var deferredRequest: (key: DerivedKey, version: UInt64)?

  /// Where the elements live. Host pointers exist only for `.cpu`; a device's buffer is `deviceBuffer`.
  public let device: Device
  /// The elements on a device other than the CPU (nil on the CPU).
  let deviceBuffer: DeviceBuffer?

  /// First element, for reading or writing (advances `version`). CPU storage only.
  public var pointer: UnsafeMutablePointer<Float> {
    precondition(deviceBuffer == nil, "host pointer asked of a tensor on \(device); call .to(.cpu) first")
    versionCounter.add(1, ordering: .relaxed)
    return base
  }

  /// First element, for reading only: leaves `version` and derived buffers alone. CPU storage only.
  public var readOnlyPointer: UnsafePointer<Float> {
    precondition(deviceBuffer == nil, "host pointer asked of a tensor on \(device); call .to(.cpu) first")
    return UnsafePointer(base)
  }

  /// How many times `pointer` has been handed out: unchanged means the contents are unchanged.
  public var version: UInt64 { versionCounter.load(ordering: .relaxed) }

  /// Allocates `count` elements, zero-filled.
  public convenience init(count: Int) {
    self.init(uninitializedCount: count)
    base.initialize(repeating: 0, count: max(count, 1))
  }

  /// Allocates `count` elements with unspecified contents: for callers that write every element.
  public init(uninitializedCount count: Int) {
    self.count = count
    let (raw, bytes) = BufferPool.allocate(bytes: max(count, 1) * MemoryLayout<Float>.stride)
    capacityBytes = bytes
    pooled = true
    base = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    device = .cpu
    deviceBuffer = nil
  }

  /// Wraps a device buffer of at least `count` elements (the host side is a one-element stand-in).
  init(deviceBuffer buffer: DeviceBuffer, count: Int, device: Device) {
    self.count = count
    let (raw, bytes) = BufferPool.allocate(bytes: MemoryLayout<Float>.stride)
    capacityBytes = bytes
    pooled = true
    base = raw.bindMemory(to: Float.self, capacity: 1)
    self.device = device
    deviceBuffer = buffer
  }

  /// Allocates `count` elements with unspecified contents outside the pool, on huge pages
  /// (`LargeAllocation.allocateOnHugePages`): for buffers kept as long as their source and streamed
  /// by every pass.
  init(longLivedUninitializedCount count: Int) {
    self.count = count
    let (raw, bytes) = LargeAllocation.allocateOnHugePages(bytes: max(count, 1) * MemoryLayout<Float>.stride)
    capacityBytes = bytes
    pooled = false
    base = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    device = .cpu
    deviceBuffer = nil
  }

  deinit {
    if pooled {
      BufferPool.release(UnsafeMutableRawPointer(base), size: capacityBytes)
    } else {
      LargeAllocation.deallocate(UnsafeMutableRawPointer(base), bytes: capacityBytes)
    }
  }

  /// Moves a large buffer onto huge pages (`LargeAllocation.preferHugePages`): for weights, which
  /// live as long as the model and are streamed by every batch-1 forward pass. Contents are kept.
  public func preferHugePages() {
    if deviceBuffer == nil, capacityBytes >= Self.hugePageMinimumBytes {
      LargeAllocation.preferHugePages(UnsafeMutableRawPointer(base), bytes: capacityBytes)
    }
  }

  /// Buffers from this size up go onto huge pages when asked; below it most of a buffer would lie in
  /// partial 2 MiB pages anyway.
  static let hugePageMinimumBytes = 8 << 20

  /// What a derived buffer holds, so one storage never serves a buffer made for another use.
  public struct DerivedKey: Hashable, Sendable {
    /// The use, e.g. `"conv2d-tiles"`.
    public var kind: String
    /// Numbers that fix the layout (shape, groups …).
    public var shape: [Int]

    public init(kind: String, shape: [Int]) {
      self.kind = kind
      self.shape = shape
    }
  }

  /// A buffer of `count` floats computed from these contents by `make(contents, buffer)`; made again
  /// only when the contents may have changed (`version` moved) since it was made, or when two other
  /// keys were asked for since.
  public func derived(
    _ key: DerivedKey, count: Int, make: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void
  ) -> TensorStorage {
    derived(key, count: count, onlyWhenReused: false, make: make)!
  }

  /// `derived(_:count:make:)`, except that with `onlyWhenReused` the form is made only when asked for
  /// a second time with the contents unchanged (nil the first time): for a form that pays off over
  /// many calls but costs more than it saves in a single one.
  public func derived(
    _ key: DerivedKey, count: Int, onlyWhenReused: Bool,
    make: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void
  ) -> TensorStorage? {
    derivedLock.lock()
    defer { derivedLock.unlock() }
    let current = version
    // Forms made from older contents are useless now.
    derivedEntries.removeAll { $0.version != current }
    if let index = derivedEntries.firstIndex(where: { $0.key == key && $0.storage.count == count }) {
      let entry = derivedEntries.remove(at: index)
      derivedEntries.insert(entry, at: 0)
      return entry.storage
    }
    if onlyWhenReused, !(deferredRequest?.key == key && deferredRequest?.version == current) {
      deferredRequest = (key, current)
      return nil
    }
    derivedEntries.removeAll { $0.key == key }
    if derivedEntries.count >= Self.derivedKept { derivedEntries.removeLast() }
    // From 1 MiB up a kept buffer goes on its own huge pages; smaller ones share pooled pages.
    let made =
      count * MemoryLayout<Float>.stride >= LargeAllocation.threshold
      ? TensorStorage(longLivedUninitializedCount: count) : TensorStorage(uninitializedCount: count)
    make(readOnlyPointer, made.base)
    derivedEntries.insert((key, current, made), at: 0)
    return made
  }
}

/// A dense Float32 tensor in contiguous row-major (NCHW for images) layout, with reverse-mode
/// autograd: results of differentiable ops remember how to send gradients back to their inputs.
///
/// A *meta* tensor has a shape and no elements; layers run on it to trace shapes for summaries
/// without computing anything (PyTorch's "meta" device).
public final class Tensor: @unchecked Sendable {
  /// Dimensions, outermost first.
  public let shape: [Int]
  /// The element buffer (empty for meta tensors). Replaced only by `Module.to(_:)`, which moves a
  /// parameter to another device in place so the layers holding it see the move.
  public internal(set) var storage: TensorStorage
  /// True for shape-only tensors.
  public let isMeta: Bool
  /// Whether gradients flow to this tensor. Set on parameters; ops propagate it.
  public var requiresGrad: Bool
  /// Accumulated gradient of a leaf tensor after `backward()`.
  public var grad: Tensor?
  /// The op that produced this tensor, when it was recorded for autograd.
  var gradNode: GradNode?

  /// Wraps existing storage (no copy). `storage.count` must equal the shape's product.
  public init(shape: [Int], storage: TensorStorage, requiresGrad: Bool = false) {
    precondition(storage.count == shape.reduce(1, *), "storage size does not match shape \(shape)")
    self.shape = shape
    self.storage = storage
    self.isMeta = false
    self.requiresGrad = requiresGrad
  }

  /// A zero-filled tensor.
  public convenience init(zeros shape: [Int], requiresGrad: Bool = false) {
    self.init(shape: shape, storage: TensorStorage(count: shape.reduce(1, *)), requiresGrad: requiresGrad)
  }

  /// A tensor whose elements are unspecified: for ops that overwrite every element.
  public convenience init(uninitializedShape shape: [Int], requiresGrad: Bool = false) {
    self.init(
      shape: shape, storage: TensorStorage(uninitializedCount: shape.reduce(1, *)), requiresGrad: requiresGrad
    )
  }

  /// A tensor filled with `value`.
  public convenience init(repeating value: Float, shape: [Int], requiresGrad: Bool = false) {
    self.init(uninitializedShape: shape, requiresGrad: requiresGrad)
    storage.pointer.update(repeating: value, count: max(count, 1))
  }

  /// A tensor holding `scalars` (row-major) with the given shape.
  public convenience init(shape: [Int], scalars: [Float], requiresGrad: Bool = false) {
    precondition(scalars.count == shape.reduce(1, *), "\(scalars.count) scalars do not fill shape \(shape)")
    self.init(uninitializedShape: shape, requiresGrad: requiresGrad)
    scalars.withUnsafeBufferPointer { storage.pointer.update(from: $0.baseAddress!, count: scalars.count) }
  }

  /// A shape-only tensor: ops compute its result's shape and nothing else.
  public init(metaShape shape: [Int]) {
    self.shape = shape
    self.storage = TensorStorage(count: 0)
    self.isMeta = true
    self.requiresGrad = false
  }

  /// Number of elements.
  public var count: Int { shape.reduce(1, *) }
  /// Where the elements live.
  public var device: Device { storage.device }
  /// Number of dimensions.
  public var rank: Int { shape.count }
  /// Pointer to the first element for writing (see `TensorStorage.pointer`): counts as a write, so it
  /// drops forms derived from the contents. Read through `readOnlyData`.
  public var data: UnsafeMutablePointer<Float> { storage.pointer }
  /// Pointer to the first element for reading only: derived forms stay valid.
  public var readOnlyData: UnsafePointer<Float> { storage.readOnlyPointer }
  /// The elements as an array (a copy).
  public var scalars: [Float] {
    if isAccelerated { return Backends.inBackward { try to(.cpu) }.scalars }
    return Array(UnsafeBufferPointer(start: storage.readOnlyPointer, count: count))
  }
  /// The single element of a one-element tensor.
  public var item: Float {
    precondition(count == 1, "item needs a one-element tensor, got shape \(shape)")
    return isAccelerated ? scalars[0] : storage.readOnlyPointer[0]
  }

  /// A copy that shares nothing and records no history.
  public func copy() -> Tensor {
    if isMeta { return Tensor(metaShape: shape) }
    if isAccelerated { return deviceCopy() }
    let t = Tensor(uninitializedShape: shape)
    t.data.update(from: storage.readOnlyPointer, count: count)
    return t
  }

  /// The same elements, cut off from autograd history.
  public func detached() -> Tensor { Tensor(shape: shape, storage: storage) }

  /// Overwrites the elements with `other`'s (same element count), outside autograd.
  public func assign(from other: Tensor) {
    precondition(other.count == count, "assign: \(other.shape) into \(shape)")
    if isAccelerated || other.isAccelerated {
      deviceAssign(from: other)
      return
    }
    data.update(from: other.storage.readOnlyPointer, count: count)
  }

  /// Fills with `value`, outside autograd.
  public func fill(_ value: Float) {
    if isAccelerated {
      deviceFill(value)
      return
    }
    data.update(repeating: value, count: count)
  }
}

extension Tensor: CustomStringConvertible {
  public var description: String {
    if isMeta { return "Tensor(meta, shape: \(shape))" }
    if isAccelerated { return "Tensor(\(device), shape: \(shape))" }
    let shown = scalars.prefix(8).map { String(format: "%.4f", $0) }.joined(separator: ", ")
    return "Tensor(shape: \(shape), [\(shown)\(count > 8 ? ", …" : "")])"
  }
}

/// Formats a shape as PyTorch prints it: `[1, 3, 224, 224]`.
func shapeString(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }
