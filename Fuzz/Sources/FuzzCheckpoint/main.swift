import CNNKit
import FuzzSupport

runFuzzer(fuzzCheckpoint)

/// A training checkpoint: the `TrainingState` JSON in the metadata, the model and optimiser
/// tensors restored into a small model with SGD (or Adam, when the saved scalars are Adam's), the
/// scheduler state restored into the scheduler it names, then one optimiser and scheduler step and
/// the history's CSV and SVG, as a resumed run would do.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpoint(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  guard let file = attempt({ try SafeTensorsFile(bytes: fuzzBytes(data, size), path: "fuzz.safetensors") }),
    let state = attempt({ try Checkpoint.readState(file) })
  else { return 0 }
  _ = state.random
  _ = state.history.csv
  _ = state.history.svg

  let model = tinyModel()
  let parameters = model.parameters()
  let isAdam = state.optimizerScalars.keys.contains { $0.hasSuffix(".step") }
  let optimizer: Optimizer =
    isAdam
    ? Adam(parameters: parameters, learningRate: 0.01)
    : SGD(parameters: parameters, learningRate: 0.01, momentum: 0.9)
  guard attempt({ try Checkpoint.restore(from: file, model: model, optimizer: optimizer) }) != nil else {
    return 0
  }
  if let scheduler = attempt({ try makeScheduler(named: state.schedulerState["kind"], optimizer: optimizer) }
  ),
    attempt({ try scheduler.restore(scalars: state.schedulerState) }) != nil
  {
    scheduler.step(metric: 1)
  }
  for parameter in parameters { parameter.grad = Tensor(repeating: 1, shape: parameter.shape) }
  optimizer.step()
  _ = optimizer.stateScalars()
  return 0
}

/// The scheduler a saved state's `kind` names, with fixed settings.
private func makeScheduler(named kind: String?, optimizer: Optimizer) throws -> LearningRateScheduler {
  switch kind {
  case "StepLR": return try StepLR(optimizer: optimizer, stepSize: 2)
  case "MultiStepLR": return try MultiStepLR(optimizer: optimizer, milestones: [1, 3])
  case "CosineAnnealingLR": return try CosineAnnealingLR(optimizer: optimizer, tMax: 4)
  case "ReduceLROnPlateau": return try ReduceLROnPlateau(optimizer: optimizer, patience: 1)
  case "LinearWarmup":
    return try LinearWarmup(StepLR(optimizer: optimizer, stepSize: 2), startFactor: 0.1, warmupEpochs: 2)
  default: return ConstantLR(optimizer: optimizer)
  }
}
