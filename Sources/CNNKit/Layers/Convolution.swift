import Foundation

/// 2-D convolution layer, PyTorch's `nn.Conv2d`: parameters `weight` [out, in/groups, kh, kw] and
/// `bias` [out]. Default initialisation is PyTorch's: U(−1/√fan_in, 1/√fan_in) for both.
public final class Conv2d: Module {
  public let inChannels: Int
  public let outChannels: Int
  public let kernelSize: (Int, Int)
  public let stride: (Int, Int)
  public let padding: (Int, Int)
  public let dilation: (Int, Int)
  public let groups: Int
  /// [out, in/groups, kh, kw]
  public let weight: Tensor
  /// [out], absent when created with `bias: false`.
  public let bias: Tensor?

  /// Creates a convolution with square kernel, stride, padding and dilation.
  public convenience init(
    _ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
    dilation: Int = 1, groups: Int = 1, bias: Bool = true
  ) {
    self.init(
      inChannels, outChannels, kernelSize: (kernelSize, kernelSize), stride: (stride, stride),
      padding: (padding, padding), dilation: (dilation, dilation), groups: groups, bias: bias)
  }

  /// Creates a convolution with (height, width) pairs.
  public init(
    _ inChannels: Int, _ outChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
    padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1, bias: Bool = true
  ) {
    precondition(
      groups > 0 && inChannels % groups == 0 && outChannels % groups == 0,
      "Conv2d: channels \(inChannels)→\(outChannels) must divide into \(groups) groups")
    self.inChannels = inChannels
    self.outChannels = outChannels
    self.kernelSize = kernelSize
    self.stride = stride
    self.padding = padding
    self.dilation = dilation
    self.groups = groups
    weight = Tensor(zeros: [outChannels, inChannels / groups, kernelSize.0, kernelSize.1])
    self.bias = bias ? Tensor(zeros: [outChannels]) : nil
    super.init()
    registerParameter("weight", weight)
    if let b = self.bias { registerParameter("bias", b) }
    let bound = 1 / Float(fanIn).squareRoot()
    GlobalRandom.with { rng in
      weight.fillUniform(-bound, bound, using: &rng)
      self.bias?.fillUniform(-bound, bound, using: &rng)
    }
  }

  /// Inputs seen by one output: (in/groups)·kh·kw.
  public var fanIn: Int { inChannels / groups * kernelSize.0 * kernelSize.1 }
  /// Outputs fed by one input: (out/groups)·kh·kw.
  public var fanOut: Int { outChannels / groups * kernelSize.0 * kernelSize.1 }

  public override func forward(_ input: Tensor) throws -> Tensor {
    try Functional.conv2d(
      input, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
  }

  /// This layer followed by a ReLU, fused (`Functional.conv2dReLU`); errors name this layer.
  func forwardWithReLU(_ input: Tensor) throws -> Tensor {
    try namingErrors {
      try Functional.conv2dReLU(
        input, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation,
        groups: groups)
    }
  }

  public override func multiplyAccumulates(input: [Int], output: [Int]) -> Int {
    output.reduce(1, *) * fanIn
  }

  public override var extraDescription: String {
    var parts = ["\(inChannels), \(outChannels), kernel_size=\(pair(kernelSize))", "stride=\(pair(stride))"]
    if padding != (0, 0) { parts.append("padding=\(pair(padding))") }
    if dilation != (1, 1) { parts.append("dilation=\(pair(dilation))") }
    if groups != 1 { parts.append("groups=\(groups)") }
    if bias == nil { parts.append("bias=False") }
    return parts.joined(separator: ", ")
  }
}

/// Python's tuple formatting: `(3, 3)`.
func pair(_ p: (Int, Int)) -> String { "(\(p.0), \(p.1))" }
