import Foundation

/// The table sksq96/pytorch-summary (`torchsummary.summary`) prints, rebuilt from a trace.
///
/// torchsummary registers a forward hook on every module except `Sequential`, `ModuleList` and the
/// model itself, so rows come in the order calls *finish*: a composite block (a ResNet BasicBlock)
/// follows its children with 0 parameters, and a module called twice gets two rows. Only the
/// attributes `weight` and `bias` are counted (BatchNorm's running statistics are not), and a row
/// counts as trainable when its `weight` requires grad. Sizes are MiB (÷ 1024²) labelled "MB".
public struct TorchsummaryReport {
  /// One hooked call.
  public struct Row {
    /// `Conv2d-1`: type name and 1-based hook order.
    public let name: String
    /// Output shape with the batch dimension replaced by `batch_size`.
    public let outputShape: [Int]
    /// `weight` + `bias` elements.
    public let parameters: Int
    /// Whether `weight` requires grad; nil when the module has no `weight`.
    public let trainable: Bool?
  }

  /// Rows in hook order.
  public let rows: [Row]
  /// torchsummary's `batch_size` argument (−1 by default).
  public let batchSize: Int
  /// The per-sample input shape (C, H, W).
  public let inputShape: [Int]
  /// Sum of the rows' parameters (a module called twice counts twice, as in torchsummary).
  public let totalParameters: Int
  /// Parameters of rows whose `weight` requires grad.
  public let trainableParameters: Int
  /// Σ output elements of all rows, with the batch dimension set to `batch_size`.
  public let totalOutputElements: Int

  /// Builds the table for `trace`; `batchSize` is torchsummary's `batch_size` (−1 → one sample).
  public init(trace: ModelTrace, batchSize: Int = -1) {
    self.batchSize = batchSize
    inputShape = Array(trace.inputShape.dropFirst())
    var rows: [Row] = []
    for call in trace.callsInFinishOrder where call.module !== trace.model && !call.module.isContainer {
      let weight = call.module.ownParameters.first { $0.name == "weight" }?.tensor
      var shape = call.outputShape
      if !shape.isEmpty { shape[0] = batchSize }
      rows.append(
        Row(
          name: "\(call.module.typeName)-\(rows.count + 1)", outputShape: shape,
          parameters: call.module.weightAndBiasCount, trainable: weight?.requiresGrad))
    }
    self.rows = rows
    totalParameters = rows.reduce(0) { $0 + $1.parameters }
    trainableParameters = rows.reduce(0) { $0 + ($1.trainable == true ? $1.parameters : 0) }
    totalOutputElements = rows.reduce(0) { $0 + $1.outputShape.reduce(1, *) }
  }

  /// Non-trainable parameters: total minus trainable.
  public var nonTrainableParameters: Int { totalParameters - trainableParameters }

  private static let mebibyte = 1024.0 * 1024.0

  /// `abs(prod(input_size) · batch_size · 4 / 1024²)`.
  public var inputMiB: Double {
    abs(Double(inputShape.reduce(1, *) * batchSize) * 4 / Self.mebibyte)
  }

  /// `abs(2 · Σ outputs · 4 / 1024²)`: every hooked output, activations and dropout included.
  public var forwardBackwardMiB: Double { abs(2 * Double(totalOutputElements) * 4 / Self.mebibyte) }

  /// `total_params · 4 / 1024²`.
  public var parametersMiB: Double { abs(Double(totalParameters) * 4 / Self.mebibyte) }

  /// Params + forward/backward + input, summed before rounding.
  public var totalMiB: Double { parametersMiB + forwardBackwardMiB + inputMiB }

  /// The printed table, byte for byte as torchsummary prints it (ending in a newline).
  public var text: String {
    let dashes = String(repeating: "-", count: 64)
    let equals = String(repeating: "=", count: 64)
    func row(_ a: String, _ b: String, _ c: String) -> String {
      SummaryText.right(a, 20) + "  " + SummaryText.right(b, 25) + " " + SummaryText.right(c, 15)
    }
    var lines = [dashes, row("Layer (type)", "Output Shape", "Param #"), equals]
    for r in rows {
      lines.append(row(r.name, SummaryText.list(r.outputShape), SummaryText.grouped(r.parameters)))
    }
    lines += [
      equals,
      "Total params: \(SummaryText.grouped(totalParameters))",
      "Trainable params: \(SummaryText.grouped(trainableParameters))",
      "Non-trainable params: \(SummaryText.grouped(nonTrainableParameters))",
      dashes,
      "Input size (MB): \(SummaryText.fixed2(inputMiB))",
      "Forward/backward pass size (MB): \(SummaryText.fixed2(forwardBackwardMiB))",
      "Params size (MB): \(SummaryText.fixed2(parametersMiB))",
      "Estimated Total Size (MB): \(SummaryText.fixed2(totalMiB))",
      dashes,
    ]
    return lines.joined(separator: "\n") + "\n"
  }
}
