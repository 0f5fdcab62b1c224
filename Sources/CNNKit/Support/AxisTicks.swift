import Foundation

/// Round tick values for a plot axis: steps of 1, 2 or 5 × 10^k, and an axis that starts and ends
/// on a tick, so a range of 0.0743…0.93 is labelled 0, 0.2, …, 1.0 rather than at its data's own
/// odd values.
public struct AxisTicks: Equatable, Sendable {
  /// The first tick, at or below the data's lowest value.
  public let low: Double
  /// The last tick, at or above the data's highest value.
  public let high: Double
  /// The distance between ticks: 1, 2 or 5 × 10^k.
  public let step: Double
  /// Digits after the decimal point that show every tick exactly (1 for a step of 0.2).
  public let decimals: Int
  /// Every tick from `low` to `high`.
  public let values: [Double]

  /// Ticks covering `low...high` with about `targetCount` intervals (never fewer than one tick
  /// step). With `integers` the step is at least 1 (epochs, counts). An empty range is widened
  /// around its value; non-finite bounds give 0…1.
  public init(covering low: Double, _ high: Double, targetCount: Int = 5, integers: Bool = false) {
    var (low, high) = low.isFinite && high.isFinite ? (min(low, high), max(low, high)) : (0, 1)
    if high - low <= 1e-12 * max(1, abs(low)) {
      // One value: half a unit (or half the value's size) either side, as a plot of a constant.
      let half = max(0.5, abs(low) * 0.05)
      (low, high) = (low - half, high + half)
    }
    let raw = (high - low) / Double(max(targetCount, 1))
    var exponent = Int((log10(raw)).rounded(.down))
    let fraction = raw / pow(10, Double(exponent))
    var mantissa: Int
    // The slack keeps a raw step of exactly 0.2 (fraction 2.0000000000000004) at 2, not 5.
    switch fraction {
    case ...1.000_000_001: mantissa = 1
    case ...2.000_000_001: mantissa = 2
    case ...5.000_000_001: mantissa = 5
    default:
      mantissa = 1
      exponent += 1
    }
    if integers && exponent < 0 { (mantissa, exponent) = (1, 0) }
    // Ticks as whole multiples of mantissa·10^exponent, divided (not multiplied) by a power of ten
    // for small steps, so 3 × 0.2 comes out as the Double nearest 0.6, not 0.6000000000000001.
    func tick(_ index: Int) -> Double {
      exponent >= 0
        ? Double(index * mantissa) * pow(10, Double(exponent))
        : Double(index * mantissa) / pow(10, Double(-exponent))
    }
    let unit = tick(1)
    let first = Int((low / unit).rounded(.down))
    let last = Int((high / unit).rounded(.up))
    self.step = unit
    self.low = tick(first)
    self.high = tick(last)
    self.decimals = max(0, -exponent)
    self.values = (first...last).map(tick)
  }

  /// A tick's text: `0.2`, `15`, `-0.5`, with `decimals` digits and never `-0`.
  public func label(_ value: Double) -> String {
    let text = String(format: "%.\(decimals)f", value)
    return Double(text) == 0 ? String(format: "%.\(decimals)f", 0.0) : text
  }
}
