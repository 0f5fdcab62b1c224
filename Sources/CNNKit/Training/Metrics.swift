import Foundation

/// Classification metrics computed from logits [N, C] and integer labels.
///
/// Ties: `torch.topk` does not specify which of several equal logits it returns (on CPU the choice
/// depends on the input size). CNNKit fixes one rule: equal logits rank by class index, lowest
/// first — the choice `torch.argmax` makes — and NaN ranks above every number, as in `torch.topk`.
/// A sample is top-k correct when fewer than `k` classes rank above its label.
public enum Metrics {
  /// How many rows of `logits` [N, C] have their label among the `k` highest logits.
  /// Throws on mismatched shapes, labels out of range, or `k` outside 1...C (as `torch.topk`).
  public static func topKCorrect(logits: Tensor, labels: [Int], k: Int) throws -> Int {
    try topKCorrect(logits: logits, labels: labels, ks: [k])[0]
  }

  /// Top-k counts for several `k` at once (e.g. `[1, 5]`), in one pass over the logits.
  public static func topKCorrect(logits: Tensor, labels: [Int], ks: [Int]) throws -> [Int] {
    let c = try checkShapes(logits, labels, "top-k")
    if let bad = ks.first(where: { $0 < 1 || $0 > c }) {
      throw TrainingError.invalidOption(name: "k", message: "top-\(bad) needs 1 ≤ k ≤ \(c) classes")
    }
    var counts = [Int](repeating: 0, count: ks.count)
    for (r, label) in labels.enumerated() {
      let rank = rankOfLabel(logits.data + r * c, count: c, label: label)
      for (i, k) in ks.enumerated() where rank < k { counts[i] += 1 }
    }
    return counts
  }

  /// The fraction of rows with their label among the `k` highest logits (0 for an empty batch).
  public static func topKAccuracy(logits: Tensor, labels: [Int], k: Int) throws -> Double {
    let correct = try topKCorrect(logits: logits, labels: labels, k: k)
    return labels.isEmpty ? 0 : Double(correct) / Double(labels.count)
  }

  /// The predicted class of each row of `logits` [N, C]: the first index of the largest value
  /// (NaN counts as largest), as `torch.argmax`.
  public static func argmax(_ logits: Tensor) -> [Int] {
    precondition(logits.rank == 2 && !logits.isMeta, "argmax needs logits [N, C], got \(logits.shape)")
    let (n, c) = (logits.shape[0], logits.shape[1])
    return (0..<n).map { r in
      let row = logits.data + r * c
      var best = 0
      for j in 1..<max(c, 1) where beats(row[j], row[best]) { best = j }
      return best
    }
  }

  /// Whether `a` ranks strictly above `b` (NaN above every number).
  static func beats(_ a: Float, _ b: Float) -> Bool {
    if a.isNaN { return !b.isNaN }
    return a > b
  }

  /// Number of classes that rank above `label` in one row.
  static func rankOfLabel(_ row: UnsafePointer<Float>, count: Int, label: Int) -> Int {
    let value = row[label]
    var rank = 0
    for j in 0..<count where j != label {
      if beats(row[j], value) || (j < label && !beats(value, row[j])) { rank += 1 }
    }
    return rank
  }

  /// Checks logits [N, C] against N labels in 0..<C; returns C.
  static func checkShapes(_ logits: Tensor, _ labels: [Int], _ operation: String) throws -> Int {
    guard logits.rank == 2, !logits.isMeta, logits.shape[0] == labels.count else {
      throw TensorError.shapeMismatch(
        operation: operation,
        message: "logits \(shapeString(logits.shape)) need one label per row, got \(labels.count)")
    }
    let c = logits.shape[1]
    if let bad = labels.first(where: { $0 < 0 || $0 >= c }) {
      throw TensorError.shapeMismatch(
        operation: operation, message: "label \(bad) is out of range for \(c) classes")
    }
    return c
  }
}

/// Counts of (true class, predicted class) pairs, with per-class recall and precision.
public struct ConfusionMatrix: Sendable, Equatable {
  /// Number of classes.
  public let classCount: Int
  /// A name per class, used by `rendered()`.
  public let classNames: [String]
  /// Row-major counts: `counts[actual * classCount + predicted]`.
  public private(set) var counts: [Int]

  /// An empty matrix over `classCount` classes; names default to "0", "1", ….
  public init(classCount: Int, classNames: [String]? = nil) {
    precondition(classCount >= 1, "a confusion matrix needs at least one class")
    precondition(classNames == nil || classNames!.count == classCount, "need one name per class")
    self.classCount = classCount
    self.classNames = classNames ?? (0..<classCount).map(String.init)
    counts = [Int](repeating: 0, count: classCount * classCount)
  }

  /// Counts one sample.
  public mutating func add(actual: Int, predicted: Int) {
    precondition(
      (0..<classCount).contains(actual) && (0..<classCount).contains(predicted), "class out of range")
    counts[actual * classCount + predicted] += 1
  }

  /// Counts a batch of predictions against labels.
  public mutating func add(predictions: [Int], labels: [Int]) {
    precondition(
      predictions.count == labels.count, "\(predictions.count) predictions for \(labels.count) labels")
    for (p, l) in zip(predictions, labels) { add(actual: l, predicted: p) }
  }

  /// Counts a batch of logits [N, C] (predicted class = `Metrics.argmax`) against labels.
  public mutating func add(logits: Tensor, labels: [Int]) throws {
    let c = try Metrics.checkShapes(logits, labels, "confusion matrix")
    guard c == classCount else {
      throw TensorError.shapeMismatch(
        operation: "confusion matrix", message: "logits have \(c) classes, matrix \(classCount)")
    }
    add(predictions: Metrics.argmax(logits), labels: labels)
  }

  /// Adds another matrix's counts (e.g. from another worker).
  public mutating func merge(_ other: ConfusionMatrix) {
    precondition(other.classCount == classCount, "class counts differ")
    add(counts: other.counts)
  }

  /// Adds raw row-major counts (`classCount²` of them), e.g. summed over processes.
  public mutating func add(counts other: [Int]) {
    precondition(other.count == counts.count, "\(other.count) counts for \(counts.count) cells")
    for i in counts.indices { counts[i] += other[i] }
  }

  /// Clears all counts.
  public mutating func reset() { counts = [Int](repeating: 0, count: counts.count) }

  /// Samples of class `actual` predicted as `predicted`.
  public func count(actual: Int, predicted: Int) -> Int { counts[actual * classCount + predicted] }
  /// All samples counted.
  public var total: Int { counts.reduce(0, +) }
  /// Correct predictions (the diagonal).
  public var correct: Int { (0..<classCount).reduce(0) { $0 + count(actual: $1, predicted: $1) } }
  /// Fraction predicted correctly (0 when empty).
  public var accuracy: Double { total == 0 ? 0 : Double(correct) / Double(total) }
  /// Samples whose true class is `c`.
  public func support(ofClass c: Int) -> Int {
    (0..<classCount).reduce(0) { $0 + count(actual: c, predicted: $1) }
  }

  /// Per-class accuracy: the fraction of class `c` predicted as `c`; nil when there is none.
  public func recall(ofClass c: Int) -> Double? {
    let n = support(ofClass: c)
    return n == 0 ? nil : Double(count(actual: c, predicted: c)) / Double(n)
  }

  /// The fraction of predictions of `c` that are right; nil when nothing was predicted as `c`.
  public func precision(ofClass c: Int) -> Double? {
    let n = (0..<classCount).reduce(0) { $0 + count(actual: $1, predicted: c) }
    return n == 0 ? nil : Double(count(actual: c, predicted: c)) / Double(n)
  }

  /// Recall of every class (per-class accuracy).
  public var perClassRecall: [Double?] { (0..<classCount).map { recall(ofClass: $0) } }

  /// A text table: the matrix (rows true, columns predicted; only up to `maxMatrixClasses`
  /// classes), then support, recall and precision per class, then overall accuracy.
  public func rendered(maxMatrixClasses: Int = 20) -> String {
    var lines: [String] = []
    let nameWidth = max(5, classNames.map(\.count).max() ?? 0)
    func pad(_ s: String, _ width: Int, left: Bool = false) -> String {
      let fill = String(repeating: " ", count: max(0, width - s.count))
      return left ? s + fill : fill + s
    }
    func percent(_ v: Double?) -> String { v.map { String(format: "%.2f%%", 100 * $0) } ?? "-" }
    if classCount <= maxMatrixClasses {
      let headers = classNames.map { String($0.prefix(10)) }
      let widest = String(counts.max() ?? 0).count
      let widths = headers.map { max($0.count, widest) }
      lines.append("confusion matrix (rows: true class, columns: predicted)")
      lines.append(pad("", nameWidth) + zip(headers, widths).map { "  " + pad($0, $1) }.joined())
      for a in 0..<classCount {
        let cells = (0..<classCount).map { "  " + pad(String(count(actual: a, predicted: $0)), widths[$0]) }
        lines.append(pad(classNames[a], nameWidth, left: true) + cells.joined())
      }
      lines.append("")
    }
    lines.append(pad("class", nameWidth, left: true) + "  support     recall  precision")
    for c in 0..<classCount {
      lines.append(
        pad(classNames[c], nameWidth, left: true) + "  " + pad(String(support(ofClass: c)), 7) + "  "
          + pad(percent(recall(ofClass: c)), 9) + "  " + pad(percent(precision(ofClass: c)), 9))
    }
    lines.append("accuracy: \(percent(total == 0 ? nil : accuracy)) (\(correct)/\(total))")
    return lines.joined(separator: "\n")
  }
}

/// Running (weighted) mean of a value such as the loss over an epoch — the `AverageMeter` of
/// PyTorch's examples. Sums in Double.
public struct RunningMean: Sendable, Equatable, Codable {
  /// Sum of `value·weight`.
  public private(set) var sum: Double = 0
  /// Sum of weights (samples seen).
  public private(set) var count: Int = 0

  /// Empty.
  public init() {}

  /// Adds `value` with `weight` (e.g. a batch's mean loss with the batch size).
  public mutating func add(_ value: Double, weight: Int = 1) {
    precondition(weight >= 0, "negative weight")
    sum += value * Double(weight)
    count += weight
  }

  /// The mean so far (0 before anything is added).
  public var mean: Double { count == 0 ? 0 : sum / Double(count) }

  /// Forgets everything.
  public mutating func reset() { self = RunningMean() }
}
