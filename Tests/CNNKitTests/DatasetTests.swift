import CNNKit
import Foundation
import XCTest

/// The shared datasets beside the repository (`<repo>/../shared/datasets`); tests that need them
/// skip when the folder is absent.
enum SharedDatasets {
  /// Tests/CNNKitTests/DatasetTests.swift → the repository root.
  static let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  static let root = repositoryRoot.appendingPathComponent("../shared/datasets").standardized.path

  /// Path of `name` under the shared datasets, or a skip when it is missing.
  static func folder(_ name: String) throws -> String {
    let path = root + "/" + name
    guard FileManager.default.fileExists(atPath: path) else {
      throw XCTSkip("shared dataset folder \(path) is absent")
    }
    return path
  }
}

final class DatasetTests: XCTestCase {
  private var folder: String!

  override func setUpWithError() throws {
    folder = NSTemporaryDirectory() + "cnnkit-data-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws {
    try? FileManager.default.removeItem(atPath: folder)
  }

  @discardableResult
  private func write(_ name: String, _ bytes: [UInt8]) throws -> String {
    let path = folder + "/" + name
    try FileManager.default.createDirectory(
      atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
    return path
  }

  private func bigEndian(_ values: [UInt32]) -> [UInt8] {
    values.flatMap { v in (0..<4).map { UInt8(truncatingIfNeeded: v >> (24 - 8 * $0)) } }
  }

  // MARK: MNIST

  func testMNISTSharedFiles() throws {
    let root = try SharedDatasets.folder("mnist")
    let train = try MNISTDataset(root: root, train: true)
    XCTAssertEqual(train.count, 60000)
    XCTAssertEqual((0..<10).map(train.label(at:)), [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
    XCTAssertEqual(train.label(at: 59999), 8)
    let first = try train.item(at: 0)
    XCTAssertEqual([first.image.height, first.image.width, first.image.channels], [28, 28, 1])
    XCTAssertEqual(first.label, 5)
    XCTAssertEqual(first.image.pixels.reduce(0, +), 27525)
    XCTAssertEqual(
      [first.image[5, 12, 0], first.image[5, 16, 0], first.image[14, 14, 0], first.image[24, 11, 0]],
      [3, 126, 240, 16])
    XCTAssertEqual(first.image[0, 0, 0], 0)
    XCTAssertEqual(try train.item(at: 59999).image.pixels.reduce(0, +), 20920)
    XCTAssertEqual(train.classNames.first, "0 - zero")

    let test = try MNISTDataset(root: root, train: false)
    XCTAssertEqual(test.count, 10000)
    XCTAssertEqual((0..<10).map(test.label(at:)), [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])
    XCTAssertEqual(try test.item(at: 9999).image.pixels.reduce(0, +), 41833)
    assertDataError(try test.item(at: 10000), naming: "10000")
  }

  func testMNISTFromGzipAndRawFixtures() throws {
    let gz = try MNISTDataset(root: Fixtures.tinyIDX, train: true, variant: .fashionMNIST)
    XCTAssertEqual(gz.count, 5)
    XCTAssertEqual(gz.classNames[0], "T-shirt/top")
    XCTAssertEqual(gz.classNames.count, 10)
    XCTAssertEqual((0..<5).map(gz.label(at:)), [3, 1, 4, 1, 5])
    // Pixel (y, x) of image i is (9x + 5y + 40i) mod 256 (make_images.py).
    let item = try gz.item(at: 2)
    XCTAssertEqual(
      [item.image[0, 0, 0], item.image[3, 4, 0], item.image[27, 27, 0]],
      [80, 131, Float((243 + 135 + 80) % 256)])

    // The same data uncompressed, under the dotted names some mirrors use.
    let images = try Gzip.readFile(path: Fixtures.tinyIDX + "/train-images-idx3-ubyte.gz")
    let labels = try Gzip.readFile(path: Fixtures.tinyIDX + "/train-labels-idx1-ubyte.gz")
    try write("raw/train-images.idx3-ubyte", images)
    try write("raw/train-labels.idx1-ubyte", labels)
    let raw = try MNISTDataset(root: folder + "/raw", train: true)
    XCTAssertEqual(try raw.item(at: 2), item)
    assertDataError(
      try MNISTDataset(root: folder + "/raw", train: false), naming: folder + "/raw",
      containing: "t10k-images")
  }

  func testMNISTBadFilesNameTheFile() throws {
    let images = try Gzip.readFile(path: Fixtures.tinyIDX + "/train-images-idx3-ubyte.gz")
    let labels = try Gzip.readFile(path: Fixtures.tinyIDX + "/train-labels-idx1-ubyte.gz")
    let goodImages = try write("good-images", images)
    let goodLabels = try write("good-labels", labels)
    func open(_ imagesPath: String, _ labelsPath: String) throws -> MNISTDataset {
      try MNISTDataset(imagesPath: imagesPath, labelsPath: labelsPath)
    }
    let truncated = try write("truncated-images", Array(images.dropLast(10)))
    assertDataError(try open(truncated, goodLabels), naming: truncated, containing: "truncated")
    let shortHeader = try write("short-header", Array(images.prefix(10)))
    assertDataError(try open(shortHeader, goodLabels), naming: shortHeader, containing: "header")
    let swapped = try write("swapped", labels + [0, 0, 0])  // a label file where images belong
    assertDataError(try open(swapped, goodLabels), naming: swapped, containing: "magic")
    let wrongMagic = try write("wrong-magic", bigEndian([2052]) + images.dropFirst(4))
    assertDataError(try open(wrongMagic, goodLabels), naming: wrongMagic, containing: "2051")
    let fewer = try write("four-labels", bigEndian([2049, 4]) + labels.dropFirst(8).dropLast())
    assertDataError(try open(goodImages, fewer), naming: fewer, containing: "4 labels")
    let outOfRange = try write("label-10", Array(labels.dropLast()) + [10])
    assertDataError(try open(goodImages, outOfRange), naming: outOfRange, containing: "label 10")
    let longer = try write("extra-bytes", images + [0])
    assertDataError(try open(longer, goodLabels), naming: longer, containing: "bytes")
    let badGzip = try write(
      "cut.gz",
      Array(
        try Array(Data(contentsOf: URL(fileURLWithPath: Fixtures.tinyIDX + "/train-images-idx3-ubyte.gz")))
          .prefix(100)))
    assertDataError(try open(badGzip, goodLabels), naming: badGzip, containing: "gzip")
    assertDataError(try open(folder + "/none", goodLabels), naming: folder + "/none")
  }

  func testFuzzedIDXNeverCrashes() throws {
    let images = try Gzip.readFile(path: Fixtures.tinyIDX + "/train-images-idx3-ubyte.gz")
    let compressed = try Array(
      Data(contentsOf: URL(fileURLWithPath: Fixtures.tinyIDX + "/train-images-idx3-ubyte.gz")))
    let labels = try write(
      "labels", try Gzip.readFile(path: Fixtures.tinyIDX + "/train-labels-idx1-ubyte.gz"))
    var rng = SplitMix(seed: 3)
    for iteration in 0..<300 {
      // Half the runs damage the raw file (mostly its header, where damage matters), half the gzip.
      var bytes = iteration % 2 == 0 ? images : compressed
      if iteration % 3 == 0 {
        bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count))))
      } else {
        let span = iteration % 2 == 0 && iteration % 3 == 1 ? 16 : bytes.count
        bytes[Int(rng.next() % UInt64(span))] ^= UInt8(truncatingIfNeeded: 1 + rng.next() % 255)
      }
      let path = try write("fuzz-\(iteration % 2)", bytes)
      do {
        let dataset = try MNISTDataset(imagesPath: path, labelsPath: labels)
        for i in 0..<dataset.count { _ = try dataset.item(at: i) }
      } catch let error as DataError {
        XCTAssertTrue(error.description.contains(path), "\(error)")
      }
    }
  }

  // MARK: CIFAR

  func testCIFAR10SharedFiles() throws {
    let root = try SharedDatasets.folder("cifar-10")
    let train = try CIFARDataset(root: root, train: true)
    XCTAssertEqual(
      train.files.map { ($0 as NSString).lastPathComponent }, ["data_batch_1.bin.gz", "data_batch_2.bin.gz"])
    XCTAssertEqual(train.count, 20000)
    XCTAssertEqual(train.classNames, CIFARDataset.cifar10ClassNames)
    XCTAssertEqual(train.classNames[6], "frog")
    // Labels are exact in the reconstructed files (their SOURCE.md): the original order.
    XCTAssertEqual((0..<10).map(train.label(at:)), [6, 9, 9, 4, 1, 1, 2, 7, 8, 3])
    var histogram = [Int](repeating: 0, count: 10)
    for i in 0..<10000 { histogram[train.label(at: i)] += 1 }
    XCTAssertEqual(
      histogram, [1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981], "published data_batch_1 counts")
    XCTAssertTrue((10000..<20000).allSatisfy { (0..<10).contains(train.label(at: $0)) })
    let item = try train.item(at: 10000)  // first record of the second batch
    XCTAssertEqual([item.image.height, item.image.width, item.image.channels], [32, 32, 3])
    XCTAssertTrue(item.image.pixels.allSatisfy { $0 >= 0 && $0 <= 255 })

    let test = try CIFARDataset(root: root, train: false)
    XCTAssertEqual(test.count, 10000)
    XCTAssertEqual(
      (0..<20).map(test.label(at:)), (0..<20).map { $0 % 10 }, "test batch is interleaved by class")
  }

  func testCIFARRecordLayoutAndErrors() throws {
    // Two CIFAR-10 records whose planes hold R = p mod 256, G = 100, B = 200 - label.
    func record(label: UInt8, labelBytes: [UInt8]) -> [UInt8] {
      labelBytes + (0..<1024).map { UInt8($0 % 256) } + [UInt8](repeating: 100, count: 1024)
        + [UInt8](repeating: 200 - label, count: 1024)
    }
    try write("c10/data_batch_3.bin", record(label: 7, labelBytes: [7]) + record(label: 2, labelBytes: [2]))
    try write("c10/test_batch.bin", record(label: 0, labelBytes: [0]))
    try write("c10/batches.meta.txt", Array("a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n".utf8))
    let c10 = try CIFARDataset(root: folder + "/c10", train: true)
    XCTAssertEqual(c10.count, 2)
    XCTAssertEqual(c10.classNames, ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"])
    let second = try c10.item(at: 1)
    XCTAssertEqual(second.label, 2)
    // Pixel (y, x) is plane index 32y + x; channels come out interleaved.
    XCTAssertEqual((0..<3).map { second.image[1, 3, $0] }, [35, 100, 198])
    XCTAssertEqual((0..<3).map { second.image[31, 31, $0] }, [255, 100, 198])

    // CIFAR-100: coarse then fine label; the fine one is used.
    try write("c100/train.bin", record(label: 0, labelBytes: [4, 77]))
    let c100 = try Datasets.open(name: "cifar100", root: folder + "/c100", train: true)
    XCTAssertEqual(c100.count, 1)
    XCTAssertEqual(try c100.item(at: 0).label, 77)
    XCTAssertEqual(c100.classNames.count, 100)
    XCTAssertEqual(c100.classNames[77], "snail")

    let wrongLength = try write("bad/data_batch_1.bin", record(label: 1, labelBytes: [1]) + [1, 2, 3])
    assertDataError(
      try CIFARDataset(root: folder + "/bad", train: true), naming: wrongLength, containing: "3073")
    let badLabel = try write("label/test_batch.bin", record(label: 0, labelBytes: [10]))
    assertDataError(
      try CIFARDataset(root: folder + "/label", train: false), naming: badLabel, containing: "label 10")
    try write("names/test_batch.bin", record(label: 0, labelBytes: [0]))
    let names = try write("names/batches.meta.txt", Array("cat\ndog\n".utf8))
    assertDataError(
      try CIFARDataset(root: folder + "/names", train: false), naming: names, containing: "2 class names")
    try FileManager.default.createDirectory(atPath: folder + "/empty", withIntermediateDirectories: true)
    assertDataError(
      try CIFARDataset(root: folder + "/empty", train: true), naming: folder + "/empty",
      containing: "data_batch")
  }

  // MARK: digits

  func testDigitsSharedFile() throws {
    let root = try SharedDatasets.folder("digits")
    let digits = try DigitsDataset(path: root + "/digits.csv.gz")
    XCTAssertEqual(digits.count, 1797)
    let first = try digits.item(at: 0)
    XCTAssertEqual(first.label, 0)
    XCTAssertEqual([first.image.height, first.image.width, first.image.channels], [8, 8, 1])
    let row0: [Float] = [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0]
    XCTAssertEqual(Array(first.image.pixels.prefix(16)), row0.map { $0 * 255 / 16 })
    XCTAssertEqual(try digits.item(at: 1).label, 1)
    XCTAssertEqual(try digits.item(at: 1796).label, 8)
    XCTAssertEqual(try digits.item(at: 1796).image.pixels.reduce(0, +), 392 * 255 / 16, accuracy: 0.01)

    let train = try Datasets.open(name: "digits", root: root, train: true)
    let test = try Datasets.open(name: "digits", root: root, train: false)
    XCTAssertEqual([train.count, test.count], [1437, 360])
    XCTAssertEqual(try test.item(at: 359), try digits.item(at: 1796))
  }

  func testDigitsMalformedLinesNameFileAndLine() throws {
    let good = (0..<64).map { _ in "0" }.joined(separator: ",") + ",3"
    let cases: [(String, String, String)] = [
      ("fields.csv", good + "\n1,2,3\n", "line 2"),
      ("value.csv", "17," + good.dropFirst(2) + "\n", "above 16"),
      ("label.csv", good.dropLast() + "12\n", "label 12"),
      ("text.csv", good + "\nx\n", "line 2"),
      ("empty.csv", "\n", "no samples"),
    ]
    for (name, text, fragment) in cases {
      let path = try write(name, Array(text.utf8))
      assertDataError(try DigitsDataset(path: path), naming: path, containing: fragment)
    }
    XCTAssertEqual(try DigitsDataset(path: try write("ok.csv", Array((good + "\r\n" + good).utf8))).count, 2)
  }

  // MARK: ImageFolder

  func testImageFolderSharedAntsAndBees() throws {
    let root = try SharedDatasets.folder("imagefolder")
    let train = try ImageFolderDataset(root: root + "/train")
    XCTAssertEqual(train.classNames, ["ants", "bees"])
    XCTAssertEqual(train.count, 30)
    XCTAssertEqual(
      train.samples.map(\.label), [Int](repeating: 0, count: 15) + [Int](repeating: 1, count: 15))
    XCTAssertEqual((train.samples[0].path as NSString).lastPathComponent, "0013035.jpg")
    let paths = train.samples.map(\.path)
    XCTAssertEqual(Array(paths[0..<15]), paths[0..<15].sorted())
    let first = try train.item(at: 0)
    XCTAssertEqual(
      [first.image.height, first.image.width, first.image.channels, first.label], [512, 768, 3, 0])
    XCTAssertEqual(first.image.pixels.reduce(0.0) { $0 + Double($1) }, 178_073_673)  // Pillow's sum

    let val = try Datasets.open(name: "imagefolder", root: root, train: false)
    XCTAssertEqual(val.count, 16)
    // item(at:) from many threads at once gives what a serial pass gives.
    let serial = try (0..<val.count).map { try val.item(at: $0) }
    let results = ResultBox(count: val.count)
    DispatchQueue.concurrentPerform(iterations: val.count * 2) { i in
      results.set(i % val.count, try? val.item(at: i % val.count))
    }
    XCTAssertEqual(results.values, serial)
  }

  func testImageFolderLayoutRulesAndErrors() throws {
    let png = try Array(Data(contentsOf: URL(fileURLWithPath: Fixtures.imagePath("rgb.png"))))
    let jpeg = try Array(Data(contentsOf: URL(fileURLWithPath: Fixtures.imagePath("rgb.jpg"))))
    try write("set/zebra/b.PNG", png)
    try write("set/zebra/a.JpEg", jpeg)
    try write("set/zebra/notes.txt", Array("not an image".utf8))
    try write("set/zebra/.hidden.png", png)
    try write("set/zebra/nested/c.jpg", jpeg)
    try write("set/apple/x.png", png)
    try write("set/.ipynb_checkpoints/y.png", png)
    try write("set/readme.md", Array("# readme".utf8))
    let dataset = try ImageFolderDataset(root: folder + "/set", channels: .grey)
    XCTAssertEqual(dataset.classNames, ["apple", "zebra"])
    XCTAssertEqual(
      dataset.samples.map { String($0.path.dropFirst(folder.count + 5)) },
      ["apple/x.png", "zebra/a.JpEg", "zebra/b.PNG", "zebra/nested/c.jpg"])
    XCTAssertEqual(dataset.samples.map(\.label), [0, 1, 1, 1])
    XCTAssertEqual(try dataset.item(at: 2).image.channels, 1)

    try write("emptyclass/full/a.png", png)
    try write("emptyclass/hollow/readme.txt", Array("nothing".utf8))
    assertDataError(
      try ImageFolderDataset(root: folder + "/emptyclass"), naming: folder + "/emptyclass/hollow",
      containing: "no image")
    try write("noclasses/loose.png", png)
    assertDataError(
      try ImageFolderDataset(root: folder + "/noclasses"), naming: folder + "/noclasses",
      containing: "no class")
    assertDataError(try ImageFolderDataset(root: folder + "/missing"), naming: folder + "/missing")
    assertDataError(
      try Datasets.open(name: "imagefolder", root: folder + "/set", train: true),
      naming: folder + "/set/train")
  }

  func testImageFolderCorruptFilesFailOrAreSkipped() throws {
    let png = try Array(Data(contentsOf: URL(fileURLWithPath: Fixtures.imagePath("rgb.png"))))
    try write("set/a/1.png", png)
    let garbage = try write("set/a/2.jpg", Array("<html>404 Not Found</html>".utf8))
    let truncated = try write("set/b/1.png", Array(png.prefix(60)))
    try write("set/b/2.png", png)
    let strict = try ImageFolderDataset(root: folder + "/set")  // lazy: listing does not decode
    XCTAssertEqual(strict.count, 4)
    XCTAssertEqual(try strict.item(at: 0).label, 0)
    assertDataError(try strict.item(at: 1), naming: garbage, containing: "not a JPEG or PNG")
    assertDataError(try strict.item(at: 2), naming: truncated, containing: "PNG")

    let lenient = try ImageFolderDataset(root: folder + "/set", skipCorrupt: true)
    let replaced = try lenient.item(at: 1)  // 2.jpg is bad: the next good sample, b/2.png, stands in
    XCTAssertEqual(replaced.label, 1)
    XCTAssertEqual(try lenient.item(at: 2), replaced)
    XCTAssertEqual(lenient.corruptFiles, [garbage, truncated])
    XCTAssertEqual(try lenient.item(at: 1), replaced, "known bad files are skipped again")
  }

  // MARK: registry

  func testRegistryNamesAndErrors() throws {
    XCTAssertEqual(
      Datasets.names, ["mnist", "fashion-mnist", "cifar10", "cifar100", "imagefolder", "digits"])
    let fashion = try Datasets.open(name: "Fashion_MNIST", root: Fixtures.tinyIDX, train: true)
    XCTAssertEqual(fashion.classNames.last, "Ankle boot")
    XCTAssertTrue(try Datasets.open(name: "mnist", root: Fixtures.tinyIDX, train: true) is MNISTDataset)
    assertDataError(
      try Datasets.open(name: "imagenet", root: folder, train: true), naming: "imagenet",
      containing: "cifar10")
    assertDataError(
      try Datasets.open(name: "mnist", root: folder + "/nowhere", train: true), naming: folder + "/nowhere")
    assertDataError(
      try Datasets.open(name: "mnist", root: folder, train: false), naming: folder, containing: "t10k")
    assertDataError(
      try Datasets.open(name: "digits", root: folder, train: true), naming: folder, containing: "digits.csv")
    assertDataError(
      try Datasets.open(name: "cifar10", root: folder, train: false), naming: folder, containing: "test_batch"
    )
  }
}

/// Collects results written from concurrent iterations.
private final class ResultBox: @unchecked Sendable {
  private let lock = NSLock()
  private var storage: [LabeledImage?]
  init(count: Int) { storage = Array(repeating: nil, count: count) }
  func set(_ index: Int, _ value: LabeledImage?) { lock.withLock { storage[index] = value } }
  var values: [LabeledImage] { lock.withLock { storage.compactMap { $0 } } }
}
