import CNNKitKernels
import CNNKitTestSupport
import XCTest

/// The output-channel-tiled direct convolution against the seven-loop reference.
final class Conv2dTiledTests: XCTestCase {
  /// Planes whose pixel count is not a multiple of the 6-pixel tile, the 8-pixel transpose or the
  /// 24-pixel task unit; strides 1…4 with unequal padding; two groups; a 1×1 kernel; a reduction of
  /// 576 steps, past one 512-step weight slice.
  private static let shapes: [Conv2dShape] = [
    Conv2dShape(
      batch: 2, inChannels: 3, inHeight: 47, inWidth: 43, outChannels: 64, kernelHeight: 11, kernelWidth: 11,
      strideHeight: 4, strideWidth: 4, padHeight: 2, padWidth: 2),
    Conv2dShape(
      batch: 3, inChannels: 64, inHeight: 13, inWidth: 13, outChannels: 128, kernelHeight: 3, kernelWidth: 3,
      padHeight: 1, padWidth: 1),
    Conv2dShape(
      batch: 1, inChannels: 10, inHeight: 9, inWidth: 14, outChannels: 128, kernelHeight: 5, kernelWidth: 3,
      strideHeight: 2, strideWidth: 3, padHeight: 2, padWidth: 0, groups: 2),
    Conv2dShape(
      batch: 2, inChannels: 7, inHeight: 5, inWidth: 7, outChannels: 64, kernelHeight: 1, kernelWidth: 1),
    Conv2dShape(
      batch: 1, inChannels: 4, inHeight: 2, inWidth: 3, outChannels: 64, kernelHeight: 3, kernelWidth: 2,
      padHeight: 1, padWidth: 1),
  ]

  private func label(_ s: Conv2dShape) -> String {
    "N\(s.batch) C\(s.inChannels) \(s.inHeight)x\(s.inWidth) → O\(s.outChannels)"
      + " k\(s.kernelHeight)x\(s.kernelWidth) s\(s.strideHeight),\(s.strideWidth)"
      + " p\(s.padHeight),\(s.padWidth) g\(s.groups)"
  }

  func testForwardMatchesReference() {
    for (index, s) in Self.shapes.enumerated() {
      XCTAssertTrue(conv2dTiledApplies(s), label(s))
      var rng = TestRandom(seed: UInt64(300 + index))
      let input = rng.array(s.inputCount)
      let weight = rng.array(s.weightCount)
      let bias = rng.array(s.outChannels)
      var expected = [Float](repeating: 0, count: s.outputCount)
      bias.withUnsafeBufferPointer { pb in
        conv2dForwardReference(s, input: input, weight: weight, bias: pb.baseAddress, output: &expected)
      }
      // Default chunking, then padded copies of one image at a time.
      let saved = Conv2dPlan.columnBudget
      defer { Conv2dPlan.columnBudget = saved }
      for budget in [saved, 1] {
        Conv2dPlan.columnBudget = budget
        var actual = [Float](repeating: .nan, count: s.outputCount)
        bias.withUnsafeBufferPointer { pb in
          conv2dTiledForward(s, input: input, weight: weight, bias: pb.baseAddress, output: &actual)
        }
        let depth = s.inChannelsPerGroup * s.kernelHeight * s.kernelWidth
        assertClose(
          actual, expected, relative: 2e-6 * Double(depth + 8), absolute: 2e-6 * Double(depth + 8),
          "tiled \(label(s)) budget \(budget)")
      }
    }
  }

  func testWithoutBiasAndThroughConv2dForward() {
    let s = Self.shapes[1]
    var rng = TestRandom(seed: 7)
    let input = rng.array(s.inputCount)
    let weight = rng.array(s.weightCount)
    var expected = [Float](repeating: 0, count: s.outputCount)
    var tiled = [Float](repeating: .nan, count: s.outputCount)
    var routed = [Float](repeating: .nan, count: s.outputCount)
    conv2dForwardReference(s, input: input, weight: weight, bias: nil, output: &expected)
    conv2dTiledForward(s, input: input, weight: weight, bias: nil, output: &tiled)
    conv2dForward(s, input: input, weight: weight, bias: nil, output: &routed)
    assertClose(tiled, expected, relative: 2e-6 * 600, absolute: 2e-6 * 600, "tiled, no bias")
    assertClose(routed, expected, relative: 2e-6 * 600, absolute: 2e-6 * 600, "conv2dForward")
  }

  func testReLUOnTheWayOutMatchesReferenceThenReLU() {
    for s in [Self.shapes[0], Self.shapes[2]] {
      var rng = TestRandom(seed: 17)
      var input = rng.array(s.inputCount)
      input[5] = .nan
      let weight = rng.array(s.weightCount)
      let bias = rng.array(s.outChannels)
      var expected = [Float](repeating: 0, count: s.outputCount)
      var actual = [Float](repeating: .nan, count: s.outputCount)
      for useBias in [true, false] {
        bias.withUnsafeBufferPointer { pb in
          let b = useBias ? pb.baseAddress : nil
          conv2dForwardReference(s, input: input, weight: weight, bias: b, output: &expected)
          conv2dTiledForward(s, input: input, weight: weight, bias: b, output: &actual, relu: true)
        }
        expected = expected.map { $0 <= 0 ? 0 : $0 }
        XCTAssertEqual(actual.filter(\.isNaN).count, expected.filter(\.isNaN).count, label(s))
        XCTAssertGreaterThan(expected.filter(\.isNaN).count, 0, "a NaN input reaches some outputs")
        let finite = zip(actual, expected).filter { !$0.1.isNaN }
        XCTAssertTrue(finite.allSatisfy { $0.0 >= 0 && $0.0.sign == .plus }, "ReLU output is +0 or positive")
        assertClose(
          finite.map(\.0), finite.map(\.1), relative: 2e-6 * 400, absolute: 2e-6 * 400,
          "tiled + ReLU \(label(s)) bias \(useBias)")
      }
    }
  }

  func testAppliesOnlyToWholeBlocksOfSixtyFourChannelsUndilated() {
    let base = Self.shapes[1]
    XCTAssertTrue(conv2dTiledApplies(base))
    var narrow = base
    narrow.outChannels = 96
    XCTAssertFalse(conv2dTiledApplies(narrow))
    var grouped = base
    grouped.groups = 4  // 32 output channels per group
    XCTAssertFalse(conv2dTiledApplies(grouped))
    var dilated = base
    dilated.dilationHeight = 2
    XCTAssertFalse(conv2dTiledApplies(dilated))
  }
}

/// Which weights the tiles prefetch: always a real slice of the reordered weights, and the one the
/// task (or the thread's next task) reads next.
final class ConvTilePrefetchTests: XCTestCase {
  func testPrefetchNamesTheNextSliceOrTheNextTasksBlock() {
    let saved = Parallel.threadCount
    defer { Parallel.threadCount = saved }
    // (kdim, blocks per group, groups, ranges): AlexNet's conv3 and conv1 at batch 1, a grouped
    // layer, and depths that end on and just past a slice boundary.
    let cases = [(1728, 6, 1, 2), (363, 1, 1, 16), (1200, 2, 2, 3), (1024, 3, 1, 1), (513, 4, 1, 2)]
    for threads in [1, 2, 3] {
      Parallel.threadCount = threads
      for (kdim, blocksPerGroup, groups, ranges) in cases {
        let tasks = blocksPerGroup * ranges
        let total = groups * blocksPerGroup * kdim * ConvTile.channels
        for group in 0..<groups {
          for task in 0..<tasks {
            let block = group * blocksPerGroup + task / ranges
            for slice in stride(from: 0, to: kdim, by: ConvTile.stepsPerSlice) {
              let steps = min(ConvTile.stepsPerSlice, kdim - slice)
              let ahead = ConvTile.prefetchAhead(
                slice: slice, steps: steps, kdim: kdim, task: task, tasks: tasks, ranges: ranges,
                blocksPerGroup: blocksPerGroup, group: group)
              let label = "kdim \(kdim) group \(group) task \(task) slice \(slice) threads \(threads)"
              XCTAssertLessThanOrEqual(ahead.offset + ahead.steps * ConvTile.channels, total, label)
              XCTAssertLessThanOrEqual(ahead.steps, ConvTile.stepsPerSlice, label)
              if slice + steps < kdim {
                XCTAssertEqual(ahead.offset, (block * kdim + slice + steps) * ConvTile.channels, label)
                XCTAssertEqual(ahead.steps, min(ConvTile.stepsPerSlice, kdim - slice - steps), label)
                continue
              }
              let later = task + threads
              let laterBlock = group * blocksPerGroup + later / ranges
              if later < tasks && laterBlock != block {
                XCTAssertEqual(ahead.offset, laterBlock * kdim * ConvTile.channels, label)
                XCTAssertEqual(ahead.steps, min(ConvTile.stepsPerSlice, kdim), label)
              } else {
                XCTAssertEqual(ahead.steps, 0, label)
              }
            }
          }
        }
      }
    }
  }
}
