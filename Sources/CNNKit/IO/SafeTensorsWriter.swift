import Foundation

/// Writes tensors as a safetensors file: Float32 data, except tensors asked for as `.i64` (PyTorch
/// keeps BatchNorm's `num_batches_tracked` as a 0-d int64, and `load_state_dict` wants it so).
/// The header is padded with spaces to a multiple of 8 bytes so the data stays aligned.
public enum SafeTensorsWriter {
  /// One tensor to write and the dtype to store it as (`.f32` or `.i64`).
  public struct Item {
    public let name: String
    public let tensor: Tensor
    public let dtype: SafeTensorsDType
    /// Describes one tensor to write.
    public init(name: String, tensor: Tensor, dtype: SafeTensorsDType = .f32) {
      self.name = name
      self.tensor = tensor
      self.dtype = dtype
    }
  }

  /// Writes `items` (names must be unique) and `metadata` to `path` atomically.
  public static func write(_ items: [Item], metadata: [String: String] = [:], to path: String) throws {
    var seen = Set<String>()
    for item in items {
      guard item.dtype == .f32 || item.dtype == .i64 else {
        throw SafeTensorsError.unwritable(
          path: path, reason: "tensor '\(item.name)': only F32 and I64 are written")
      }
      guard seen.insert(item.name).inserted, item.name != "__metadata__" else {
        throw SafeTensorsError.unwritable(
          path: path, reason: "duplicate or reserved tensor name '\(item.name)'")
      }
    }
    var fields: [String] = []
    var offset = 0
    for item in items {
      let bytes = item.tensor.count * item.dtype.byteSize
      let shape = item.tensor.shape.map(String.init).joined(separator: ",")
      fields.append(
        "\(jsonString(item.name)):{\"dtype\":\"\(item.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + bytes)]}"
      )
      offset += bytes
    }
    if !metadata.isEmpty {
      let pairs = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
      fields.insert("\"__metadata__\":{\(pairs.joined(separator: ","))}", at: 0)
    }
    var header = Array(("{" + fields.joined(separator: ",") + "}").utf8)
    while header.count % 8 != 0 { header.append(0x20) }
    try AtomicFile.write(to: path) { out in
      var length = UInt64(header.count).littleEndian
      try withUnsafeBytes(of: &length) { try out.write($0.baseAddress!, count: 8) }
      try header.withUnsafeBytes { try out.write($0.baseAddress!, count: $0.count) }
      for item in items where item.tensor.count > 0 {
        // Tensors on a device are copied to the host one at a time, as they are written.
        let tensor = try item.tensor.to(.cpu)
        let elements = tensor.storage.readOnlyPointer
        switch item.dtype {
        case .i64:
          let values = (0..<tensor.count).map { Int64(elements[$0]).littleEndian }
          try values.withUnsafeBytes { try out.write($0.baseAddress!, count: $0.count) }
        default:
          // Little-endian hosts only (x86-64, arm64): the in-memory floats are the file's bytes.
          try out.write(UnsafeRawPointer(elements), count: tensor.count * 4)
        }
      }
    }
  }
}

/// A JSON string literal for `s`, with quotes, backslashes and control characters escaped.
func jsonString(_ s: String) -> String {
  var out = "\""
  for scalar in s.unicodeScalars {
    switch scalar {
    case "\"": out += "\\\""
    case "\\": out += "\\\\"
    case "\n": out += "\\n"
    case "\r": out += "\\r"
    case "\t": out += "\\t"
    default:
      if scalar.value < 0x20 {
        out += String(format: "\\u%04x", scalar.value)
      } else {
        out.unicodeScalars.append(scalar)
      }
    }
  }
  return out + "\""
}
