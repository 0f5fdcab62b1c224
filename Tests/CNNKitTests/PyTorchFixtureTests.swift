import CNNKit
import CNNKitTestSupport
import XCTest

/// Every op, forward and backward, against values PyTorch computed (Tests/Fixtures/generate_fixtures.py).
final class PyTorchFixtureTests: XCTestCase {
  /// Runs the op a fixture describes on the fixture's tensors.
  private func run(_ f: SafeTensorsFile, _ t: [String: Tensor]) throws -> Tensor {
    let op: String = f.meta("op")!
    let x = t["x"]!
    func int(_ key: String) -> Int { f.meta(key, as: Int.self)! }
    func pair(_ key: String) -> (Int, Int) { (int(key), int(key)) }
    switch op {
    case "conv2d":
      return try Functional.conv2d(
        x, weight: t["weight"]!, bias: t["bias"], stride: pair("stride"), padding: pair("padding"),
        dilation: pair("dilation"), groups: int("groups"))
    case "max_pool2d":
      return try Functional.maxPool2d(
        x, kernel: pair("kernel"), stride: pair("stride"), padding: pair("padding"),
        ceilMode: f.meta("ceil_mode")!)
    case "avg_pool2d":
      return try Functional.avgPool2d(
        x, kernel: pair("kernel"), stride: pair("stride"), padding: pair("padding"),
        ceilMode: f.meta("ceil_mode")!,
        countIncludePad: f.meta("count_include_pad")!)
    case "adaptive_avg_pool2d":
      let size: [Int] = f.meta("output_size")!
      return try Functional.adaptiveAvgPool2d(x, outputSize: (size[0], size[1]))
    case "batch_norm":
      let training: Bool = f.meta("training")!
      let mean = t["running_mean_before"]!.copy()
      let variance = t["running_var_before"]!.copy()
      let y = try Functional.batchNorm(
        x, runningMean: mean, runningVar: variance, weight: t["weight"], bias: t["bias"], training: training,
        momentum: f.meta("momentum", as: Double.self).map(Float.init)!,
        eps: f.meta("eps", as: Double.self).map(Float.init)!)
      assertClose(
        mean.scalars, t["running_mean_after"]!.scalars, relative: Fixtures.relative,
        absolute: Fixtures.absolute, "\(f.path) running_mean")
      assertClose(
        variance.scalars, t["running_var_after"]!.scalars, relative: Fixtures.relative,
        absolute: Fixtures.absolute, "\(f.path) running_var")
      return y
    case "local_response_norm":
      let convention = LRNConvention(rawValue: f.meta("convention")!)!
      return try Functional.localResponseNorm(
        x, size: int("size"), alpha: Float(f.meta("alpha", as: Double.self)!),
        beta: Float(f.meta("beta", as: Double.self)!),
        k: Float(f.meta("k", as: Double.self)!), convention: convention)
    case "linear": return try Functional.linear(x, weight: t["weight"]!, bias: t["bias"])
    case "relu": return Functional.relu(x)
    case "softmax": return Functional.softmax(x)
    case "log_softmax": return Functional.logSoftmax(x)
    case "cross_entropy": return try Functional.crossEntropy(x, targets: t["target"]!.scalars.map { Int($0) })
    case "nll_loss":
      return try Functional.nllLoss(Functional.logSoftmax(x), targets: t["target"]!.scalars.map { Int($0) })
    case "add": return try Functional.add(x, t["y"]!)
    default:
      XCTFail("\(f.path): unknown op \(op)")
      return x
    }
  }

  func testEveryOpFixtureForwardAndBackward() throws {
    let names = try Fixtures.names().filter { !$0.hasPrefix("model_") }
    XCTAssertGreaterThanOrEqual(names.count, 30)
    for name in names {
      let file = try Fixtures.open(name)
      var tensors: [String: Tensor] = [:]
      for entry in file.entries { tensors[entry.name] = try file.tensor(named: entry.name) }
      // Differentiable inputs are those PyTorch produced a gradient for.
      for (key, tensor) in tensors where key != "output" && tensors["grad_" + key] != nil {
        tensor.requiresGrad = true
      }
      let output = try run(file, tensors)
      assertClose(
        output.scalars, tensors["output"]!.scalars, relative: Fixtures.relative, absolute: Fixtures.absolute,
        "\(name) output")
      output.backward(tensors["grad_output"]!)
      for (key, tensor) in tensors where key != "output" && tensors["grad_" + key] != nil {
        guard let grad = tensor.grad else {
          XCTFail("\(name): no gradient for \(key)")
          continue
        }
        assertClose(
          grad.scalars, tensors["grad_" + key]!.scalars, relative: Fixtures.relative,
          absolute: Fixtures.absolute, "\(name) grad_\(key)")
      }
    }
  }

  /// The LRN fixtures differ between conventions by exactly α → α/size.
  func testPaperLRNEqualsPyTorchLRNWithScaledAlpha() throws {
    var rng = RandomGenerator(seed: 5)
    let x = Tensor.randn([1, 6, 2, 2], using: &rng)
    let paper = try Functional.localResponseNorm(
      x, size: 5, alpha: 1e-2, beta: 0.75, k: 2, convention: .paper)
    let pytorch = try Functional.localResponseNorm(
      x, size: 5, alpha: 5e-2, beta: 0.75, k: 2, convention: .pytorch)
    assertClose(paper.scalars, pytorch.scalars, relative: 1e-6, "paper vs pytorch LRN")
  }

  /// Whole models with identical weights on both sides: logits within 1e-4 of PyTorch's.
  func testWholeModelLogitsMatchPyTorch() throws {
    for name in ["alexnet", "vgg11_bn", "resnet18"] {
      let file = try Fixtures.open("model_" + name)
      let input = try file.tensor(named: "input")
      let model = try Zoo.build(name, classes: 10, input: Array(input.shape.dropFirst()))
      Fixtures.formulaFill(model)
      model.eval()
      let logits = try GradMode.withNoGrad { try model(input) }
      let expected = try file.tensor(named: "logits")
      let scale = expected.scalars.map(abs).max()!
      assertClose(
        logits.scalars, expected.scalars, relative: 1e-4, absolute: 1e-4 * Double(scale), "\(name) logits")
    }
  }
}
