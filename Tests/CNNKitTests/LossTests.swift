import CNNKit
import CNNKitTestSupport
import XCTest

/// Cross-entropy with label smoothing against PyTorch's `F.cross_entropy` (values from
/// Tests/Fixtures/generate_training_values.py).
final class LossTests: XCTestCase {
  struct Case {
    let smoothing: Float
    let reduction: LossReduction
    let value: [Float]
    /// d(loss)/d(logits); for `.none`, of `sum(loss · gradOutput)`.
    let grad: [Float]
  }

  static let logits: [Float] = [
    -5.227, -3.393, -0.456, 0.56, -1.403, 2.073, -1.207, -2.558, 0.186, -1.332, 1.216, -1.46, 2.75, 1.319,
    0.953, -2.033, 0.361, 0.217, -1.51, 0.489,
  ]
  static let targets = [1, 0, 4, 2]
  static let gradOutput: [Float] = [1.395, 1.171, 0.434, -1.734]
  static let cases: [Case] = [
    Case(
      smoothing: 0.0, reduction: .mean, value: [2.0485914],
      grad: [
        0.0005029001, -0.24685241, 0.05936094, 0.16396227, 0.023026286, -0.04709536, 0.0076349485,
        0.0019773073, 0.030745268, 0.0067378185, 0.032969534, 0.002269555, 0.1528694, 0.036546446,
        -0.22465494, 0.0070253266, 0.07697816, -0.18334556, 0.011852297, 0.08748976,
      ]),
    Case(
      smoothing: 0.0, reduction: .sum, value: [8.1943655],
      grad: [
        0.0020116004, -0.98740965, 0.23744376, 0.6558491, 0.09210514, -0.18838143, 0.030539794, 0.007909229,
        0.12298107, 0.026951274, 0.13187814, 0.00907822, 0.6114776, 0.14618579, -0.8986198, 0.028101306,
        0.30791265, -0.7333822, 0.047409188, 0.34995905,
      ]),
    Case(
      smoothing: 0.0, reduction: .none, value: [4.3748245, 0.20872478, 2.288877, 1.3219392],
      grad: [
        0.0028061825, -1.3774364, 0.33123404, 0.9149095, 0.12848668, -0.22059466, 0.035762098, 0.009261707,
        0.14401084, 0.03155994, 0.05723511, 0.0039399476, 0.26538128, 0.06344463, -0.39000097, -0.048727665,
        -0.5339205, 1.2716848, -0.08220753, -0.606829,
      ]),
    Case(
      smoothing: 0.1, reduction: .mean, value: [2.0971165],
      grad: [
        -0.0044970997, -0.2268524, 0.054360934, 0.15896225, 0.018026283, -0.027095372, 0.0026349477,
        -0.0030226929, 0.025745265, 0.0017378178, 0.027969532, -0.002730445, 0.1478694, 0.031546444,
        -0.20465493, 0.0020253262, 0.07197816, -0.16334555, 0.006852296, 0.08248976,
      ]),
    Case(
      smoothing: 0.1, reduction: .sum, value: [8.388466],
      grad: [
        -0.017988399, -0.9074096, 0.21744373, 0.635849, 0.07210513, -0.10838149, 0.010539791, -0.012090771,
        0.10298106, 0.006951271, 0.11187813, -0.01092178, 0.5914776, 0.12618577, -0.8186197, 0.008101305,
        0.28791264, -0.6533822, 0.027409185, 0.32995903,
      ]),
    Case(
      smoothing: 0.1, reduction: .none, value: [4.2339044, 0.4727848, 2.288617, 1.3931593],
      grad: [
        -0.025093816, -1.2658364, 0.30333403, 0.8870094, 0.10058666, -0.12691472, 0.012342094, -0.014158295,
        0.12059082, 0.008139938, 0.048555106, -0.004740053, 0.25670126, 0.054764625, -0.35528094,
        -0.014047666, -0.49924052, 1.1329647, -0.047527533, -0.572149,
      ]),
    Case(
      smoothing: 0.3, reduction: .mean, value: [2.1941664],
      grad: [
        -0.014497099, -0.18685241, 0.04436094, 0.14896227, 0.008026286, 0.012904644, -0.007365051,
        -0.013022693, 0.015745267, -0.008262182, 0.017969534, -0.012730445, 0.1378694, 0.021546446,
        -0.16465494, -0.007974673, 0.06197816, -0.123345554, -0.0031477027, 0.07248976,
      ]),
    Case(
      smoothing: 0.3, reduction: .sum, value: [8.776666],
      grad: [
        -0.057988398, -0.74740964, 0.17744376, 0.5958491, 0.032105144, 0.051618576, -0.029460205, -0.05209077,
        0.06298107, -0.033048727, 0.071878135, -0.05092178, 0.5514776, 0.08618578, -0.65861976, -0.031898692,
        0.24791265, -0.49338222, -0.012590811, 0.28995904,
      ]),
    Case(
      smoothing: 0.3, reduction: .none, value: [3.9520645, 1.0009048, 2.288097, 1.5355992],
      grad: [
        -0.080893815, -1.0426364, 0.24753399, 0.8312093, 0.04478666, 0.06044545, -0.034497894, -0.060998287,
        0.07375085, -0.03870005, 0.031195106, -0.022100052, 0.23934126, 0.037404627, -0.28584096, 0.05531233,
        -0.42988053, 0.8555248, 0.021832466, -0.50278896,
      ]),
  ]

  func testValuesAndGradientsMatchPyTorch() throws {
    for c in Self.cases {
      let x = Tensor(shape: [4, 5], scalars: Self.logits, requiresGrad: true)
      let loss = try Functional.crossEntropy(
        x, targets: Self.targets, labelSmoothing: c.smoothing, reduction: c.reduction)
      let name = "ε \(c.smoothing) \(c.reduction)"
      XCTAssertEqual(loss.shape, c.reduction == .none ? [4] : [1], name)
      assertClose(loss.scalars, c.value, relative: 1e-6, absolute: 1e-7, name + " value")
      loss.backward(c.reduction == .none ? Tensor(shape: [4], scalars: Self.gradOutput) : nil)
      assertClose(try XCTUnwrap(x.grad).scalars, c.grad, relative: 1e-6, absolute: 1e-7, name + " gradient")
    }
  }

  func testDefaultsAreNLLOfLogSoftmax() throws {
    let x = Tensor(shape: [4, 5], scalars: Self.logits)
    let plain = try Functional.crossEntropy(x, targets: Self.targets)
    let nll = try Functional.nllLoss(Functional.logSoftmax(x), targets: Self.targets)
    XCTAssertEqual(plain.scalars, nll.scalars)
  }

  /// Full smoothing ignores the targets: the loss is the mean of −log p over all classes.
  func testFullSmoothingIgnoresTargets() throws {
    let x = Tensor(shape: [4, 5], scalars: Self.logits)
    let a = try Functional.crossEntropy(x, targets: [0, 0, 0, 0], labelSmoothing: 1)
    let b = try Functional.crossEntropy(x, targets: [4, 3, 2, 1], labelSmoothing: 1)
    XCTAssertEqual(a.item, b.item, accuracy: 1e-6)
  }

  func testRejectsBadInputs() {
    let x = Tensor(shape: [4, 5], scalars: Self.logits)
    XCTAssertThrowsError(try Functional.crossEntropy(x, targets: Self.targets, labelSmoothing: 1.5)) {
      error in
      XCTAssertEqual(
        error as? TrainingError, .invalidOption(name: "label smoothing", message: "1.5 is not in [0, 1]"))
    }
    XCTAssertThrowsError(try Functional.crossEntropy(x, targets: [1, 2, 3]))
    XCTAssertThrowsError(try Functional.crossEntropy(x, targets: [1, 2, 3, 5]))
  }

  func testMetaInputGivesMetaOutput() throws {
    let loss = try Functional.crossEntropy(
      Tensor(metaShape: [8, 10]), targets: Array(repeating: 0, count: 8), reduction: .none)
    XCTAssertTrue(loss.isMeta)
    XCTAssertEqual(loss.shape, [8])
  }
}
