import CNNKitKernels
import XCTest

/// bf16 rounding and the bf16 GEMM (tile, driver and the fp32 route) against `gemmBF16Reference`.
final class BF16Tests: XCTestCase {
  func testRoundingIsToNearestEvenAndKeepsSpecials() {
    let ulp = Float(1) / 128  // bf16's spacing at 1
    XCTAssertEqual(BFloat16.rounded(1), 1)
    XCTAssertEqual(BFloat16.rounded(1 + ulp / 2), 1, "a tie goes to the even neighbour")
    XCTAssertEqual(BFloat16.rounded(1 + 3 * ulp / 2), 1 + 2 * ulp, "a tie goes to the even neighbour")
    XCTAssertEqual(BFloat16.rounded(1 + ulp / 2 + ulp / 64), 1 + ulp, "past the tie rounds up")
    XCTAssertEqual(BFloat16.rounded(-(1 + 3 * ulp / 2)), -(1 + 2 * ulp))
    XCTAssertEqual(BFloat16.rounded(.infinity), .infinity)
    XCTAssertEqual(BFloat16.rounded(-.infinity), -.infinity)
    XCTAssertEqual(BFloat16.rounded(.greatestFiniteMagnitude), .infinity, "overflows as fp32 → bf16 does")
    XCTAssertTrue(BFloat16.rounded(.nan).isNaN)
    XCTAssertTrue(BFloat16.value(BFloat16.bits(Float(bitPattern: 0x7F80_0001))).isNaN, "a low-payload NaN")
    XCTAssertEqual(BFloat16.bits(3.140625), 0x4049)
    // The vector loop agrees with the scalar rounding, tail included.
    var random = TestRandom(seed: 5)
    var x = random.array(1003).map { $0 * 1000 }
    x[7] = .nan
    x[8] = .infinity
    x[9] = Float(bitPattern: 0x3F80_8000)  // 1 + ulp/2, a tie
    var y = [Float](repeating: 0, count: x.count)
    BFloat16.round(count: x.count, x, &y)
    for i in x.indices {
      let expected = BFloat16.rounded(x[i])
      XCTAssert(
        y[i].bitPattern == expected.bitPattern || (y[i].isNaN && expected.isNaN),
        "element \(i): \(y[i]) vs \(expected)")
    }
  }

  /// One GEMM through `gemmBF16` (tile or fp32 route) against the reference, every element within
  /// 1e-5 of `Σ|a·b|` (the fp32 accumulation's error; the rounding of the operands is in both).
  private func check(
    m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool, beta: Float, tile: BF16Tile?, seed: UInt64
  ) {
    var random = TestRandom(seed: seed)
    let (lda, ldb, ldc) = ((transposeA ? m : k) + 3, (transposeB ? k : n) + 1, n + 2)
    let a = random.array((transposeA ? k : m) * lda)
    let b = random.array((transposeB ? n : k) * ldb)
    let c0 = random.array(m * ldc)
    var expected = c0
    var magnitude = [Float](repeating: 0, count: m * ldc)
    var actual = c0
    gemmBF16Reference(
      transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
      beta: beta, c: &expected, ldc: ldc)
    gemmBF16Reference(
      transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a.map(abs), lda: lda,
      b: b.map(abs),
      ldb: ldb, beta: 0, c: &magnitude, ldc: ldc)
    gemmBF16(
      transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
      beta: beta, c: &actual, ldc: ldc, tile: tile)
    let label = "\(m)×\(n)×\(k) tA \(transposeA) tB \(transposeB) β \(beta) tile \(String(describing: tile))"
    for i in 0..<m {
      for j in 0..<ldc {
        let index = i * ldc + j
        if j >= n {
          XCTAssertEqual(actual[index], c0[index], "\(label): wrote past column \(n)")
          continue
        }
        let error = abs(Double(actual[index]) - Double(expected[index]))
        let bound = 1e-5 * (Double(magnitude[index]) + abs(Double(beta * c0[index]))) + 1e-30
        if !(error <= bound) {
          XCTFail("\(label): C[\(i)][\(j)] = \(actual[index]), expected \(expected[index])")
          return
        }
      }
    }
  }

  private func checkShapes(tile: BF16Tile?) {
    // Ragged tiles and odd depths; depths past one 384-deep slice; wide B past one 2048-column block.
    let shapes = [
      (1, 1, 1), (12, 32, 2), (13, 33, 3), (7, 70, 31), (25, 5, 64), (30, 47, 385), (3, 2100, 9),
      (40, 40, 800),
    ]
    for (index, (m, n, k)) in shapes.enumerated() {
      check(
        m: m, n: n, k: k, transposeA: index % 2 == 1, transposeB: index % 3 == 1,
        beta: index % 4 == 3 ? 1 : 0,
        tile: tile, seed: UInt64(index + 1))
    }
  }

  func testEmulatedTileMatchesReference() { checkShapes(tile: .emulated) }

  func testFP32RouteMatchesReference() { checkShapes(tile: nil) }

  func testHardwareTileMatchesReferenceAndEmulation() throws {
    try XCTSkipUnless(BFloat16.hardware, "no AVX-512 BF16 on this CPU (the emulated twin runs the same code)")
    checkShapes(tile: .hardware)
    // The same additions in the same order as Intel defines them: the emulated tile's result, to
    // the last bit where the CPU follows that definition (one rounding per product added); a CPU
    // that sums both products before rounding may differ, within fp32 accumulation error.
    var random = TestRandom(seed: 9)
    let (m, n, k) = (29, 77, 401)
    let a = random.array(m * k)
    let b = random.array(k * n)
    var results: [[Float]] = []
    for tile in [BF16Tile.hardware, .emulated] {
      var c = [Float](repeating: .nan, count: m * n)
      gemmBF16(
        transposeA: false, transposeB: false, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, beta: 0, c: &c,
        ldc: n,
        tile: tile)
      results.append(c)
    }
    var magnitude = [Float](repeating: 0, count: m * n)
    gemmBF16Reference(
      transposeA: false, transposeB: false, m: m, n: n, k: k, a: a.map(abs), lda: k, b: b.map(abs), ldb: n,
      beta: 0, c: &magnitude, ldc: n)
    let differing = zip(results[0], results[1]).filter { $0.bitPattern != $1.bitPattern }.count
    print("BF16Tests: hardware tile differs from its twin in \(differing) of \(m * n) elements")
    for i in 0..<(m * n) {
      XCTAssertLessThanOrEqual(
        abs(Double(results[0][i]) - Double(results[1][i])), 1e-5 * Double(magnitude[i]) + 1e-30,
        "element \(i)")
    }
  }
}

extension BF16Tests {
  /// `conv2dBF16Forward` on the emulated tile against the naive convolution of bf16-rounded operands:
  /// padding, strides (phase-split copies), groups, several images per GEMM, one image in place.
  func testConvolutionOnTheTileMatchesReference() {
    let shapes = [
      Conv2dShape(
        batch: 3, inChannels: 5, inHeight: 9, inWidth: 8, outChannels: 14, kernelHeight: 3, kernelWidth: 3,
        padHeight: 1, padWidth: 1),
      Conv2dShape(
        batch: 1, inChannels: 3, inHeight: 23, inWidth: 23, outChannels: 16, kernelHeight: 7, kernelWidth: 7,
        strideHeight: 2, strideWidth: 2, padHeight: 3, padWidth: 3),
      Conv2dShape(
        batch: 2, inChannels: 6, inHeight: 7, inWidth: 6, outChannels: 4, kernelHeight: 3, kernelWidth: 2,
        strideHeight: 1, strideWidth: 2, padHeight: 0, padWidth: 1, groups: 2),
    ]
    for (index, s) in shapes.enumerated() {
      var random = TestRandom(seed: UInt64(40 + index))
      let input = random.array(s.inputCount)
      let weight = random.array(s.weightCount)
      let bias = random.array(s.outChannels)
      var expected = [Float](repeating: 0, count: s.outputCount)
      var magnitude = expected
      conv2dForwardReference(
        s, input: input.map(BFloat16.rounded), weight: weight.map(BFloat16.rounded), bias: bias,
        output: &expected)
      conv2dForwardReference(
        s, input: input.map { abs(BFloat16.rounded($0)) }, weight: weight.map { abs(BFloat16.rounded($0)) },
        bias: bias.map(abs), output: &magnitude)
      var packed = [UInt16](repeating: 0xFFFF, count: conv2dBF16PackedWeightCount(s))
      conv2dBF16PackWeights(s, weight: weight, dst: &packed)
      var actual = [Float](repeating: .nan, count: s.outputCount)
      conv2dBF16Forward(s, input: input, packedWeight: packed, bias: bias, output: &actual, tile: .emulated)
      for i in 0..<s.outputCount {
        let error = abs(Double(actual[i]) - Double(expected[i]))
        if !(error <= 1e-5 * Double(magnitude[i]) + 1e-30) {
          XCTFail("shape \(index): element \(i) is \(actual[i]), expected \(expected[i])")
          break
        }
      }
    }
  }
}
