import Foundation

// The three tables Keras has printed over the years for the same `Sequential` model. Each renderer
// mirrors one version's `print_summary`, down to where it pads, cuts and wraps a cell.

extension KerasReport {
  /// `(None, 55, 55, 96)`: Keras prints the batch dimension as `None`.
  private func shapeText(_ row: Row) -> String {
    SummaryText.tuple(["None"] + row.outputShape.map(String.init))
  }

  /// `name (ClassName)`, the first cell of every layout.
  private func layerText(_ row: Row) -> String { "\(row.name) (\(row.className))" }

  // MARK: Keras ≤ 2.2

  /// Keras 2.2's `print_row`: each field is cut at its column stop, and the character before the
  /// next field becomes a space, which is how `max_pooling2d_1 (MaxPooling2` loses its `D)`.
  static func legacyRow(_ fields: [String], stops: [Int] = [29, 55, 65]) -> String {
    var line: [Character] = []
    for (i, field) in fields.enumerated() {
      if i > 0 { line[line.count - 1] = " " }
      line += Array(field)
      if line.count > stops[i] { line.removeLast(line.count - stops[i]) }
      line += Array(repeating: " ", count: stops[i] - line.count)
    }
    return String(line)
  }

  /// Keras 2.2: no `Model:` line, `_` rules between layers, `=` after the last.
  var legacyText: String {
    let underscores = String(repeating: "_", count: 65)
    let equals = String(repeating: "=", count: 65)
    var lines = [underscores, Self.legacyRow(["Layer (type)", "Output Shape", "Param #"]), equals]
    for (i, r) in rows.enumerated() {
      lines.append(Self.legacyRow([layerText(r), shapeText(r), String(r.parameters)]))
      lines.append(i == rows.count - 1 ? equals : underscores)
    }
    if rows.isEmpty { lines.append(equals) }
    lines += keras2Totals + [underscores]
    return lines.joined(separator: "\n") + "\n"
  }

  // MARK: TF 2.9–2.12

  /// TF 2.9's `print_row`: every line starts with one space; each cell gets its column width less
  /// two separating spaces (the last column gets all of it), and whatever does not fit moves to the
  /// next line. Keras forgot the leading space when sizing the first column, so that column runs one
  /// character past its stop (`max_pooling2d (MaxPooling2D` + `  ` ends at 30, not 29). A cut also
  /// happens right after `),` `},` `],` or `',` so nested tuples break at an element.
  static func wrappedRow(_ fields: [String], stops: [Int] = [29, 55, 65]) -> [String] {
    var left = fields.map { Array($0) }
    var lines: [String] = []
    while left.contains(where: { !$0.isEmpty }) {
      var line: [Character] = []
      for column in left.indices {
        let start = column == 0 ? 0 : stops[column - 1]
        let gap = column == stops.count - 1 ? 0 : 2
        var cut = max(0, stops[column] - start - gap)
        var piece = Array(left[column].prefix(cut))
        let breaks = ["),", "},", "],", "',"].compactMap { mark -> Int? in
          guard let range = String(piece).range(of: mark) else { return nil }
          return String(piece)[..<range.upperBound].count
        }
        if let first = breaks.min() {
          cut = first
          piece = Array(piece.prefix(cut))
        }
        if column == 0 { line.append(" ") }
        line += piece + Array(repeating: " ", count: gap)
        left[column] = Array(left[column].dropFirst(cut))
        line += Array(repeating: " ", count: max(0, stops[column] - line.count))
      }
      lines.append(String(line))
    }
    return lines
  }

  /// TF 2.9–2.12: `Model: "name"`, indented and wrapped rows, a blank row after every layer.
  var tf2Text: String {
    let underscores = String(repeating: "_", count: 65)
    let equals = String(repeating: "=", count: 65)
    var lines = ["Model: \"\(modelName)\"", underscores]
    lines += Self.wrappedRow(["Layer (type)", "Output Shape", "Param #"]) + [equals]
    for r in rows {
      lines += Self.wrappedRow([layerText(r), shapeText(r), String(r.parameters)])
      lines.append(String(repeating: " ", count: 65))
    }
    lines += [equals] + keras2Totals + [underscores]
    return lines.joined(separator: "\n") + "\n"
  }

  /// Keras 2's three totals lines; 2.2 through 2.12 group the digits (`{:,}`). (2.13 and later drop
  /// the grouping and add sizes, a layout this report does not print.)
  private var keras2Totals: [String] {
    [
      "Total params: \(SummaryText.grouped(totalParameters))",
      "Trainable params: \(SummaryText.grouped(trainableParameters))",
      "Non-trainable params: \(SummaryText.grouped(nonTrainableParameters))",
    ]
  }

  // MARK: Keras 3

  /// Content widths of Keras 3's three columns. Keras sizes the table to the terminal less 4
  /// columns (88 at most) and `rich` then shrinks it to fit; on the 80 columns it assumes when
  /// printing to a pipe or a notebook that leaves 31, 22 and 13 characters inside the borders.
  static let keras3Widths = [31, 22, 13]

  /// `rich`'s wrapping of one cell: words (split at spaces) fill a line while they fit; a word
  /// longer than the whole width is cut to `width − 1` characters and an ellipsis.
  static func richWrap(_ text: String, width: Int) -> [String] {
    var lines: [String] = []
    var current = ""
    for word in text.split(separator: " ").map(String.init) {
      let fitted = word.count > width ? String(word.prefix(width - 1)) + "…" : word
      if current.isEmpty {
        current = fitted
      } else if current.count + 1 + fitted.count <= width {
        current += " " + fitted
      } else {
        lines.append(current)
        current = fitted
      }
    }
    lines.append(current)
    return lines
  }

  /// One row of Keras 3's box: cells wrapped, the last column right-aligned, short cells padded.
  private static func keras3Row(_ cells: [String]) -> [String] {
    let wrapped = zip(cells, keras3Widths).map { richWrap($0, width: $1) }
    let height = wrapped.map(\.count).max() ?? 1
    return (0..<height).map { line in
      var text = "│"
      for (column, width) in keras3Widths.enumerated() {
        let cell = line < wrapped[column].count ? wrapped[column][line] : ""
        let padded =
          column == keras3Widths.count - 1 ? SummaryText.right(cell, width) : SummaryText.left(cell, width)
        text += " " + padded + " │"
      }
      return text
    }
  }

  /// A horizontal rule of Keras 3's box: `left`, then each column's `fill` joined by `join`.
  private static func keras3Rule(_ left: String, _ fill: String, _ join: String, _ right: String) -> String {
    left + keras3Widths.map { String(repeating: fill, count: $0 + 2) }.joined(separator: join) + right
  }

  /// Keras 3's `readable_memory_size`: bytes in powers of 1024 with two decimals (`237.96 MB`).
  static func readableSize(_ bytes: Int) -> String {
    var size = Double(bytes)
    for unit in ["B", "KB", "MB", "GB", "TB"] {
      if size / 1024 < 1 { return SummaryText.fixed2(size) + " " + unit }
      size /= 1024
    }
    return SummaryText.fixed2(size) + " PB"
  }

  /// Keras 3: `Model: "name"`, a heavy-ruled header, light rules between layers, and totals with
  /// their float32 sizes (4 bytes per parameter, moving statistics included).
  var keras3Text: String {
    var lines = ["Model: \"\(modelName)\"", Self.keras3Rule("┏", "━", "┳", "┓")]
    lines += Self.keras3Row(["Layer (type)", "Output Shape", "Param #"]).map {
      $0.replacingOccurrences(of: "│", with: "┃")
    }
    lines.append(Self.keras3Rule("┡", "━", "╇", "┩"))
    for (i, r) in rows.enumerated() {
      if i > 0 { lines.append(Self.keras3Rule("├", "─", "┼", "┤")) }
      lines += Self.keras3Row([layerText(r), shapeText(r), SummaryText.grouped(r.parameters)])
    }
    lines.append(Self.keras3Rule("└", "─", "┴", "┘"))
    for (label, count) in [
      ("Total", totalParameters), ("Trainable", trainableParameters),
      ("Non-trainable", nonTrainableParameters),
    ] {
      lines.append(" \(label) params: \(SummaryText.grouped(count)) (\(Self.readableSize(count * 4)))")
    }
    return lines.joined(separator: "\n") + "\n"
  }
}
