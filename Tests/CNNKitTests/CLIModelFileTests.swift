import CNNKit
import Foundation
import XCTest

/// A model file stands wherever a zoo name does: summary, train, eval, export and bench.
extension CLITests {
  /// A small LeNet-like network for 28×28 digits, written as note 001 writes its Net.
  private static let digitsNet = """
    {
      "name": "tiny-digits",
      "class": "Net",
      "input": [1, 28, 28],
      "classes": 10,
      "layers": [
        {"name": "features", "type": "Sequential", "layers": [
          {"type": "Conv2d", "out_channels": 4, "kernel_size": 5},
          {"type": "ReLU"},
          {"type": "MaxPool2d", "kernel_size": 2, "stride": 2}
        ]},
        {"type": "Flatten", "functional": true},
        {"name": "fc", "type": "Linear", "out_features": "classes"}
      ]
    }
    """

  private func modelFileFolder() throws -> String {
    let folder = NSTemporaryDirectory() + "cnnkit-modelfile-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    addTeardownBlock { try? FileManager.default.removeItem(atPath: folder) }
    try Data(Self.digitsNet.utf8).write(to: URL(fileURLWithPath: folder + "/net.json"))
    return folder
  }

  func testModelFileWorksWhereverAZooNameDoes() throws {
    let folder = try modelFileFolder()
    let net = folder + "/net.json"
    // 4·25 + 4 = 104 in the convolution, 4·12·12·10 + 10 = 5,770 in fc.
    for arguments in [["summary", net], ["summary", "--model", net]] {
      let summary = try run(arguments)
      XCTAssertEqual(summary.status, 0, summary.stderr)
      XCTAssertTrue(summary.stdout.contains("Total params: 5,874\n"), summary.stdout)
    }
    let info = try run(["summary", net, "--format", "torchinfo", "--classes", "3"])
    XCTAssertTrue(info.stdout.contains("Net                                      [1, 3]"), info.stdout)

    let train = try run([
      "train", "--model", net, "--max-steps", "3", "--output-dir", folder + "/run", "--workers", "1",
    ])
    XCTAssertEqual(train.status, 0, train.stderr)
    XCTAssertTrue(train.stdout.contains("Training tiny-digits on mnist"), train.stdout)
    XCTAssertEqual(try Checkpoint.readState(from: folder + "/run/checkpoint.safetensors").globalStep, 3)
    // The weights record the file, so eval finds the model without --model.
    let evaluation = try run(["eval", "--weights", folder + "/run/model.safetensors"])
    XCTAssertEqual(evaluation.status, 0, evaluation.stderr)
    XCTAssertTrue(evaluation.stdout.contains("top-1 "), evaluation.stdout)

    let export = try run(["export", "--model", net, "--format", "onnx", "--output", folder + "/net.onnx"])
    XCTAssertEqual(export.status, 0, export.stderr)
    let graph = try ONNXFile(path: folder + "/net.onnx")
    XCTAssertEqual(
      graph.model.graph.initializer.map(\.name).sorted(),
      ["fc.bias", "fc.weight", "features.0.bias", "features.0.weight"])

    let bench = try run([
      "bench", "--model", net, "--mode", "train", "--batch", "2", "--iterations", "1", "--warmup", "0",
    ])
    XCTAssertEqual(bench.status, 0, bench.stderr)
  }

  func testBadModelFilesAreOneLineErrors() throws {
    let folder = try modelFileFolder()
    let broken = folder + "/broken.json"
    try Data(Self.digitsNet.replacingOccurrences(of: "\"kernel_size\": 5", with: "\"kernel\": 5").utf8)
      .write(to: URL(fileURLWithPath: broken))
    let cases: [([String], String)] = [
      (["summary", broken], "broken.json:8: layers[0].layers[0].kernel: unknown key for Conv2d"),
      (["summary", folder + "/none.json"], "none.json: cannot read the model file"),
      (["summary", folder + "/net.json", "--model", "lenet5"], "name the model once"),
      (["summary"], "no model given"),
      (["train", "--model", broken, "--output-dir", folder + "/out"], "broken.json:8:"),
      (["export", "--model", broken, "--format", "onnx", "--output", folder + "/x.onnx"], "broken.json:8:"),
    ]
    for (arguments, expected) in cases {
      let result = try run(arguments)
      XCTAssertNotEqual(result.status, 0, "\(arguments)")
      XCTAssertTrue(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
      XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, "\(arguments): \(result.stderr)")
    }
    XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/x.onnx"))
  }
}
