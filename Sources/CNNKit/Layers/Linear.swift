/// Fully connected layer, PyTorch's `nn.Linear`: `weight` [out, in], `bias` [out], PyTorch's default
/// initialisation U(−1/√in, 1/√in).
public final class Linear: Module {
  public let inFeatures: Int
  public let outFeatures: Int
  /// [out, in]
  public let weight: Tensor
  /// [out]
  public let bias: Tensor?

  /// Creates a fully connected layer.
  public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) {
    self.inFeatures = inFeatures
    self.outFeatures = outFeatures
    weight = Tensor(zeros: [outFeatures, inFeatures])
    self.bias = bias ? Tensor(zeros: [outFeatures]) : nil
    super.init()
    registerParameter("weight", weight)
    if let b = self.bias { registerParameter("bias", b) }
    let bound = 1 / Float(inFeatures).squareRoot()
    GlobalRandom.with { rng in
      weight.fillUniform(-bound, bound, using: &rng)
      self.bias?.fillUniform(-bound, bound, using: &rng)
    }
  }

  public override func forward(_ input: Tensor) throws -> Tensor {
    try Functional.linear(input, weight: weight, bias: bias)
  }

  public override func multiplyAccumulates(input: [Int], output: [Int]) -> Int {
    output.reduce(1, *) * inFeatures
  }

  public override var extraDescription: String {
    "in_features=\(inFeatures), out_features=\(outFeatures), bias=\(bias == nil ? "False" : "True")"
  }
}

/// Flattens all dimensions from `startDim` on, PyTorch's `nn.Flatten` (default `start_dim=1`).
public final class Flatten: Module {
  public let startDim: Int

  /// Creates a flatten layer.
  public init(startDim: Int = 1) {
    self.startDim = startDim
    super.init()
  }

  public override func forward(_ input: Tensor) throws -> Tensor {
    try Functional.flatten(input, startDim: startDim)
  }

  public override var extraDescription: String { "start_dim=\(startDim), end_dim=-1" }
}
