import Foundation

/// MNIST or Fashion-MNIST from the original IDX files (plain or `.gz`), as torchvision's `MNIST` and
/// `FashionMNIST`. The files are read and validated once; the raw bytes are kept and each item is
/// turned into a `rows × columns × 1` image (0…255) on demand.
///
/// IDX layout (big-endian): images `2051, count, rows, columns` then `count·rows·columns` bytes;
/// labels `2049, count` then `count` bytes.
public struct MNISTDataset: ImageDataset {
  /// Which dataset the files hold; they share the format and differ in class names.
  public enum Variant: Sendable {
    case mnist
    case fashionMNIST

    /// torchvision's class names for the variant.
    public var classNames: [String] {
      switch self {
      case .mnist:
        return [
          "0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
          "8 - eight", "9 - nine",
        ]
      case .fashionMNIST:
        return [
          "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
          "Ankle boot",
        ]
      }
    }

    /// The folder torchvision downloads this variant to, under its root (`<root>/MNIST/raw`).
    var torchvisionFolder: String { self == .mnist ? "MNIST/raw" : "FashionMNIST/raw" }
  }

  /// The IDX files read (either may be `.gz`).
  public let imagesPath: String
  public let labelsPath: String
  public let count: Int
  public let classNames: [String]
  /// Image height and width from the IDX header (28 for MNIST).
  public let rows: Int
  public let columns: Int
  private let images: FileBytes
  private let labels: FileBytes
  private static let imageHeaderBytes = 16
  private static let labelHeaderBytes = 8

  /// Opens the `train` or `t10k` (test) split in `root`: `train-images-idx3-ubyte[.gz]` and
  /// `train-labels-idx1-ubyte[.gz]`, or the `t10k-…` pair. The torchvision layout
  /// (`root/MNIST/raw/…`) and the dotted names some mirrors use (`train-images.idx3-ubyte`) are also found.
  public init(root: String, train: Bool, variant: Variant = .mnist) throws {
    let prefix = train ? "train" : "t10k"
    let folders = [root, root + "/" + variant.torchvisionFolder]
    func find(_ kind: String) throws -> String {
      let names = ["\(prefix)-\(kind)", "\(prefix)-\(kind.replacingOccurrences(of: "-idx", with: ".idx"))"]
      for folder in folders {
        for name in names {
          for suffix in ["", ".gz"] {
            let path = "\(folder)/\(name)\(suffix)"
            if FileManager.default.fileExists(atPath: path) { return path }
          }
        }
      }
      throw DataError.badLayout(
        path: root, reason: "no \(prefix)-\(kind)[.gz] file (MNIST IDX) in this folder")
    }
    try self.init(
      imagesPath: find("images-idx3-ubyte"), labelsPath: find("labels-idx1-ubyte"), variant: variant)
  }

  /// Opens an explicit pair of IDX files.
  public init(imagesPath: String, labelsPath: String, variant: Variant = .mnist) throws {
    try self.init(
      images: FileBytes(path: imagesPath), labels: FileBytes(path: labelsPath), variant: variant)
  }

  /// The same as `init(imagesPath:labelsPath:variant:)` for the two files' contents (plain or gzip)
  /// already in memory; `imagesPath` and `labelsPath` only name them in errors.
  public init(
    imagesData: [UInt8], labelsData: [UInt8], variant: Variant = .mnist, imagesPath: String = "<images>",
    labelsPath: String = "<labels>"
  ) throws {
    try self.init(
      images: FileBytes(bytes: imagesData, path: imagesPath),
      labels: FileBytes(bytes: labelsData, path: labelsPath), variant: variant)
  }

  /// Validates both files' headers and lengths against each other and every label.
  private init(images: FileBytes, labels: FileBytes, variant: Variant) throws {
    imagesPath = images.path
    labelsPath = labels.path
    classNames = variant.classNames
    self.images = images
    self.labels = labels

    let imageDims = try Self.header(images, magic: 2051, dimensions: 3, headerBytes: Self.imageHeaderBytes)
    let labelDims = try Self.header(labels, magic: 2049, dimensions: 1, headerBytes: Self.labelHeaderBytes)
    count = imageDims[0]
    rows = imageDims[1]
    columns = imageDims[2]
    guard labelDims[0] == count else {
      throw DataError.corrupt(
        path: labelsPath, reason: "holds \(labelDims[0]) labels but \(imagesPath) holds \(count) images")
    }
    let classes = classNames.count
    for i in 0..<count where Int(labels[Self.labelHeaderBytes + i]) >= classes {
      throw DataError.labelOutOfRange(
        path: labelsPath, label: Int(labels[Self.labelHeaderBytes + i]), classes: classes)
    }
  }

  /// Checks an IDX header of unsigned bytes and the file length it implies; returns the dimensions.
  private static func header(_ file: FileBytes, magic: UInt32, dimensions: Int, headerBytes: Int) throws
    -> [Int]
  {
    guard file.count >= headerBytes else {
      throw DataError.corrupt(
        path: file.path,
        reason: "\(file.count) bytes, shorter than the \(headerBytes)-byte IDX header (truncated?)")
    }
    let found = file.bigEndianUInt32(at: 0)
    guard found == magic else {
      throw DataError.corrupt(
        path: file.path,
        reason:
          "IDX magic number is \(found), expected \(magic) (not an MNIST \(dimensions == 1 ? "label" : "image") file?)"
      )
    }
    var dims: [Int] = []
    var payload = 1
    for d in 0..<dimensions {
      let value = Int(file.bigEndianUInt32(at: 4 + 4 * d))
      // Each UInt32 fits an Int; the product is checked so a corrupt header cannot overflow.
      let (product, overflow) = payload.multipliedReportingOverflow(by: value)
      guard !overflow else { throw DataError.corrupt(path: file.path, reason: "IDX dimensions overflow") }
      dims.append(value)
      payload = product
    }
    if dimensions == 3 && (dims[1] == 0 || dims[2] == 0) {
      throw DataError.corrupt(path: file.path, reason: "IDX image size is \(dims[1])×\(dims[2])")
    }
    guard file.count - headerBytes == payload else {
      throw DataError.corrupt(
        path: file.path,
        reason:
          "\(file.count) bytes, but the IDX header (\(dims.map(String.init).joined(separator: "×"))) needs "
          + "\(headerBytes) + \(payload)" + (file.count - headerBytes < payload ? " (truncated?)" : ""))
    }
    return dims
  }

  /// Image `index` as `rows × columns × 1`, values 0…255 (0 = background).
  public func item(at index: Int) throws -> LabeledImage {
    guard index >= 0 && index < count else {
      throw DataError.invalidOption("MNISTDataset: index \(index) is outside 0..<\(count)")
    }
    let size = rows * columns
    let start = Self.imageHeaderBytes + index * size
    let source = images.bytes
    let pixels = [Float](unsafeUninitializedCapacity: size) { buffer, initialized in
      for i in 0..<size { buffer[i] = Float(source[start + i]) }
      initialized = size
    }
    return LabeledImage(
      image: Image(height: rows, width: columns, channels: 1, pixels: pixels), label: label(at: index))
  }

  /// Label of sample `index`, without decoding the image.
  public func label(at index: Int) -> Int { Int(labels[Self.labelHeaderBytes + index]) }
}
