/// A state dict that does not fit a model: everything wrong, listed by name at once.
public struct StateDictMismatch: Error, Equatable, CustomStringConvertible {
  /// The file the tensors came from.
  public let path: String
  /// Model tensors the file lacks.
  public let missing: [String]
  /// File tensors the model has no place for.
  public let unexpected: [String]
  /// Tensors present on both sides with different shapes: "name: model [..] vs file [..]".
  public let shapeMismatches: [String]

  public var description: String {
    var parts: [String] = []
    if !missing.isEmpty { parts.append("missing keys: \(missing.joined(separator: ", "))") }
    if !unexpected.isEmpty { parts.append("unexpected keys: \(unexpected.joined(separator: ", "))") }
    if !shapeMismatches.isEmpty {
      parts.append("shape mismatches: \(shapeMismatches.joined(separator: "; "))")
    }
    return "\(path): state dict does not match the model — " + parts.joined(separator: "; ")
  }
}

/// What a non-strict load did: the tensors loaded and the ones it left alone.
public struct StateDictLoadReport: Equatable {
  public let loaded: [String]
  public let missing: [String]
  public let unexpected: [String]
  public let shapeMismatches: [String]
}

extension Module {
  /// Loads parameters and buffers by their dotted names (torchvision's state-dict keys) from a
  /// safetensors file, converting any stored float or integer dtype to Float32.
  ///
  /// `strict` (the default, as in PyTorch): any missing key, unexpected key or shape mismatch throws a
  /// `StateDictMismatch` listing them all, and nothing is changed. Non-strict: loads what matches and
  /// reports the rest.
  @discardableResult
  public func loadStateDict(from file: SafeTensorsFile, strict: Bool = true) throws -> StateDictLoadReport {
    try loadStateDict(from: file, entries: file.entries, strict: strict)
  }

  /// Loads from a subset of a file's entries (a checkpoint also holds optimiser state).
  @discardableResult
  func loadStateDict(from file: SafeTensorsFile, entries: [SafeTensorsEntry], strict: Bool) throws
    -> StateDictLoadReport
  {
    let own = stateDict()
    var fileEntries: [String: SafeTensorsEntry] = [:]
    for entry in entries { fileEntries[entry.name] = entry }
    var matched: [(Tensor, SafeTensorsEntry)] = []
    var missing: [String] = []
    var mismatched: [String] = []
    var known = Set<String>()
    for (name, tensor) in own {
      known.insert(name)
      guard let entry = fileEntries[name] else {
        missing.append(name)
        continue
      }
      // A 0-d tensor and a one-element tensor hold the same value; PyTorch saves counters as 0-d.
      let sameShape =
        entry.shape == tensor.shape
        || (entry.count == 1 && tensor.count == 1 && entry.shape.count <= 1 && tensor.rank <= 1)
      if sameShape {
        matched.append((tensor, entry))
      } else {
        mismatched.append("\(name): model \(shapeString(tensor.shape)) vs file \(shapeString(entry.shape))")
      }
    }
    let unexpected = entries.map(\.name).filter { !known.contains($0) }
    if strict && !(missing.isEmpty && unexpected.isEmpty && mismatched.isEmpty) {
      throw StateDictMismatch(
        path: file.path, missing: missing, unexpected: unexpected, shapeMismatches: mismatched)
    }
    for (tensor, entry) in matched {
      guard tensor.isAccelerated else {
        file.read(entry, into: tensor.data)
        continue
      }
      // A parameter on a device is read on the host, then copied there.
      let host = Tensor(uninitializedShape: tensor.shape)
      file.read(entry, into: host.data)
      tensor.assign(from: host)
    }
    return StateDictLoadReport(
      loaded: matched.map(\.1.name), missing: missing, unexpected: unexpected, shapeMismatches: mismatched)
  }

  /// Opens `path` and loads it as `loadStateDict(from:strict:)` does.
  @discardableResult
  public func loadStateDict(contentsOf path: String, strict: Bool = true) throws -> StateDictLoadReport {
    try loadStateDict(from: SafeTensorsFile(path: path), strict: strict)
  }

  /// Saves every parameter and buffer under its dotted name as a safetensors file that PyTorch's
  /// `load_state_dict(strict=True)` accepts: Float32, with `num_batches_tracked` as a 0-d int64.
  /// Written atomically: an existing file is replaced only once the new one is complete.
  public func saveStateDict(to path: String, metadata: [String: String] = [:]) throws {
    let items = stateDict().map { name, tensor in
      SafeTensorsWriter.Item(
        name: name, tensor: tensor, dtype: name.hasSuffix("num_batches_tracked") ? .i64 : .f32)
    }
    try SafeTensorsWriter.write(items, metadata: metadata, to: path)
  }
}
