import CNNKitKernels

/// What the training loop needs from an optimiser (SGD, Adam, AdamW).
public protocol Optimizer: AnyObject {
  /// The tensors being optimised, in the order their state is saved.
  var parameters: [Tensor] { get }
  /// Current learning rate; schedulers set it.
  var learningRate: Float { get set }
  /// Applies one update from the parameters' gradients.
  func step()
  /// Clears the parameters' gradients.
  func zeroGrad()
  /// Per-parameter state tensors to checkpoint, keyed by a name unique within the optimiser
  /// (e.g. "3.momentum_buffer" for parameter 3), plus scalar state such as Adam's step count.
  func stateTensors() -> [(name: String, tensor: Tensor)]
  /// Scalar state (step counts, ...) as strings, for checkpoint metadata.
  func stateScalars() -> [String: String]
  /// Restores what `stateTensors` and `stateScalars` saved; throws if it does not fit.
  func restore(tensors: [String: Tensor], scalars: [String: String]) throws
}
