import Foundation

/// scikit-learn's handwritten digits (`load_digits`): 1797 images of 8×8 grey pixels from the CSV
/// sklearn ships (`digits.csv[.gz]`), one sample per line: 64 values 0…16 row-major, then the label.
/// Values are scaled to 0…255 (`v · 255 / 16`) so the images look like every other dataset here.
///
/// sklearn has no train/test split for this set; `Split.train` is the first 80 % of the lines and
/// `Split.test` the rest. The file is in the order of the UCI writers, so the two parts come from
/// different people, which keeps the test score honest.
public struct DigitsDataset: ImageDataset {
  /// Which lines of the file to use.
  public enum Split: Sendable {
    case all
    /// The first 80 % of the lines (1437 of 1797).
    case train
    /// The remaining 20 % (360 of 1797).
    case test
  }

  /// Image side.
  public static let side = 8
  /// Largest value in the file (a count of set pixels in a 4×4 block).
  public static let maximumValue = 16

  /// The CSV file read.
  public let path: String
  public let count: Int
  public let classNames = (0..<10).map(String.init)
  /// Raw values 0…16, `count · 64`.
  private let values: [UInt8]
  private let labels: [UInt8]

  /// Largest CSV accepted, after decompression (the real file is 0.5 MB).
  public static let maximumFileBytes = 1 << 30

  /// Parses the CSV at `path` (plain or gzip); every malformed line is an error naming file and line.
  public init(path: String, split: Split = .all) throws {
    try self.init(file: FileBytes(path: path, maximumDecompressedBytes: Self.maximumFileBytes), split: split)
  }

  /// The same as `init(path:split:)` for the file's contents (plain or gzip) already in memory;
  /// `path` names them in errors.
  public init(csv: [UInt8], path: String = "<memory>", split: Split = .all) throws {
    try self.init(
      file: FileBytes(bytes: csv, path: path, maximumDecompressedBytes: Self.maximumFileBytes), split: split)
  }

  private init(file: FileBytes, split: Split) throws {
    let path = file.path
    self.path = path
    let fields = Self.side * Self.side + 1
    var values: [UInt8] = []
    var labels: [UInt8] = []
    var line = 0
    var row: [Int] = []
    var number: Int? = nil
    func fail(_ reason: String) -> DataError { .corrupt(path: path, reason: "line \(line + 1): \(reason)") }
    func endField() throws {
      guard let value = number else { throw fail("empty or non-numeric field \(row.count + 1)") }
      // Stops at the first extra field rather than collecting a whole overlong line.
      guard row.count < fields else { throw fail("more than \(fields) fields") }
      row.append(value)
      number = nil
    }
    func endLine() throws {
      try endField()
      guard row.count == fields else { throw fail("\(row.count) fields, expected \(fields)") }
      for (i, value) in row.dropLast().enumerated() where value > Self.maximumValue {
        throw fail("pixel \(i) is \(value), above \(Self.maximumValue)")
      }
      guard row[fields - 1] < 10 else {
        throw DataError.labelOutOfRange(path: path, label: row[fields - 1], classes: 10)
      }
      values += row.dropLast().map { UInt8($0) }
      labels.append(UInt8(row[fields - 1]))
      row.removeAll(keepingCapacity: true)
      line += 1
    }
    var lineIsEmpty = true
    for byte in file.bytes {
      switch byte {
      case UInt8(ascii: "0")...UInt8(ascii: "9"):
        // Capped so a long run of digits cannot overflow; anything that large fails the range check.
        number = min((number ?? 0) * 10 + Int(byte - UInt8(ascii: "0")), 1 << 20)
        lineIsEmpty = false
      case UInt8(ascii: ","):
        try endField()
        lineIsEmpty = false
      case UInt8(ascii: "\n"):
        if !lineIsEmpty { try endLine() }
        lineIsEmpty = true
      case UInt8(ascii: "\r"), UInt8(ascii: " "):
        continue
      default:
        throw fail(
          "unexpected character 0x\(String(byte, radix: 16)) (expected integers separated by commas)")
      }
    }
    if !lineIsEmpty { try endLine() }
    guard line > 0 else { throw DataError.corrupt(path: path, reason: "no samples") }

    let trainCount = line * 4 / 5
    let range: Range<Int>
    switch split {
    case .all: range = 0..<line
    case .train: range = 0..<trainCount
    case .test: range = trainCount..<line
    }
    let size = Self.side * Self.side
    self.values = Array(values[range.lowerBound * size..<range.upperBound * size])
    self.labels = Array(labels[range])
    count = range.count
  }

  /// Sample `index` as an 8×8×1 image, values `v · 255 / 16`.
  public func item(at index: Int) throws -> LabeledImage {
    guard index >= 0 && index < count else {
      throw DataError.invalidOption("DigitsDataset: index \(index) is outside 0..<\(count)")
    }
    let size = Self.side * Self.side
    let scale = Float(255) / Float(Self.maximumValue)
    let pixels = values[index * size..<(index + 1) * size].map { Float($0) * scale }
    return LabeledImage(
      image: Image(height: Self.side, width: Self.side, channels: 1, pixels: pixels),
      label: Int(labels[index]))
  }
}
