/// Runs its children in order; children are named "0", "1", ... as in PyTorch's `nn.Sequential`.
public final class Sequential: Module {
  /// Creates a sequence of layers.
  public init(_ layers: [Module]) {
    super.init()
    for (i, layer) in layers.enumerated() { register(String(i), layer) }
  }

  /// Creates a sequence from a variadic list.
  public convenience init(_ layers: Module...) { self.init(layers) }

  /// The layers in order.
  public var layers: [Module] { namedChildren.map(\.module) }

  /// The i-th layer.
  public subscript(index: Int) -> Module { namedChildren[index].module }

  public override var isContainer: Bool { true }

  public override func forward(_ input: Tensor) throws -> Tensor {
    try Self.run(layers, on: input)
  }

  /// Runs `layers` in order on `input`. Layers for which `hidden` is true are applied as plain
  /// functions, with no call hooks, as `F.relu(x)` has none in PyTorch (so no summary row).
  static func run(_ layers: [Module], on input: Tensor, hidden: (Int) -> Bool = { _ in false }) throws
    -> Tensor
  {
    var x = input
    var i = 0
    while i < layers.count {
      // Conv2d then ReLU run as one op (one activation buffer) unless someone observes each layer.
      if i + 1 < layers.count, let conv = layers[i] as? Conv2d, layers[i + 1] is ReLU, !x.isMeta,
        ModuleCallObserver.current == nil
      {
        x = try conv.forwardWithReLU(x)
        i += 2
        continue
      }
      let layer = layers[i]
      let current = x
      x = try hidden(i) ? layer.namingErrors { try layer.forward(current) } : layer(current)
      i += 1
    }
    return x
  }
}
