import CNNKit
import CNNKitTestSupport
import XCTest

/// A module with its own parameter and buffer registered *after* a child: PyTorch still lists a
/// module's own tensors before its children's.
private final class Scaled: Module {
  let body: Sequential
  let gain: Tensor
  let calls: Tensor

  init(_ body: Sequential) {
    self.body = body
    gain = Tensor(repeating: 2, shape: [1])
    calls = Tensor(zeros: [])
    super.init()
    register("body", body)
    registerParameter("gain", gain)
    registerBuffer("calls", calls)
  }

  override func forward(_ input: Tensor) throws -> Tensor { try body(input) }
}

final class ModuleTests: XCTestCase {

  /// conv → bn → (flatten → linear → relu → dropout → linear), as torchvision nests `features` and
  /// `classifier`.
  private func nested() -> Sequential {
    Sequential(
      Conv2d(1, 2, kernelSize: 3), BatchNorm2d(2),
      Sequential(Flatten(), Linear(8, 3), ReLU(), Dropout(0.5), Linear(3, 2)))
  }

  func testNamedModules() {
    let model = nested()
    XCTAssertEqual(model.namedModules().map(\.name), ["", "0", "1", "2", "2.0", "2.1", "2.2", "2.3", "2.4"])
    XCTAssertEqual(
      model.namedModules().map(\.module.typeName),
      [
        "Sequential", "Conv2d", "BatchNorm2d", "Sequential", "Flatten", "Linear", "ReLU", "Dropout", "Linear",
      ])
  }

  func testParameterAndBufferOrder() {
    let model = nested()
    XCTAssertEqual(
      model.namedParameters().map(\.name),
      ["0.weight", "0.bias", "1.weight", "1.bias", "2.1.weight", "2.1.bias", "2.4.weight", "2.4.bias"])
    XCTAssertEqual(
      model.namedBuffers().map(\.name), ["1.running_mean", "1.running_var", "1.num_batches_tracked"])
    // The names point at the layers' own tensors, and only parameters require grad.
    let conv = model[0] as! Conv2d
    let head = model[2] as! Sequential
    XCTAssertTrue(model.namedParameters()[0].tensor === conv.weight)
    XCTAssertTrue(model.namedParameters()[6].tensor === (head[4] as! Linear).weight)
    XCTAssertTrue(model.parameters().allSatisfy(\.requiresGrad))
    XCTAssertFalse(model.namedBuffers().contains { $0.tensor.requiresGrad })
    XCTAssertEqual(
      model.namedParameters().map(\.tensor.shape), [[2, 1, 3, 3], [2], [2], [2], [3, 8], [3], [2, 3], [2]])
    XCTAssertEqual(model.parameterCount, 18 + 2 + 2 + 2 + 24 + 3 + 6 + 2)
  }

  func testStateDictOrder() {
    // Per module: parameters, then buffers, then the children (PyTorch's `state_dict()`).
    XCTAssertEqual(
      nested().stateDict().map(\.name),
      [
        "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
        "1.num_batches_tracked",
        "2.1.weight", "2.1.bias", "2.4.weight", "2.4.bias",
      ])
    let scaled = Scaled(Sequential(BatchNorm2d(1), Linear(2, 2)))
    XCTAssertEqual(
      scaled.stateDict().map(\.name),
      [
        "gain", "calls", "body.0.weight", "body.0.bias", "body.0.running_mean", "body.0.running_var",
        "body.0.num_batches_tracked", "body.1.weight", "body.1.bias",
      ])
    XCTAssertEqual(
      scaled.namedParameters().map(\.name),
      ["gain", "body.0.weight", "body.0.bias", "body.1.weight", "body.1.bias"])
    // BatchNorm's counter is a 0-d tensor, as in PyTorch.
    XCTAssertEqual(scaled.stateDict()[6].tensor.shape, [])
  }

  func testTrainEvalPropagate() throws {
    let model = nested()
    XCTAssertTrue(model.namedModules().allSatisfy { $0.module.isTraining })
    model.eval()
    XCTAssertTrue(model.namedModules().allSatisfy { !$0.module.isTraining })
    // Eval behaviour reaches the nested layers: dropout off, batch norm on running statistics.
    let x = Tensor(repeating: 1, shape: [4, 1, 4, 4])
    let first = try model(x).scalars
    XCTAssertEqual(try model(x).scalars, first)
    XCTAssertEqual((model[1] as! BatchNorm2d).numBatchesTracked.item, 0)
    (model[2] as! Sequential).train()
    XCTAssertFalse(model.isTraining)
    XCTAssertFalse(model[1].isTraining)
    XCTAssertTrue((model[2] as! Sequential)[3].isTraining)
    model.train()
    XCTAssertTrue(model.namedModules().allSatisfy { $0.module.isTraining })
    model.train(false)
    XCTAssertTrue(model.namedModules().allSatisfy { !$0.module.isTraining })
  }

  func testZeroGrad() throws {
    GlobalRandom.manualSeed(7)
    let model = Sequential(Conv2d(1, 2, kernelSize: 3), BatchNorm2d(2), ReLU(), Flatten(), Linear(8, 3))
    var data = TestData(seed: 8)
    let x = data.normal([3, 1, 4, 4], requiresGrad: false)
    func step() throws { try Functional.crossEntropy(model(x), targets: [0, 2, 1]).backward() }
    try step()
    let first = model.parameters().map { $0.grad?.scalars }
    XCTAssertTrue(first.allSatisfy { $0 != nil })
    // Gradients accumulate until cleared ...
    try step()
    for (p, g) in zip(model.parameters(), first) {
      assertClose(p.grad!.scalars, g!.map { 2 * Double($0) }, absolute: 1e-5, "accumulated")
    }
    // ... and zeroGrad clears every one of them, nested or not.
    model.zeroGrad()
    XCTAssertTrue(model.parameters().allSatisfy { $0.grad == nil })
    try step()
    for (p, g) in zip(model.parameters(), first) {
      assertClose(p.grad!.scalars, g!.map(Double.init), absolute: 1e-6, "after zeroGrad")
    }
    // The input never asked for a gradient.
    XCTAssertNil(x.grad)
  }

  func testLayerDescriptions() {
    func line(_ m: Module) -> String { "\(m.typeName)(\(m.extraDescription))" }
    XCTAssertEqual(
      line(Conv2d(64, 128, kernelSize: 3, padding: 1, groups: 2, bias: false)),
      "Conv2d(64, 128, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), groups=2, bias=False)")
    XCTAssertEqual(
      line(BatchNorm2d(64)), "BatchNorm2d(64, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
    )
    XCTAssertEqual(
      line(LocalResponseNorm(size: 5, k: 2)), "LocalResponseNorm(5, alpha=0.0001, beta=0.75, k=2.0)")
    XCTAssertEqual(
      line(MaxPool2d(kernelSize: 3, stride: 2)),
      "MaxPool2d(kernel_size=3, stride=2, padding=0, dilation=1, ceil_mode=False)")
    XCTAssertEqual(line(Dropout(0.5)), "Dropout(p=0.5, inplace=False)")
    XCTAssertEqual(line(Linear(9216, 10)), "Linear(in_features=9216, out_features=10, bias=True)")
  }
}
