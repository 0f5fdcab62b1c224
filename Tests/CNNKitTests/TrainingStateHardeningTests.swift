import CNNKit
import Foundation
import XCTest

/// `cnnkit train --config` parsing (now `TrainingConfiguration` in the library) and the checks on
/// saved training state that keep a damaged checkpoint from crashing a resumed run.
final class TrainingStateHardeningTests: XCTestCase {
  private func configuration(_ json: String) throws -> TrainingConfiguration {
    try TrainingConfiguration(json: Array(json.utf8), path: "run.json")
  }

  private func assertConfigurationError(
    _ json: String, _ expected: String, file: StaticString = #filePath, line: UInt = #line
  ) {
    XCTAssertThrowsError(try configuration(json), file: file, line: line) { error in
      XCTAssertEqual("\(error)", expected, file: file, line: line)
    }
  }

  func testConfigurationReadsEveryType() throws {
    let config = try configuration(
      #"{"model": "lenet5", "batch_size": 16, "lr": 0.5, "nesterov": true, "seed": 18446744073709551615,"#
        + #" "input": [1, 28, 28], "lr-milestones": 30, "epochs": 3.0}"#)
    XCTAssertEqual(
      config.keys, ["batch-size", "epochs", "input", "lr", "lr-milestones", "model", "nesterov", "seed"])
    XCTAssertEqual(config.string("model"), "lenet5")
    XCTAssertEqual(config.int("batch-size"), 16)
    XCTAssertEqual(config.int("epochs"), 3)
    XCTAssertEqual(config.float("lr"), 0.5)
    XCTAssertTrue(config.bool("nesterov"))
    XCTAssertFalse(config.bool("no-augment"))
    XCTAssertEqual(config.uint64("seed"), UInt64.max)
    XCTAssertEqual(config.string("input"), "1,28,28")
    XCTAssertEqual(config.string("lr-milestones"), "30")
    // Unset keys read as the option table's default; keys with no default read as nil.
    XCTAssertEqual(TrainingConfiguration().int("epochs"), 5)
    XCTAssertFalse(TrainingConfiguration().isSet("epochs"))
    XCTAssertNil(TrainingConfiguration().int("max-steps"))
  }

  func testConfigurationErrorsNameFileAndKey() {
    assertConfigurationError("[1]", "run.json: not a JSON object")
    assertConfigurationError(#"{"epochs": 1.5}"#, "run.json: 'epochs' must be an integer")
    // JSON booleans and numbers are both NSNumbers; neither passes for the other.
    assertConfigurationError(#"{"epochs": true}"#, "run.json: 'epochs' must be an integer")
    assertConfigurationError(#"{"nesterov": 1}"#, "run.json: 'nesterov' must be true or false")
    assertConfigurationError(#"{"seed": -1}"#, "run.json: 'seed' must be a non-negative integer")
    assertConfigurationError(#"{"threads": 9223372036854775808}"#, "run.json: 'threads' must be an integer")
    assertConfigurationError(#"{"model": ["a"]}"#, "run.json: 'model' must be a string")
    assertConfigurationError(#"{"lr": "fast"}"#, "run.json: 'lr' must be a number")
    assertConfigurationError(
      #"{"batch-size": 8, "batch_size": 16}"#, "run.json: 'batch_size' repeats 'batch-size'")
    XCTAssertThrowsError(try configuration(#"{"epoch": 3}"#)) { error in
      XCTAssertTrue("\(error)".hasPrefix("run.json: unknown key 'epoch' (known: "), "\(error)")
    }
    XCTAssertThrowsError(try TrainingConfiguration(path: "/nonexistent/run.json")) { error in
      XCTAssertTrue("\(error)".hasPrefix("/nonexistent/run.json: cannot read the file"), "\(error)")
    }
  }

  // MARK: checkpoints

  private func checkpointState(_ change: (inout TrainingState) -> Void) throws -> Result<TrainingState, Error>
  {
    let model = Sequential(Linear(2, 2))
    let optimizer = SGD(parameters: model.parameters(), learningRate: 0.1)
    var state = TrainingState(
      epoch: 1, batchInEpoch: 0, globalStep: 3, random: RandomGenerator(seed: 1), optimizerScalars: [:],
      schedulerState: [:], history: TrainingHistory(), configuration: [:])
    change(&state)
    let path = NSTemporaryDirectory() + "cnnkit-state-\(UUID().uuidString).safetensors"
    defer { try? FileManager.default.removeItem(atPath: path) }
    try Checkpoint.save(to: path, model: model, optimizer: optimizer, state: state)
    let file = try SafeTensorsFile(bytes: Array(Data(contentsOf: URL(fileURLWithPath: path))), path: "ckpt")
    return Result { try Checkpoint.readState(file) }
  }

  private func assertRejected(
    _ fragment: String, file: StaticString = #filePath, line: UInt = #line,
    _ change: (inout TrainingState) -> Void
  ) throws {
    switch try checkpointState(change) {
    case .success: XCTFail("state accepted", file: file, line: line)
    case .failure(let error):
      let text = "\(error)"
      XCTAssertTrue(text.hasPrefix("ckpt: not a CNNKit checkpoint"), text, file: file, line: line)
      XCTAssertTrue(text.contains(fragment), text, file: file, line: line)
    }
  }

  func testCheckpointStateIsChecked() throws {
    XCTAssertEqual(try checkpointState { _ in }.get().globalStep, 3)
    try assertRejected("epoch -1") { $0.epoch = -1 }
    try assertRejected("globalStep") { $0.globalStep = Int.max }
    try assertRejected("randomState") { $0.randomState = [1, 2] }
    try assertRejected("randomState") { $0.randomState = [0, 0, 0, 0] }
    // history.svg converts epochs through Double, where Int.max would trap on the way back.
    try assertRejected("history epoch") {
      $0.history.records = [
        EpochRecord(
          epoch: Int.max, trainLoss: 1, trainAccuracy: 0, learningRate: 0.1, seconds: 1, imagesPerSecond: 1)
      ]
    }
  }

  func testSavedCountsNearIntMaxAreRefused() throws {
    let parameter = Tensor(zeros: [2], requiresGrad: true)
    let adam = Adam(parameters: [parameter])
    let moment = Tensor(zeros: [2])
    // Adam's next step adds one to the saved count; at Int.max that trapped.
    XCTAssertThrowsError(
      try adam.restore(
        tensors: ["0.exp_avg": moment, "0.exp_avg_sq": moment], scalars: ["0.step": String(Int.max)]))
    XCTAssertEqual(adam.stepCounts, [0])
    let big = String(Int.max)
    let step = try StepLR(optimizer: adam, stepSize: 2)
    XCTAssertThrowsError(try step.restore(scalars: ["kind": "StepLR", "last_epoch": big, "base_lr": "0.1"]))
    let warmup = try LinearWarmup(StepLR(optimizer: adam, stepSize: 2), startFactor: 0.1, warmupEpochs: 2)
    XCTAssertThrowsError(
      try warmup.restore(scalars: [
        "kind": "LinearWarmup", "last_epoch": big, "inner.kind": "StepLR", "inner.last_epoch": "0",
        "inner.base_lr": "0.1",
      ]))
    let plateau = try ReduceLROnPlateau(optimizer: adam)
    XCTAssertThrowsError(
      try plateau.restore(scalars: [
        "kind": "ReduceLROnPlateau", "last_epoch": big, "best": "1", "num_bad_epochs": "0",
        "cooldown_counter": "0",
        "base_lr": "0.1", "lr": "0.1",
      ]))
  }
}
