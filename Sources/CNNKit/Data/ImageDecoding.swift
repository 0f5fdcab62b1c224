import CImageCodecs
import Foundation

/// Image file formats the decoder reads, recognised by their first bytes rather than the file name.
public enum ImageFormat: String, Sendable, CaseIterable {
  case jpeg
  case png

  /// The format whose signature `bytes` starts with: JPEG `FF D8 FF`, PNG `89 'PNG' 0D 0A 1A 0A`.
  public init?(detecting bytes: UnsafeRawBufferPointer) {
    if bytes.starts(with: [0xFF, 0xD8, 0xFF]) {
      self = .jpeg
    } else if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
      self = .png
    } else {
      return nil
    }
  }
}

/// The channels a decoded image gets.
public enum ImageChannels: Sendable {
  /// Always 3 (what torchvision's ImageFolder loader gives: `Image.convert("RGB")`).
  case rgb
  /// Always 1: colour reduced to luma with Pillow's `convert("L")` weights.
  case grey
  /// 1 for greyscale files, 3 for everything else.
  case native

  var codecRequest: Int32 {
    switch self {
    case .rgb: return Int32(CIC_CHANNELS_RGB)
    case .grey: return Int32(CIC_CHANNELS_GREY)
    case .native: return Int32(CIC_CHANNELS_NATIVE)
    }
  }
}

/// Decodes JPEG and PNG to `Image` (8-bit samples as floats 0…255) through the system libjpeg-turbo
/// and libpng. CMYK, palette, 16-bit, sub-byte grey and alpha are all reduced to 8-bit grey or RGB;
/// alpha is dropped, not composited, as in Pillow. Every failure is a `DataError` naming the file.
public enum ImageDecoder {
  /// Default cap on width × height (8192 × 8192), checked before any pixel memory is allocated.
  public static let defaultMaximumPixels = 1 << 26
  /// Files above this size are refused before they are read: no JPEG or PNG within the pixel cap
  /// needs more.
  public static let maximumFileBytes = 1 << 30

  /// Decodes an encoded image held in memory; `path` names it in errors.
  public static func decode(
    _ bytes: UnsafeRawBufferPointer, path: String = "<memory>", channels: ImageChannels = .rgb,
    maximumPixels: Int = defaultMaximumPixels
  ) throws -> Image {
    guard let format = ImageFormat(detecting: bytes) else {
      let head = bytes.prefix(4).map { String(format: "%02x", $0) }.joined(separator: " ")
      let reason =
        bytes.isEmpty ? "empty file, not an image" : "not a JPEG or PNG image (starts with \(head))"
      throw DataError.corrupt(path: path, reason: reason)
    }
    var result = cic_result()
    let base = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
    let limit = UInt64(max(0, maximumPixels))
    let status: Int32
    switch format {
    case .jpeg: status = cic_decode_jpeg(base, bytes.count, channels.codecRequest, limit, &result)
    case .png: status = cic_decode_png(base, bytes.count, channels.codecRequest, limit, &result)
    }
    guard Int(status) == Int(CIC_OK) else {
      throw codecError(status: status, result: &result, path: path, format: format == .jpeg ? "JPEG" : "PNG")
    }
    defer { cic_free(result.data) }
    let count = result.count
    let samples = UnsafeBufferPointer(start: result.data, count: count)
    let pixels = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
      for i in 0..<count { buffer[i] = Float(samples[i]) }
      initialized = count
    }
    return Image(
      height: Int(result.height), width: Int(result.width), channels: Int(result.channels), pixels: pixels)
  }

  /// Decodes an encoded image held in an array.
  public static func decode(
    _ bytes: [UInt8], path: String = "<memory>", channels: ImageChannels = .rgb,
    maximumPixels: Int = defaultMaximumPixels
  ) throws -> Image {
    try bytes.withUnsafeBytes { try decode($0, path: path, channels: channels, maximumPixels: maximumPixels) }
  }

  /// Reads and decodes the image file at `path`; the format comes from its contents, not its name.
  public static func decode(
    path: String, channels: ImageChannels = .rgb, maximumPixels: Int = defaultMaximumPixels
  ) throws -> Image {
    let bytes = try readFileContents(path: path, maximumBytes: maximumFileBytes)
    return try decode(bytes, path: path, channels: channels, maximumPixels: maximumPixels)
  }
}

/// Reads a whole file with read(2). Image files are read rather than memory-mapped: a loader reads
/// each one once, and a file truncated by another process while mapped would crash us with SIGBUS.
func readFileContents(path: String, maximumBytes: Int) throws -> [UInt8] {
  func failure(_ reason: String? = nil) -> DataError {
    .unreadable(path: path, reason: reason ?? String(cString: strerror(errno)))
  }
  let descriptor = open(path, O_RDONLY)
  guard descriptor >= 0 else { throw failure() }
  defer { close(descriptor) }
  var info = stat()
  guard fstat(descriptor, &info) == 0 else { throw failure() }
  guard (info.st_mode & S_IFMT) == S_IFREG else { throw failure("not a regular file") }
  let size = Int(info.st_size)
  guard size <= maximumBytes else {
    throw DataError.corrupt(path: path, reason: "file is \(size) bytes, above the \(maximumBytes)-byte limit")
  }
  var bytes = [UInt8](repeating: 0, count: size)
  var filled = 0
  while filled < size {
    let n = bytes.withUnsafeMutableBytes { read(descriptor, $0.baseAddress! + filled, size - filled) }
    if n < 0 && errno == EINTR { continue }
    guard n >= 0 else { throw failure() }
    if n == 0 { break }  // the file shrank since fstat
    filled += n
  }
  return filled == size ? bytes : Array(bytes[..<filled])
}
