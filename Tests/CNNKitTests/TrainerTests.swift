import CNNKit
import Foundation
import XCTest

/// Random images in memory, for training-loop tests that need no files.
private struct NoiseDataset: ImageDataset {
  let count: Int
  let classNames = (0..<4).map { "c\($0)" }

  func item(at index: Int) throws -> LabeledImage {
    var rng = RandomGenerator(seed: UInt64(index) + 100)
    let label = index % 4
    // A bright band whose row depends on the label, plus noise: learnable, not trivial.
    var image = Image(height: 28, width: 28, channels: 1)
    for y in 0..<28 {
      for x in 0..<28 {
        let band = y / 7 == label ? Float(180) : 20
        image[y, x, 0] = max(0, min(255, band + 40 * rng.nextNormal()))
      }
    }
    return LabeledImage(image: image, label: label)
  }
}

final class TrainerTests: XCTestCase {
  private func makeTrainer(outputDirectory: String?, stepLimit: Int?) throws -> Trainer {
    GlobalRandom.manualSeed(21)
    let model = try Zoo.build("alexnet-mnist", classes: 4)
    let optimizer = SGD(parameters: model.parameters(), learningRate: 0.02, momentum: 0.9, weightDecay: 5e-4)
    let scheduler = try StepLR(optimizer: optimizer, stepSize: 1, gamma: 0.5)
    let pipeline = ImagePipeline(
      [RandomCrop(28, padding: Padding(2)), RandomHorizontalFlip()], normalize: .mnist)
    let loader = try DataLoader(
      dataset: NoiseDataset(count: 40), batchSize: 8, shuffle: true, seed: 5, pipeline: pipeline, workers: 2)
    let trainer = Trainer(
      model: model, optimizer: optimizer, scheduler: scheduler, trainLoader: loader, validationLoader: nil,
      epochs: 3, outputDirectory: outputDirectory, configuration: ["model": "alexnet-mnist"])
    trainer.output = { _ in }
    trainer.stepLimit = stepLimit
    return trainer
  }

  private func temporaryFolder() throws -> String {
    let folder = NSTemporaryDirectory() + "cnnkit-trainer-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    addTeardownBlock { try? FileManager.default.removeItem(atPath: folder) }
    return folder
  }

  /// Stopping mid-epoch, checkpointing and resuming in a fresh trainer gives bit-identical parameters
  /// (dropout, shuffling, augmentation, momentum and the LR schedule all continue exactly).
  func testResumeReproducesUninterruptedRunExactly() throws {
    let reference = try makeTrainer(outputDirectory: nil, stepLimit: 12)
    try reference.fit()
    XCTAssertEqual(reference.state.globalStep, 12)

    let folder = try temporaryFolder()
    let first = try makeTrainer(outputDirectory: folder, stepLimit: 7)
    try first.fit()
    XCTAssertEqual(first.state.globalStep, 7)
    XCTAssertEqual(first.state.epoch, 1)
    XCTAssertEqual(first.state.batchInEpoch, 2)

    // Different global random state before resuming: the checkpoint must restore it.
    GlobalRandom.manualSeed(999)
    let second = try makeTrainer(outputDirectory: folder, stepLimit: 12)
    try second.resume(from: folder + "/checkpoint.safetensors")
    XCTAssertEqual(second.state.globalStep, 7)
    try second.fit()
    XCTAssertEqual(second.state.globalStep, 12)
    for ((name, a), (_, b)) in zip(reference.model.stateDict(), second.model.stateDict()) {
      XCTAssertEqual(a.scalars, b.scalars, "\(name) differs after resume")
    }
    XCTAssertEqual(reference.optimizer.learningRate, second.optimizer.learningRate)
    // Epoch 2 was resumed after two of its five steps: its figures still cover all five.
    XCTAssertEqual(second.state.history.records.count, 2)
    XCTAssertEqual(
      reference.state.history.records.map(\.trainLoss), second.state.history.records.map(\.trainLoss))
    XCTAssertEqual(
      reference.state.history.records.map(\.trainAccuracy), second.state.history.records.map(\.trainAccuracy))
  }

  func testFitWritesCheckpointsLogsAndLearns() throws {
    let folder = try temporaryFolder()
    let trainer = try makeTrainer(outputDirectory: folder, stepLimit: nil)
    try trainer.fit()
    let files = Set(try FileManager.default.contentsOfDirectory(atPath: folder))
    XCTAssertEqual(
      files,
      [
        "checkpoint.safetensors", "metrics.csv", "history.svg", "model.safetensors",
      ], "per-epoch copies only when keepLast asks for them")
    let csv = try String(contentsOfFile: folder + "/metrics.csv", encoding: .utf8).split(separator: "\n")
    XCTAssertEqual(csv.count, 4)
    XCTAssertTrue(csv[0].hasPrefix("epoch,train_loss,train_accuracy"))
    // StepLR(1, 0.5) after each of 3 epochs: lr column 0.02, 0.01, 0.005.
    XCTAssertEqual(
      csv.map { $0.split(separator: ",", omittingEmptySubsequences: false)[6] }.dropFirst(),
      ["0.02", "0.01", "0.005"])
    let records = trainer.state.history.records
    XCTAssertLessThan(records.last!.trainLoss, records.first!.trainLoss)
    // model.safetensors is a plain state dict; the checkpoint carries optimiser state and history.
    let weights = try SafeTensorsFile(path: folder + "/model.safetensors")
    XCTAssertEqual(weights.entries.count, trainer.model.stateDict().count)
    let state = try Checkpoint.readState(from: folder + "/checkpoint.safetensors")
    XCTAssertEqual(state.epoch, 3)
    XCTAssertEqual(state.history.records.count, 3)
    XCTAssertTrue(try String(contentsOfFile: folder + "/history.svg", encoding: .utf8).contains("<polyline"))
  }

  func testNonFiniteLossStopsAndNamesTheStep() throws {
    let folder = try temporaryFolder()
    let trainer = try makeTrainer(outputDirectory: folder, stepLimit: nil)
    // An absurd learning rate makes the weights blow up within a few steps.
    trainer.optimizer.learningRate = 1e30
    XCTAssertThrowsError(try trainer.fit()) { error in
      guard case TrainingStop.nonFinite(let epoch, let step, let what, _) = error else {
        return XCTFail("\(error)")
      }
      XCTAssertEqual(epoch, 1)
      XCTAssertGreaterThan(step, 1)
      XCTAssertTrue(what.contains("loss") || what.contains("gradient of"), what)
    }
  }
}
