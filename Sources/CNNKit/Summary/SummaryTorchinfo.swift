import Foundation

/// The table TylerYep/torchinfo's `summary(model, input_size=...)` prints, rebuilt from a trace.
///
/// Every call gets a row (containers and the model too), nested by call depth and cut at `depth`.
/// Rules followed (torchinfo's `layer_info.py`, `model_statistics.py`, `formatting.py`):
/// - a row's parameter count is recursive; rows above `depth` that are not leaves show only what
///   their children do not account for (usually `--`), rows at `depth` show their whole subtree;
///   a module called again shows `(recursive)`; a fully frozen count prints as `(1,792)`;
/// - mult-adds of leaves: conv = (weight + bias elements) · N · H_out · W_out, any other layer =
///   N · its parameter count (so BatchNorm adds 2·C per sample); repeated calls count again;
/// - forward/backward = 2 · 4 B · output elements of the leaf calls that own parameters;
/// - sizes in MB of 10⁶ bytes; mult-adds in M, G or T (never below M).
public struct TorchinfoReport {
  /// Optional columns after the layer name (torchinfo's `col_names`).
  public enum Column: Sendable {
    /// "Output Shape".
    case outputSize
    /// "Param #".
    case numParams
    /// "Param %".
    case paramsPercent
  }

  /// One call of the trace.
  public struct Row {
    /// Type name (`Conv2d`).
    public let typeName: String
    /// Call depth: 0 for the model.
    public let depth: Int
    /// 1-based running count of calls at this depth (the `1-5` in `Sequential: 1-5`).
    public let depthIndex: Int
    /// Output shape, batch included.
    public let outputShape: [Int]
    /// Recursive parameter count of the module.
    public let parameters: Int
    /// How many of them require grad.
    public let trainableParameters: Int
    /// Whether the module has no children.
    public let isLeaf: Bool
    /// Whether an earlier call already used this module.
    public let isRecursive: Bool
    /// torchinfo's mult-adds of this call (leaves only).
    public let multAdds: Int
    /// Parameters not accounted for by the rows nested under this one.
    public fileprivate(set) var leftoverParameters = 0
    /// Trainable parameters not accounted for by the rows nested under this one.
    public fileprivate(set) var leftoverTrainableParameters = 0
  }

  /// All calls in the order they started.
  public let rows: [Row]
  /// Deepest level shown.
  public let depth: Int
  /// Columns after the layer name.
  public let columns: [Column]
  /// Input shape, batch included.
  public let inputShape: [Int]
  /// Total parameters (each module once).
  public let totalParameters: Int
  /// Trainable parameters.
  public let trainableParameters: Int
  /// Total mult-adds.
  public let totalMultAdds: Int
  /// Bytes of the outputs kept for backward, ×2 for their gradients.
  public let forwardBackwardBytes: Int

  /// Builds the table for `trace`, showing calls down to `depth` (torchinfo's default is 3).
  public init(trace: ModelTrace, depth: Int = 3, columns: [Column] = [.outputSize, .numParams]) {
    self.depth = depth
    self.columns = columns
    inputShape = trace.inputShape
    var seen = Set<ObjectIdentifier>()
    var perDepth: [Int: Int] = [:]
    var rows: [Row] = []
    for call in trace.calls {
      let module = call.module
      let counts = module.recursiveParameterCounts
      perDepth[call.depth, default: 0] += 1
      let recursive = !seen.insert(ObjectIdentifier(module)).inserted
      rows.append(
        Row(
          typeName: module.typeName, depth: call.depth, depthIndex: perDepth[call.depth]!,
          outputShape: call.outputShape, parameters: counts.total, trainableParameters: counts.trainable,
          isLeaf: module.isLeafModule, isRecursive: recursive,
          multAdds: module.isLeafModule ? Self.multAdds(module, output: call.outputShape) : 0))
    }
    // Leftovers, deepest first so nested rows are final when their ancestors need them.
    for i in rows.indices.reversed() {
      var params = rows[i].parameters
      var trainable = rows[i].trainableParameters
      var j = i + 1
      while j < rows.count, rows[j].depth > rows[i].depth {
        if !rows[j].isRecursive {
          params -= rows[j].isLeaf ? rows[j].parameters : rows[j].leftoverParameters
          trainable -= rows[j].isLeaf ? rows[j].trainableParameters : rows[j].leftoverTrainableParameters
        }
        j += 1
      }
      rows[i].leftoverParameters = params
      rows[i].leftoverTrainableParameters = trainable
    }
    self.rows = rows
    var total = 0
    var trainable = 0
    var macs = 0
    var outputBytes = 0
    for row in rows {
      if row.isLeaf {
        macs += row.multAdds
        if row.parameters > 0 { outputBytes += row.outputShape.reduce(1, *) * 4 * 2 }
        if row.isRecursive { continue }
        total += max(row.parameters, 0)
        trainable += max(row.trainableParameters, 0)
      } else if !row.isRecursive {
        total += max(row.leftoverParameters, 0)
        trainable += max(row.leftoverTrainableParameters, 0)
      }
    }
    totalParameters = total
    trainableParameters = trainable
    totalMultAdds = macs
    forwardBackwardBytes = outputBytes
  }

  /// torchinfo's per-layer mult-adds: see the type's documentation.
  static func multAdds(_ module: Module, output: [Int]) -> Int {
    guard let batch = output.first else { return 0 }
    var macs = 0
    for (name, tensor) in module.ownParameters {
      if name == "weight" || name == "bias" {
        macs +=
          module.typeName.contains("Conv")
          ? tensor.count * batch * output.dropFirst(2).reduce(1, *) : batch * tensor.count
      } else {
        macs += output.prefix(2).reduce(1, *) * tensor.count
      }
    }
    return macs
  }

  /// Non-trainable parameters.
  public var nonTrainableParameters: Int { totalParameters - trainableParameters }
  /// Input bytes (4 per element).
  public var inputBytes: Int { inputShape.reduce(1, *) * 4 }
  /// Parameter bytes (4 per parameter).
  public var parameterBytes: Int { totalParameters * 4 }

  /// `Total mult-adds (M): 714.68`: the unit is T, G or M, whichever keeps the value ≥ 1 (M at least).
  public var multAddsLine: String {
    let value = Double(totalMultAdds)
    let (unit, scaled) =
      value >= 1e12 ? ("T", value / 1e12) : value >= 1e9 ? ("G", value / 1e9) : ("M", value / 1e6)
    return "Total mult-adds (\(unit)): \(SummaryText.fixed2(scaled))"
  }

  private func megabytes(_ bytes: Int) -> String { SummaryText.fixed2(Double(bytes) / 1e6) }

  private func label(_ row: Row) -> String {
    row.depth == 0 ? row.typeName : "\(row.typeName): \(row.depth)-\(row.depthIndex)"
  }

  private func paramsText(_ row: Row, reachedMaxDepth: Bool) -> String {
    if row.parameters == 0 { return "--" }
    if row.isRecursive { return "(recursive)" }
    if reachedMaxDepth || row.isLeaf {
      let text = SummaryText.grouped(row.parameters)
      return row.trainableParameters > 0 ? text : "(\(text))"
    }
    return row.leftoverParameters > 0 ? SummaryText.grouped(row.leftoverParameters) : "--"
  }

  private func percentText(_ row: Row, reachedMaxDepth: Bool) -> String {
    let zero = "     --"
    if totalParameters == 0 { return zero }
    if row.isRecursive { return "(recursive)" }
    let params = reachedMaxDepth || row.isLeaf ? row.parameters : row.leftoverParameters
    if params == 0 { return zero }
    return SummaryText.right(String(format: "%.2f%%", Double(params) / Double(totalParameters) * 100), 7)
  }

  /// The printed table, as torchinfo prints it (ending in a newline).
  public var text: String {
    // Name column: 40 wide, or wider (a multiple of 5) when a nested name needs it.
    var nameWidth = 40
    let longest = rows.map { SummaryText.width(label($0)) + $0.depth * 5 + 1 }.max() ?? 0
    if longest >= nameWidth { nameWidth = (longest + 4) / 5 * 5 }
    let divider = String(repeating: "=", count: columns.count * 25 + nameWidth)
    func line(_ name: String, _ values: [String]) -> String {
      var s = SummaryText.left(name, nameWidth) + " "
      for v in values { s += SummaryText.left(v, 25) + " " }
      while s.hasSuffix(" ") { s.removeLast() }
      return s
    }
    let titles: [Column: String] = [
      .outputSize: "Output Shape", .numParams: "Param #", .paramsPercent: "Param %",
    ]
    var lines = [divider, line("Layer (type:depth-idx)", columns.map { titles[$0]! }), divider]

    // torchinfo's `get_start_str` draws no real tree: every depth-1 row gets `├─` (the last one
    // too), and every deeper row gets `│    ` per level above it and `└─`, last child or not.
    for row in rows where row.depth <= depth {
      var prefix = ""
      if row.depth == 1 {
        prefix = "├─"
      } else if row.depth > 1 {
        prefix = String(repeating: "│    ", count: row.depth - 1) + "└─"
      }
      let reached = row.depth == depth
      let values: [String] = columns.map {
        switch $0 {
        case .outputSize: return row.outputShape.isEmpty ? "--" : SummaryText.list(row.outputShape)
        case .numParams: return paramsText(row, reachedMaxDepth: reached)
        case .paramsPercent: return percentText(row, reachedMaxDepth: reached)
        }
      }
      lines.append(line(prefix + label(row), values))
    }
    lines += [
      divider,
      "Total params: \(SummaryText.grouped(totalParameters))",
      "Trainable params: \(SummaryText.grouped(trainableParameters))",
      "Non-trainable params: \(SummaryText.grouped(nonTrainableParameters))",
      multAddsLine,
      divider,
      "Input size (MB): \(megabytes(inputBytes))",
      "Forward/backward pass size (MB): \(megabytes(forwardBackwardBytes))",
      "Params size (MB): \(megabytes(parameterBytes))",
      "Estimated Total Size (MB): \(megabytes(inputBytes + forwardBackwardBytes + parameterBytes))",
      divider,
    ]
    return lines.joined(separator: "\n") + "\n"
  }
}
