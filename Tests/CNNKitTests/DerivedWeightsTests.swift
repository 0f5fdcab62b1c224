import CNNKit
import CNNKitKernels
import XCTest

/// Buffers derived from a tensor's contents (reordered convolution weights) are reused only while
/// the contents cannot have changed.
final class DerivedWeightsTests: XCTestCase {
  private let key = TensorStorage.DerivedKey(kind: "test", shape: [4])

  func testHandingOutThePointerAdvancesTheVersionReadingDoesNot() {
    let storage = TensorStorage(count: 4)
    let start = storage.version
    _ = storage.readOnlyPointer
    XCTAssertEqual(storage.version, start)
    storage.pointer[0] = 1
    XCTAssertEqual(storage.version, start + 1)
    let t = Tensor(shape: [4], storage: storage)
    t.data[1] = 2
    XCTAssertEqual(storage.version, start + 2)
  }

  func testDerivedBufferIsReusedUntilTheContentsMayChange() throws {
    let storage = TensorStorage(count: 4)
    storage.pointer.update(from: [1, 2, 3, 4], count: 4)
    var made = 0
    let double = { (src: UnsafePointer<Float>, dst: UnsafeMutablePointer<Float>) in
      made += 1
      for i in 0..<4 { dst[i] = 2 * src[i] }
    }
    let first = storage.derived(key, count: 4, make: double)
    let second = storage.derived(key, count: 4, make: double)
    XCTAssertTrue(first === second)
    XCTAssertEqual(made, 1)
    XCTAssertEqual(Array(UnsafeBufferPointer(start: second.readOnlyPointer, count: 4)), [2, 4, 6, 8])
    // A write through `pointer` makes it again, from the new contents.
    storage.pointer[0] = 10
    let third = storage.derived(key, count: 4, make: double)
    XCTAssertEqual(made, 2)
    XCTAssertEqual(third.readOnlyPointer[0], 20)
    // So does another key; two keys are kept, the least recently used of three is dropped.
    let other = TensorStorage.DerivedKey(kind: "other", shape: [4])
    _ = storage.derived(other, count: 4, make: double)
    XCTAssertEqual(made, 3)
    XCTAssertTrue(storage.derived(key, count: 4, make: double) === third)
    XCTAssertEqual(made, 3)
    _ = storage.derived(TensorStorage.DerivedKey(kind: "third", shape: [4]), count: 4, make: double)
    XCTAssertTrue(storage.derived(key, count: 4, make: double) === third)
    _ = storage.derived(other, count: 4, make: double)
    XCTAssertEqual(made, 5)
    // A form wanted only when reused is made on the second request with the same contents.
    let reused = TensorStorage.DerivedKey(kind: "reused", shape: [4])
    XCTAssertNil(storage.derived(reused, count: 4, onlyWhenReused: true, make: double))
    storage.pointer[1] = 7
    XCTAssertNil(storage.derived(reused, count: 4, onlyWhenReused: true, make: double))
    XCTAssertEqual(made, 5)
    let kept = try XCTUnwrap(storage.derived(reused, count: 4, onlyWhenReused: true, make: double))
    XCTAssertEqual(made, 6)
    XCTAssertEqual(kept.readOnlyPointer[1], 14)
    XCTAssertTrue(storage.derived(reused, count: 4, onlyWhenReused: true, make: double) === kept)
  }

  func testMovingOntoHugePagesKeepsContentsAndVersion() {
    // 20 MiB: several whole 2 MiB pages and partial ones at both ends.
    let count = 5 << 20 + 1234
    let storage = TensorStorage(uninitializedCount: count)
    let p = storage.pointer
    for i in 0..<count { p[i] = Float(i % 10_007) - 5000 }
    let version = storage.version
    storage.preferHugePages()
    XCTAssertEqual(storage.version, version)
    let q = storage.readOnlyPointer
    var mismatches = 0
    for i in 0..<count where q[i] != Float(i % 10_007) - 5000 { mismatches += 1 }
    XCTAssertEqual(mismatches, 0)
  }

  func testLargeDerivedBuffersLieOnTheirOwnHugePages() {
    // 1.5 MiB of source: the derived copy is kept on its own mapping, a whole 2 MiB page on Linux.
    let count = 3 << 17
    let storage = TensorStorage(uninitializedCount: count)
    let p = storage.pointer
    for i in 0..<count { p[i] = Float(i % 1009) }
    let copy = { (src: UnsafePointer<Float>, dst: UnsafeMutablePointer<Float>) in
      dst.update(from: src, count: count)
    }
    let made = storage.derived(key, count: count, make: copy)
    #if os(Linux)
      XCTAssertEqual(Int(bitPattern: made.readOnlyPointer) % LargeAllocation.hugePageBytes, 0)
    #endif
    XCTAssertTrue(storage.derived(key, count: count, make: copy) === made)
    var mismatches = 0
    for i in 0..<count where made.readOnlyPointer[i] != Float(i % 1009) { mismatches += 1 }
    XCTAssertEqual(mismatches, 0)
    // Buffers allocated and released in a row reuse the address space without overlap.
    let (a, aBytes) = LargeAllocation.allocateOnHugePages(bytes: 5 << 20)
    let (b, bBytes) = LargeAllocation.allocateOnHugePages(bytes: 1)
    #if os(Linux)
      XCTAssertEqual([aBytes, bBytes], [6 << 20, 2 << 20])
      XCTAssertEqual(Int(bitPattern: b) % LargeAllocation.hugePageBytes, 0)
    #endif
    a.storeBytes(of: 1, toByteOffset: aBytes - 4, as: Float.self)
    b.storeBytes(of: 2, as: Float.self)
    XCTAssertEqual(a.load(fromByteOffset: aBytes - 4, as: Float.self), 1)
    LargeAllocation.deallocate(a, bytes: aBytes)
    LargeAllocation.deallocate(b, bytes: bBytes)
  }

  /// A 64-channel convolution in inference keeps its reordered weight across calls; changing the
  /// weight through `data` (as an optimizer or a loader does) must show in the next result.
  func testConvolutionSeesWeightChangesBetweenInferenceCalls() throws {
    try XCTSkipUnless(
      conv2dTiledPreferred(
        Conv2dShape(
          batch: 1, inChannels: 5, inHeight: 7, inWidth: 9, outChannels: 64, kernelHeight: 3, kernelWidth: 3,
          padHeight: 1, padWidth: 1)), "output-channel tiles are used on AVX-512 builds only")
    var rng = RandomGenerator(seed: 11)
    let x = Tensor.randn([2, 5, 7, 9], using: &rng)
    let weight = Tensor.randn([64, 5, 3, 3], using: &rng)
    let bias = Tensor.randn([64], using: &rng)
    weight.requiresGrad = true
    func expected() -> [Float] {
      let s = Conv2dShape(
        batch: 2, inChannels: 5, inHeight: 7, inWidth: 9, outChannels: 64, kernelHeight: 3, kernelWidth: 3,
        padHeight: 1, padWidth: 1)
      var out = [Float](repeating: 0, count: s.outputCount)
      conv2dForwardReference(s, input: x.scalars, weight: weight.scalars, bias: bias.scalars, output: &out)
      return out
    }
    func run() throws -> [Float] {
      try GradMode.withNoGrad {
        try Functional.conv2d(x, weight: weight, bias: bias, padding: (1, 1)).scalars
      }
    }
    let tolerance: Float = 1e-4
    let before = try run()
    XCTAssertEqual(try run(), before)
    for (a, e) in zip(before, expected()) { XCTAssertEqual(a, e, accuracy: tolerance) }
    weight.data[7] += 1
    let after = try run()
    XCTAssertNotEqual(after, before)
    for (a, e) in zip(after, expected()) { XCTAssertEqual(a, e, accuracy: tolerance) }
    // In training the weight may change every step: no cached copy, same numbers.
    let trained = try Functional.conv2d(x, weight: weight, bias: bias, padding: (1, 1)).scalars
    for (a, e) in zip(trained, after) { XCTAssertEqual(a, e, accuracy: tolerance) }
  }

  /// The same for the implicit GEMM's packed weights (33 output channels in 3 groups: no tiles).
  func testGEMMConvolutionSeesWeightChangesBetweenInferenceCalls() throws {
    let s = Conv2dShape(
      batch: 2, inChannels: 15, inHeight: 11, inWidth: 13, outChannels: 33, kernelHeight: 3, kernelWidth: 3,
      strideHeight: 2, strideWidth: 2, padHeight: 1, padWidth: 1, groups: 3)
    XCTAssertTrue(conv2dRunsAsGEMM(s))
    var rng = RandomGenerator(seed: 14)
    let x = Tensor.randn([2, 15, 11, 13], using: &rng)
    let weight = Tensor.randn([33, 5, 3, 3], using: &rng)
    let bias = Tensor.randn([33], using: &rng)
    weight.requiresGrad = true
    func expected() -> [Float] {
      var out = [Float](repeating: 0, count: s.outputCount)
      conv2dForwardReference(s, input: x.scalars, weight: weight.scalars, bias: bias.scalars, output: &out)
      return out
    }
    func run() throws -> [Float] {
      try GradMode.withNoGrad {
        try Functional.conv2d(x, weight: weight, bias: bias, stride: (2, 2), padding: (1, 1), groups: 3)
          .scalars
      }
    }
    let before = try run()
    XCTAssertEqual(try run(), before)
    for (a, e) in zip(before, expected()) { XCTAssertEqual(a, e, accuracy: 1e-4) }
    weight.data[40] -= 1
    let after = try run()
    XCTAssertNotEqual(after, before)
    for (a, e) in zip(after, expected()) { XCTAssertEqual(a, e, accuracy: 1e-4) }
  }

  /// One image with zeros in its input (after a ReLU) runs on the kept transposed weight, skipping
  /// the rows of zero inputs; a dense one on the weight as stored; a change to the weight must show.
  func testLinearAtBatchOneSeesWeightChangesAndSkipsOnlyZeros() throws {
    var rng = RandomGenerator(seed: 15)
    let weight = Tensor.randn([70, 300], using: &rng)
    let bias = Tensor.randn([70], using: &rng)
    weight.requiresGrad = true
    let dense = Tensor.randn([1, 300], using: &rng)
    let sparse = Functional.relu(Tensor.randn([1, 300], using: &rng))
    XCTAssertGreaterThan(sparse.scalars.filter { $0 == 0 }.count, 100)
    func expected(_ x: Tensor) -> [Float] {
      let (xs, ws, bs) = (x.scalars, weight.scalars, bias.scalars)
      return (0..<70).map { o in (0..<300).reduce(bs[o]) { $0 + xs[$1] * ws[o * 300 + $1] } }
    }
    func run(_ x: Tensor) throws -> [Float] {
      try GradMode.withNoGrad { try Functional.linear(x, weight: weight, bias: bias).scalars }
    }
    for x in [sparse, dense, sparse] {
      for (a, e) in zip(try run(x), expected(x)) { XCTAssertEqual(a, e, accuracy: 1e-4) }
    }
    let before = try run(sparse)
    let live = try XCTUnwrap(sparse.scalars.lastIndex { $0 != 0 })
    weight.data[3 * 300 + live] += 3
    let after = try run(sparse)
    for (a, e) in zip(after, expected(sparse)) { XCTAssertEqual(a, e, accuracy: 1e-4) }
    XCTAssertNotEqual(after[3], before[3])
  }

  /// The same for Winograd's transformed weights.
  func testWinogradSeesWeightChangesBetweenInferenceCalls() throws {
    let s = Conv2dShape(
      batch: 3, inChannels: 16, inHeight: 24, inWidth: 24, outChannels: 16, kernelHeight: 3, kernelWidth: 3,
      padHeight: 1, padWidth: 1)
    XCTAssertTrue(conv2dWinogradApplies(s))
    var rng = RandomGenerator(seed: 12)
    let x = Tensor.randn([3, 16, 24, 24], using: &rng)
    let weight = Tensor.randn([16, 16, 3, 3], using: &rng)
    func expected() -> [Float] {
      var out = [Float](repeating: 0, count: s.outputCount)
      conv2dForwardReference(s, input: x.scalars, weight: weight.scalars, bias: nil, output: &out)
      return out
    }
    func run() throws -> [Float] {
      try GradMode.withNoGrad { try Functional.conv2d(x, weight: weight, bias: nil, padding: (1, 1)).scalars }
    }
    let before = try run()
    XCTAssertEqual(try run(), before)
    for (a, e) in zip(before, expected()) { XCTAssertEqual(a, e, accuracy: 1e-3) }
    weight.data[100] -= 2
    let after = try run()
    XCTAssertNotEqual(after, before)
    for (a, e) in zip(after, expected()) { XCTAssertEqual(a, e, accuracy: 1e-3) }
  }

  /// A linear layer at batch ≥ 2 in inference keeps its weight packed; a change must show.
  func testLinearSeesWeightChangesBetweenInferenceCalls() throws {
    var rng = RandomGenerator(seed: 13)
    let x = Tensor.randn([3, 300], using: &rng)
    let weight = Tensor.randn([70, 300], using: &rng)
    let bias = Tensor.randn([70], using: &rng)
    weight.requiresGrad = true
    func expected() -> [Float] {
      let (xs, ws, bs) = (x.scalars, weight.scalars, bias.scalars)
      var out = [Float](repeating: 0, count: 3 * 70)
      for r in 0..<3 {
        for o in 0..<70 {
          var sum = bs[o]
          for i in 0..<300 { sum += xs[r * 300 + i] * ws[o * 300 + i] }
          out[r * 70 + o] = sum
        }
      }
      return out
    }
    func run() throws -> [Float] {
      try GradMode.withNoGrad { try Functional.linear(x, weight: weight, bias: bias).scalars }
    }
    let before = try run()
    XCTAssertEqual(try run(), before)
    for (a, e) in zip(before, expected()) { XCTAssertEqual(a, e, accuracy: 1e-3) }
    weight.data[301] += 3
    let after = try run()
    XCTAssertNotEqual(after, before)
    for (a, e) in zip(after, expected()) { XCTAssertEqual(a, e, accuracy: 1e-3) }
  }
}
