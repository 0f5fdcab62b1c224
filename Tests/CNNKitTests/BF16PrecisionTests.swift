import CNNKit
import Foundation
import XCTest

/// `--precision bf16` on the CPU: convolutions and linear layers multiply bf16-rounded operands.
final class BF16PrecisionTests: XCTestCase {
  override func tearDown() {
    try? Device.cpu.setPrecision(.fp32)
    super.tearDown()
  }

  /// Logits and gradients of a small network in bf16 stay within bf16's rounding of fp32's (8 bits
  /// of mantissa: about 0.4 % per operand), and are not fp32's: the rounding happened. The first
  /// layer's weight gradient sums 4 096 terms per weight that mostly cancel, so there the whole
  /// gradient's direction is compared (measured: cosine 0.987, largest error 23 % of the largest
  /// element; the logits strayed 0.12 %, the last layer's gradient less than 1 %).
  func testForwardAndBackwardFollowFP32WithinBF16Rounding() throws {
    let model = try Zoo.build("alexnet-cifar", classes: 10)
    var generator = RandomGenerator(seed: 3)
    let input = Tensor.randn([4, 3, 32, 32], using: &generator)
    let labels = [1, 7, 3, 0]
    func run() throws -> [[Float]] {
      model.zeroGrad()
      let logits = try model(input)
      try Functional.crossEntropy(logits, targets: labels).backward()
      let parameters = model.parameters()
      let first = try XCTUnwrap(parameters.first?.grad)
      let last = try XCTUnwrap(parameters[parameters.count - 2].grad)
      return [logits.scalars, last.scalars, first.scalars]
    }
    _ = model.train(false)
    let fp32 = try run()
    try Device.cpu.setPrecision(.bf16)
    let bf16 = try run()
    for (index, name) in ["logits", "last weight gradient", "first weight gradient"].enumerated() {
      let (a, b) = (fp32[index], bf16[index])
      XCTAssertTrue(b.allSatisfy(\.isFinite), name)
      let scale = Double(a.map(abs).max()!)
      let worst = zip(a, b).map { Double(abs($0 - $1)) }.max()!
      let dot = zip(a, b).map { Double($0) * Double($1) }.reduce(0, +)
      let norms = (a.map { Double($0 * $0) }.reduce(0, +) * b.map { Double($0 * $0) }.reduce(0, +))
        .squareRoot()
      print("BF16PrecisionTests: \(name) worst \(worst / scale) of max, cosine \(dot / norms)")
      XCTAssertGreaterThan(worst, 1e-6 * scale, "\(name): bf16 gave fp32's result exactly")
      if index < 2 {
        XCTAssertLessThan(worst, 0.02 * scale, "\(name): bf16 strays \(worst) of \(scale)")
      } else {
        XCTAssertGreaterThan(dot / norms, 0.97, "\(name): bf16 gradient points elsewhere")
      }
    }
  }

  func testPrecisionsTheCPUDoesNotOfferAreErrors() {
    XCTAssertThrowsError(try Device.cpu.setPrecision(.tf32)) { error in
      XCTAssertTrue("\(error)".contains("tf32 needs a CUDA device"), "\(error)")
    }
    XCTAssertThrowsError(try Device.cuda(0).setPrecision(.bf16)) { error in
      XCTAssertTrue("\(error)".contains("bf16 runs on the CPU"), "\(error)")
    }
  }
}

extension CLITests {
  /// `bench --precision bf16` on the CPU, by the fp32 route and (`CNNKIT_BF16_TILE=emulated`) through
  /// the bf16 tile's code path, the one CPUs with AVX-512 BF16 take.
  func testBenchRunsInBF16() throws {
    for tile in [nil, "emulated"] {
      let process = Process()
      process.executableURL = try Self.executableURL()
      process.arguments = [
        "bench", "--model", "lenet5", "--mode", "train", "--batch", "4", "--iterations", "1", "--warmup", "0",
        "--peak", "100", "--precision", "bf16",
      ]
      var environment = ProcessInfo.processInfo.environment
      environment["CNNKIT_BF16_TILE"] = tile
      process.environment = environment
      let out = Pipe()
      process.standardOutput = out
      process.standardError = FileHandle.nullDevice
      try process.run()
      let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
      process.waitUntilExit()
      XCTAssertEqual(process.terminationStatus, 0, stdout)
      XCTAssertTrue(stdout.contains("precision bf16: "), stdout)
      let line = try XCTUnwrap(stdout.split(separator: "\n").last { $0.hasPrefix("{") })
      let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
      XCTAssertEqual(json["precision"] as? String, "bf16")
      XCTAssertGreaterThan(try XCTUnwrap(json["img_s_median"] as? Double), 0)
    }
    let wrong = try run(["bench", "--model", "lenet5", "--precision", "tf32", "--iterations", "1"])
    XCTAssertNotEqual(wrong.status, 0)
    XCTAssertTrue(wrong.stderr.contains("--precision tf32 needs a CUDA device"), wrong.stderr)
  }
}
