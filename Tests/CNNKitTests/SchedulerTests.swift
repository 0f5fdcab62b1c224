import CNNKit
import XCTest

/// Learning-rate schedules against PyTorch's (values from Tests/Fixtures/generate_training_values.py):
/// the rate at epochs 0...12, base rate 0.1, `step()` once per epoch.
final class SchedulerTests: XCTestCase {
  static let plateauLoss = [1.0, 0.9, 0.95, 0.91, 0.9, 0.92, 0.85, 0.86, 0.87, 0.88, 0.849, 0.86]
  static let plateauAccuracy = [0.5, 0.6, 0.605, 0.62, 0.7, 0.705, 0.71, 0.72, 0.8, 0.79, 0.78, 0.805]
  static let expected: [String: [Double]] = [
    "step": [
      0.1, 0.1, 0.1, 0.1, 0.010000000000000002, 0.010000000000000002, 0.010000000000000002,
      0.010000000000000002, 0.0010000000000000002, 0.0010000000000000002, 0.0010000000000000002,
      0.0010000000000000002, 0.00010000000000000003,
    ],
    "multistep": [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125, 0.0125, 0.0125],
    "cosine": [
      0.1, 0.09757729755661011, 0.0905463412215599, 0.07959536998847742, 0.0657963412215599, 0.0505,
      0.03520365877844011, 0.02140463001152259, 0.010453658778440109, 0.0034227024433899004, 0.001,
      0.0034227024433899004, 0.01045365877844014,
    ],
    "warmupStep": [
      0.025, 0.05, 0.07500000000000001, 0.1, 0.1, 0.1, 0.1, 0.010000000000000002, 0.010000000000000002,
      0.010000000000000002, 0.010000000000000002, 0.0010000000000000002, 0.0010000000000000002,
    ],
    "warmupCosine": [
      0.010000000000000002, 0.05500000000000001, 0.1, 0.09619397662556434, 0.08535533905932738,
      0.0691341716182545, 0.05, 0.030865828381745515, 0.014644660940672627, 0.0038060233744356634, 0.0,
      0.0038060233744356634, 0.014644660940672639,
    ],
    "plateauMin": [0.1, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025],
    "plateauMaxAbs": [
      0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.010000000000000002, 0.010000000000000002, 0.010000000000000002,
      0.010000000000000002, 0.0010000000000000002, 0.0010000000000000002,
    ],
    "plateauDefaults": [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.010000000000000002],
  ]

  static let makers: [String: (Optimizer) throws -> LearningRateScheduler] = [
    "step": { try StepLR(optimizer: $0, stepSize: 4, gamma: 0.1) },
    "multistep": { try MultiStepLR(optimizer: $0, milestones: [3, 7, 10], gamma: 0.5) },
    "cosine": { try CosineAnnealingLR(optimizer: $0, tMax: 10, etaMin: 0.001) },
    "warmupStep": {
      try LinearWarmup(StepLR(optimizer: $0, stepSize: 4, gamma: 0.1), startFactor: 0.25, warmupEpochs: 3)
    },
    "warmupCosine": {
      try LinearWarmup(CosineAnnealingLR(optimizer: $0, tMax: 8), startFactor: 0.1, warmupEpochs: 2)
    },
    "plateauMin": {
      try ReduceLROnPlateau(optimizer: $0, mode: .min, factor: 0.5, patience: 2, cooldown: 1, minLR: 0.02)
    },
    "plateauMaxAbs": {
      try ReduceLROnPlateau(
        optimizer: $0, mode: .max, factor: 0.1, patience: 1, threshold: 0.01, thresholdMode: .abs)
    },
    "plateauDefaults": { try ReduceLROnPlateau(optimizer: $0) },
  ]

  static func metrics(_ name: String) -> [Double]? {
    switch name {
    case "plateauMin": return plateauLoss
    case "plateauMaxAbs": return plateauAccuracy
    case "plateauDefaults": return Array(repeating: 0.5, count: 12)
    default: return nil
    }
  }

  static func optimizer() -> SGD {
    SGD(parameters: [Tensor(zeros: [1], requiresGrad: true)], learningRate: 0.1)
  }

  /// Learning rates at epochs `epochs` (after construction for epoch 0).
  static func rates(_ scheduler: LearningRateScheduler, _ name: String, epochs: Range<Int>) -> [Double] {
    var out: [Double] = []
    for epoch in epochs {
      if epoch > 0 { scheduler.step(metric: metrics(name)?[epoch - 1]) }
      out.append(Double(scheduler.optimizer.learningRate))
    }
    return out
  }

  func assertRates(_ actual: [Double], _ expected: ArraySlice<Double>, _ message: String) {
    XCTAssertEqual(actual.count, expected.count, message)
    for (epoch, (a, e)) in zip(actual, expected).enumerated() {
      XCTAssertEqual(
        a, e, accuracy: 1e-6 * abs(e) + 1e-12, "\(message), epoch \(epoch + expected.startIndex)")
    }
  }

  func testSchedulesMatchPyTorch() throws {
    XCTAssertEqual(Set(Self.makers.keys), Set(Self.expected.keys))
    for (name, make) in Self.makers.sorted(by: { $0.key < $1.key }) {
      let scheduler = try make(Self.optimizer())
      assertRates(Self.rates(scheduler, name, epochs: 0..<13), Self.expected[name]![...], name)
      XCTAssertEqual(scheduler.lastEpoch, 12, name)
      XCTAssertEqual(scheduler.needsMetric, Self.metrics(name) != nil, name)
    }
  }

  /// Saving after epoch 5 and restoring into a fresh optimiser and scheduler continues exactly.
  func testSaveAndRestoreContinuesTheSchedule() throws {
    for (name, make) in Self.makers.sorted(by: { $0.key < $1.key }) {
      let straight = try make(Self.optimizer())
      let all = Self.rates(straight, name, epochs: 0..<13)

      let first = try make(Self.optimizer())
      _ = Self.rates(first, name, epochs: 0..<6)
      let saved = first.stateScalars()
      let optimizer = Self.optimizer()
      let resumed = try make(optimizer)
      resumed.step(metric: 1e9)  // disturb it: restore must put everything back
      try resumed.restore(scalars: saved)
      XCTAssertEqual(Double(optimizer.learningRate), all[5], name)
      XCTAssertEqual(resumed.stateScalars(), saved, name)
      var rest: [Double] = []
      for epoch in 6..<13 {
        resumed.step(metric: Self.metrics(name)?[epoch - 1])
        rest.append(Double(optimizer.learningRate))
      }
      XCTAssertEqual(rest, Array(all[6...]), name)
    }
  }

  func testRestoreRejectsAnotherKind() throws {
    let step = try StepLR(optimizer: Self.optimizer(), stepSize: 2)
    let cosine = try CosineAnnealingLR(optimizer: Self.optimizer(), tMax: 5)
    XCTAssertThrowsError(try step.restore(scalars: cosine.stateScalars())) { error in
      XCTAssertEqual(
        error as? TrainingError, .invalidState(message: "saved scheduler is CosineAnnealingLR, not StepLR"))
    }
    var bad = step.stateScalars()
    bad["last_epoch"] = "-1"
    XCTAssertThrowsError(try step.restore(scalars: bad))
    bad = step.stateScalars()
    bad["extra"] = "1"
    XCTAssertThrowsError(try step.restore(scalars: bad))
  }

  func testClosedFormRates() throws {
    let step = try StepLR(optimizer: Self.optimizer(), stepSize: 30)
    XCTAssertEqual(step.learningRate(atEpoch: 29), 0.1)
    XCTAssertEqual(step.learningRate(atEpoch: 30), Float(0.1 * 0.1))
    let multi = try MultiStepLR(optimizer: Self.optimizer(), milestones: [2, 4])
    XCTAssertEqual(multi.learningRate(atEpoch: 4), Float(0.1 * 0.1 * 0.1))
    let cosine = try CosineAnnealingLR(optimizer: Self.optimizer(), tMax: 4, etaMin: 0.02)
    XCTAssertEqual(cosine.learningRate(atEpoch: 2), 0.06, accuracy: 1e-8)
    XCTAssertEqual(cosine.learningRate(atEpoch: 4), 0.02)
  }

  func testPlateauReset() throws {
    let optimizer = Self.optimizer()
    let plateau = try ReduceLROnPlateau(optimizer: optimizer, factor: 0.5, patience: 0)
    plateau.step(metric: 1)
    plateau.step(metric: 2)
    XCTAssertEqual(optimizer.learningRate, 0.05)
    XCTAssertEqual(plateau.best, 1)
    plateau.reset()
    XCTAssertEqual(optimizer.learningRate, 0.1)
    XCTAssertEqual(plateau.best, .infinity)
    XCTAssertEqual(plateau.lastEpoch, 0)
  }

  func testConstantKeepsTheRate() {
    let optimizer = Self.optimizer()
    let constant = ConstantLR(optimizer: optimizer)
    for _ in 0..<5 { constant.step() }
    XCTAssertEqual(optimizer.learningRate, 0.1)
    XCTAssertEqual(constant.lastEpoch, 5)
  }

  func testFactoryMakesEachName() throws {
    var options = SchedulerOptions()
    options.milestones = [3, 7, 10]
    options.epochs = 12
    let kinds: [String: String] = [
      "step": "StepLR", "multistep": "MultiStepLR", "cosine": "CosineAnnealingLR",
      "plateau": "ReduceLROnPlateau",
      "none": "ConstantLR",
    ]
    XCTAssertEqual(Set(kinds.keys), Set(Schedulers.names))
    for (name, kind) in kinds {
      let scheduler = try Schedulers.make(name, optimizer: Self.optimizer(), options: options)
      XCTAssertEqual(scheduler.stateScalars()["kind"], kind, name)
    }
    // Warm-up wraps, and cosine's T_max defaults to the epochs left after it.
    options.warmupEpochs = 2
    let warm = try Schedulers.make("cosine", optimizer: Self.optimizer(), options: options)
    let wrapper = try XCTUnwrap(warm as? LinearWarmup)
    XCTAssertEqual((wrapper.inner as? CosineAnnealingLR)?.tMax, 10)
    XCTAssertEqual(warm.optimizer.learningRate, 0.01, accuracy: 1e-9)
    // The PyTorch sequence for SequentialLR(LinearLR(0.1, 2), CosineAnnealingLR(T_max 8)).
    options.epochs = nil
    options.tMax = 8
    options.warmupStartFactor = 0.1
    let sequence = try Schedulers.make("cosine", optimizer: Self.optimizer(), options: options)
    assertRates(
      Self.rates(sequence, "warmupCosine", epochs: 0..<13), Self.expected["warmupCosine"]![...], "factory")
  }

  func testFactoryRejectsBadValues() {
    func error(_ name: String, _ change: (inout SchedulerOptions) -> Void) -> TrainingError? {
      var options = SchedulerOptions()
      options.milestones = [5]
      options.epochs = 10
      change(&options)
      do {
        _ = try Schedulers.make(name, optimizer: Self.optimizer(), options: options)
        return nil
      } catch {
        return error as? TrainingError
      }
    }
    func optionName(_ e: TrainingError?) -> String? {
      if case .invalidOption(let name, _) = e { return name }
      return nil
    }
    XCTAssertEqual(optionName(error("exponential") { _ in }), "scheduler")
    XCTAssertEqual(
      error("cyclic") { _ in }?.description,
      "invalid scheduler: unknown \"cyclic\"; choose one of step, multistep, cosine, plateau, none")
    XCTAssertEqual(optionName(error("step") { $0.stepSize = 0 }), "step size")
    XCTAssertEqual(optionName(error("step") { $0.gamma = -1 }), "gamma")
    XCTAssertEqual(optionName(error("multistep") { $0.milestones = [] }), "milestones")
    XCTAssertEqual(optionName(error("multistep") { $0.milestones = [5, 3] }), "milestones")
    XCTAssertEqual(optionName(error("cosine") { $0.epochs = nil }), "T_max")
    XCTAssertEqual(optionName(error("cosine") { $0.tMax = 0 }), "T_max")
    XCTAssertEqual(optionName(error("cosine") { $0.etaMin = -0.1 }), "eta_min")
    XCTAssertEqual(optionName(error("plateau") { $0.factor = 1 }), "factor")
    XCTAssertEqual(optionName(error("plateau") { $0.patience = -1 }), "patience")
    XCTAssertEqual(optionName(error("plateau") { $0.minLR = -1 }), "min lr")
    XCTAssertEqual(optionName(error("step") { $0.warmupEpochs = -1 }), "warm-up epochs")
    XCTAssertEqual(
      optionName(
        error("step") {
          $0.warmupEpochs = 2
          $0.warmupStartFactor = 0
        }), "warm-up start factor")
    XCTAssertNil(error("none") { $0.stepSize = 0 })  // options a scheduler does not use are ignored
  }

  func testParseMilestones() throws {
    XCTAssertEqual(try SchedulerOptions.parseMilestones("30,60, 90"), [30, 60, 90])
    XCTAssertThrowsError(try SchedulerOptions.parseMilestones("30,,60"))
    XCTAssertThrowsError(try SchedulerOptions.parseMilestones("thirty"))
    XCTAssertEqual(ReduceLROnPlateau.Mode(rawValue: "max"), .max)
  }
}
