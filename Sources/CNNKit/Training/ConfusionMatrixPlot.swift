import Foundation

/// A confusion matrix drawn as an SVG picture, as scikit-learn's `ConfusionMatrixDisplay` shows it:
/// true classes down the side, predicted classes along the bottom, each cell shaded by its count
/// and labelled with it, and the accuracy in the title.
public enum ConfusionMatrixPlot {
  /// Why a plot cannot be written where asked; each names the path.
  public enum PlotError: Error, Equatable, CustomStringConvertible {
    /// The file name does not end in `.svg`, the one format drawn.
    case unsupportedFormat(path: String)
    /// The folder the file would go in does not exist.
    case missingFolder(path: String, folder: String)

    public var description: String {
      switch self {
      case .unsupportedFormat(let path):
        return "\(path): the confusion matrix is drawn as SVG only; name a file ending in .svg"
      case .missingFolder(let path, let folder):
        return "\(path): folder \(folder) does not exist"
      }
    }
  }

  /// Checks that `path` can take a plot (an `.svg` name in an existing folder), before the work that
  /// makes the matrix is done.
  public static func checkDestination(_ path: String) throws {
    guard (path as NSString).pathExtension.lowercased() == "svg" else {
      throw PlotError.unsupportedFormat(path: path)
    }
    let folder = (path as NSString).deletingLastPathComponent
    var isDirectory: ObjCBool = false
    guard folder.isEmpty || FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory),
      folder.isEmpty || isDirectory.boolValue
    else {
      throw PlotError.missingFolder(path: path, folder: folder)
    }
  }

  /// Writes `svg(matrix, title:)` to `path` atomically (no half-written file on failure).
  public static func write(_ matrix: ConfusionMatrix, title: String = "Confusion matrix", to path: String)
    throws
  {
    try checkDestination(path)
    try AtomicFile.write(Data(svg(matrix, title: title).utf8), to: path)
  }

  /// The picture. Cells shrink with the class count to keep it about 600 pixels wide; counts are
  /// written in cells large enough to read them, class names beside rows large enough for text.
  public static func svg(_ matrix: ConfusionMatrix, title: String = "Confusion matrix") -> String {
    let n = matrix.classCount
    let cell = min(48, max(4, (600 / Double(n)).rounded(.down)))
    let showNames = cell >= 8
    let showCounts = cell >= 18
    let names = matrix.classNames.map { $0.count > 14 ? String($0.prefix(13)) + "…" : $0 }
    let nameFont = min(12, max(7, cell * 0.6))
    let countFont = min(13, cell * 0.36)
    let longest = Double(showNames ? names.map(\.count).max() ?? 1 : 0)
    // Room for the row names on the left and the column names, slanted, below.
    let left = 40 + longest * nameFont * 0.6
    let top = 50.0
    let side = cell * Double(n)
    let bottom = top + side + 36 + longest * nameFont * 0.45
    let legendX = left + side + 20
    let width = legendX + 70
    let height = bottom + 10
    let highest = matrix.counts.max() ?? 0

    let accuracy =
      matrix.total == 0
      ? "no samples"
      : String(format: "accuracy %.2f%% (%d/%d)", matrix.accuracy * 100, matrix.correct, matrix.total)
    var out = """
      <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width.rounded(.up)))" \
      height="\(Int(height.rounded(.up)))" font-family="sans-serif" font-size="11">
      <defs><linearGradient id="shade" x1="0" y1="1" x2="0" y2="0">\
      <stop offset="0" stop-color="\(color(0))"/><stop offset="1" stop-color="\(color(1))"/>\
      </linearGradient></defs>
      <rect width="100%" height="100%" fill="white"/>
      <text x="\(format(left))" y="24" font-size="14">\(escaped(title)) — \(accuracy)</text>

      """
    for actual in 0..<n {
      let y = top + Double(actual) * cell
      for predicted in 0..<n {
        let count = matrix.count(actual: actual, predicted: predicted)
        let x = left + Double(predicted) * cell
        let level = highest == 0 ? 0 : Double(count) / Double(highest)
        out +=
          "<rect x=\"\(format(x))\" y=\"\(format(y))\" width=\"\(format(cell))\" height=\"\(format(cell))\" fill=\"\(color(level))\"><title>true \(escaped(matrix.classNames[actual])), predicted \(escaped(matrix.classNames[predicted])): \(count)</title></rect>\n"
        if showCounts {
          // Light text on dark cells, dark on light ones.
          let ink = level > 0.5 ? "white" : "black"
          out +=
            "<text x=\"\(format(x + cell / 2))\" y=\"\(format(y + cell / 2 + countFont * 0.35))\" text-anchor=\"middle\" font-size=\"\(format(countFont))\" fill=\"\(ink)\">\(count)</text>\n"
        }
      }
      if showNames {
        out +=
          "<text x=\"\(format(left - 6))\" y=\"\(format(y + cell / 2 + nameFont * 0.35))\" text-anchor=\"end\" font-size=\"\(format(nameFont))\">\(escaped(names[actual]))</text>\n"
      }
    }
    if showNames {
      for predicted in 0..<n {
        let x = left + (Double(predicted) + 0.5) * cell
        let y = top + side + 12
        out +=
          "<text x=\"\(format(x))\" y=\"\(format(y))\" text-anchor=\"end\" font-size=\"\(format(nameFont))\" transform=\"rotate(-45 \(format(x)) \(format(y)))\">\(escaped(names[predicted]))</text>\n"
      }
    }
    out +=
      "<rect x=\"\(format(left))\" y=\"\(format(top))\" width=\"\(format(side))\" height=\"\(format(side))\" fill=\"none\" stroke=\"black\"/>\n"
    out +=
      "<text x=\"\(format(left + side / 2))\" y=\"\(format(bottom - 4))\" text-anchor=\"middle\">predicted class</text>\n"
    out +=
      "<text x=\"14\" y=\"\(format(top + side / 2))\" text-anchor=\"middle\" transform=\"rotate(-90 14 \(format(top + side / 2)))\">true class</text>\n"
    // The colour scale: white for none, darkest for the largest count.
    out +=
      "<rect x=\"\(format(legendX))\" y=\"\(format(top))\" width=\"14\" height=\"\(format(side))\" fill=\"url(#shade)\" stroke=\"black\"/>\n"
    out += "<text x=\"\(format(legendX + 18))\" y=\"\(format(top + 8))\">\(highest)</text>\n"
    out += "<text x=\"\(format(legendX + 18))\" y=\"\(format(top + side))\">0</text>\n"
    return out + "</svg>\n"
  }

  /// White to dark blue (matplotlib's "Blues" ends) as `level` goes from 0 to 1.
  private static func color(_ level: Double) -> String {
    let light = (247.0, 251.0, 255.0)
    let dark = (8.0, 48.0, 107.0)
    let t = min(1, max(0, level))
    let (r, g, b) = (
      light.0 + (dark.0 - light.0) * t, light.1 + (dark.1 - light.1) * t, light.2 + (dark.2 - light.2) * t
    )
    return String(format: "#%02x%02x%02x", Int(r.rounded()), Int(g.rounded()), Int(b.rounded()))
  }

  private static func format(_ value: Double) -> String { String(format: "%.1f", value) }

  /// Class names come from folder names and metadata: anything XML treats specially is escaped.
  private static func escaped(_ text: String) -> String {
    var out = ""
    for character in text {
      switch character {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      case "'": out += "&apos;"
      default: out.append(character)
      }
    }
    return out
  }
}
