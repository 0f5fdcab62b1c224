import CNNKit
import CNNKitTestSupport
import XCTest

/// Optimiser steps against PyTorch (values from Tests/Fixtures/generate_training_values.py).
final class OptimizerTests: XCTestCase {
  static let w0: [Float] = [1.541, -0.293, -2.179, 0.568, -1.085, -1.399]
  static let w1: [Float] = [0.403, 0.838, -0.719, -0.403]
  /// Gradients per step; parameter 1 has none in step 2, so it is skipped there.
  static let grads: [([Float], [Float]?)] = [
    ([-0.597, 0.182, -0.857, 1.101, -1.071, 0.123], [-0.566, 0.373, -0.892, -1.509]),
    ([0.37, 1.457, 0.94, 0.775, 0.192, 1.264], nil),
    ([0.519, -1.313, 0.192, 0.543, -2.219, 0.259], [-1.03, -0.501, 0.273, -0.918]),
    ([-0.04, 0.288, -0.008, -0.914, -1.089, -0.267], [0.189, -0.219, 2.058, -0.035]),
  ]
  /// Parameters (w0 then w1, flattened) after each of the four steps, from PyTorch.
  static let expected: [String: [[Float]]] = [
    "sgdPlain": [
      [
        1.6007, -0.31120002, -2.0932999, 0.45790002, -0.9779, -1.4113001, 0.4596, 0.8007, -0.62979996,
        -0.2521,
      ],
      [1.5637, -0.45690003, -2.1873, 0.38040003, -0.99710006, -1.5377, 0.4596, 0.8007, -0.62979996, -0.2521],
      [
        1.5117999, -0.32560003, -2.2065, 0.32610002, -0.77520007, -1.5636001, 0.5626, 0.85080004, -0.65709996,
        -0.16029999,
      ],
      [
        1.5157999, -0.35440004, -2.2057002, 0.41750002, -0.66630006, -1.5369, 0.54370004, 0.87270004,
        -0.86289996, -0.15679999,
      ],
    ],
    "sgdMomentumDecay": [
      [
        1.599159, -0.310907, -2.091121, 0.45733202, -0.97681504, -1.409901, 0.45919698, 0.799862, -0.62908095,
        -0.251697,
      ],
      [
        1.612903, -0.4724124, -2.1039388, 0.2797735, -0.89767176, -1.544702, 0.45919698, 0.799862,
        -0.62908095, -0.251697,
      ],
      [
        1.5717597, -0.48599485, -2.132571, 0.06539106, -0.6036451, -1.6903783, 0.6123151, 0.814838,
        -0.57482475, -0.023472628,
      ],
      [
        1.537159, -0.52653307, -2.1554072, -0.036218513, -0.22951746, -1.7930965, 0.7306091, 0.8494015,
        -0.73121935, 0.18545276,
      ],
    ],
    "sgdNesterov": [
      [
        1.5976418, -0.3102761, -2.0974815, 0.46337804, -0.98320353, -1.4106185, 0.45675084, 0.8025252,
        -0.63422585, -0.25962585,
      ],
      [
        1.5865632, -0.45604143, -2.1519291, 0.34512904, -0.95799935, -1.5355847, 0.45675084, 0.8025252,
        -0.63422585, -0.25962585,
      ],
      [
        1.5438981, -0.39691556, -2.1768172, 0.22198896, -0.7158472, -1.615738, 0.57749397, 0.8349586,
        -0.6239902, -0.111280866,
      ],
      [
        1.5326169, -0.43013868, -2.1897614, 0.22242512, -0.49429783, -1.6508138, 0.62184066, 0.86238706,
        -0.7979877, -0.015755933,
      ],
    ],
    "sgdDampening": [
      [
        1.6007, -0.31120002, -2.0932999, 0.45790002, -0.9779, -1.4113001, 0.4596, 0.8007, -0.62979996,
        -0.2521,
      ],
      [
        1.62256, -0.42775002, -2.09054, 0.31557003, -0.90566003, -1.5096201, 0.4596, 0.8007, -0.62979996,
        -0.2521,
      ],
      [
        1.603718, -0.42908004, -2.1017718, 0.16369604, -0.692538, -1.6064061, 0.57698, 0.80593, -0.57754993,
        -0.06712,
      ],
      [
        1.5914445, -0.45030403, -2.1101975, 0.10617684, -0.4458104, -1.6651449, 0.657654, 0.82544404,
        -0.6798099, 0.083313994,
      ],
    ],
    "adam": [
      [1.551, -0.303, -2.169, 0.558, -1.075, -1.409, 0.413, 0.828, -0.709, -0.393],
      [1.5527731, -0.31121418, -2.169987, 0.54823697, -1.0697185, -1.4170551, 0.413, 0.828, -0.709, -0.393],
      [
        1.5500766, -0.3116869, -2.1716955, 0.5388476, -1.0621856, -1.4244331, 0.42274803, 0.8299697,
        -0.7047718, -0.38340735,
      ],
      [
        1.5481362, -0.31291142, -2.1730587, 0.53544, -1.054195, -1.4291786, 0.42917272, 0.83352137,
        -0.7092428, -0.37586698,
      ],
    ],
    "adamDecay": [
      [1.561, -0.31299987, -2.159, 0.54800004, -1.065, -1.3790013, 0.42299995, 0.818, -0.699, -0.38300002],
      [
        1.5570835, -0.32975408, -2.1573453, 0.5285485, -1.0534508, -1.3943292, 0.42299995, 0.818, -0.699,
        -0.38300002,
      ],
      [
        1.5452007, -0.32898563, -2.155869, 0.5099553, -1.037306, -1.4069873, 0.44263718, 0.819364, -0.6898309,
        -0.3639396,
      ],
      [
        1.534469, -0.33014113, -2.152375, 0.504257, -1.0204293, -1.4115229, 0.45378557, 0.82344, -0.69949365,
        -0.349426,
      ],
    ],
    "adamW": [
      [
        1.549459, -0.30270702, -2.166821, 0.55743206, -1.073915, -1.407601, 0.412597, 0.827162, -0.708281,
        -0.39259702,
      ],
      [
        1.5496826, -0.3106185, -2.1656413, 0.5471116, -1.0675595, -1.4142485, 0.412597, 0.827162, -0.708281,
        -0.39259702,
      ],
      [
        1.5454364, -0.3107806, -2.1651843, 0.5371751, -1.0589591, -1.4202123, 0.42193246, 0.8283046,
        -0.7033445, -0.38261178,
      ],
      [
        1.5419506, -0.31169435, -2.1643825, 0.53323036, -1.0499096, -1.4235376, 0.4279352, 0.831028,
        -0.7071122, -0.3746888,
      ],
    ],
    "adamWLowBeta": [
      [
        1.5686885, -0.32256052, -2.1457314, 0.537148, -1.0533725, -1.4269015, 0.4323955, 0.806743, -0.6879215,
        -0.3723955,
      ],
      [
        1.5573593, -0.35484874, -2.1599913, 0.5093098, -1.0478147, -1.4573604, 0.4323955, 0.806743,
        -0.6879215, -0.3723955,
      ],
      [
        1.5302172, -0.33835673, -2.168555, 0.48549524, -1.013179, -1.4739021, 0.46460345, 0.8257118,
        -0.6870828, -0.3461985,
      ],
      [
        1.5212678, -0.3384931, -2.1691499, 0.50104237, -0.98442364, -1.4693258, 0.46933877, 0.8436588,
        -0.7189533, -0.33585492,
      ],
    ],
  ]

  static let makers: [String: ([Tensor]) -> Optimizer] = [
    "sgdPlain": { SGD(parameters: $0, learningRate: 0.1) },
    "sgdMomentumDecay": { SGD(parameters: $0, learningRate: 0.1, momentum: 0.9, weightDecay: 0.01) },
    "sgdNesterov": {
      SGD(parameters: $0, learningRate: 0.05, momentum: 0.9, weightDecay: 5e-4, nesterov: true)
    },
    "sgdDampening": { SGD(parameters: $0, learningRate: 0.1, momentum: 0.8, dampening: 0.3) },
    "adam": { Adam(parameters: $0, learningRate: 0.01) },
    "adamDecay": {
      Adam(parameters: $0, learningRate: 0.02, betas: (0.8, 0.95), eps: 1e-6, weightDecay: 0.1)
    },
    "adamW": { AdamW(parameters: $0, learningRate: 0.01, weightDecay: 0.1) },
    "adamWLowBeta": { AdamW(parameters: $0, learningRate: 0.03, betas: (0.3, 0.9), weightDecay: 0.05) },
  ]

  static func makeParameters() -> [Tensor] {
    [
      Tensor(shape: [2, 3], scalars: w0, requiresGrad: true),
      Tensor(shape: [4], scalars: w1, requiresGrad: true),
    ]
  }

  /// Sets step `index`'s gradients and steps.
  static func step(_ optimizer: Optimizer, _ index: Int) {
    let params = optimizer.parameters
    optimizer.zeroGrad()
    params[0].grad = Tensor(shape: [2, 3], scalars: grads[index].0)
    params[1].grad = grads[index].1.map { Tensor(shape: [4], scalars: $0) }
    optimizer.step()
  }

  static func flat(_ params: [Tensor]) -> [Float] { params.flatMap(\.scalars) }

  func testTrajectoriesMatchPyTorch() {
    XCTAssertEqual(Set(Self.makers.keys), Set(Self.expected.keys))
    for (name, make) in Self.makers.sorted(by: { $0.key < $1.key }) {
      let params = Self.makeParameters()
      let optimizer = make(params)
      for (index, row) in Self.expected[name]!.enumerated() {
        Self.step(optimizer, index)
        assertClose(Self.flat(params), row, relative: 1e-6, absolute: 1e-7, "\(name) after step \(index + 1)")
      }
    }
  }

  func testAdamCountsStepsPerParameter() {
    let adam = Adam(parameters: Self.makeParameters())
    for index in 0..<2 { Self.step(adam, index) }
    XCTAssertEqual(adam.stepCounts, [2, 1])
    XCTAssertEqual(adam.stateScalars(), ["lr": "0.001", "0.step": "2", "1.step": "1"])
    XCTAssertEqual(
      adam.stateTensors().map(\.name), ["0.exp_avg", "0.exp_avg_sq", "1.exp_avg", "1.exp_avg_sq"])
  }

  /// Stopping after two steps, saving, restoring into a fresh optimiser (made with another learning
  /// rate, over fresh copies of the parameters) and running the last two steps gives the bits of the
  /// uninterrupted run.
  func testSaveAndRestoreResumesBitExactly() throws {
    for (name, make) in Self.makers.sorted(by: { $0.key < $1.key }) {
      let straight = make(Self.makeParameters())
      for index in 0..<4 { Self.step(straight, index) }

      let first = make(Self.makeParameters())
      for index in 0..<2 { Self.step(first, index) }
      var saved: [String: Tensor] = [:]
      for (key, tensor) in first.stateTensors() { saved[key] = tensor.copy() }
      let scalars = first.stateScalars()
      let weights = first.parameters.map { Tensor(shape: $0.shape, scalars: $0.scalars, requiresGrad: true) }

      let resumed = make(weights)
      resumed.learningRate = 42
      try resumed.restore(tensors: saved, scalars: scalars)
      XCTAssertEqual(resumed.learningRate, straight.learningRate, name)
      for index in 2..<4 { Self.step(resumed, index) }

      XCTAssertEqual(Self.flat(resumed.parameters), Self.flat(straight.parameters), "\(name) weights")
      XCTAssertEqual(resumed.stateTensors().map(\.name), straight.stateTensors().map(\.name), name)
      for ((key, t1), (_, t2)) in zip(resumed.stateTensors(), straight.stateTensors()) {
        XCTAssertEqual(t1.scalars, t2.scalars, "\(name) \(key)")
      }
      XCTAssertEqual(resumed.stateScalars(), straight.stateScalars(), name)
    }
  }

  func testRestoreRejectsStateThatDoesNotFit() {
    let params = Self.makeParameters()
    let sgd = SGD(parameters: params, learningRate: 0.1, momentum: 0.9)
    let adam = Adam(parameters: Self.makeParameters())
    Self.step(adam, 0)
    var adamTensors: [String: Tensor] = [:]
    for (key, tensor) in adam.stateTensors() { adamTensors[key] = tensor }

    XCTAssertThrowsError(try sgd.restore(tensors: adamTensors, scalars: [:])) { error in
      XCTAssertEqual(
        error as? TrainingError, .invalidState(message: "unknown SGD state tensor \"0.exp_avg\""))
    }
    XCTAssertThrowsError(
      try sgd.restore(tensors: ["1.momentum_buffer": Tensor(zeros: [2, 3])], scalars: [:])
    ) { error in
      XCTAssertEqual(
        error as? TrainingError,
        .invalidState(message: "1.momentum_buffer has shape [2, 3] but its parameter has [4]"))
    }
    XCTAssertThrowsError(try sgd.restore(tensors: [:], scalars: ["lr": "fast"]))
    XCTAssertThrowsError(try sgd.restore(tensors: [:], scalars: ["0.step": "1"]))
    // Moments without a step count, and a step count without moments.
    XCTAssertThrowsError(try adam.restore(tensors: adamTensors, scalars: [:]))
    XCTAssertThrowsError(try adam.restore(tensors: [:], scalars: ["0.step": "3"]))
    // A failed restore changes nothing.
    XCTAssertEqual(adam.stepCounts, [1, 1])
    XCTAssertEqual(sgd.learningRate, 0.1)
  }

  func testRestoringEmptyStateStartsFresh() throws {
    let params = Self.makeParameters()
    let sgd = SGD(parameters: params, learningRate: 0.1, momentum: 0.9)
    Self.step(sgd, 0)
    XCTAssertEqual(sgd.stateTensors().count, 2)
    try sgd.restore(tensors: [:], scalars: [:])
    XCTAssertTrue(sgd.stateTensors().isEmpty)
    XCTAssertEqual(sgd.learningRate, 0.1)
  }

  /// Tensors large enough to be split across threads get every element updated.
  func testLargeTensorsUpdateEveryElement() {
    let n = 300_001
    let w = Tensor(zeros: [n], requiresGrad: true)
    for i in 0..<n { w.data[i] = Float(i % 97) * 0.01 }
    let before = w.scalars
    let grad = Tensor(zeros: [n])
    for i in 0..<n { grad.data[i] = Float(i % 13) - 6 }
    w.grad = grad
    let sgd = SGD(parameters: [w], learningRate: 0.5, weightDecay: 0.1)
    sgd.step()
    for i in stride(from: 0, to: n, by: 997) + [n - 1] {
      XCTAssertEqual(w.data[i], before[i] - 0.5 * (grad.data[i] + 0.1 * before[i]), "element \(i)")
    }

    let v = Tensor(zeros: [n], requiresGrad: true)
    v.grad = grad
    let adam = Adam(parameters: [v], learningRate: 0.01)
    adam.step()
    // First Adam step: m̂ = g and v̂ = g², so each weight moves by lr·sign(g) (0 where g = 0).
    for i in [0, 6, 7, n / 2, n - 1] {
      let g = grad.data[i]
      XCTAssertEqual(v.data[i], g == 0 ? 0 : -0.01 * (g > 0 ? 1 : -1), accuracy: 1e-7, "element \(i)")
    }
  }

  func testZeroGradClearsGradients() {
    let params = Self.makeParameters()
    let adamW = AdamW(parameters: params)
    for p in params { p.grad = Tensor(zeros: p.shape) }
    adamW.zeroGrad()
    XCTAssertTrue(params.allSatisfy { $0.grad == nil })
  }
}
