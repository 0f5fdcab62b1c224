import Foundation

/// The exchanges of data-parallel training, as PyTorch's DDP does them: weights broadcast from rank 0
/// once, gradients summed over processes after every backward pass. Gradients travel in buckets of
/// about 32 MB, packed into one buffer, so a model of many small tensors costs a few large messages
/// rather than one small message per tensor (MPI's latency per call dominates small ones).
public enum GradientExchange {
  /// Floats per bucket (32 MB).
  public static let bucketFloats = 8 << 20

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
    let zeros = Tensor(zeros: [parameters.map(\.count).max() ?? 0])
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
