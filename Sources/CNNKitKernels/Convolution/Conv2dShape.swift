/// Geometry of a 2-D convolution over NCHW input with OIHW weights (PyTorch layouts).
public struct Conv2dShape: Equatable, Sendable {
  public var batch: Int
  public var inChannels: Int
  public var inHeight: Int
  public var inWidth: Int
  public var outChannels: Int
  public var kernelHeight: Int
  public var kernelWidth: Int
  public var strideHeight: Int
  public var strideWidth: Int
  public var padHeight: Int
  public var padWidth: Int
  public var dilationHeight: Int
  public var dilationWidth: Int
  public var groups: Int

  /// Creates a geometry; square kernels, strides, paddings and dilations are the common case.
  public init(
    batch: Int, inChannels: Int, inHeight: Int, inWidth: Int, outChannels: Int,
    kernelHeight: Int, kernelWidth: Int, strideHeight: Int = 1, strideWidth: Int = 1,
    padHeight: Int = 0, padWidth: Int = 0, dilationHeight: Int = 1, dilationWidth: Int = 1,
    groups: Int = 1
  ) {
    self.batch = batch
    self.inChannels = inChannels
    self.inHeight = inHeight
    self.inWidth = inWidth
    self.outChannels = outChannels
    self.kernelHeight = kernelHeight
    self.kernelWidth = kernelWidth
    self.strideHeight = strideHeight
    self.strideWidth = strideWidth
    self.padHeight = padHeight
    self.padWidth = padWidth
    self.dilationHeight = dilationHeight
    self.dilationWidth = dilationWidth
    self.groups = groups
  }

  /// `(I + 2P - D·(F-1) - 1) / S + 1`, the PyTorch formula (reduces to `(I - F + 2P)/S + 1`).
  public var outHeight: Int {
    (inHeight + 2 * padHeight - dilationHeight * (kernelHeight - 1) - 1) / strideHeight + 1
  }
  /// Output width, as `outHeight`.
  public var outWidth: Int {
    (inWidth + 2 * padWidth - dilationWidth * (kernelWidth - 1) - 1) / strideWidth + 1
  }
  /// Input channels seen by one output channel.
  public var inChannelsPerGroup: Int { inChannels / groups }
  /// Output channels produced by one group.
  public var outChannelsPerGroup: Int { outChannels / groups }
  /// Elements of the input tensor.
  public var inputCount: Int { batch * inChannels * inHeight * inWidth }
  /// Elements of the output tensor.
  public var outputCount: Int { batch * outChannels * outHeight * outWidth }
  /// Elements of the weight tensor (OIHW with I = inChannels / groups).
  public var weightCount: Int { outChannels * inChannelsPerGroup * kernelHeight * kernelWidth }
}
