import CNNKit
import Foundation
import XCTest

/// JPEG/PNG decoding and gzip against Pillow's results (values printed by
/// Fixtures/images/make_images.py) and against damaged input, which must fail with a
/// `DataError` naming the file and never crash.
final class ImageDecodingTests: XCTestCase {
  private var folder: String!

  override func setUpWithError() throws {
    folder = NSTemporaryDirectory() + "cnnkit-decode-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws {
    try? FileManager.default.removeItem(atPath: folder)
  }

  private func write(_ name: String, _ bytes: [UInt8]) -> String {
    let path = folder + "/" + name
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
    return path
  }

  /// (file, channels, expected channel count, sum of all values, pixels at (0,0), (5,7), (11,15)).
  private let pillowCases: [(String, ImageChannels, Int, Int, [[Int]])] = [
    ("rgb.png", .rgb, 3, 65600, [[0, 7, 0], [127, 107, 26], [17, 227, 52]]),
    ("rgb.png", .grey, 1, 22620, [[4], [104], [144]]),
    ("rgb.jpg", .rgb, 3, 65494, [[0, 5, 0], [126, 105, 52], [58, 209, 44]]),
    ("rgb.jpg", .grey, 1, 22607, [[3], [105], [145]]),
    ("grey.jpg", .native, 1, 22607, [[3], [105], [145]]),
    ("grey.jpg", .rgb, 3, 67821, [[3, 3, 3], [105, 105, 105], [145, 145, 145]]),
    ("cmyk.jpg", .rgb, 3, 65601, [[0, 7, 0], [127, 107, 25], [18, 227, 52]]),
    ("rgba.png", .rgb, 3, 65600, [[0, 7, 0], [127, 107, 26], [17, 227, 52]]),
    ("rgba.png", .grey, 1, 22620, [[4], [104], [144]]),
    ("palette.png", .rgb, 3, 64422, [[58, 17, 46], [61, 128, 55], [65, 197, 133]]),
    ("grey16.png", .native, 1, 24032, [[0], [189], [53]]),
    ("grey16.png", .rgb, 3, 72096, [[0, 0, 0], [189, 189, 189], [53, 53, 53]]),
    ("bilevel.png", .rgb, 3, 68850, [[0, 0, 0], [255, 255, 255], [255, 255, 255]]),
  ]

  func testFixturesMatchPillow() throws {
    for (name, channels, channelCount, sum, points) in pillowCases {
      let image = try ImageDecoder.decode(path: Fixtures.imagePath(name), channels: channels)
      let label = "\(name) as \(channels)"
      XCTAssertEqual([image.height, image.width, image.channels], [12, 16, channelCount], label)
      XCTAssertEqual(Int(image.pixels.reduce(0, +)), sum, label)
      for ((y, x), expected) in zip([(0, 0), (5, 7), (11, 15)], points) {
        XCTAssertEqual((0..<channelCount).map { Int(image[y, x, $0]) }, expected, "\(label) at (\(y), \(x))")
      }
    }
  }

  func testDecodesFromMemoryAndDetectsFormat() throws {
    let png = try Array(Data(contentsOf: URL(fileURLWithPath: Fixtures.imagePath("rgb.png"))))
    let jpeg = try Array(Data(contentsOf: URL(fileURLWithPath: Fixtures.imagePath("rgb.jpg"))))
    XCTAssertEqual(png.withUnsafeBytes { ImageFormat(detecting: $0) }, .png)
    XCTAssertEqual(jpeg.withUnsafeBytes { ImageFormat(detecting: $0) }, .jpeg)
    XCTAssertNil([UInt8]("GIF89a".utf8).withUnsafeBytes { ImageFormat(detecting: $0) })
    // A PNG named .jpg still decodes: the contents decide, not the name.
    let renamed = write("actually-a-png.jpg", png)
    XCTAssertEqual(try ImageDecoder.decode(path: renamed), try ImageDecoder.decode(png))
    XCTAssertEqual(try ImageDecoder.decode(jpeg, channels: .native).channels, 3)
  }

  func testSharedPhotosDecodeWithExpectedSize() throws {
    let root = try SharedDatasets.folder("images")
    let table = try String(contentsOfFile: root + "/labels.csv", encoding: .utf8)
    var checked = 0
    for line in table.split(separator: "\n").dropFirst() {
      // filename,class_index,wnid,"class name",width,height,sha256 (names have no commas).
      let fields = line.split(separator: ",").map(String.init)
      let image = try ImageDecoder.decode(path: root + "/" + fields[0])
      XCTAssertEqual(
        [image.width, image.height, image.channels], [Int(fields[4])!, Int(fields[5])!, 3], fields[0])
      checked += 1
    }
    XCTAssertEqual(checked, 27)
    // Whole-image sums and two pixels as Pillow decodes them: libjpeg-turbo's default (islow IDCT,
    // fancy upsampling) gives identical pixels.
    for (name, sum, first, inner) in [
      ("n01443537_goldfish.JPEG", 19_506_577, [3, 3, 5], [236, 201, 75]),
      ("samoyed_dog.jpg", 567_894_869, [13, 30, 12], [3, 1, 4]),
    ] {
      let image = try ImageDecoder.decode(path: root + "/" + name)
      XCTAssertEqual(image.pixels.reduce(0.0) { $0 + Double($1) }, Double(sum), name)
      XCTAssertEqual((0..<3).map { Int(image[0, 0, $0]) }, first, name)
      XCTAssertEqual((0..<3).map { Int(image[100, 200, $0]) }, inner, name)
    }
  }

  func testDamagedImagesFailNamingTheFile() throws {
    let jpeg = try Array(Data(contentsOf: URL(fileURLWithPath: Fixtures.imagePath("rgb.jpg"))))
    let png = try Array(Data(contentsOf: URL(fileURLWithPath: Fixtures.imagePath("rgb.png"))))
    var corrupt = jpeg
    for i in 2..<40 { corrupt[i] = 0x5A }  // wipes the segment markers after SOI
    let cases: [(String, [UInt8], String)] = [
      ("truncated.jpg", Array(jpeg.prefix(jpeg.count * 2 / 3)), "JPEG"),
      ("corrupt.jpg", corrupt, "JPEG"),
      ("header-only.jpg", Array(jpeg.prefix(4)), "JPEG"),
      ("truncated.png", Array(png.prefix(png.count / 2)), "PNG"),
      ("signature-only.png", Array(png.prefix(8)), "PNG"),
      ("garbage.jpg", Array("this is not an image at all".utf8), "not a JPEG or PNG"),
      ("empty.png", [], "empty"),
    ]
    for (name, bytes, fragment) in cases {
      let path = write(name, bytes)
      assertDataError(try ImageDecoder.decode(path: path), naming: path, containing: fragment)
    }
    assertDataError(try ImageDecoder.decode(path: folder + "/missing.jpg"), naming: folder + "/missing.jpg")
    assertDataError(try ImageDecoder.decode(path: folder), naming: folder, containing: "not a regular file")
  }

  func testPixelLimitIsCheckedBeforeDecoding() throws {
    let path = Fixtures.imagePath("rgb.png")
    assertDataError(
      try ImageDecoder.decode(path: path, maximumPixels: 100), naming: path, containing: "limit")
    // A JPEG whose frame header claims 65000×65000: refused from the header alone.
    var jpeg = try Array(Data(contentsOf: URL(fileURLWithPath: Fixtures.imagePath("rgb.jpg"))))
    let sof = try XCTUnwrap((0..<jpeg.count - 1).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 })
    jpeg.replaceSubrange(sof + 5..<sof + 9, with: [0xFD, 0xE8, 0xFD, 0xE8])
    let huge = write("huge.jpg", jpeg)
    assertDataError(try ImageDecoder.decode(path: huge), naming: huge, containing: "65000x65000")
  }

  /// Truncations and byte flips over small JPEGs and PNGs: every outcome is an image of sane shape
  /// or a `DataError`, never a crash or a hang.
  func testFuzzedImagesNeverCrash() throws {
    var rng = SplitMix(seed: 42)
    var failures = 0
    var successes = 0
    for name in ["rgb.jpg", "cmyk.jpg", "rgb.png", "palette.png"] {
      let original = try Array(Data(contentsOf: URL(fileURLWithPath: Fixtures.imagePath(name))))
      for iteration in 0..<150 {
        var bytes = original
        if iteration % 3 != 1 { bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count)))) }
        if iteration % 3 != 0 && !bytes.isEmpty {
          for _ in 0..<(1 + Int(rng.next() % 4)) {
            bytes[Int(rng.next() % UInt64(bytes.count))] ^= UInt8(truncatingIfNeeded: 1 + rng.next() % 255)
          }
        }
        do {
          let image = try ImageDecoder.decode(bytes, path: name, maximumPixels: 1 << 20)
          XCTAssertEqual(image.pixels.count, image.height * image.width * image.channels)
          successes += 1
        } catch let error as DataError {
          XCTAssertTrue(error.description.contains(name), "\(error)")
          failures += 1
        }
      }
    }
    XCTAssertGreaterThan(failures, 100)
    XCTAssertGreaterThan(successes, 10)
  }

  // MARK: gzip

  func testGzipMembersPaddingAndLimits() throws {
    let compressed = try Array(
      Data(contentsOf: URL(fileURLWithPath: Fixtures.tinyIDX + "/train-labels-idx1-ubyte.gz")))
    let plain = try Gzip.decompress(compressed)
    XCTAssertEqual(plain, [0, 0, 8, 1, 0, 0, 0, 5, 3, 1, 4, 1, 5])
    XCTAssertEqual(try Gzip.decompress(compressed + compressed), plain + plain, "every member is read")
    XCTAssertEqual(try Gzip.decompress(compressed + [0, 0, 0, 0]), plain, "zero padding is accepted")
    XCTAssertEqual(try Gzip.decompress(compressed, maximumBytes: plain.count), plain)

    let cases: [(String, [UInt8], Int, String)] = [
      ("trailing.gz", compressed + Array("junk".utf8), 1 << 20, "trailing garbage"),
      ("truncated.gz", Array(compressed.prefix(compressed.count - 6)), 1 << 20, "truncated"),
      ("cut-in-header.gz", Array(compressed.prefix(5)), 1 << 20, "truncated"),
      (
        "bad-crc.gz", compressed.enumerated().map { $0 == compressed.count - 6 ? $1 ^ 0xFF : $1 }, 1 << 20,
        "check"
      ),
      ("limit.gz", compressed, plain.count - 1, "limit"),
    ]
    for (name, bytes, limit, fragment) in cases {
      assertDataError(
        try Gzip.decompress(bytes, path: name, maximumBytes: limit), naming: name, containing: fragment)
      let path = write(name, bytes)
      assertDataError(
        try FileBytes(path: path, maximumDecompressedBytes: limit), naming: path, containing: fragment)
    }
    // Plain files pass through untouched.
    let raw = write("plain.bin", plain)
    let file = try FileBytes(path: raw)
    XCTAssertFalse(file.wasCompressed)
    XCTAssertEqual(Array(file.bytes), plain)
    XCTAssertEqual(try Gzip.readFile(path: write("labels.gz", compressed)), plain)
  }

  func testFuzzedGzipNeverCrashes() throws {
    let compressed = try Array(
      Data(contentsOf: URL(fileURLWithPath: Fixtures.tinyIDX + "/train-images-idx3-ubyte.gz")))
    var rng = SplitMix(seed: 7)
    for iteration in 0..<300 {
      var bytes = compressed
      if iteration % 2 == 0 {
        bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count))))
      } else {
        bytes[Int(rng.next() % UInt64(bytes.count))] ^= UInt8(truncatingIfNeeded: 1 + rng.next() % 255)
      }
      do {
        _ = try Gzip.decompress(bytes, path: "fuzz.gz", maximumBytes: 1 << 16)
      } catch let error as DataError {
        XCTAssertTrue(error.description.contains("fuzz.gz"), "\(error)")
      }
    }
  }
}

/// A tiny deterministic generator for the fuzz loops (independent of the library's RNG).
struct SplitMix {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

extension Fixtures {
  /// Path of an image fixture written by Fixtures/images/make_images.py.
  static func imagePath(_ name: String) -> String { folder + "/images/" + name }
  /// Folder with a 5-image IDX pair (gzip), `train-…-ubyte.gz`.
  static var tinyIDX: String { folder + "/images/tiny-idx" }
}

/// Asserts that `expression` throws a `DataError` whose message names `path` (and holds `fragment`).
func assertDataError<T>(
  _ expression: @autoclosure () throws -> T, naming path: String, containing fragment: String? = nil,
  file: StaticString = #filePath, line: UInt = #line
) {
  do {
    _ = try expression()
    XCTFail("expected a DataError naming \(path)", file: file, line: line)
  } catch let error as DataError {
    let text = error.description
    XCTAssertTrue(text.contains(path), "\(text) does not name \(path)", file: file, line: line)
    if let fragment {
      XCTAssertTrue(text.contains(fragment), "\(text) does not mention '\(fragment)'", file: file, line: line)
    }
  } catch {
    XCTFail("expected a DataError, got \(error)", file: file, line: line)
  }
}
