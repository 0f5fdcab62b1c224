import CNNKit
import Foundation
import XCTest

final class SafeTensorsTests: XCTestCase {
  private var folder: String!

  override func setUpWithError() throws {
    folder = NSTemporaryDirectory() + "cnnkit-st-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws {
    try? FileManager.default.removeItem(atPath: folder)
  }

  /// Builds a file from a header string and raw data bytes, as the format lays them out.
  private func makeFile(_ name: String, header: String, data: [UInt8]) -> String {
    var bytes: [UInt8] = []
    var n = UInt64(header.utf8.count)
    for _ in 0..<8 {
      bytes.append(UInt8(n & 0xFF))
      n >>= 8
    }
    bytes += Array(header.utf8) + data
    let path = folder + "/" + name
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
    return path
  }

  private func floatBytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { v -> [UInt8] in
      let b = v.bitPattern
      return [UInt8(b & 0xFF), UInt8((b >> 8) & 0xFF), UInt8((b >> 16) & 0xFF), UInt8(b >> 24)]
    }
  }

  func testReadsEveryDtypeAsFloat() throws {
    // F16 1.5 = 0x3E00, BF16 -2.0 = 0xC000, F64 0.25, I64 7, U8 200, I8 -3, I32 -100000.
    var data: [UInt8] = [0x00, 0x3E] + [0x00, 0xC0]
    data += withUnsafeBytes(of: Double(0.25).bitPattern.littleEndian, Array.init)
    data += withUnsafeBytes(of: Int64(7).littleEndian, Array.init)
    data += [200, 0xFD]
    data += withUnsafeBytes(of: Int32(-100_000).littleEndian, Array.init)
    let header = """
      {"h":{"dtype":"F16","shape":[1],"data_offsets":[0,2]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[2,4]},\
      "d":{"dtype":"F64","shape":[],"data_offsets":[4,12]},"n":{"dtype":"I64","shape":[],"data_offsets":[12,20]},\
      "u":{"dtype":"U8","shape":[1],"data_offsets":[20,21]},"i":{"dtype":"I8","shape":[1],"data_offsets":[21,22]},\
      "w":{"dtype":"I32","shape":[1],"data_offsets":[22,26]},"__metadata__":{"format":"pt"}}
      """
    let file = try SafeTensorsFile(path: makeFile("types.safetensors", header: header, data: data))
    XCTAssertEqual(try file.tensor(named: "h").scalars, [1.5])
    XCTAssertEqual(try file.tensor(named: "b").scalars, [-2])
    XCTAssertEqual(try file.tensor(named: "d").scalars, [0.25])
    XCTAssertEqual(try file.tensor(named: "d").shape, [])
    XCTAssertEqual(try file.tensor(named: "n").scalars, [7])
    XCTAssertEqual(try file.tensor(named: "u").scalars, [200])
    XCTAssertEqual(try file.tensor(named: "i").scalars, [-3])
    XCTAssertEqual(try file.tensor(named: "w").scalars, [-100_000])
    XCTAssertEqual(file.metadata, ["format": "pt"])
    XCTAssertThrowsError(try file.tensor(named: "zzz"))
  }

  func testHalfPrecisionSpecialValues() throws {
    // 0x0001 smallest subnormal, 0x7C00 +inf, 0xFBFF -65504.
    let data: [UInt8] = [0x01, 0x00, 0x00, 0x7C, 0xFF, 0xFB]
    let path = makeFile(
      "half.safetensors", header: #"{"x":{"dtype":"F16","shape":[3],"data_offsets":[0,6]}}"#, data: data)
    let values = try SafeTensorsFile(path: path).tensor(named: "x").scalars
    XCTAssertEqual(values[0], 5.9604645e-08)
    XCTAssertEqual(values[1], .infinity)
    XCTAssertEqual(values[2], -65504)
  }

  func testRoundTripKeepsNamesShapesValuesAndInt64Counter() throws {
    let model = Sequential(Conv2d(2, 3, kernelSize: 3), BatchNorm2d(3), ReLU())
    (model[1] as! BatchNorm2d).numBatchesTracked.data[0] = 42
    let path = folder + "/model.safetensors"
    try model.saveStateDict(to: path, metadata: ["framework": "cnnkit"])
    let file = try SafeTensorsFile(path: path)
    XCTAssertEqual(
      file.entries.map(\.name),
      [
        "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
        "1.num_batches_tracked",
      ])
    let counter = file.entry(named: "1.num_batches_tracked")!
    XCTAssertEqual(counter.dtype, .i64)
    XCTAssertEqual(counter.shape, [])
    XCTAssertEqual(file.metadata["framework"], "cnnkit")
    // The header is padded to keep the data 8-byte aligned.
    let raw = try Data(contentsOf: URL(fileURLWithPath: path))
    XCTAssertEqual(Int(raw[0]) % 8, 0)

    let copy = Sequential(Conv2d(2, 3, kernelSize: 3), BatchNorm2d(3), ReLU())
    try copy.loadStateDict(contentsOf: path)
    for ((n1, a), (n2, b)) in zip(model.stateDict(), copy.stateDict()) {
      XCTAssertEqual(n1, n2)
      XCTAssertEqual(a.scalars, b.scalars, n1)
    }
  }

  func testStrictLoadListsEveryProblemAndChangesNothing() throws {
    let source = Sequential(Conv2d(3, 4, kernelSize: 3), Linear(4, 2))
    let path = folder + "/src.safetensors"
    try source.saveStateDict(to: path)
    let target = Sequential(Conv2d(3, 5, kernelSize: 3), ReLU(), Linear(4, 2))
    let before = target.stateDict().map { $0.tensor.scalars }
    XCTAssertThrowsError(try target.loadStateDict(contentsOf: path)) { error in
      guard let mismatch = error as? StateDictMismatch else { return XCTFail("\(error)") }
      XCTAssertEqual(mismatch.missing, ["2.weight", "2.bias"])
      XCTAssertEqual(mismatch.unexpected, ["1.weight", "1.bias"])
      XCTAssertEqual(mismatch.shapeMismatches.count, 2)
      XCTAssertTrue(mismatch.description.contains("0.weight: model [5, 3, 3, 3] vs file [4, 3, 3, 3]"))
    }
    XCTAssertEqual(target.stateDict().map { $0.tensor.scalars }, before)

    let relaxed = Sequential(Conv2d(3, 4, kernelSize: 3), ReLU(), Linear(4, 2))
    let report = try relaxed.loadStateDict(contentsOf: path, strict: false)
    XCTAssertEqual(report.loaded, ["0.weight", "0.bias"])
    XCTAssertEqual(report.missing, ["2.weight", "2.bias"])
    XCTAssertEqual(relaxed.stateDict()[0].tensor.scalars, source.stateDict()[0].tensor.scalars)
  }

  func testBadHeadersGiveErrorsNamingTheProblem() throws {
    let cases: [(String, String, [UInt8], String)] = [
      ("notjson", "{nope", [], "not valid JSON"),
      ("notobject", "[1,2]", [], "does not start with '{'"),
      ("dtype", #"{"x":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}}"#, [0], "unknown dtype 'F8'"),
      ("range", #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, [0, 0, 0, 0], "beyond"),
      (
        "count", #"{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, Array(repeating: 0, count: 8),
        "do not hold"
      ),
      (
        "order", #"{"x":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}"#, Array(repeating: 0, count: 8),
        "not ordered"
      ),
      ("negative", #"{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}"#, [], "non-negative"),
      (
        "overlap",
        #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
        Array(repeating: 0, count: 8), "overlaps"
      ),
      ("meta", #"{"__metadata__":{"a":1}}"#, [], "not a string"),
    ]
    for (name, header, data, expected) in cases {
      let path = makeFile(name, header: header, data: data)
      XCTAssertThrowsError(try SafeTensorsFile(path: path), name) { error in
        let text = "\(error)"
        XCTAssertTrue(text.contains(expected), "\(name): \(text)")
        XCTAssertTrue(text.contains(path), "\(name): \(text)")
      }
    }
  }

  func testHeaderLengthBeyondFileAndTinyFiles() throws {
    let path = folder + "/short"
    _ = FileManager.default.createFile(atPath: path, contents: Data([1, 2, 3]))
    XCTAssertThrowsError(try SafeTensorsFile(path: path)) { XCTAssertTrue("\($0)".contains("truncated")) }
    var bytes = [UInt8](repeating: 0, count: 16)
    bytes[0] = 0xFF
    bytes[1] = 0xFF
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
    XCTAssertThrowsError(try SafeTensorsFile(path: path)) { XCTAssertTrue("\($0)".contains("past the end")) }
    bytes = [UInt8](repeating: 0xFF, count: 16)
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
    XCTAssertThrowsError(try SafeTensorsFile(path: path)) { XCTAssertTrue("\($0)".contains("limit")) }
    XCTAssertThrowsError(try SafeTensorsFile(path: folder + "/does-not-exist")) {
      XCTAssertTrue("\($0)".contains("cannot read"))
    }
    XCTAssertThrowsError(try SafeTensorsFile(path: folder)) {
      XCTAssertTrue("\($0)".contains("not a regular file"))
    }
  }

  /// Every truncation and many random corruptions of a valid file: an error or a valid file, never a crash.
  func testTruncatedAndCorruptedFilesNeverCrash() throws {
    let model = Sequential(Conv2d(1, 2, kernelSize: 2), BatchNorm2d(2), Linear(3, 2))
    let good = folder + "/good.safetensors"
    try model.saveStateDict(to: good)
    let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: good)))
    let path = folder + "/bad.safetensors"
    var failures = 0
    for cut in 0..<original.count {
      _ = FileManager.default.createFile(atPath: path, contents: Data(original[0..<cut]))
      do {
        _ = try SafeTensorsFile(path: path)
      } catch {
        failures += 1
      }
    }
    // Any cut removes data the header promises, so every truncation must be refused.
    XCTAssertEqual(failures, original.count)

    var rng = RandomGenerator(seed: 11)
    for _ in 0..<2000 {
      var bytes = original
      for _ in 0..<(1 + Int(rng.next() % 4)) {
        bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
      }
      _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
      if let file = try? SafeTensorsFile(path: path) {
        // A corruption that still parses must still be safe to read and load.
        for entry in file.entries { _ = try file.tensor(named: entry.name) }
        _ = try? Sequential(Conv2d(1, 2, kernelSize: 2), BatchNorm2d(2), Linear(3, 2)).loadStateDict(
          from: file)
      }
    }
  }

  func testFailedWriteLeavesExistingFileIntact() throws {
    let path = folder + "/keep.safetensors"
    try Sequential(Linear(2, 2)).saveStateDict(to: path)
    let before = try Data(contentsOf: URL(fileURLWithPath: path))
    let twice = [
      SafeTensorsWriter.Item(name: "a", tensor: Tensor(zeros: [1])),
      SafeTensorsWriter.Item(name: "a", tensor: Tensor(zeros: [1])),
    ]
    XCTAssertThrowsError(try SafeTensorsWriter.write(twice, to: path))
    XCTAssertThrowsError(
      try AtomicFile.write(to: path) { out in
        try out.write(Data([1, 2, 3]))
        throw CocoaError(.fileWriteUnknown)
      })
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before)
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder).filter {
      $0.contains(".tmp-")
    }
    XCTAssertEqual(leftovers, [])
  }
}
