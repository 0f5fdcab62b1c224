import CNNKit
import Foundation
import SwiftProtobuf
import XCTest

/// CRC-32C against published vectors, and TensorBoard event files read back record by record with
/// their checksums checked: what TensorBoard's own reader does before it looks at an event.
final class TensorBoardWriterTests: XCTestCase {
  private func scratchFolder() throws -> String {
    let folder = NSTemporaryDirectory() + "cnnkit-tensorboard-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    addTeardownBlock { try? FileManager.default.removeItem(atPath: folder) }
    return folder
  }

  func testCRC32CMatchesKnownVectors() {
    // The check value of the CRC catalogue, and RFC 3720's (iSCSI) test patterns, appendix B.4.
    XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
    XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
    XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
    XCTAssertEqual(CRC32C.checksum((0..<32).map { UInt8($0) }), 0x46DD_794E)
    XCTAssertEqual(CRC32C.checksum((0..<32).map { UInt8(31 - $0) }), 0x113F_DB5C)
    XCTAssertEqual(CRC32C.checksum([]), 0)
    // Masking, as TensorFlow's crc32c::Mask: rotate right 15, add 0xa282ead8.
    XCTAssertEqual(CRC32C.masked(0), 0xA282_EAD8)
    XCTAssertEqual(CRC32C.masked(0xE306_9283), ((0xE306_9283 >> 15) | (0xE306_9283 << 17)) &+ 0xA282_EAD8)
  }

  /// Splits a TFRecord file into its records, failing on a bad length or data checksum.
  static func records(in bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> [[UInt8]] {
    func little<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
      (0..<(T.bitWidth / 8)).reduce(T(0)) { $0 | T(bytes[offset + $1]) << ($1 * 8) }
    }
    var records: [[UInt8]] = []
    var offset = 0
    while offset < bytes.count {
      guard offset + 12 <= bytes.count else {
        XCTFail("a cut record header at byte \(offset)", file: file, line: line)
        break
      }
      let length = Int(little(UInt64.self, at: offset))
      XCTAssertEqual(
        little(UInt32.self, at: offset + 8), CRC32C.maskedChecksum(bytes[offset..<offset + 8]),
        "length checksum at byte \(offset)", file: file, line: line)
      let start = offset + 12
      guard start + length + 4 <= bytes.count else {
        XCTFail("a cut record at byte \(offset)", file: file, line: line)
        break
      }
      let data = Array(bytes[start..<start + length])
      XCTAssertEqual(
        little(UInt32.self, at: start + length), CRC32C.maskedChecksum(data),
        "data checksum at byte \(offset)", file: file, line: line)
      records.append(data)
      offset = start + length + 4
    }
    return records
  }

  /// The events of a file, decoded with the generated protocol-buffer types.
  static func events(inFile path: String) throws -> [Tensorboard_Event] {
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    return try records(in: bytes).map { try Tensorboard_Event(serializedBytes: $0) }
  }

  /// Each scalar's values by tag, as (step, value) in file order.
  static func scalars(_ events: [Tensorboard_Event]) -> [String: [(step: Int64, value: Float)]] {
    var series: [String: [(step: Int64, value: Float)]] = [:]
    for event in events {
      guard case .summary(let summary)? = event.what else { continue }
      for value in summary.value {
        guard case .simpleValue(let number)? = value.value else { continue }
        series[value.tag, default: []].append((event.step, number))
      }
    }
    return series
  }

  func testRecordFramingByHand() {
    let data: [UInt8] = [1, 2, 3]
    let record = TensorBoardWriter.record(data)
    XCTAssertEqual(record.count, 8 + 4 + 3 + 4)
    XCTAssertEqual(Array(record[0..<8]), [3, 0, 0, 0, 0, 0, 0, 0])
    let lengthCRC = CRC32C.maskedChecksum([3, 0, 0, 0, 0, 0, 0, 0])
    XCTAssertEqual(Array(record[8..<12]), (0..<4).map { UInt8(truncatingIfNeeded: lengthCRC >> ($0 * 8)) })
    XCTAssertEqual(Array(record[12..<15]), data)
    XCTAssertEqual(Self.records(in: record), [data])
  }

  func testScalarsReadBackWithVersionFirst() throws {
    let folder = try scratchFolder() + "/logs/run1"
    let start = Date(timeIntervalSince1970: 1_700_000_000.25)
    let writer = try TensorBoardWriter(directory: folder, hostname: "testhost", now: start)
    XCTAssertEqual(writer.path, folder + "/events.out.tfevents.1700000000.testhost")
    try writer.addScalar("loss/train", 2.5, step: 1, wallTime: start)
    try writer.addScalars([("lr", 0.02), ("zero", 0)], step: 2, wallTime: start)
    try writer.add(
      EpochRecord(
        epoch: 3, trainLoss: 0.5, trainAccuracy: 0.75, validationLoss: 0.625, validationAccuracy: 0.875,
        learningRate: 0.002, seconds: 4, imagesPerSecond: 1000))
    writer.close()
    XCTAssertThrowsError(try writer.addScalar("late", 1, step: 4))

    let events = try Self.events(inFile: writer.path)
    XCTAssertEqual(events.first?.fileVersion, "brain.Event:2")
    XCTAssertEqual(events.first?.wallTime, start.timeIntervalSince1970)
    XCTAssertEqual(events.count, 1 + 1 + 2 + 6, "one event per scalar")
    let series = Self.scalars(events)
    XCTAssertEqual(series["loss/train"]?.map(\.step), [1, 3])
    XCTAssertEqual(series["loss/train"]?.map(\.value), [2.5, 0.5])
    XCTAssertEqual(series["lr"]?.map(\.value), [0.02, 0.002])
    // A zero is written (the value is in a oneof, so it has presence even in proto3).
    XCTAssertEqual(series["zero"]?.map(\.value), [0])
    XCTAssertEqual(series["accuracy/train"]?.map(\.value), [0.75])
    XCTAssertEqual(series["loss/val"]?.map(\.value), [0.625])
    XCTAssertEqual(series["accuracy/val"]?.map(\.value), [0.875])
    XCTAssertEqual(series["img_per_s"]?.map(\.value), [1000])

    // A second writer in the same second gets its own file rather than appending to the first.
    let second = try TensorBoardWriter(directory: folder, hostname: "testhost", now: start)
    XCTAssertEqual(second.path, writer.path + ".1")
    XCTAssertEqual(try Self.events(inFile: second.path).count, 1)
  }

  func testEpochWithoutValidationLeavesValTagsOut() throws {
    let writer = try TensorBoardWriter(directory: try scratchFolder(), hostname: "h")
    try writer.add(
      EpochRecord(
        epoch: 1, trainLoss: 1, trainAccuracy: 0.5, learningRate: 0.1, seconds: 1, imagesPerSecond: 10))
    let series = Self.scalars(try Self.events(inFile: writer.path))
    XCTAssertEqual(Set(series.keys), ["loss/train", "accuracy/train", "lr", "img_per_s"])
  }

  func testUnusableDirectoryIsNamed() throws {
    let file = try scratchFolder() + "/plain-file"
    try Data("x".utf8).write(to: URL(fileURLWithPath: file))
    XCTAssertThrowsError(try TensorBoardWriter(directory: file)) {
      XCTAssertEqual(
        $0 as? TensorBoardWriter.WriterError,
        .unusableDirectory(path: file, reason: "is a file, not a folder"))
    }
    XCTAssertThrowsError(try TensorBoardWriter(directory: file + "/below")) {
      XCTAssertEqual(
        $0 as? TensorBoardWriter.WriterError,
        .unusableDirectory(path: file + "/below", reason: "\(file) is a file, not a folder"))
    }
  }
}
