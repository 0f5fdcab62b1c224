import CNNKit
import XCTest

/// `Functional.conv2dReLU` and the Conv2d → ReLU fusion inside `Sequential` must be exactly the
/// unfused computation, forward and backward.
final class FusedConvReLUTests: XCTestCase {
  /// Runs `body` once with each layer observed (no fusion) and once plainly (fused).
  private final class CountingObserver: ModuleCallObserver {
    var calls = 0
    override func willCall(_ module: Module, input: [Int]) { calls += 1 }
  }

  func testFusedSequentialMatchesLayerByLayer() throws {
    var rng = RandomGenerator(seed: 3)
    let model = Sequential(
      Conv2d(3, 8, kernelSize: 3, padding: 1), ReLU(), Conv2d(8, 5, kernelSize: 3, stride: 2), ReLU())
    for p in model.parameters() {
      p.assign(from: Tensor.randn(p.shape, using: &rng))
      p.requiresGrad = true
    }
    let x = Tensor.randn([2, 3, 9, 11], using: &rng)
    x.requiresGrad = true

    func run() throws -> (output: [Float], grads: [[Float]]) {
      model.zeroGrad()
      x.grad = nil
      let y = try model(x)
      // Softmax cross-entropy over all outputs: every element gets its own gradient.
      try Functional.crossEntropy(Functional.flatten(y), targets: [3, 17]).backward()
      return (y.scalars, model.parameters().map { $0.grad!.scalars } + [x.grad!.scalars])
    }

    let observer = CountingObserver()
    let plain = try observer.observing { try run() }
    XCTAssertEqual(observer.calls, 5, "observed runs call every layer")
    let fused = try run()
    XCTAssertEqual(fused.output, plain.output)
    XCTAssertTrue(fused.output.contains(0) && fused.output.contains { $0 > 0 })
    XCTAssertEqual(fused.grads.count, plain.grads.count)
    for (a, b) in zip(fused.grads, plain.grads) { XCTAssertEqual(a, b) }
  }
}
