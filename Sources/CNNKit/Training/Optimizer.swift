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

/// The hyperparameters `Optimizers.make` passes on; each optimiser reads the ones it has.
public struct OptimizerOptions: Sendable, Equatable {
  /// Initial learning rate.
  public var learningRate: Float = 0.01
  /// SGD momentum.
  public var momentum: Float = 0
  /// L2 weight decay (decoupled for AdamW).
  public var weightDecay: Float = 0
  /// SGD Nesterov momentum.
  public var nesterov = false

  /// All defaults.
  public init() {}
}

/// Makes optimisers from their names, with the checks PyTorch's constructors make.
public enum Optimizers {
  /// The names `make` accepts.
  public static let names = ["sgd", "adam", "adamw"]

  /// Optimiser `name` (any case) over `parameters`. Throws `TrainingError.invalidOption` naming the
  /// hyperparameter at fault, or the optimiser for an unknown name.
  public static func make(_ name: String, parameters: [Tensor], options: OptimizerOptions) throws -> Optimizer
  {
    // PyTorch refuses these too ("Invalid learning rate", "Invalid momentum value", ...).
    guard options.learningRate > 0, options.learningRate.isFinite else {
      throw TrainingError.invalidOption(
        name: "learning rate", message: "must be positive, got \(options.learningRate)")
    }
    guard options.momentum >= 0, options.momentum.isFinite else {
      throw TrainingError.invalidOption(
        name: "momentum", message: "must not be negative, got \(options.momentum)")
    }
    guard options.weightDecay >= 0, options.weightDecay.isFinite else {
      throw TrainingError.invalidOption(
        name: "weight decay", message: "must not be negative, got \(options.weightDecay)")
    }
    switch name.lowercased() {
    case "sgd":
      guard !options.nesterov || options.momentum > 0 else {
        throw TrainingError.invalidOption(name: "nesterov", message: "needs a non-zero momentum")
      }
      return SGD(
        parameters: parameters, learningRate: options.learningRate, momentum: options.momentum,
        weightDecay: options.weightDecay, nesterov: options.nesterov)
    case "adam":
      return Adam(
        parameters: parameters, learningRate: options.learningRate, weightDecay: options.weightDecay)
    case "adamw":
      return AdamW(
        parameters: parameters, learningRate: options.learningRate, weightDecay: options.weightDecay)
    default:
      throw TrainingError.invalidOption(
        name: "optimizer", message: "must be \(names.joined(separator: ", ")), got '\(name)'")
    }
  }
}
