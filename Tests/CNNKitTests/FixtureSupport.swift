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

/// Asserts `actual ≈ expected` elementwise within `relative`·|expected| + `absolute`.
func assertClose(
  _ actual: Tensor, _ expected: Tensor, relative: Float = 1e-4, absolute: Float = 1e-5, _ label: String,
  file: StaticString = #filePath, line: UInt = #line
) {
  XCTAssertEqual(actual.count, expected.count, "\(label): element count", file: file, line: line)
  guard actual.count == expected.count else { return }
  var worst: Float = 0
  var worstIndex = 0
  for i in 0..<actual.count {
    let excess = abs(actual.data[i] - expected.data[i]) - (relative * abs(expected.data[i]) + absolute)
    if excess > worst {
      worst = excess
      worstIndex = i
    }
  }
  XCTAssertEqual(
    worst, 0,
    "\(label): element \(worstIndex) is \(actual.data[worstIndex]), PyTorch has \(expected.data[worstIndex])",
    file: file, line: line)
}
