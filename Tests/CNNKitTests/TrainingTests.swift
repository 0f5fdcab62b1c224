import CNNKit
import XCTest

final class TrainingTests: XCTestCase {
  /// Two SGD steps against values worked out by hand from PyTorch's update rule.
  func testSGDMomentumWeightDecayMatchesHandComputation() {
    let w = Tensor(shape: [2], scalars: [1, -2], requiresGrad: true)
    let sgd = SGD(parameters: [w], learningRate: 0.1, momentum: 0.9, weightDecay: 0.5)
    w.grad = Tensor(shape: [2], scalars: [0.5, 1])
    sgd.step()
    // d = g + 0.5·w = [1.0, 0.0]; v = d; w = w − 0.1·v = [0.9, −2.0]
    XCTAssertEqual(w.scalars[0], 0.9, accuracy: 1e-6)
    XCTAssertEqual(w.scalars[1], -2.0, accuracy: 1e-6)
    w.grad = Tensor(shape: [2], scalars: [0.5, 1])
    sgd.step()
    // d = [0.5 + 0.45, 1 − 1.0] = [0.95, 0]; v = 0.9·[1, 0] + d = [1.85, 0]; w = [0.9 − 0.185, −2]
    XCTAssertEqual(w.scalars[0], 0.715, accuracy: 1e-6)
    XCTAssertEqual(w.scalars[1], -2.0, accuracy: 1e-6)
  }

  func testNesterovStep() {
    let w = Tensor(shape: [1], scalars: [1], requiresGrad: true)
    let sgd = SGD(parameters: [w], learningRate: 0.1, momentum: 0.9, nesterov: true)
    w.grad = Tensor(shape: [1], scalars: [2])
    sgd.step()
    // v = 2; update = g + 0.9·v = 3.8; w = 1 − 0.38
    XCTAssertEqual(w.scalars[0], 0.62, accuracy: 1e-6)
  }

  /// A small conv net learns a separable synthetic task: the loss must fall well below its start.
  func testConvNetTrainsOnSyntheticTask() throws {
    GlobalRandom.manualSeed(7)
    let model = Sequential(
      Conv2d(1, 4, kernelSize: 3, padding: 1), BatchNorm2d(4), ReLU(), MaxPool2d(kernelSize: 2),
      Flatten(), Linear(4 * 4 * 4, 2))
    var rng = RandomGenerator(seed: 3)
    // Class 0: bright top half; class 1: bright bottom half; plus noise.
    let n = 16
    let x = Tensor(zeros: [n, 1, 8, 8])
    var labels: [Int] = []
    for i in 0..<n {
      let label = i % 2
      labels.append(label)
      for y in 0..<8 {
        for xx in 0..<8 {
          let bright = (y < 4) == (label == 0)
          x.data[((i * 8) + y) * 8 + xx] = (bright ? 1 : 0) + 0.3 * rng.nextNormal()
        }
      }
    }
    let sgd = SGD(parameters: model.parameters(), learningRate: 0.1, momentum: 0.9)
    let first = try Functional.crossEntropy(model(x), targets: labels).item
    var last = first
    for _ in 0..<30 {
      sgd.zeroGrad()
      let loss = try Functional.crossEntropy(model(x), targets: labels)
      loss.backward()
      sgd.step()
      last = loss.item
    }
    XCTAssertGreaterThan(first, 0.4)
    XCTAssertLessThan(last, 0.05)
  }
}

final class ProgressBarTests: XCTestCase {
  /// Keras' bar: `=` for done, `>` for the head, `.` for the rest, 30 wide.
  func testBarShapesMatchKeras() {
    XCTAssertEqual(
      ProgressBar.bar(step: 0, total: 422, width: 30), "[" + String(repeating: ".", count: 30) + "]")
    XCTAssertEqual(
      ProgressBar.bar(step: 237, total: 422, width: 30),
      "[" + String(repeating: "=", count: 15) + ">" + String(repeating: ".", count: 14) + "]")
    XCTAssertEqual(
      ProgressBar.bar(step: 422, total: 422, width: 30), "[" + String(repeating: "=", count: 30) + "]")
    XCTAssertEqual(ProgressBar.duration(7.4), "7s")
    XCTAssertEqual(ProgressBar.duration(185), "3:05")
    XCTAssertEqual(ProgressBar.duration(3723), "1:02:03")
  }

  func testNonInteractiveBarWritesOnlyTheFinishedLine() {
    var written: [String] = []
    var bar = ProgressBar(total: 3, interactive: false) { written.append($0) }
    bar.update(step: 1, values: [("loss", 0.5)], imagesPerSecond: 10)
    bar.update(step: 2, values: [("loss", 0.25)], imagesPerSecond: 10)
    XCTAssertEqual(written, [])
    bar.update(step: 3, values: [("loss", 0.125), ("accuracy", 0.75)], imagesPerSecond: 1234)
    XCTAssertEqual(written.count, 1)
    let line = written[0]
    XCTAssertTrue(line.hasPrefix("3/3 [==============================] - "), line)
    XCTAssertTrue(line.hasSuffix(" - loss: 0.1250 - accuracy: 0.7500 - 1234 img/s\n"), line)
  }
}
