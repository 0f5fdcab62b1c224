import Foundation

/// One epoch's figures, as the training loop logs them.
public struct EpochRecord: Codable, Equatable, Sendable {
  public var epoch: Int
  public var trainLoss: Double
  public var trainAccuracy: Double
  public var validationLoss: Double?
  public var validationAccuracy: Double?
  public var validationTop5: Double?
  public var learningRate: Double
  public var seconds: Double
  public var imagesPerSecond: Double

  /// Creates a record.
  public init(
    epoch: Int, trainLoss: Double, trainAccuracy: Double, validationLoss: Double? = nil,
    validationAccuracy: Double? = nil, validationTop5: Double? = nil, learningRate: Double, seconds: Double,
    imagesPerSecond: Double
  ) {
    self.epoch = epoch
    self.trainLoss = trainLoss
    self.trainAccuracy = trainAccuracy
    self.validationLoss = validationLoss
    self.validationAccuracy = validationAccuracy
    self.validationTop5 = validationTop5
    self.learningRate = learningRate
    self.seconds = seconds
    self.imagesPerSecond = imagesPerSecond
  }
}

/// The per-epoch history of a run, rendered as a CSV metrics log and an SVG plot of the loss and
/// accuracy curves (what Keras' `History` and a matplotlib figure would give).
public struct TrainingHistory: Codable, Equatable, Sendable {
  public var records: [EpochRecord] = []

  /// An empty history.
  public init(records: [EpochRecord] = []) { self.records = records }

  /// `epoch,train_loss,train_accuracy,val_loss,val_accuracy,val_top5,lr,seconds,img_per_s`, one row per epoch.
  public var csv: String {
    func field(_ v: Double?) -> String { v.map { String(format: "%.6f", $0) } ?? "" }
    var lines = ["epoch,train_loss,train_accuracy,val_loss,val_accuracy,val_top5,lr,seconds,img_per_s"]
    for r in records {
      lines.append(
        [
          "\(r.epoch)", field(r.trainLoss), field(r.trainAccuracy), field(r.validationLoss),
          field(r.validationAccuracy),
          field(r.validationTop5), String(format: "%g", r.learningRate), String(format: "%.2f", r.seconds),
          String(format: "%.1f", r.imagesPerSecond),
        ].joined(separator: ","))
    }
    return lines.joined(separator: "\n") + "\n"
  }

  /// Two panels side by side — loss, and accuracy in % — train solid, validation dashed.
  public var svg: String {
    let panelWidth = 420.0
    let panelHeight = 300.0
    var body = ""
    let epochs = records.map { Double($0.epoch) }
    let loss: [(String, [Double?], String)] = [
      ("train loss", records.map { $0.trainLoss }, ""),
      ("val loss", records.map { $0.validationLoss }, "6,4"),
    ]
    let accuracy: [(String, [Double?], String)] = [
      ("train acc", records.map { $0.trainAccuracy * 100 }, ""),
      ("val acc", records.map { $0.validationAccuracy.map { $0 * 100 } }, "6,4"),
    ]
    body += panel(
      title: "Loss", series: loss, x: epochs, originX: 0, width: panelWidth, height: panelHeight,
      color: "#1f77b4")
    body += panel(
      title: "Accuracy (%)", series: accuracy, x: epochs, originX: panelWidth, width: panelWidth,
      height: panelHeight,
      color: "#d62728")
    return """
      <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(2 * panelWidth))" height="\(Int(panelHeight))" \
      font-family="sans-serif" font-size="11">
      <rect width="100%" height="100%" fill="white"/>
      \(body)</svg>

      """
  }

  private func panel(
    title: String, series: [(String, [Double?], String)], x: [Double], originX: Double, width: Double,
    height: Double, color: String
  ) -> String {
    let (left, right, top, bottom) = (originX + 55, originX + width - 15, 42.0, height - 40)
    let values = series.flatMap { $0.1.compactMap { $0 } }
    // The value axis runs from tick to tick (1, 2 or 5 × 10^k apart), so its labels are round.
    let ticks = AxisTicks(covering: values.min() ?? 0, values.max() ?? 1)
    let (low, high) = (ticks.low, ticks.high)
    let xLow = x.first ?? 0
    let xHigh = max((x.last ?? 1), xLow + 1)
    func px(_ v: Double) -> Double { left + (v - xLow) / (xHigh - xLow) * (right - left) }
    func py(_ v: Double) -> Double { bottom - (v - low) / (high - low) * (bottom - top) }
    var out = "<text x=\"\(left)\" y=\"18\" font-size=\"13\">\(title)</text>\n"
    for v in ticks.values {
      // Light grid lines first, so the axes and curves are drawn over them.
      out += String(
        format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>\n", left, py(v),
        right,
        py(v))
      out += String(
        format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%@</text>\n", left - 4, py(v) + 4,
        ticks.label(v))
    }
    out += "<line x1=\"\(left)\" y1=\"\(bottom)\" x2=\"\(right)\" y2=\"\(bottom)\" stroke=\"black\"/>\n"
    out += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(bottom)\" stroke=\"black\"/>\n"
    // Whole epochs only, at most about eight labels: a 90-epoch run is labelled 20, 40, 60, 80.
    let epochTicks = AxisTicks(covering: xLow, xHigh, targetCount: 8, integers: true)
    for e in epochTicks.values where e >= xLow - 1e-9 && e <= (x.last ?? xHigh) + 1e-9 {
      out += String(
        format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%@</text>\n", px(e), bottom + 15,
        epochTicks.label(e))
    }
    out += String(
      format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">epoch</text>\n", (left + right) / 2,
      bottom + 32)
    for (index, (name, points, dash)) in series.enumerated() {
      let coordinates = zip(x, points).compactMap { e, v in
        v.map { String(format: "%.1f,%.1f", px(e), py($0)) }
      }
      guard !coordinates.isEmpty else { continue }
      let dashAttribute = dash.isEmpty ? "" : " stroke-dasharray=\"\(dash)\""
      out +=
        "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"\(dashAttribute) points=\"\(coordinates.joined(separator: " "))\"/>\n"
      // Legend above the plot area, so curves never run through it.
      let legendY = 12 + 14 * Double(index)
      out +=
        "<line x1=\"\(right - 90)\" y1=\"\(legendY)\" x2=\"\(right - 70)\" y2=\"\(legendY)\" stroke=\"\(color)\" stroke-width=\"2\"\(dashAttribute)/>\n"
      out += "<text x=\"\(right - 65)\" y=\"\(legendY + 4)\">\(name)</text>\n"
    }
    return out
  }
}
