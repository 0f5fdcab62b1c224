import Foundation

/// Element types a safetensors file may declare (the format's dtype strings).
public enum SafeTensorsDType: String, CaseIterable, Sendable {
  case bool = "BOOL", i8 = "I8", u8 = "U8", i16 = "I16", u16 = "U16", i32 = "I32", u32 = "U32"
  case i64 = "I64", u64 = "U64", f16 = "F16", bf16 = "BF16", f32 = "F32", f64 = "F64"

  /// Bytes per element.
  public var byteSize: Int {
    switch self {
    case .bool, .i8, .u8: return 1
    case .i16, .u16, .f16, .bf16: return 2
    case .i32, .u32, .f32: return 4
    case .i64, .u64, .f64: return 8
    }
  }
}

/// What can be wrong with a safetensors file; every case names the file and, where it applies, the
/// tensor or header field.
public enum SafeTensorsError: Error, Equatable, CustomStringConvertible {
  case unreadable(path: String, reason: String)
  case truncated(path: String, reason: String)
  case badHeader(path: String, reason: String)
  case badEntry(path: String, tensor: String, reason: String)
  case missingTensor(path: String, tensor: String)
  case unwritable(path: String, reason: String)

  public var description: String {
    switch self {
    case .unreadable(let path, let reason): return "\(path): cannot read: \(reason)"
    case .truncated(let path, let reason): return "\(path): truncated safetensors file: \(reason)"
    case .badHeader(let path, let reason): return "\(path): invalid safetensors header: \(reason)"
    case .badEntry(let path, let tensor, let reason): return "\(path): tensor '\(tensor)': \(reason)"
    case .missingTensor(let path, let tensor): return "\(path): no tensor named '\(tensor)'"
    case .unwritable(let path, let reason): return "\(path): cannot write: \(reason)"
    }
  }
}

/// One tensor's entry in a safetensors header.
public struct SafeTensorsEntry: Equatable, Sendable {
  public let name: String
  public let dtype: SafeTensorsDType
  public let shape: [Int]
  /// Byte range inside the data buffer that follows the header.
  public let byteRange: Range<Int>
  /// Number of elements.
  public var count: Int { shape.reduce(1, *) }
}

/// A safetensors file opened for reading: the header is parsed and checked up front, the data is
/// memory-mapped, so a 500 MB checkpoint is never held twice.
///
/// Layout: 8-byte little-endian header length N, N bytes of JSON, then the raw little-endian data.
public final class SafeTensorsFile {
  /// Header sizes above this are refused (the reference implementation's limit).
  public static let maximumHeaderBytes = 100_000_000

  public let path: String
  /// Entries in the order of their data offsets.
  public let entries: [SafeTensorsEntry]
  /// The optional `__metadata__` string map.
  public let metadata: [String: String]
  private let mapping: MappedFile
  private let dataStart: Int

  /// Opens and validates `path`. Throws `SafeTensorsError` naming the file and the problem.
  public convenience init(path: String) throws {
    try self.init(mapping: MappedFile(path: path), path: path)
  }

  /// Validates a whole safetensors file held in memory (copied); `path` names it in errors. The checks
  /// are those of `init(path:)`.
  public convenience init(bytes: [UInt8], path: String = "<memory>") throws {
    try self.init(mapping: bytes.withUnsafeBytes { MappedFile(copying: $0) }, path: path)
  }

  private init(mapping: MappedFile, path: String) throws {
    self.path = path
    self.mapping = mapping
    let size = mapping.count
    guard size >= 8 else {
      throw SafeTensorsError.truncated(
        path: path, reason: "\(size) bytes, less than the 8-byte header length")
    }
    var headerLength: UInt64 = 0
    for i in 0..<8 { headerLength |= UInt64(mapping.bytes[i]) << (8 * UInt64(i)) }
    guard headerLength <= UInt64(Self.maximumHeaderBytes) else {
      throw SafeTensorsError.badHeader(
        path: path, reason: "header length \(headerLength) exceeds the \(Self.maximumHeaderBytes)-byte limit")
    }
    guard headerLength <= UInt64(size - 8) else {
      throw SafeTensorsError.truncated(
        path: path, reason: "header length \(headerLength) runs past the end of the \(size)-byte file")
    }
    let n = Int(headerLength)
    dataStart = 8 + n
    let headerData = Data(bytes: mapping.bytes + 8, count: n)
    guard headerData.first == UInt8(ascii: "{") else {
      throw SafeTensorsError.badHeader(path: path, reason: "header does not start with '{'")
    }
    let json: Any
    do {
      json = try JSONSerialization.jsonObject(with: headerData)
    } catch {
      throw SafeTensorsError.badHeader(path: path, reason: "header is not valid JSON")
    }
    guard let object = json as? [String: Any] else {
      throw SafeTensorsError.badHeader(path: path, reason: "header is not a JSON object")
    }
    var metadata: [String: String] = [:]
    var entries: [SafeTensorsEntry] = []
    let bufferSize = size - dataStart
    for (name, value) in object {
      if name == "__metadata__" {
        guard let map = value as? [String: Any] else {
          throw SafeTensorsError.badHeader(path: path, reason: "__metadata__ is not an object")
        }
        for (k, v) in map {
          guard let s = v as? String else {
            throw SafeTensorsError.badHeader(
              path: path, reason: "__metadata__ value for '\(k)' is not a string")
          }
          metadata[k] = s
        }
        continue
      }
      entries.append(try Self.parseEntry(name: name, value: value, bufferSize: bufferSize, path: path))
    }
    entries.sort {
      ($0.byteRange.lowerBound, $0.byteRange.upperBound) < ($1.byteRange.lowerBound, $1.byteRange.upperBound)
    }
    for (a, b) in zip(entries, entries.dropFirst()) where b.byteRange.lowerBound < a.byteRange.upperBound {
      throw SafeTensorsError.badEntry(path: path, tensor: b.name, reason: "data overlaps tensor '\(a.name)'")
    }
    self.entries = entries
    self.metadata = metadata
  }

  private static func parseEntry(name: String, value: Any, bufferSize: Int, path: String) throws
    -> SafeTensorsEntry
  {
    func bad(_ reason: String) -> SafeTensorsError { .badEntry(path: path, tensor: name, reason: reason) }
    guard let fields = value as? [String: Any] else { throw bad("entry is not an object") }
    guard let dtypeName = fields["dtype"] as? String else { throw bad("missing dtype") }
    guard let dtype = SafeTensorsDType(rawValue: dtypeName) else { throw bad("unknown dtype '\(dtypeName)'") }
    guard let shapeValues = fields["shape"] as? [Any] else { throw bad("missing shape") }
    var shape: [Int] = []
    var count = 1
    for v in shapeValues {
      guard let number = v as? NSNumber, let d = Int(exactly: number.doubleValue), d >= 0, d < 1 << 40 else {
        throw bad("shape entries must be non-negative integers")
      }
      shape.append(d)
      let (product, overflow) = count.multipliedReportingOverflow(by: d)
      guard !overflow, product < 1 << 48 else { throw bad("shape \(shape) is too large") }
      count = product
    }
    guard let offsets = fields["data_offsets"] as? [Any], offsets.count == 2,
      let begin = (offsets[0] as? NSNumber).flatMap({ Int(exactly: $0.doubleValue) }),
      let end = (offsets[1] as? NSNumber).flatMap({ Int(exactly: $0.doubleValue) })
    else { throw bad("data_offsets must be two integers") }
    guard begin >= 0, begin <= end else { throw bad("data_offsets [\(begin), \(end)] are not ordered") }
    guard end <= bufferSize else {
      throw bad("data_offsets end \(end) is beyond the \(bufferSize)-byte data buffer (file truncated?)")
    }
    guard end - begin == count * dtype.byteSize else {
      throw bad("\(end - begin) bytes do not hold \(count) \(dtype.rawValue) elements of shape \(shape)")
    }
    return SafeTensorsEntry(name: name, dtype: dtype, shape: shape, byteRange: begin..<end)
  }

  /// The entry called `name`, if present.
  public func entry(named name: String) -> SafeTensorsEntry? { entries.first { $0.name == name } }

  /// Copies tensor `name` into `destination` (which must hold `count` floats), converting from the
  /// stored dtype to Float32.
  public func read(_ entry: SafeTensorsEntry, into destination: UnsafeMutablePointer<Float>) {
    let src = UnsafeRawPointer(mapping.bytes + dataStart + entry.byteRange.lowerBound)
    let n = entry.count
    func load<T>(_: T.Type, _ convert: (T) -> Float) {
      for i in 0..<n {
        destination[i] = convert(src.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self))
      }
    }
    switch entry.dtype {
    case .f32: load(UInt32.self) { Float(bitPattern: UInt32(littleEndian: $0)) }
    case .f64: load(UInt64.self) { Float(Double(bitPattern: UInt64(littleEndian: $0))) }
    case .f16: load(UInt16.self) { floatFromHalf(UInt16(littleEndian: $0)) }
    case .bf16: load(UInt16.self) { Float(bitPattern: UInt32(UInt16(littleEndian: $0)) << 16) }
    case .bool, .u8: load(UInt8.self) { Float($0) }
    case .i8: load(Int8.self) { Float($0) }
    case .i16: load(Int16.self) { Float(Int16(littleEndian: $0)) }
    case .u16: load(UInt16.self) { Float(UInt16(littleEndian: $0)) }
    case .i32: load(Int32.self) { Float(Int32(littleEndian: $0)) }
    case .u32: load(UInt32.self) { Float(UInt32(littleEndian: $0)) }
    case .i64: load(Int64.self) { Float(Int64(littleEndian: $0)) }
    case .u64: load(UInt64.self) { Float(UInt64(littleEndian: $0)) }
    }
  }

  /// Tensor `name` as a Float32 tensor (a copy out of the mapping).
  public func tensor(named name: String) throws -> Tensor {
    guard let entry = entry(named: name) else {
      throw SafeTensorsError.missingTensor(path: path, tensor: name)
    }
    let t = Tensor(zeros: entry.shape)
    read(entry, into: t.data)
    return t
  }
}

/// IEEE half → single precision, including subnormals, infinities and NaN.
func floatFromHalf(_ h: UInt16) -> Float {
  let sign = UInt32(h >> 15) << 31
  let exponent = Int((h >> 10) & 0x1F)
  let mantissa = UInt32(h & 0x3FF)
  if exponent == 0 {
    // Subnormal: value = mantissa · 2^-24.
    let magnitude = Float(mantissa) * 0x1p-24
    return sign == 0 ? magnitude : -magnitude
  }
  if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
  return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
}

/// A read-only memory mapping of a whole file, unmapped on release; or an owned copy of bytes
/// already in memory, freed on release.
final class MappedFile {
  let bytes: UnsafeMutablePointer<UInt8>
  let count: Int
  private let mapped: Bool

  init(path: String) throws {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else {
      throw SafeTensorsError.unreadable(path: path, reason: String(cString: strerror(errno)))
    }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else {
      throw SafeTensorsError.unreadable(path: path, reason: String(cString: strerror(errno)))
    }
    guard (info.st_mode & S_IFMT) == S_IFREG else {
      throw SafeTensorsError.unreadable(path: path, reason: "not a regular file")
    }
    count = Int(info.st_size)
    if count == 0 {
      bytes = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
      mapped = false
      return
    }
    guard let address = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0), address != MAP_FAILED else {
      throw SafeTensorsError.unreadable(
        path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
    }
    bytes = address.assumingMemoryBound(to: UInt8.self)
    mapped = true
  }

  /// A private copy of `source`.
  init(copying source: UnsafeRawBufferPointer) {
    count = source.count
    bytes = UnsafeMutablePointer<UInt8>.allocate(capacity: max(count, 1))
    if let base = source.baseAddress, count > 0 {
      UnsafeMutableRawPointer(bytes).copyMemory(from: base, byteCount: count)
    }
    mapped = false
  }

  deinit {
    if mapped { munmap(bytes, count) } else { bytes.deallocate() }
  }
}
