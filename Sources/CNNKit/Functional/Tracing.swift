import Foundation

/// One functional operation as a tracer sees it: what it computes, with every attribute an exporter
/// needs to write it down again (ONNX node attributes, for one).
public enum TracedOperation: Sendable {
  /// `conv2d` (and `conv2dReLU` with `relu`); inputs: input, weight, bias if any.
  case conv2d(stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), groups: Int, relu: Bool)
  /// `relu`; input: the tensor.
  case relu
  /// `softmax` / `logSoftmax` over the last dimension.
  case softmax(log: Bool)
  /// `a + b` of equal shapes.
  case add
  /// `a · factor`.
  case scale(Float)
  /// `flatten(startDim:)`.
  case flatten(startDim: Int)
  /// `reshape` to `shape` (−1 already resolved).
  case reshape([Int])
  /// `linear`; inputs: input, weight [out, in], bias if any.
  case linear
  /// Batch norm with running statistics (eval mode); inputs: input, weight if any, bias if any,
  /// running mean, running variance.
  case batchNorm(eps: Float, hasWeight: Bool, hasBias: Bool)
  /// Local response norm with α already in PyTorch's (and ONNX's) convention: divided by `size`.
  case localResponseNorm(size: Int, alpha: Float, beta: Float, k: Float)
  /// Max pooling.
  case maxPool2d(kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int), ceilMode: Bool)
  /// Average pooling.
  case avgPool2d(
    kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int), ceilMode: Bool, countIncludePad: Bool)
  /// `padChannels`: zero channels before and after the input's.
  case padChannels(before: Int, after: Int)
  /// Adaptive average pooling from the input's size to `outputSize` (recorded even when the two are
  /// equal and the op is the identity: the size the model was traced at then matters to a reader).
  case adaptiveAvgPool2d(outputSize: (Int, Int))
}

/// A traced call: the operation, the tensors it read (in the order `TracedOperation` documents) and
/// the tensor it returned (possibly one of its inputs, for an identity).
public struct TracedCall: Sendable {
  /// What was computed.
  public let operation: TracedOperation
  /// The operands.
  public let inputs: [Tensor]
  /// The result.
  public let output: Tensor
}

/// Records the functional operations one thread runs, in order, like `torch.jit.trace`: the model is
/// run once on an example input and every op call is written down with its operands. Exporters turn
/// the calls into a graph; tensors are told apart by identity, so the tracer keeps each one alive
/// (an identifier must not be reused by a later tensor while the trace is read).
public final class OperationTracer: @unchecked Sendable {
  /// The calls so far.
  public private(set) var calls: [TracedCall] = []
  private let thread = pthread_self()
  /// Ops running inside a traced op (`flatten` calling `reshape`) are part of it, not calls of their own.
  private var depth = 0

  nonisolated(unsafe) static var active: OperationTracer?
  private static let lock = NSLock()

  private init() {}

  /// Runs `body` with tracing on for the calling thread and returns what it recorded. Tracing is not
  /// reentrant: one trace at a time in the process.
  public static func trace<T>(_ body: () throws -> T) rethrows -> (result: T, calls: [TracedCall]) {
    lock.lock()
    defer { lock.unlock() }
    let tracer = OperationTracer()
    active = tracer
    defer { active = nil }
    let result = try body()
    return (result, tracer.calls)
  }

  /// Called by each functional op around its work: records the call made at the outermost level on
  /// the tracing thread and runs `body`. Costs one load when no trace is active.
  @inline(__always)
  static func record(
    _ operation: @autoclosure () -> TracedOperation, inputs: @autoclosure () -> [Tensor],
    _ body: () throws -> Tensor
  ) rethrows -> Tensor {
    guard let tracer = active, pthread_equal(tracer.thread, pthread_self()) != 0 else { return try body() }
    tracer.depth += 1
    let output: Tensor
    do {
      output = try body()
    } catch {
      tracer.depth -= 1
      throw error
    }
    tracer.depth -= 1
    if tracer.depth == 0 {
      tracer.calls.append(TracedCall(operation: operation(), inputs: inputs(), output: output))
    }
    return output
  }
}
