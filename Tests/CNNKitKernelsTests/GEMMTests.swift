import CNNKitKernels
import CNNKitTestSupport
import XCTest

final class GEMMTests: XCTestCase {
  private static let sizes = [1, 7, 13, 17, 33, 65, 127, 169, 300]
  private static let transposes = [(false, false), (false, true), (true, false), (true, true)]

  /// Runs `gemm` and `gemmReference` on the same operands and compares every element of C,
  /// including the padding columns past `n`, which neither may touch.
  private func check(
    _ transposeA: Bool, _ transposeB: Bool, m: Int, n: Int, k: Int,
    alpha: Float = 1, beta: Float = 0, padA: Int = 0, padB: Int = 0, padC: Int = 0,
    nanFill: Bool = false, seed: UInt64 = 1, tile: GEMMTile? = nil, prepacked: Bool = false,
    prepackedA: Bool = false, file: StaticString = #filePath, line: UInt = #line
  ) {
    var rng = TestRandom(seed: seed &+ UInt64(m * 1_000_003 + n * 1009 + k))
    let lda = (transposeA ? m : k) + padA
    let ldb = (transposeB ? k : n) + padB
    let ldc = n + padC
    let a = rng.array(max(1, (transposeA ? k : m) * lda))
    let b = rng.array(max(1, (transposeB ? n : k) * ldb))
    var c = rng.array(m * ldc)
    if nanFill {
      // beta == 0 must ignore whatever C held, NaN included; padding keeps its NaN.
      c = [Float](repeating: .nan, count: m * ldc)
    }
    var expected = c
    a.withUnsafeBufferPointer { pa in
      b.withUnsafeBufferPointer { pb in
        expected.withUnsafeMutableBufferPointer { pc in
          gemmReference(
            transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
            a: pa.baseAddress!, lda: lda, b: pb.baseAddress!, ldb: ldb, beta: beta,
            c: pc.baseAddress!, ldc: ldc)
        }
        c.withUnsafeMutableBufferPointer { pc in
          if prepackedA {
            var packed = [Float](repeating: .nan, count: gemmPackedACount(m: m, k: k))
            gemmPackA(transposeA: transposeA, m: m, k: k, a: pa.baseAddress!, lda: lda, dst: &packed)
            gemmPrepackedA(
              m: m, n: n, k: k, alpha: alpha, packedA: packed, transposeB: transposeB, b: pb.baseAddress!,
              ldb: ldb, beta: beta, c: pc.baseAddress!, ldc: ldc)
          } else if prepacked {
            var packed = [Float](repeating: .nan, count: gemmPackedBCount(n: n, k: k))
            gemmPackB(transposeB: transposeB, n: n, k: k, b: pb.baseAddress!, ldb: ldb, dst: &packed)
            gemmPrepacked(
              transposeA: transposeA, m: m, n: n, k: k, alpha: alpha, a: pa.baseAddress!, lda: lda,
              packedB: packed, beta: beta, c: pc.baseAddress!, ldc: ldc)
          } else if let tile {
            gemmPacked(
              tile: tile, transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
              alpha: alpha, a: pa.baseAddress!, lda: lda, b: pb.baseAddress!, ldb: ldb, beta: beta,
              c: pc.baseAddress!, ldc: ldc)
          } else {
            gemm(
              transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
              a: pa.baseAddress!, lda: lda, b: pb.baseAddress!, ldb: ldb, beta: beta,
              c: pc.baseAddress!, ldc: ldc)
          }
        }
      }
    }
    let label =
      "m=\(m) n=\(n) k=\(k) tA=\(transposeA) tB=\(transposeB) alpha=\(alpha) beta=\(beta)"
      + " pads=\(padA),\(padB),\(padC)"
    // fp32 accumulation error grows with k; operands lie in [-1, 1).
    let tolerance = 2e-6 * Double(k + 8) * max(1, Double(abs(alpha))) + 1e-6 * Double(abs(beta))
    var actualValid: [Float] = []
    var expectedValid: [Float] = []
    for i in 0..<m {
      let row = i * ldc
      actualValid += c[row..<row + n]
      expectedValid += expected[row..<row + n]
      for j in n..<ldc where c[row + j].bitPattern != expected[row + j].bitPattern {
        XCTFail("\(label): padding C[\(i), \(j)] was written", file: file, line: line)
        return
      }
    }
    assertClose(
      actualValid, expectedValid, relative: tolerance, absolute: tolerance, label, file: file, line: line)
  }

  func testOddShapesAllTransposes() {
    let sizes = Self.sizes
    for (i, m) in sizes.enumerated() {
      for (j, n) in sizes.enumerated() {
        // Vary k with m and n so every size appears in every position without a full cube.
        var k = sizes[(i + 2 * j + 3) % sizes.count]
        if m * n * k > 2_000_000 { k = 17 }
        for (ta, tb) in Self.transposes {
          check(ta, tb, m: m, n: n, k: k)
        }
      }
    }
  }

  func testEveryMicroKernelOnEdgesAndBlocks() {
    // Both tiles on any build: partial tiles in both directions, k across slices, alpha/beta paths.
    for tile in GEMMTile.allCases {
      for (ta, tb) in Self.transposes {
        check(ta, tb, m: 1, n: 1, k: 1, tile: tile)
        check(ta, tb, m: 13, n: 33, k: 7, tile: tile)
        check(ta, tb, m: 25, n: 65, k: 385, alpha: -0.5, beta: 1, padC: 3, tile: tile)
        check(ta, tb, m: 130, n: 97, k: 600, beta: 0.5, tile: tile)
        check(ta, tb, m: 12, n: 32, k: 256, nanFill: true, tile: tile)
        // Remainders of exactly half a tile (16 columns, 6 rows) and the corner of both, which the
        // 12×32 kernel stores straight from its half-size loops.
        check(ta, tb, m: 18, n: 48, k: 300, alpha: 1.5, beta: 0.5, tile: tile)
        check(ta, tb, m: 30, n: 80, k: 257, nanFill: true, tile: tile)
        check(ta, tb, m: 6, n: 16, k: 5, alpha: -1, beta: 1, padC: 2, tile: tile)
        check(ta, tb, m: 5, n: 41, k: 64, tile: tile)
        // Edges of 2, 3 and 4 rows (the 12×32 kernel's four-row loop), over NaN and with beta.
        check(ta, tb, m: 64, n: 70, k: 363, alpha: 0.5, beta: 1, padC: 1, tile: tile)
        check(ta, tb, m: 15, n: 33, k: 40, nanFill: true, tile: tile)
        check(ta, tb, m: 26, n: 32, k: 9, beta: 0.5, tile: tile)
      }
    }
  }

  func testLargerShapesCrossEveryBlockBoundary() {
    // k past one packed slice, m past one A block, n past one B block.
    for (ta, tb) in Self.transposes {
      check(ta, tb, m: 300, n: 169, k: 1000)
      check(ta, tb, m: 127, n: 300, k: 769)
      check(ta, tb, m: 13, n: 2100, k: 33)
      check(ta, tb, m: 250, n: 65, k: 385)
    }
  }

  func testLeadingDimensionsLargerThanMinimum() {
    for (ta, tb) in Self.transposes {
      check(ta, tb, m: 17, n: 33, k: 13, padA: 3, padB: 5, padC: 7)
      check(ta, tb, m: 65, n: 127, k: 300, padA: 1, padB: 16, padC: 9)
      check(ta, tb, m: 1, n: 65, k: 127, padA: 4, padB: 2, padC: 3)
      check(ta, tb, m: 65, n: 1, k: 127, padA: 4, padB: 2, padC: 3)
    }
  }

  func testAlphaBetaVariations() {
    let pairs: [(Float, Float)] = [(1, 0), (1, 1), (2.5, 0), (-0.5, 1), (0.75, -1.5), (1, 0.5), (-1, 2)]
    for (alpha, beta) in pairs {
      for (ta, tb) in Self.transposes {
        check(ta, tb, m: 33, n: 65, k: 17, alpha: alpha, beta: beta, padC: 2)
        check(ta, tb, m: 13, n: 7, k: 400, alpha: alpha, beta: beta)
        check(ta, tb, m: 1, n: 169, k: 65, alpha: alpha, beta: beta)
        check(ta, tb, m: 169, n: 1, k: 65, alpha: alpha, beta: beta, padC: 3)
      }
    }
  }

  func testBetaZeroOverwritesNaN() {
    for (ta, tb) in Self.transposes {
      for (m, n, k) in [(7, 13, 17), (65, 33, 300), (1, 127, 33), (127, 1, 33), (1, 1, 7), (300, 169, 65)] {
        check(ta, tb, m: m, n: n, k: k, alpha: 1.5, beta: 0, padC: 3, nanFill: true)
      }
    }
  }

  func testFewRowsTimesTransposedStreamAsDotProducts() {
    // x · Wᵀ at a small batch (the dot-product path): depths past one 2048-deep slice and vector
    // tails, rows and columns not multiples of 4, padded leading dimensions.
    for (m, n, k) in [(3, 67, 2100), (13, 130, 300), (32, 64, 4097), (5, 301, 257)] {
      check(false, true, m: m, n: n, k: k, alpha: 1.5, beta: 0.5, padA: 3, padB: 5, padC: 2)
      check(false, true, m: m, n: n, k: k, alpha: 0.5, beta: 0, padC: 1, nanFill: true)
    }
  }

  func testPrepackedBMatchesReference() {
    // B packed once (a layer's weight): columns not whole slivers, depths across several slices,
    // single rows, padded strides, beta over NaN.
    for (ta, tb) in Self.transposes {
      for (m, n, k) in [(1, 33, 17), (5, 67, 1000), (13, 301, 257), (40, 32, 777), (2, 4096, 64)] {
        check(ta, tb, m: m, n: n, k: k, alpha: 1.5, beta: 0.5, padA: 3, padB: 5, padC: 2, prepacked: true)
        check(ta, tb, m: m, n: n, k: k, alpha: 0.5, beta: 0, padC: 1, nanFill: true, prepacked: true)
      }
    }
  }

  func testPrepackedAMatchesReference() {
    // A packed once (Winograd's transformed weights): rows not whole slivers, several row blocks and
    // depth slices, one column.
    for (ta, tb) in Self.transposes {
      for (m, n, k) in [(1, 33, 17), (5, 67, 1000), (13, 301, 257), (250, 40, 777), (64, 1, 64)] {
        check(ta, tb, m: m, n: n, k: k, alpha: 1.5, beta: 0.5, padA: 3, padB: 5, padC: 2, prepackedA: true)
        check(ta, tb, m: m, n: n, k: k, alpha: 0.5, beta: 0, padC: 1, nanFill: true, prepackedA: true)
      }
    }
  }

  /// Row tasks that read one copy of B packed by all threads (a transposed B; an untransposed one is
  /// packed by the kernel instead, which these shapes check too): with A packed beforehand and
  /// without, on 2 and 3 threads.
  func testSharedPackedBMatchesReference() {
    let saved = Parallel.threadCount
    defer { Parallel.threadCount = saved }
    for threads in [2, 3] {
      Parallel.threadCount = threads
      // Which shapes share depends on the tile and the thread count: the first three that do.
      var shapes: [(Int, Int, Int)] = []
      for m in [100, 250, 256, 60, 30] {
        for n in [45, 169, 81] {
          for k in [576, 1000]
          where shapes.count < 3 && GEMMKernelInfo.threadSplit(m: m, n: n, k: k, packedA: true).sharesB {
            shapes.append((m, n, k))
          }
        }
      }
      XCTAssertFalse(shapes.isEmpty, "no shape shares B on \(threads) threads")
      for (m, n, k) in shapes {
        for (ta, tb) in Self.transposes {
          check(ta, tb, m: m, n: n, k: k, alpha: 1.5, beta: 0.5, padA: 3, padB: 5, padC: 2, prepackedA: true)
          check(ta, tb, m: m, n: n, k: k, alpha: 0.5, beta: 0, padC: 1, nanFill: true)
        }
      }
    }
  }

  /// AlexNet's per-image conv4 with its weight packed splits rows over 2 threads on one shared copy
  /// of B (split by columns, one thread would get 3 column slivers and the other 2½); conv1's B
  /// (4.4 MB) is too big to share. A stored B, which the kernel packs in its loop, is never shared.
  func testThreadSplitOfAlexNetShapes() throws {
    try XCTSkipUnless(GEMMKernelInfo.tile == "12x32", "the split depends on the tile")
    let saved = Parallel.threadCount
    defer { Parallel.threadCount = saved }
    Parallel.threadCount = 2
    let conv4 = GEMMKernelInfo.threadSplit(m: 256, n: 169, k: 3456, packedA: true)
    XCTAssertEqual([conv4.rowTasks, conv4.columnTasks], [2, 1])
    XCTAssertTrue(conv4.sharesB)
    XCTAssertFalse(GEMMKernelInfo.threadSplit(m: 64, n: 3025, k: 363, packedA: true).sharesB)
    let stored = GEMMKernelInfo.threadSplit(m: 256, n: 169, k: 3456, packedA: true, storedB: true)
    XCTAssertEqual(stored.rowTasks * stored.columnTasks, 2)
    XCTAssertFalse(stored.sharesB)
    Parallel.threadCount = 1
    XCTAssertFalse(GEMMKernelInfo.threadSplit(m: 256, n: 169, k: 3456, packedA: true).sharesB)
  }

  func testMatrixVectorShapes() {
    for (ta, tb) in Self.transposes {
      for k in [1, 3, 15, 16, 17, 31, 32, 33, 64, 1000] {
        check(ta, tb, m: 1, n: 1, k: k)
        check(ta, tb, m: 1, n: 2051, k: k, padA: 1, padB: 3)
        check(ta, tb, m: 1027, n: 1, k: k, padA: 2, padB: 1, padC: 1)
      }
    }
  }

  /// A vector times a matrix streamed by rows skips the rows met by a zero (reference BLAS's `sgemv`
  /// does the same): NaN placed in those rows must not reach C, and the rest is the full product.
  func testMatrixVectorSkipsRowsOfZeroInputs() {
    for (m, n, k) in [(1, 2051, 300), (1, 37, 9), (1027, 1, 64)] {
      var rng = TestRandom(seed: UInt64(m + n + k))
      // Every third input zero, and a run of zeros longer than one group of four.
      var vector = rng.array(k)
      for p in 0..<k where p % 3 == 0 || (20..<31).contains(p) { vector[p] = 0 }
      let clean = rng.array(k * max(m, n))
      var poisoned = clean
      let rowsAlongK = m == 1  // x·B (B is k × n) or Aᵀ·x (A stored k × m)
      let width = rowsAlongK ? n : m
      for p in 0..<k where vector[p] == 0 {
        for j in 0..<width { poisoned[p * width + j] = .nan }
      }
      var expected = [Float](repeating: 0, count: m * n)
      var actual = [Float](repeating: .nan, count: m * n)
      if rowsAlongK {
        gemmReference(
          transposeA: false, transposeB: false, m: 1, n: n, k: k, alpha: 1, a: vector, lda: k, b: clean,
          ldb: n,
          beta: 0, c: &expected, ldc: n)
        gemm(
          transposeA: false, transposeB: false, m: 1, n: n, k: k, alpha: 1, a: vector, lda: k, b: poisoned,
          ldb: n, beta: 0, c: &actual, ldc: n)
      } else {
        gemmReference(
          transposeA: true, transposeB: false, m: m, n: 1, k: k, alpha: 1, a: clean, lda: m, b: vector,
          ldb: 1,
          beta: 0, c: &expected, ldc: 1)
        gemm(
          transposeA: true, transposeB: false, m: m, n: 1, k: k, alpha: 1, a: poisoned, lda: m, b: vector,
          ldb: 1, beta: 0, c: &actual, ldc: 1)
      }
      assertClose(
        actual, expected, relative: 2e-6 * Double(k + 8), absolute: 2e-6 * Double(k + 8),
        "m=\(m) n=\(n) k=\(k)")
    }
  }

  func testTransposeMatchesReference() {
    for (rows, cols) in [(1, 1), (7, 13), (64, 9), (65, 130), (200, 77), (8, 8), (129, 64)] {
      var rng = TestRandom(seed: UInt64(rows * 1000 + cols))
      let src = rng.array(rows * cols)
      var expected = [Float](repeating: 0, count: rows * cols)
      var actual = [Float](repeating: .nan, count: rows * cols)
      transposeMatrixReference(rows: rows, cols: cols, src: src, dst: &expected)
      transposeMatrix(rows: rows, cols: cols, src: src, dst: &actual)
      XCTAssertEqual(actual, expected, "\(rows)×\(cols)")
    }
  }

  func testDegenerateSizes() {
    // k == 0 leaves beta · C; m == 0 or n == 0 is a no-op.
    for (ta, tb) in Self.transposes {
      check(ta, tb, m: 7, n: 9, k: 0, beta: 0.5)
      check(ta, tb, m: 7, n: 9, k: 0, beta: 0, nanFill: true)
      check(ta, tb, m: 0, n: 9, k: 5)
      check(ta, tb, m: 7, n: 0, k: 5, padC: 2)
      check(ta, tb, m: 13, n: 17, k: 5, alpha: 0, beta: 2)
    }
  }

  func testThreadCountsAgree() {
    let saved = Parallel.threadCount
    defer { Parallel.threadCount = saved }
    for threads in [1, 2, 3, 4] {
      Parallel.threadCount = threads
      for (ta, tb) in Self.transposes {
        check(ta, tb, m: 169, n: 300, k: 127, beta: 1, seed: UInt64(threads))
        check(ta, tb, m: 13, n: 1000, k: 65, seed: UInt64(threads))
        check(ta, tb, m: 1, n: 5000, k: 65, seed: UInt64(threads))
      }
    }
  }
}
