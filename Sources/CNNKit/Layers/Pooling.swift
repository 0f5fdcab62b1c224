/// Max pooling, PyTorch's `nn.MaxPool2d` (stride defaults to the kernel size).
public final class MaxPool2d: Module {
  public let kernelSize: Int
  public let stride: Int
  public let padding: Int
  public let ceilMode: Bool

  /// Creates a max-pool layer.
  public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false) {
    self.kernelSize = kernelSize
    self.stride = stride ?? kernelSize
    self.padding = padding
    self.ceilMode = ceilMode
    super.init()
  }

  public override func forward(_ input: Tensor) throws -> Tensor {
    try Functional.maxPool2d(
      input, kernel: (kernelSize, kernelSize), stride: (stride, stride), padding: (padding, padding),
      ceilMode: ceilMode)
  }

  public override var extraDescription: String {
    "kernel_size=\(kernelSize), stride=\(stride), padding=\(padding), dilation=1, ceil_mode=\(ceilMode ? "True" : "False")"
  }
}

/// Average pooling, PyTorch's `nn.AvgPool2d`.
public final class AvgPool2d: Module {
  public let kernelSize: Int
  public let stride: Int
  public let padding: Int
  public let ceilMode: Bool
  public let countIncludePad: Bool

  /// Creates an average-pool layer.
  public init(
    kernelSize: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false,
    countIncludePad: Bool = true
  ) {
    self.kernelSize = kernelSize
    self.stride = stride ?? kernelSize
    self.padding = padding
    self.ceilMode = ceilMode
    self.countIncludePad = countIncludePad
    super.init()
  }

  public override func forward(_ input: Tensor) throws -> Tensor {
    try Functional.avgPool2d(
      input, kernel: (kernelSize, kernelSize), stride: (stride, stride), padding: (padding, padding),
      ceilMode: ceilMode, countIncludePad: countIncludePad)
  }

  public override var extraDescription: String {
    "kernel_size=\(kernelSize), stride=\(stride), padding=\(padding)"
  }
}

/// Adaptive average pooling to a fixed output size, PyTorch's `nn.AdaptiveAvgPool2d`.
public final class AdaptiveAvgPool2d: Module {
  public let outputSize: (Int, Int)

  /// Creates an adaptive average pool with output `outputSize`×`outputSize`.
  public convenience init(_ outputSize: Int) { self.init((outputSize, outputSize)) }

  /// Creates an adaptive average pool with output height × width.
  public init(_ outputSize: (Int, Int)) {
    self.outputSize = outputSize
    super.init()
  }

  public override func forward(_ input: Tensor) throws -> Tensor {
    try Functional.adaptiveAvgPool2d(input, outputSize: outputSize)
  }

  public override var extraDescription: String { "output_size=\(pair(outputSize))" }
}
