import Foundation
import SwiftProtobuf

/// An ONNX model read back for `cnnkit inspect` and the tests: the parsed proto and what a reader
/// asks first (inputs, outputs, opset, nodes).
public struct ONNXFile {
  /// A graph input or output: its name and dimensions (a symbolic one such as `batch` by name).
  public struct Value: Sendable, Equatable {
    public let name: String
    public let dimensions: [String]

    public init(name: String, dimensions: [String]) {
      self.name = name
      self.dimensions = dimensions
    }
  }

  /// The whole model.
  public let model: Onnx_ModelProto

  /// Reads and parses `path`; a file that is not an ONNX model is an `ONNXFileError` naming it.
  public init(path: String) throws {
    let data: Data
    do {
      data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
      throw ONNXFileError.unreadable(path: path, reason: (error as NSError).localizedDescription)
    }
    do {
      model = try Onnx_ModelProto(serializedBytes: data)
    } catch {
      throw ONNXFileError.unreadable(path: path, reason: "not an ONNX model (\(error))")
    }
    guard model.hasGraph, !model.opsetImport.isEmpty else {
      throw ONNXFileError.unreadable(path: path, reason: "not an ONNX model (no graph or no opset)")
    }
  }

  /// The default-domain opset the model imports.
  public var opset: Int { Int(model.opsetImport.first { $0.domain.isEmpty }?.version ?? 0) }

  /// Graph inputs that are not initializers.
  public var inputs: [Value] {
    let weights = Set(model.graph.initializer.map(\.name))
    return model.graph.input.filter { !weights.contains($0.name) }.map(Self.value)
  }

  /// Graph outputs.
  public var outputs: [Value] { model.graph.output.map(Self.value) }

  /// Nodes by operator type.
  public var nodeCounts: [String: Int] {
    Dictionary(model.graph.node.map { ($0.opType, 1) }, uniquingKeysWith: +)
  }

  /// The float contents of an initializer stored inline (raw or as a float list).
  public func floats(of initializer: String) -> [Float]? {
    guard let tensor = model.graph.initializer.first(where: { $0.name == initializer }) else { return nil }
    if !tensor.floatData.isEmpty { return tensor.floatData }
    return tensor.rawData.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
  }

  private static func value(_ info: Onnx_ValueInfoProto) -> Value {
    Value(
      name: info.name,
      dimensions: info.type.tensorType.shape.dim.map { dim in
        switch dim.value {
        case .dimValue(let v): return String(v)
        case .dimParam(let p): return p
        case nil: return "?"
        }
      })
  }
}

/// Errors reading an ONNX file; they name it.
public enum ONNXFileError: Error, CustomStringConvertible {
  case unreadable(path: String, reason: String)

  public var description: String {
    switch self {
    case .unreadable(let path, let reason): return "\(path): \(reason)"
    }
  }
}
