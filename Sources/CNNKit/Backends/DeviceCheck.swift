import CNNKitKernels
import Foundation

/// One line of `cnnkit doctor`'s table: an op run on a device against the CPU (or a fast CPU kernel
/// against its naive reference), with the worst relative error over its outputs and gradients.
public struct DeviceCheckResult: Sendable {
  /// The op, e.g. `conv2d(stride 2, groups 2)`.
  public var operation: String
  /// The input shape(s), as PyTorch prints them.
  public var shape: String
  /// max |device − cpu| / max |cpu| over the output and every gradient.
  public var maxRelativeError: Float
  /// Whether the error is within the tolerance (and finite).
  public var passed: Bool
}

/// `cnnkit doctor`'s checks: every op of the zoo forward and backward on odd shapes.
public enum DeviceCheck {
  /// One case: named inputs (shapes, whether each gets a gradient) and the op applied to them.
  private struct Case {
    var name: String
    var shapes: [[Int]]
    var differentiable: [Bool]
    var positive: [Int] = []
    var body: ([Tensor]) throws -> Tensor
  }

  private static var cases: [Case] {
    let f = Functional.self
    return [
      Case(
        name: "conv2d(stride 2, padding 1)", shapes: [[3, 5, 13, 11], [7, 5, 3, 3], [7]],
        differentiable: [true, true, true]
      ) {
        try f.conv2d($0[0], weight: $0[1], bias: $0[2], stride: (2, 2), padding: (1, 1))
      },
      Case(
        name: "conv2d(groups 2, dilation 2)", shapes: [[2, 6, 15, 14], [8, 3, 3, 3], [8]],
        differentiable: [true, true, true]
      ) {
        try f.conv2d($0[0], weight: $0[1], bias: $0[2], padding: (2, 1), dilation: (2, 2), groups: 2)
      },
      Case(
        name: "conv2d+relu(11×11, stride 4)", shapes: [[2, 3, 67, 67], [64, 3, 11, 11], [64]],
        differentiable: [true, true, true]
      ) {
        try f.conv2dReLU($0[0], weight: $0[1], bias: $0[2], stride: (4, 4), padding: (2, 2))
      },
      Case(name: "linear", shapes: [[5, 37], [11, 37], [11]], differentiable: [true, true, true]) {
        try f.linear($0[0], weight: $0[1], bias: $0[2])
      },
      Case(name: "relu", shapes: [[3, 7, 5]], differentiable: [true]) { f.relu($0[0]) },
      Case(name: "max_pool2d(3, 2, ceil_mode)", shapes: [[2, 3, 14, 13]], differentiable: [true]) {
        try f.maxPool2d($0[0], kernel: (3, 3), stride: (2, 2), ceilMode: true)
      },
      Case(name: "max_pool2d(3, 2, padding 1)", shapes: [[2, 3, 11, 12]], differentiable: [true]) {
        try f.maxPool2d($0[0], kernel: (3, 3), stride: (2, 2), padding: (1, 1))
      },
      Case(name: "avg_pool2d(3, 2, padding 1)", shapes: [[2, 3, 11, 12]], differentiable: [true]) {
        try f.avgPool2d($0[0], kernel: (3, 3), stride: (2, 2), padding: (1, 1), ceilMode: true)
      },
      Case(name: "avg_pool2d(count_include_pad off)", shapes: [[2, 3, 11, 12]], differentiable: [true]) {
        try f.avgPool2d($0[0], kernel: (3, 3), stride: (2, 2), padding: (1, 1), countIncludePad: false)
      },
      // The CIFAR ResNets' option-A shortcut: x[:, :, ::2, ::2], then zero channels on both sides.
      Case(name: "avg_pool2d(1, 2) + pad_channels", shapes: [[3, 4, 9, 8]], differentiable: [true]) {
        try f.padChannels(f.avgPool2d($0[0], kernel: (1, 1), stride: (2, 2)), before: 2, after: 3)
      },
      Case(name: "adaptive_avg_pool2d(6×6)", shapes: [[2, 3, 13, 11]], differentiable: [true]) {
        try f.adaptiveAvgPool2d($0[0], outputSize: (6, 6))
      },
      Case(
        name: "batch_norm(train)", shapes: [[4, 5, 7, 6], [5], [5], [5], [5]],
        differentiable: [true, true, true, false, false], positive: [4]
      ) {
        try f.batchNorm(
          $0[0], runningMean: $0[3], runningVar: $0[4], weight: $0[1], bias: $0[2], training: true)
      },
      Case(
        name: "batch_norm(eval)", shapes: [[4, 5, 7, 6], [5], [5], [5], [5]],
        differentiable: [true, true, true, false, false], positive: [4]
      ) {
        try f.batchNorm(
          $0[0], runningMean: $0[3], runningVar: $0[4], weight: $0[1], bias: $0[2], training: false)
      },
      Case(name: "local_response_norm(pytorch)", shapes: [[2, 9, 5, 7]], differentiable: [true]) {
        try f.localResponseNorm($0[0], size: 5, alpha: 1e-4 * 50, beta: 0.75, k: 2)
      },
      Case(name: "local_response_norm(paper)", shapes: [[2, 9, 5, 7]], differentiable: [true]) {
        try f.localResponseNorm($0[0], size: 4, alpha: 1e-3, beta: 0.75, k: 2, convention: .paper)
      },
      Case(name: "softmax", shapes: [[6, 10]], differentiable: [true]) { f.softmax($0[0]) },
      Case(name: "log_softmax", shapes: [[6, 1000]], differentiable: [true]) { f.logSoftmax($0[0]) },
      Case(name: "cross_entropy(label_smoothing 0.1)", shapes: [[6, 10]], differentiable: [true]) {
        try f.crossEntropy($0[0], targets: [3, 0, 9, 9, 1, 4], labelSmoothing: 0.1)
      },
      Case(name: "nll_loss", shapes: [[6, 10]], differentiable: [true]) {
        try f.nllLoss(f.logSoftmax($0[0]), targets: [3, 0, 9, 9, 1, 4])
      },
      Case(name: "add", shapes: [[2, 3, 5, 5], [2, 3, 5, 5]], differentiable: [true, true]) {
        try f.add($0[0], $0[1])
      },
      Case(name: "flatten+scale+sum", shapes: [[3, 4, 5]], differentiable: [true]) {
        f.sum(f.scale(try f.flatten($0[0]), by: 0.5))
      },
    ]
  }

  /// Runs every op on `device` and on the CPU from the same random inputs and upstream gradients and
  /// compares the results. On the CPU itself, compares the fast kernels with their naive references.
  public static func run(device: Device, tolerance: Float = 1e-4) throws -> [DeviceCheckResult] {
    guard device.isAccelerator else { return referenceChecks(tolerance: tolerance) }
    var results: [DeviceCheckResult] = []
    for (index, c) in cases.enumerated() {
      var rng = RandomGenerator(seed: UInt64(100 + index))
      let hostInputs = c.shapes.enumerated().map { i, shape in
        let t = Tensor(
          shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in rng.nextUniform(-1, 1) },
          requiresGrad: c.differentiable[i])
        if c.positive.contains(i) {
          t.assign(from: Tensor(shape: shape, scalars: t.scalars.map { abs($0) + 0.5 }))
        }
        return t
      }
      let deviceInputs = try hostInputs.map { t in
        let moved = try t.to(device)
        moved.requiresGrad = t.requiresGrad
        return moved
      }
      let y = try c.body(hostInputs)
      let upstream = Tensor(shape: y.shape, scalars: (0..<y.count).map { _ in rng.nextUniform(-1, 1) })
      y.backward(upstream)
      let yd = try c.body(deviceInputs)
      yd.backward(try upstream.to(device))
      var worst = relativeError(try yd.to(.cpu).scalars, y.scalars)
      for (h, d) in zip(hostInputs, deviceInputs) {
        if let hg = h.grad {
          guard let dg = d.grad else {
            worst = .infinity
            continue
          }
          worst = max(worst, relativeError(try dg.to(.cpu).scalars, hg.scalars))
        }
      }
      // Buffers the op updates in place (batch norm's running statistics) must agree too.
      for (h, d) in zip(hostInputs, deviceInputs) where !h.requiresGrad {
        worst = max(worst, relativeError(try d.to(.cpu).scalars, h.scalars))
      }
      results.append(result(c.name, c.shapes, worst, tolerance))
    }
    results += try optimizerChecks(device: device, tolerance: tolerance)
    return results
  }

  /// Two SGD (momentum, Nesterov, weight decay) and two Adam/AdamW steps on the same gradients.
  private static func optimizerChecks(device: Device, tolerance: Float) throws -> [DeviceCheckResult] {
    var results: [DeviceCheckResult] = []
    let makers: [(String, ([Tensor]) -> Optimizer)] = [
      (
        "sgd(momentum 0.9, nesterov, wd 5e-4)",
        {
          SGD(parameters: $0, learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4, nesterov: true)
        }
      ),
      ("adam(wd 1e-2)", { Adam(parameters: $0, learningRate: 0.01, weightDecay: 1e-2) }),
      ("adamw", { AdamW(parameters: $0, learningRate: 0.01) }),
    ]
    for (name, make) in makers {
      var rng = RandomGenerator(seed: 7)
      let shape = [13, 7]
      let values = (0..<91).map { _ in rng.nextUniform(-1, 1) }
      let grads = (0..<2).map { _ in
        Tensor(shape: shape, scalars: (0..<91).map { _ in rng.nextUniform(-1, 1) })
      }
      let host = Tensor(shape: shape, scalars: values, requiresGrad: true)
      let onDevice = try host.to(device)
      onDevice.requiresGrad = true
      let (hostOptimizer, deviceOptimizer) = (make([host]), make([onDevice]))
      for g in grads {
        host.grad = g
        onDevice.grad = try g.to(device)
        hostOptimizer.step()
        deviceOptimizer.step()
      }
      results.append(
        result(name, [shape], relativeError(try onDevice.to(.cpu).scalars, host.scalars), tolerance))
    }
    return results
  }

  /// The CPU's fast convolution and GEMM against the naive reference kernels.
  private static func referenceChecks(tolerance: Float) -> [DeviceCheckResult] {
    var rng = RandomGenerator(seed: 3)
    var results: [DeviceCheckResult] = []
    for (shape, name) in [
      (
        Conv2dShape(
          batch: 2, inChannels: 3, inHeight: 67, inWidth: 67, outChannels: 64, kernelHeight: 11,
          kernelWidth: 11,
          strideHeight: 4, strideWidth: 4, padHeight: 2, padWidth: 2, dilationHeight: 1, dilationWidth: 1,
          groups: 1), "conv2d(11×11, stride 4)"
      ),
      (
        Conv2dShape(
          batch: 2, inChannels: 6, inHeight: 15, inWidth: 14, outChannels: 8, kernelHeight: 3, kernelWidth: 3,
          strideHeight: 1, strideWidth: 1, padHeight: 1, padWidth: 1, dilationHeight: 1, dilationWidth: 1,
          groups: 2), "conv2d(3×3, groups 2)"
      ),
    ] {
      let x = (0..<shape.inputCount).map { _ in rng.nextUniform(-1, 1) }
      let w = (0..<shape.weightCount).map { _ in rng.nextUniform(-1, 1) }
      var fast = [Float](repeating: 0, count: shape.outputCount)
      var naive = fast
      conv2dForward(shape, input: x, weight: w, bias: nil, output: &fast)
      conv2dForwardReference(shape, input: x, weight: w, bias: nil, output: &naive)
      let shapes = [[shape.batch, shape.inChannels, shape.inHeight, shape.inWidth]]
      results.append(result(name + " vs reference", shapes, relativeError(fast, naive), tolerance))
    }
    let (m, n, k) = (37, 53, 71)
    let a = (0..<m * k).map { _ in rng.nextUniform(-1, 1) }
    let b = (0..<k * n).map { _ in rng.nextUniform(-1, 1) }
    var fast = [Float](repeating: 0, count: m * n)
    var naive = fast
    gemm(
      transposeA: false, transposeB: false, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: n, beta: 0,
      c: &fast, ldc: n)
    gemmReference(
      transposeA: false, transposeB: false, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: n, beta: 0,
      c: &naive, ldc: n)
    results.append(result("gemm vs reference", [[m, k], [k, n]], relativeError(fast, naive), tolerance))
    return results
  }

  private static func result(_ name: String, _ shapes: [[Int]], _ error: Float, _ tolerance: Float)
    -> DeviceCheckResult
  {
    DeviceCheckResult(
      operation: name, shape: shapes.map(shapeString).joined(separator: " "), maxRelativeError: error,
      passed: error.isFinite && error <= tolerance)
  }

  /// max |a − b| / max |b|; NaN anywhere gives NaN, so a broken kernel never passes.
  public static func relativeError(_ a: [Float], _ b: [Float]) -> Float {
    guard a.count == b.count else { return .infinity }
    var (diff, scale): (Float, Float) = (0, 0)
    for (x, y) in zip(a, b) {
      if x.isNaN || y.isNaN { return .nan }
      diff = max(diff, abs(x - y))
      scale = max(scale, abs(y))
    }
    return diff / max(scale, .leastNormalMagnitude)
  }
}
