import CNNKit
import XCTest

final class MetricsTests: XCTestCase {
  /// Five rows over four classes, with ties and a NaN.
  static let logits = Tensor(
    shape: [5, 4],
    scalars: [
      0.1, 0.5, 0.3, 0.9,  // label 3: highest → rank 0
      0.2, 0.2, 0.8, 0.1,  // label 1: below class 2 and its tie with lower-index class 0 → rank 2
      0.2, 0.2, 0.8, 0.1,  // label 0: below class 2 only → rank 1
      .nan, 1, 2, 3,  // label 3: NaN ranks above every number → rank 1
      1, 1, 1, 1,  // label 2: all tied, classes 0 and 1 come first → rank 2
    ])
  static let labels = [3, 1, 0, 3, 2]

  func testTopK() throws {
    let counts = try Metrics.topKCorrect(logits: Self.logits, labels: Self.labels, ks: [1, 2, 3, 4])
    XCTAssertEqual(counts, [1, 3, 5, 5])
    XCTAssertEqual(try Metrics.topKCorrect(logits: Self.logits, labels: Self.labels, k: 2), 3)
    XCTAssertEqual(try Metrics.topKAccuracy(logits: Self.logits, labels: Self.labels, k: 1), 0.2)
  }

  func testTopKRejectsBadArguments() {
    XCTAssertThrowsError(try Metrics.topKCorrect(logits: Self.logits, labels: Self.labels, k: 5)) { error in
      XCTAssertEqual(
        error as? TrainingError, .invalidOption(name: "k", message: "top-5 needs 1 ≤ k ≤ 4 classes"))
    }
    XCTAssertThrowsError(try Metrics.topKCorrect(logits: Self.logits, labels: Self.labels, k: 0))
    XCTAssertThrowsError(try Metrics.topKCorrect(logits: Self.logits, labels: [0, 1], k: 1))
    XCTAssertThrowsError(try Metrics.topKCorrect(logits: Self.logits, labels: [0, 1, 2, 3, 4], k: 1))
  }

  func testEmptyBatch() throws {
    XCTAssertEqual(try Metrics.topKAccuracy(logits: Tensor(zeros: [0, 10]), labels: [], k: 5), 0)
  }

  func testArgmaxTakesTheFirstMaximum() {
    XCTAssertEqual(Metrics.argmax(Self.logits), [3, 2, 2, 0, 0])
  }

  static func sample() -> ConfusionMatrix {
    var matrix = ConfusionMatrix(classCount: 4, classNames: ["cat", "dog", "bird", "fish"])
    matrix.add(predictions: [0, 0, 1, 1, 2, 2, 2, 0, 2], labels: [0, 0, 0, 1, 1, 2, 2, 2, 2])
    return matrix
  }

  func testConfusionMatrixStatistics() {
    let matrix = Self.sample()
    XCTAssertEqual(matrix.count(actual: 0, predicted: 1), 1)
    XCTAssertEqual(matrix.count(actual: 2, predicted: 0), 1)
    XCTAssertEqual(matrix.total, 9)
    XCTAssertEqual(matrix.correct, 6)
    XCTAssertEqual(matrix.accuracy, 6.0 / 9.0)
    XCTAssertEqual(matrix.perClassRecall, [2.0 / 3.0, 0.5, 0.75, nil])
    XCTAssertEqual((0..<4).map { matrix.precision(ofClass: $0) }, [2.0 / 3.0, 0.5, 0.75, nil])
    XCTAssertEqual((0..<4).map { matrix.support(ofClass: $0) }, [3, 2, 4, 0])
  }

  func testConfusionMatrixFromLogitsMergeAndReset() throws {
    var a = ConfusionMatrix(classCount: 4)
    try a.add(logits: Self.logits, labels: Self.labels)
    XCTAssertEqual(a.correct, 1)  // argmax [3, 2, 2, 0, 0] against [3, 1, 0, 3, 2]
    XCTAssertEqual(a.count(actual: 1, predicted: 2), 1)
    var b = a
    b.merge(a)
    XCTAssertEqual(b.total, 10)
    b.reset()
    XCTAssertEqual(b.total, 0)
    XCTAssertEqual(b.accuracy, 0)
    XCTAssertThrowsError(try a.add(logits: Tensor(zeros: [1, 3]), labels: [0]))
  }

  func testConfusionMatrixRendering() {
    let expected = """
      confusion matrix (rows: true class, columns: predicted)
             cat  dog  bird  fish
      cat      2    1     0     0
      dog      0    1     1     0
      bird     1    0     3     0
      fish     0    0     0     0

      class  support     recall  precision
      cat          3     66.67%     66.67%
      dog          2     50.00%     50.00%
      bird         4     75.00%     75.00%
      fish         0          -          -
      accuracy: 66.67% (6/9)
      """
    XCTAssertEqual(Self.sample().rendered(), expected)
    XCTAssertFalse(Self.sample().rendered(maxMatrixClasses: 3).contains("confusion matrix"))
  }

  func testRunningMean() {
    var meter = RunningMean()
    XCTAssertEqual(meter.mean, 0)
    meter.add(2, weight: 3)
    meter.add(4)
    XCTAssertEqual(meter.mean, 2.5)
    XCTAssertEqual(meter.count, 4)
    meter.reset()
    XCTAssertEqual(meter.count, 0)
  }
}
