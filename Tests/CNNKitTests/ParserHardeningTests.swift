import CNNKit
import Foundation
import XCTest

/// The in-memory parser entry points the fuzz targets (Fuzz/) use, and one regression test per
/// problem that fuzzing or the review behind it found: each hostile input must end in the error
/// named here, before any large allocation, and never in a crash.
final class ParserHardeningTests: XCTestCase {
  // MARK: safetensors

  /// A safetensors file: 8-byte header length, the JSON header padded to 8 bytes, then `data`.
  private func safetensors(_ header: String, _ data: [UInt8] = []) -> [UInt8] {
    var json = Array(header.utf8)
    while json.count % 8 != 0 { json.append(0x20) }
    return withUnsafeBytes(of: UInt64(json.count).littleEndian, Array.init) + json + data
  }

  func testSafeTensorsFromBytesMatchesTheFile() throws {
    let model = Sequential(Linear(3, 2))
    let path = NSTemporaryDirectory() + "cnnkit-bytes-\(UUID().uuidString).safetensors"
    defer { try? FileManager.default.removeItem(atPath: path) }
    try model.saveStateDict(to: path, metadata: ["format": "pt"])
    let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
    let fromFile = try SafeTensorsFile(path: path)
    let fromBytes = try SafeTensorsFile(bytes: bytes, path: "weights")
    XCTAssertEqual(fromBytes.entries, fromFile.entries)
    XCTAssertEqual(fromBytes.metadata, ["format": "pt"])
    XCTAssertEqual(
      try fromBytes.tensor(named: "0.weight").scalars, try fromFile.tensor(named: "0.weight").scalars)
    XCTAssertThrowsError(try SafeTensorsFile(bytes: Array(bytes.dropLast()), path: "cut")) { error in
      XCTAssertTrue("\(error)".hasPrefix("cut: "), "\(error)")
    }
  }

  func testSafeTensorsShapeProductsAreChecked() {
    // Dimensions whose product overflows Int, in either order, and one whose product is 0.
    for shape in ["[4294967296,4294967296,0]", "[1099511627775,1099511627775]"] {
      let bytes = safetensors(#"{"t":{"dtype":"F32","shape":\#(shape),"data_offsets":[0,0]}}"#)
      XCTAssertThrowsError(try SafeTensorsFile(bytes: bytes)) { error in
        XCTAssertTrue("\(error)".contains("tensor 't'"), "\(error)")
      }
    }
    let empty = safetensors(
      #"{"t":{"dtype":"F32","shape":[0,1099511627775,1099511627775],"data_offsets":[0,0]}}"#)
    XCTAssertEqual(try SafeTensorsFile(bytes: empty).entries.first?.count, 0)
  }

  // MARK: datasets

  private func bigEndian(_ values: [UInt32]) -> [UInt8] {
    values.flatMap { v in (0..<4).map { UInt8(truncatingIfNeeded: v >> (24 - 8 * $0)) } }
  }

  func testMNISTFromBytes() throws {
    let images = bigEndian([2051, 2, 2, 3]) + Array(0..<12)
    let labels = bigEndian([2049, 2]) + [4, 9]
    let dataset = try MNISTDataset(imagesData: images, labelsData: labels)
    XCTAssertEqual([dataset.count, dataset.rows, dataset.columns], [2, 2, 3])
    XCTAssertEqual(try dataset.item(at: 1).image.pixels, (6..<12).map(Float.init))
    XCTAssertEqual(dataset.label(at: 1), 9)
    // Dimensions whose product overflows, and ones that do not match the real size, name the file.
    let overflowing = bigEndian([2051, 0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF])
    assertDataError(
      try MNISTDataset(imagesData: overflowing, labelsData: labels, imagesPath: "huge"), naming: "huge",
      containing: "overflow")
    let claims = bigEndian([2051, 1000, 28, 28]) + Array(repeating: 0, count: 784)
    assertDataError(
      try MNISTDataset(imagesData: claims, labelsData: labels), naming: "<images>", containing: "truncated")
  }

  func testCIFARFromBytes() throws {
    var record = [UInt8](repeating: 7, count: 3073)
    record[0] = 3
    let dataset = try CIFARDataset(data: record + record, path: "batch")
    XCTAssertEqual(dataset.count, 2)
    XCTAssertEqual(try dataset.item(at: 1).label, 3)
    assertDataError(try CIFARDataset(data: Array(record.dropLast()), path: "batch"), naming: "batch")
    assertDataError(try CIFARDataset(data: [], path: "empty"), naming: "empty")
  }

  func testDigitsFromBytesStopsAtTheFirstExtraField() throws {
    let line = (Array(repeating: "16", count: 64) + ["7"]).joined(separator: ",")
    let dataset = try DigitsDataset(csv: Array((line + "\n" + line + "\n").utf8), path: "digits")
    XCTAssertEqual(dataset.count, 2)
    XCTAssertEqual(try dataset.item(at: 0).label, 7)
    let long = line + String(repeating: ",1", count: 100_000)
    assertDataError(
      try DigitsDataset(csv: Array(long.utf8), path: "long"), naming: "long",
      containing: "more than 65 fields")
  }

  // MARK: gzip and images

  func testGzipTrailerCannotClaimGigabytes() throws {
    // "hello" compressed, with the trailer's length field set to 4 GiB − 1: the first buffer is sized
    // by deflate's ratio, not by the trailer, and zlib then rejects the length.
    var bytes: [UInt8] = [
      0x1F, 0x8B, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xCB, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00,
      0x86, 0xA6, 0x10, 0x36, 0x05, 0x00, 0x00, 0x00,
    ]
    XCTAssertEqual(try Gzip.decompress(bytes), Array("hello".utf8))
    bytes.replaceSubrange(bytes.count - 4..<bytes.count, with: [0xFF, 0xFF, 0xFF, 0xFF])
    assertDataError(try Gzip.decompress(bytes, path: "bomb"), naming: "bomb", containing: "invalid gzip data")
  }

  private func fixture(_ name: String) throws -> [UInt8] {
    try Array(Data(contentsOf: URL(fileURLWithPath: Fixtures.imagePath(name))))
  }

  /// CRC-32 (PNG's chunk checksum).
  private func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
      crc ^= UInt32(byte)
      for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
  }

  func testPNGHeaderCannotClaimMorePixelsThanTheFileHolds() throws {
    var png = try fixture("rgb.png")
    // IHDR: width and height at 16..<24, its CRC over type + data at 29..<33.
    png.replaceSubrange(16..<24, with: bigEndian([8000, 8000]))
    png.replaceSubrange(29..<33, with: bigEndian([crc32(png[12..<29])]))
    assertDataError(try ImageDecoder.decode(png, path: "big.png"), naming: "big.png", containing: "can hold")
  }

  func testJPEGHeaderCannotClaimMoreBlocksThanTheFileEncodes() throws {
    var jpeg = try fixture("rgb.jpg")
    let sof = try XCTUnwrap((0..<jpeg.count - 1).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 })
    jpeg.replaceSubrange(sof + 5..<sof + 9, with: [0x1F, 0x40, 0x1F, 0x40])  // 8000 × 8000
    assertDataError(
      try ImageDecoder.decode(jpeg, path: "big.jpg"), naming: "big.jpg", containing: "can encode")
  }

  /// The size checks against the file's length must never refuse a real photo.
  func testEverySharedPhotoStillDecodes() throws {
    var paths: [String] = []
    for name in ["images", "imagefolder"] {
      let root = try SharedDatasets.folder(name)
      let files = FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String } ?? []
      let images = files.filter { file in
        [".jpg", ".jpeg", ".png"].contains { file.lowercased().hasSuffix($0) }
      }
      paths += images.map { root + "/" + $0 }
    }
    XCTAssertGreaterThan(paths.count, 50)
    for path in paths {
      XCTAssertNoThrow(try ImageDecoder.decode(path: path), path)
    }
  }

  func testJPEGWithThousandsOfScansIsRefused() throws {
    let jpeg = try fixture("progressive.jpg")
    XCTAssertEqual(try ImageDecoder.decode(jpeg).width, 24)
    // The last scan repeated 600 times: libjpeg only warns about the repeats, so without a limit
    // every one of them would be decoded.
    let lastScan = try XCTUnwrap((0..<jpeg.count - 1).last { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xDA })
    let scan = jpeg[lastScan..<jpeg.count - 2]
    let bomb =
      Array(jpeg[..<lastScan]) + Array(repeating: Array(scan), count: 600).flatMap { $0 } + [0xFF, 0xD9]
    assertDataError(
      try ImageDecoder.decode(bomb, path: "scans.jpg"), naming: "scans.jpg", containing: "more than 500 scans"
    )
  }
}

extension CLITests {
  /// `--input` (or `"input"` in a `--config` file) with dimensions whose product overflows used to
  /// trap while the model was built.
  func testHugeInputShapeIsAnErrorLine() throws {
    for input in ["1,4294967296,4294967296", "3,100000,100000"] {
      let result = try run(["summary", "lenet5", "--input", input])
      XCTAssertEqual(result.status, 64, result.stderr)
      XCTAssertTrue(result.stderr.contains("--input \(input) has more than"), result.stderr)
    }
  }
}
