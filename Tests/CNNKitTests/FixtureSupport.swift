import CNNKit
import Foundation
import XCTest

/// Access to the PyTorch fixtures written by Tests/Fixtures/generate_fixtures.py.
enum Fixtures {
  /// The folder beside this source file.
  static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
    "Fixtures"
  ).path

  /// Opens fixture `name` (without extension).
  static func open(_ name: String) throws -> SafeTensorsFile {
    try SafeTensorsFile(path: folder + "/" + name + ".safetensors")
  }

  /// How far an op's output or gradient may be from PyTorch's: float32 on both sides, but different
  /// summation orders (and, for some ops, different algorithms), so a small relative slack plus an
  /// absolute one for values near zero.
  static let relative = 1e-4
  static let absolute = 1e-5

  /// Names of every fixture file.
  static func names() throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: folder)
      .filter { $0.hasSuffix(".safetensors") }
      .map { String($0.dropLast(".safetensors".count)) }
      .sorted()
  }

  /// Fills a model's state dict with the generator's `formula_fill`: an integer hash per element,
  /// mapped through the same float64 arithmetic, so both sides hold identical weights.
  static func formulaFill(_ model: Module) {
    for (t, (name, tensor)) in model.stateDict().enumerated() {
      let n = tensor.count
      for i in 0..<n {
        let hashed = (UInt64(i) &* 2_654_435_761 &+ UInt64(t * 40503 + 12345)) % (1 << 32)
        let u = Double(hashed) / 4_294_967_296.0
        let v: Double
        if name.hasSuffix("num_batches_tracked") {
          v = 0
        } else if name.hasSuffix("running_mean") {
          v = 0.5 * (2 * u - 1)
        } else if name.hasSuffix("running_var") {
          v = 0.5 + u
        } else if tensor.rank >= 2 {
          v = (2 * u - 1) / Double(n / tensor.shape[0]).squareRoot()
        } else if name.hasSuffix("weight") {
          v = 1 + 0.2 * (2 * u - 1)
        } else {
          v = (2 * u - 1) * 0.1
        }
        tensor.data[i] = Float(v)
      }
    }
  }
}

extension SafeTensorsFile {
  /// A metadata value decoded from the JSON the generator stored.
  func meta<T>(_ key: String, as: T.Type = T.self) -> T? {
    guard let text = metadata[key], let data = text.data(using: .utf8) else { return nil }
    return (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) as? T
  }
}
