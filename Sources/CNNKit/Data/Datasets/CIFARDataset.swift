import Foundation

/// CIFAR-10 or CIFAR-100 from the official binary files (plain or `.gz`), as torchvision's `CIFAR10`
/// and `CIFAR100`. Record layout: label byte(s), then 1024 red, 1024 green and 1024 blue bytes of a
/// 32×32 image, row-major. The files are read and validated once; items are built on demand as
/// 32×32×3 images (0…255).
public struct CIFARDataset: ImageDataset {
  /// Which dataset the files hold.
  public enum Variant: Sendable {
    /// 1 label byte per record, 10 classes; files `data_batch_1…5.bin`, `test_batch.bin`.
    case cifar10
    /// 2 label bytes per record (coarse, fine); the fine label (100 classes) is used; files
    /// `train.bin`, `test.bin`.
    case cifar100

    /// Bytes before the pixels of each record.
    public var labelBytes: Int { self == .cifar10 ? 1 : 2 }
    /// Bytes per record.
    public var recordBytes: Int { labelBytes + CIFARDataset.pixelBytes }
    var classCount: Int { self == .cifar10 ? 10 : 100 }
    /// The file listing class names, one per line, in the official archives.
    var namesFile: String { self == .cifar10 ? "batches.meta.txt" : "fine_label_names.txt" }
    /// The folder the official archive extracts to.
    var archiveFolder: String { self == .cifar10 ? "cifar-10-batches-bin" : "cifar-100-binary" }
  }

  /// Image side and bytes of pixels per record.
  public static let side = 32
  public static let pixelBytes = 3 * 32 * 32

  /// CIFAR-10's classes in label order.
  public static let cifar10ClassNames = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
  ]
  /// CIFAR-100's fine classes in label order (alphabetical, as in `fine_label_names.txt`).
  public static let cifar100ClassNames = [
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
    "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
    "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
    "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
    "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle",
    "mountain",
    "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck",
    "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
    "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
    "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger",
    "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman",
    "worm",
  ]

  /// CIFAR-10 or CIFAR-100.
  public let variant: Variant
  /// The batch files read, in record order.
  public let files: [String]
  public let count: Int
  public let classNames: [String]
  private let batches: [FileBytes]
  /// First global index of each batch, plus `count` at the end.
  private let batchStarts: [Int]

  /// Opens the train or test split in `root` (or in the archive's own subfolder of `root`).
  /// CIFAR-10 training uses whichever of `data_batch_1…5.bin[.gz]` exist; class names come from
  /// `batches.meta.txt` (`fine_label_names.txt` for CIFAR-100) when present, the built-in list otherwise.
  public init(root: String, train: Bool, variant: Variant = .cifar10) throws {
    let candidates: [String]
    switch variant {
    case .cifar10: candidates = train ? (1...5).map { "data_batch_\($0).bin" } : ["test_batch.bin"]
    case .cifar100: candidates = [train ? "train.bin" : "test.bin"]
    }
    let manager = FileManager.default
    func present(in folder: String) -> [String] {
      candidates.compactMap { name in
        [name, name + ".gz"].map { "\(folder)/\($0)" }.first { manager.fileExists(atPath: $0) }
      }
    }
    var folder = root
    var found = present(in: folder)
    if found.isEmpty {
      folder = root + "/" + variant.archiveFolder
      found = present(in: folder)
    }
    guard !found.isEmpty else {
      let wanted = variant == .cifar10 && train ? "data_batch_1…5.bin" : candidates[0]
      throw DataError.badLayout(
        path: root, reason: "no \(wanted)[.gz] file (CIFAR binary version) in this folder")
    }
    let namesPath = folder + "/" + variant.namesFile
    let names: [String]
    if manager.fileExists(atPath: namesPath) {
      names = try Self.readClassNames(path: namesPath, expected: variant.classCount)
    } else {
      names = variant == .cifar10 ? Self.cifar10ClassNames : Self.cifar100ClassNames
    }
    try self.init(files: found, variant: variant, classNames: names)
  }

  /// Opens explicit batch files, concatenated in the given order.
  public init(files: [String], variant: Variant = .cifar10, classNames: [String]? = nil) throws {
    try self.init(batches: files.map { try FileBytes(path: $0) }, variant: variant, classNames: classNames)
  }

  /// The same as `init(files:variant:classNames:)` for one batch file's contents (plain or gzip)
  /// already in memory; `path` names it in errors.
  public init(
    data: [UInt8], path: String = "<memory>", variant: Variant = .cifar10, classNames: [String]? = nil
  ) throws {
    try self.init(batches: [FileBytes(bytes: data, path: path)], variant: variant, classNames: classNames)
  }

  /// Checks every batch's length and labels.
  private init(batches: [FileBytes], variant: Variant, classNames: [String]?) throws {
    let names = classNames ?? (variant == .cifar10 ? Self.cifar10ClassNames : Self.cifar100ClassNames)
    guard names.count == variant.classCount else {
      throw DataError.invalidOption(
        "CIFARDataset: \(names.count) class names for \(variant.classCount) classes")
    }
    self.variant = variant
    self.files = batches.map(\.path)
    self.classNames = names
    var starts = [0]
    let recordBytes = variant.recordBytes
    for batch in batches {
      let path = batch.path
      guard batch.count > 0 && batch.count % recordBytes == 0 else {
        throw DataError.corrupt(
          path: path,
          reason:
            "\(batch.count) bytes is not a whole number of \(recordBytes)-byte CIFAR records (truncated?)")
      }
      let records = batch.count / recordBytes
      // The label CIFAR-100 uses is the fine one, the last label byte.
      for r in 0..<records {
        let label = Int(batch[r * recordBytes + variant.labelBytes - 1])
        if label >= variant.classCount {
          throw DataError.labelOutOfRange(path: path, label: label, classes: variant.classCount)
        }
      }
      starts.append(starts[starts.count - 1] + records)
    }
    self.batches = batches
    batchStarts = starts
    count = starts[starts.count - 1]
  }

  /// Reads class names, one per line, ignoring blank lines.
  private static func readClassNames(path: String, expected: Int) throws -> [String] {
    let text = String(decoding: try readFileContents(path: path, maximumBytes: 1 << 20), as: UTF8.self)
    let names = text.split(whereSeparator: \.isNewline)
      .map { $0.trimmingCharacters(in: .whitespaces) }
      .filter { !$0.isEmpty }
    guard names.count == expected else {
      throw DataError.corrupt(path: path, reason: "lists \(names.count) class names, expected \(expected)")
    }
    return names
  }

  /// The batch holding global index `index` and the record's byte offset in it.
  private func locate(_ index: Int) -> (batch: FileBytes, offset: Int) {
    // Few batches (at most five): a linear scan is clearer than a binary search and as fast.
    var b = 0
    while batchStarts[b + 1] <= index { b += 1 }
    return (batches[b], (index - batchStarts[b]) * variant.recordBytes)
  }

  /// Record `index` as a 32×32×3 image (HWC, 0…255) with its (fine) label.
  public func item(at index: Int) throws -> LabeledImage {
    guard index >= 0 && index < count else {
      throw DataError.invalidOption("CIFARDataset: index \(index) is outside 0..<\(count)")
    }
    let (batch, offset) = locate(index)
    let planes = offset + variant.labelBytes
    let plane = Self.side * Self.side
    let source = batch.bytes
    // The file stores planes (all red, then green, then blue); Image wants channels interleaved.
    let pixels = [Float](unsafeUninitializedCapacity: Self.pixelBytes) { buffer, initialized in
      for p in 0..<plane {
        buffer[3 * p] = Float(source[planes + p])
        buffer[3 * p + 1] = Float(source[planes + plane + p])
        buffer[3 * p + 2] = Float(source[planes + 2 * plane + p])
      }
      initialized = Self.pixelBytes
    }
    return LabeledImage(
      image: Image(height: Self.side, width: Self.side, channels: 3, pixels: pixels), label: label(at: index))
  }

  /// Label of record `index`, without building the image.
  public func label(at index: Int) -> Int {
    let (batch, offset) = locate(index)
    return Int(batch[offset + variant.labelBytes - 1])
  }
}
