import Foundation

/// A Keras-style progress line for one epoch:
/// `37/469 [==>...........................] - ETA: 41s - loss: 0.4120 - accuracy: 0.8731 - 1187 img/s`,
/// finishing as `469/469 [==============================] - 48s 102ms/step - loss: ... - 1209 img/s`.
///
/// On a terminal the line redraws in place; elsewhere (logs, CI) only the finished line is written,
/// so log files stay readable.
public struct ProgressBar {
  /// Steps in the epoch.
  public let total: Int
  /// Width of the bar in characters (Keras uses 30).
  public let width: Int
  private let start: Double
  /// The step the bar started at (non-zero when an epoch is resumed half-way); times per step count
  /// only the steps this bar saw.
  private let firstStep: Int
  private let interactive: Bool
  private var lastDraw: Double = 0
  private let output: (String) -> Void

  /// Starts a bar. `output` receives text to write (default: standard output, flushed).
  public init(
    total: Int, width: Int = 30, startingAt firstStep: Int = 0, interactive: Bool? = nil,
    output: ((String) -> Void)? = nil
  ) {
    self.total = max(total, 1)
    self.firstStep = firstStep
    self.width = width
    self.start = ProgressBar.now()
    self.interactive = interactive ?? (isatty(STDOUT_FILENO) == 1)
    self.output =
      output ?? { text in
        FileHandle.standardOutput.write(Data(text.utf8))
      }
  }

  static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

  /// The bar text for `step` of `total`: Keras draws `=` for done, `>` for the head, `.` for the rest.
  public static func bar(step: Int, total: Int, width: Int) -> String {
    let filled = min(width, max(0, step * width / max(total, 1)))
    var text = "["
    if filled > 0 { text += String(repeating: "=", count: filled - 1) + (step < total ? ">" : "=") }
    return text + String(repeating: ".", count: width - filled) + "]"
  }

  /// Formats seconds as Keras does for ETA and totals: `41s`, `3:05`, `1:02:03`.
  public static func duration(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    if s < 60 { return "\(s)s" }
    if s < 3600 { return String(format: "%d:%02d", s / 60, s % 60) }
    return String(format: "%d:%02d:%02d", s / 3600, (s % 3600) / 60, s % 60)
  }

  /// Ends a redrawn line left unfinished by a stop before the last step, so what is printed next
  /// starts on a line of its own.
  public func endLine() {
    if interactive && lastDraw > 0 { output("\n") }
  }

  /// Reports that `step` steps are done; `values` are shown as ` - name: value` (4 decimals),
  /// `imagesPerSecond` last. Redraws at most 10 times a second, and always on the last step.
  public mutating func update(step: Int, values: [(String, Double)], imagesPerSecond: Double) {
    let now = ProgressBar.now()
    let finished = step >= total
    if !finished && (!interactive || now - lastDraw < 0.1) { return }
    lastDraw = now
    let elapsed = now - start
    let counter = String(repeating: " ", count: String(total).count - String(step).count) + "\(step)/\(total)"
    var line = counter + " " + ProgressBar.bar(step: step, total: total, width: width)
    let perStep = elapsed / Double(max(step - firstStep, 1))
    if finished {
      line += " - \(ProgressBar.duration(elapsed)) \(Int((perStep * 1000).rounded()))ms/step"
    } else {
      let eta = perStep * Double(total - step)
      line += " - ETA: \(ProgressBar.duration(eta))"
    }
    for (name, value) in values { line += String(format: " - %@: %.4f", name, value) }
    line += String(format: " - %.0f img/s", imagesPerSecond)
    output((interactive ? "\r\u{1B}[K" : "") + line + (finished ? "\n" : ""))
  }
}
