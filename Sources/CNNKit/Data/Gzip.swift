import CImageCodecs
import Foundation

/// The whole contents of a file, read once and then shared read-only between threads: a plain
/// file is memory-mapped, a gzip file (first bytes 1f 8b) is inflated into memory. Dataset readers
/// keep one of these and slice records out of it, so the bytes are never copied per sample.
public final class FileBytes: @unchecked Sendable {
  // @unchecked: the storage is immutable after init and freed only in deinit.

  /// The file the bytes came from (for error messages).
  public let path: String
  /// Whether the file was gzip-compressed.
  public let wasCompressed: Bool
  /// The (decompressed) bytes; valid as long as this object lives.
  public let bytes: UnsafeRawBufferPointer
  private let mapping: MappedFile?

  /// Reads `path`, inflating it if it starts with the gzip magic. Output above
  /// `maximumDecompressedBytes` is refused, so a small hostile file cannot exhaust memory.
  public convenience init(path: String, maximumDecompressedBytes: Int = Gzip.defaultMaximumBytes) throws {
    let mapped: MappedFile
    do {
      mapped = try MappedFile(path: path)
    } catch SafeTensorsError.unreadable(_, let reason) {
      throw DataError.unreadable(path: path, reason: reason)
    }
    try self.init(mapped: mapped, path: path, maximumDecompressedBytes: maximumDecompressedBytes)
  }

  /// The same as `init(path:)` for a file's contents already in memory (copied, or inflated when
  /// gzip-compressed); `path` names them in errors.
  public convenience init(
    bytes: [UInt8], path: String = "<memory>", maximumDecompressedBytes: Int = Gzip.defaultMaximumBytes
  ) throws {
    let copy = bytes.withUnsafeBytes { MappedFile(copying: $0) }
    try self.init(mapped: copy, path: path, maximumDecompressedBytes: maximumDecompressedBytes)
  }

  private init(mapped: MappedFile, path: String, maximumDecompressedBytes: Int) throws {
    self.path = path
    let raw = UnsafeRawBufferPointer(start: mapped.bytes, count: mapped.count)
    if Gzip.isCompressed(raw) {
      var result = cic_result()
      let status = cic_gunzip(mapped.bytes, mapped.count, UInt64(max(0, maximumDecompressedBytes)), &result)
      guard Int(status) == Int(CIC_OK) else {
        throw codecError(status: status, result: &result, path: path, format: "gzip")
      }
      // `data` is non-null on success, even for empty output: the decoder allocates its buffer up front.
      bytes = UnsafeRawBufferPointer(start: result.data, count: result.count)
      wasCompressed = true
      mapping = nil
    } else {
      bytes = raw
      wasCompressed = false
      mapping = mapped
    }
  }

  deinit {
    if mapping == nil { cic_free(UnsafeMutableRawPointer(mutating: bytes.baseAddress)) }
  }

  /// Number of bytes.
  public var count: Int { bytes.count }

  /// Byte at `offset`.
  public subscript(offset: Int) -> UInt8 { bytes[offset] }

  /// Big-endian 32-bit integer at `offset` (IDX headers).
  func bigEndianUInt32(at offset: Int) -> UInt32 {
    (0..<4).reduce(0) { $0 << 8 | UInt32(bytes[offset + $1]) }
  }
}

/// gzip helpers over the system zlib.
public enum Gzip {
  /// Default cap on decompressed size: 4 GiB, above the largest dataset file read here (CIFAR-100's
  /// 154 MB train.bin) yet far below what a decompression bomb would ask for.
  public static let defaultMaximumBytes = 4 << 30

  /// Whether `bytes` begins with the gzip magic number 1f 8b.
  public static func isCompressed(_ bytes: UnsafeRawBufferPointer) -> Bool {
    bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B
  }

  /// Inflates gzip data (all members). `path` only names the source in errors.
  public static func decompress(
    _ data: [UInt8], path: String = "<memory>", maximumBytes: Int = defaultMaximumBytes
  ) throws -> [UInt8] {
    var result = cic_result()
    let status = data.withUnsafeBufferPointer {
      cic_gunzip($0.baseAddress, $0.count, UInt64(max(0, maximumBytes)), &result)
    }
    guard Int(status) == Int(CIC_OK) else {
      throw codecError(status: status, result: &result, path: path, format: "gzip")
    }
    defer { cic_free(result.data) }
    return Array(UnsafeBufferPointer(start: result.data, count: result.count))
  }

  /// Reads a whole file into an array, inflating it when it is gzip-compressed.
  public static func readFile(path: String, maximumBytes: Int = defaultMaximumBytes) throws -> [UInt8] {
    let file = try FileBytes(path: path, maximumDecompressedBytes: maximumBytes)
    return Array(file.bytes)
  }
}

/// The message a C decoder left in `result`.
func codecMessage(_ result: inout cic_result) -> String {
  withUnsafeBytes(of: &result.message) { raw in
    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
  }
}

/// Maps a CImageCodecs failure to the `DataError` naming `path`.
func codecError(status: Int32, result: inout cic_result, path: String, format: String) -> DataError {
  let message = codecMessage(&result)
  if Int(status) == Int(CIC_ERROR_NO_MEMORY) {
    return .unreadable(path: path, reason: "\(format): \(message)")
  }
  if Int(status) == Int(CIC_ERROR_TOO_LARGE) { return .corrupt(path: path, reason: "\(format): \(message)") }
  return .corrupt(path: path, reason: "invalid \(format) data: \(message)")
}
