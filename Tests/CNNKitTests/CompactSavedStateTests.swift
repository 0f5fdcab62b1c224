import CNNKit
import XCTest

/// What the backward rules keep (one-bit ReLU and dropout masks, one-byte pooling indices) and the
/// gradients they overwrite in place must change no result.
final class CompactSavedStateTests: XCTestCase {
  func testDropoutDrawsTheSameMaskAsAFloatMask() {
    var rng = RandomGenerator(seed: 21)
    let x = Tensor.randn([3, 333], using: &rng)
    x.requiresGrad = true
    for p: Float in [0.1, 0.5, 0.9, 1] {
      var a = RandomGenerator(seed: 8)
      var b = a
      // The definition: one uniform draw per element, in order, dropped below p (p = 1 draws none).
      let mask: [Float] =
        p < 1
        ? (0..<x.count).map { _ in b.nextUniform() < p ? 0 : 1 / (1 - p) }
        : Array(repeating: 0, count: x.count)
      let y = Functional.dropout(x, p: p, training: true, using: &a)
      XCTAssertEqual(a, b, "p \(p): the generator advances as it did")
      XCTAssertEqual(y.scalars, zip(x.scalars, mask).map { $0 * $1 }, "p \(p)")
      x.grad = nil
      let seed = Tensor.randn(x.shape, using: &rng)
      let seedValues = seed.scalars
      y.backward(seed)
      XCTAssertEqual(x.grad?.scalars, zip(seedValues, mask).map { $0 * $1 }, "p \(p)")
      XCTAssertEqual(seed.scalars, seedValues, "p \(p): the caller's gradient is not written")
    }
  }

  func testReLUKeepsNeitherItsInputNorItsOutput() {
    let x = Tensor(shape: [5], scalars: [1, -2, 0, 4, -0.5], requiresGrad: true)
    weak var output: TensorStorage?
    let loss: Tensor
    do {
      let y = Functional.relu(x)
      output = y.storage
      loss = Functional.sum(Functional.scale(y, by: 3))
    }
    XCTAssertNil(output)
    loss.backward()
    XCTAssertEqual(x.grad?.scalars, [3, 0, 0, 3, 0])
  }

  func testInPlaceReLUBackwardLeavesSharedGradientsAlone() throws {
    var rng = RandomGenerator(seed: 4)
    let x = Tensor.randn([2, 3, 6, 6], using: &rng)
    x.requiresGrad = true
    let w = Tensor.randn([4, 3, 3, 3], using: &rng)
    w.requiresGrad = true
    // Reference gradients from the unfused ops, element by element.
    let y = try Functional.conv2d(x, weight: w, bias: nil, padding: (1, 1))
    let seed = Tensor.randn(y.shape, using: &rng)
    let masked = Tensor(shape: y.shape, scalars: zip(y.scalars, seed.scalars).map { $0 > 0 ? $1 : 0 })
    y.backward(masked)
    let (dx, dw) = (x.grad!.scalars, w.grad!.scalars)

    // A caller's gradient is not owned: the fused rule must leave it as it was.
    x.grad = nil
    w.grad = nil
    let seedValues = seed.scalars
    try Functional.conv2dReLU(x, weight: w, bias: nil, padding: (1, 1)).backward(seed)
    XCTAssertEqual(seed.scalars, seedValues)
    XCTAssertEqual(x.grad?.scalars, dx)
    XCTAssertEqual(w.grad?.scalars, dw)

    // `add` hands one gradient to both operands: neither ReLU may write into it.
    x.grad = nil
    w.grad = nil
    let a = try Functional.conv2dReLU(x, weight: w, bias: nil, padding: (1, 1))
    let b = Functional.relu(a)
    try Functional.add(b, a).backward(seed)
    XCTAssertEqual(seed.scalars, seedValues)
    XCTAssertEqual(x.grad!.scalars, dx.map { 2 * $0 }, "relu(relu(v)) = relu(v): twice the gradient")
  }
}
