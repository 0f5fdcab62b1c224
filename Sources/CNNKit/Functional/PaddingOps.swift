extension Functional {
  /// `input` [N, C, …] with `before` zero channels in front of its own and `after` behind them:
  /// [N, before + C + after, …]. PyTorch's `F.pad(x, (0, 0, 0, 0, before, after))` on NCHW input.
  ///
  /// The parameter-free ("option A") shortcut of the CIFAR ResNets widens the identity this way, so
  /// the gradient flows back to the input channels only; the padding receives none.
  public static func padChannels(_ input: Tensor, before: Int, after: Int) throws -> Tensor {
    guard input.rank >= 2 else {
      throw TensorError.shapeMismatch(
        operation: "pad_channels", message: "expected [N, C, …] input, got \(shapeString(input.shape))")
    }
    guard before >= 0, after >= 0 else {
      throw TensorError.shapeMismatch(
        operation: "pad_channels", message: "channel padding must not be negative, got (\(before), \(after))")
    }
    // Nothing to add: the input itself, as PyTorch's pad returns an equal tensor.
    if before == 0 && after == 0 { return input }
    let backend = try Backends.backend("pad_channels", input)
    let channels = input.shape[1]
    return try OperationTracer.record(.padChannels(before: before, after: after), inputs: [input]) {
      try backend.padChannels(input, before: before, after: after).recording("pad_channels", [input]) {
        g in
        // The added channels are constants: the input's gradient is the gradient's middle channels.
        Backends.inBackward { [try backend.narrowChannels(g, start: before, count: channels)] }
      }
    }
  }
}
