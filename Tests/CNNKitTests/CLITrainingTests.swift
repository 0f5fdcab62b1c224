import CNNKit
import Foundation
import XCTest

/// `cnnkit train`, `eval` and `predict` end to end on the built-in MNIST subset, and their errors.
extension CLITests {
  private func scratchFolder() throws -> String {
    let folder = NSTemporaryDirectory() + "cnnkit-train-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    addTeardownBlock { try? FileManager.default.removeItem(atPath: folder) }
    return folder
  }

  func testTrainStopResumeAndEvaluate() throws {
    let folder = try scratchFolder()
    let first = try run([
      "train", "--model", "lenet5", "--max-steps", "5", "--output-dir", folder, "--workers", "1",
    ])
    XCTAssertEqual(first.status, 0, first.stderr)
    XCTAssertTrue(first.stdout.contains("Total params: 61,706"), "the summary comes first")
    XCTAssertEqual(try Checkpoint.readState(from: folder + "/checkpoint.safetensors").globalStep, 5)

    let second = try run([
      "train", "--model", "lenet5", "--resume", folder, "--max-steps", "8", "--output-dir", folder,
    ])
    XCTAssertEqual(second.status, 0, second.stderr)
    XCTAssertTrue(second.stdout.contains("Resuming"), second.stdout)
    XCTAssertEqual(try Checkpoint.readState(from: folder + "/checkpoint.safetensors").globalStep, 8)

    let wrongModel = try run([
      "train", "--model", "alexnet-mnist", "--resume", folder, "--output-dir", folder,
    ])
    XCTAssertNotEqual(wrongModel.status, 0)
    XCTAssertTrue(wrongModel.stderr.contains("trained with model lenet5"), wrongModel.stderr)

    let evaluation = try run(["eval", "--model", "lenet5", "--weights", folder + "/checkpoint.safetensors"])
    XCTAssertEqual(evaluation.status, 0, evaluation.stderr)
    XCTAssertTrue(evaluation.stdout.contains("top-1 "), evaluation.stdout)
    XCTAssertTrue(evaluation.stdout.contains("2000 images"), evaluation.stdout)
  }

  func testTrainConfigFile() throws {
    let folder = try scratchFolder()
    let config = folder + "/run.json"
    try Data(#"{"model": "lenet5", "max_steps": 2, "batch-size": 16, "output-dir": "\#(folder)/out"}"#.utf8)
      .write(to: URL(fileURLWithPath: config))
    let result = try run(["train", "--config", config])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertTrue(result.stdout.contains("batch 16"), result.stdout)
    XCTAssertEqual(try Checkpoint.readState(from: folder + "/out/checkpoint.safetensors").globalStep, 2)
  }

  func testTrainRejectsBadOptionsWithOneLine() throws {
    let folder = try scratchFolder()
    let badConfig = folder + "/bad.json"
    try Data(#"{"epoch": 3}"#.utf8).write(to: URL(fileURLWithPath: badConfig))
    let cases: [([String], String)] = [
      (["--epochs", "0"], "--epochs"),
      (["--dataset", "nope"], "nope"),
      (["--dataset", "cifar10"], "--data-dir"),
      (["--dataset", "cifar10", "--data-dir", folder + "/missing"], "missing"),
      (["--optimizer", "rmsprop"], "--optimizer"),
      (["--lr-scheduler", "bogus"], "bogus"),
      (["--lr=-1"], "--lr"),
      (["--lr", "0"], "--lr"),
      (["--config", badConfig], "unknown key 'epoch'"),
      (["--resume", folder + "/none.safetensors"], "none.safetensors"),
    ]
    for (arguments, expected) in cases {
      let result = try run(["train", "--output-dir", folder + "/out"] + arguments)
      XCTAssertNotEqual(result.status, 0, "\(arguments)")
      XCTAssertTrue(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
      XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, "\(arguments): \(result.stderr)")
    }
    XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/out/checkpoint.safetensors"))
  }

  func testPredictPrintsImageNetNames() throws {
    let photo = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .appendingPathComponent("../../../shared/datasets/images/samoyed_dog.jpg").standardized.path
    guard FileManager.default.fileExists(atPath: photo) else { throw XCTSkip("shared photos not present") }
    let folder = try scratchFolder()
    XCTAssertEqual(
      try run(["export", "--model", "resnet18", "--output", folder + "/r18.safetensors"]).status, 0)
    let result = try run(["predict", photo, "--model", "resnet18", "--weights", folder + "/r18.safetensors"])
    XCTAssertEqual(result.status, 0, result.stderr)
    let lines = result.stdout.split(separator: "\n")
    XCTAssertEqual(lines.count, 6)
    // Every ranked line names its ImageNet class by index.
    for line in lines.dropFirst() {
      let parts = line.split(separator: " ", omittingEmptySubsequences: true)
      let index = Int(parts[1])!
      XCTAssertTrue(line.hasSuffix(ImageNetClasses.names[index]), String(line))
    }
    let missing = try run([
      "predict", folder + "/nope.jpg", "--model", "resnet18", "--weights", folder + "/r18.safetensors",
    ])
    XCTAssertNotEqual(missing.status, 0)
    XCTAssertTrue(missing.stderr.contains("nope.jpg"), missing.stderr)
  }
}

extension CLITests {
  /// `bench` reports the instruction set, % of the given peak and, with `--per-layer`, each layer.
  func testBenchReportsPeakShareAndLayers() throws {
    let model = try run([
      "bench", "--model", "lenet5", "--mode", "train", "--batch", "2", "--iterations", "1", "--warmup", "0",
      "--peak", "100", "--per-layer",
    ])
    XCTAssertEqual(model.status, 0, model.stderr)
    XCTAssertTrue(model.stdout.contains("features.0 Conv2d"), model.stdout)
    let line = try XCTUnwrap(model.stdout.split(separator: "\n").last { $0.hasPrefix("{") })
    let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    let gflops = try XCTUnwrap(json["gflops_median"] as? Double)
    XCTAssertEqual(try XCTUnwrap(json["percent_of_peak"] as? Double), gflops, accuracy: 1e-9 * gflops)
    XCTAssertEqual(json["peak_gflops"] as? Double, 100)
    XCTAssertNotNil(json["isa"] as? String)
    for key in ["framework", "model", "mode", "batch", "threads", "img_s_min", "img_s_max", "max_rss_mib"] {
      XCTAssertNotNil(json[key], key)
    }

    let gemm = try run(["bench", "--kernel", "gemm", "--iterations", "1", "--warmup", "0", "--peak", "100"])
    XCTAssertEqual(gemm.status, 0, gemm.stderr)
    let rows = gemm.stdout.split(separator: "\n").filter { $0.hasPrefix("{") }
    XCTAssertEqual(rows.count, 16, gemm.stdout)
    XCTAssertTrue(rows.allSatisfy { $0.contains("\"kernel\":\"gemm\"") })
    // The five per-image convolution shapes appear again with the weight packed once.
    XCTAssertEqual(rows.filter { $0.contains("\"packed_a\":true") }.count, 5, gemm.stdout)
  }

  /// One class of mistake per row, for the commands not covered elsewhere: each is one `error:` line
  /// naming the flag or file, and a non-zero exit.
  func testEvalBenchAndExportMistakes() throws {
    let cases: [([String], String)] = [
      (["eval", "--weights", "/nonexistent/w.safetensors"], "/nonexistent/w.safetensors"),
      (["eval", "--weights", "x", "--batch-size", "0"], "--batch-size"),
      (["eval", "--weights", "x", "--dataset", "cifar10", "--data-dir", "/nonexistent"], "/nonexistent"),
      (["eval", "--weights", "x", "--model", "nope"], "unknown model 'nope'"),
      (["bench", "--mode", "fly"], "--mode"),
      (["bench", "--batch", "8,x"], "--batch"),
      (["bench", "--threads", "0"], "--threads"),
      (["bench", "--model", "alexnet", "--input", "3,20,20"], "too small"),
      (["bench", "--kernel", "conv"], "--kernel"),
      (["bench", "--peak", "0"], "--peak"),
      (["export", "--model", "lenet5", "--classes", "0", "--output", "/tmp/never.safetensors"], "--classes"),
      (
        ["export", "--model", "lenet5", "--output", "/nonexistent/dir/w.safetensors"],
        "/nonexistent/dir/w.safetensors"
      ),
      (["predict", "--model", "alexnet", "--weights", "x"], "Missing expected argument '<images> ...'"),
      (["summary", "alexnet", "--classes", "abc"], "'abc' is invalid for '--classes"),
    ]
    for (arguments, expected) in cases {
      let result = try run(arguments)
      XCTAssertNotEqual(result.status, 0, "\(arguments)")
      XCTAssertTrue(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
      XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, "\(arguments): \(result.stderr)")
    }
  }
}

extension CLITests {
  /// On a terminal the progress bar redraws one line in place, as Keras's does; it does not scroll.
  func testProgressBarRedrawsInPlaceOnATerminal() throws {
    let script = "/usr/bin/script"
    guard FileManager.default.isExecutableFile(atPath: script) else {
      throw XCTSkip("util-linux's script (a pseudo-terminal) is not installed")
    }
    let folder = NSTemporaryDirectory() + "cnnkit-tty-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let command = [
      try Self.executableURL().path, "train", "--model", "lenet5", "--epochs", "1", "--workers", "1",
      "--no-validation", "--output-dir", folder,
    ].joined(separator: " ")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: script)
    process.arguments = ["-q", "-e", "-c", command, "/dev/null"]
    let out = Pipe()
    process.standardOutput = out
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    XCTAssertEqual(process.terminationStatus, 0, text)
    let barLines = text.split(separator: "\n").filter { $0.contains("/375 [") }
    // Every redraw of the epoch's bar shares one line: the first step's, then the finished one.
    XCTAssertEqual(barLines.count, 1, text)
    XCTAssertGreaterThanOrEqual(barLines.first?.components(separatedBy: "\r\u{1B}[K").count ?? 0, 3, text)
    XCTAssertTrue(barLines.first?.contains("375/375 [==============================]") ?? false, text)
  }
}

extension CLITests {
  /// Negative numbers reach the checks that name the flag; typos get a "did you mean"; --version.
  func testNegativeValuesTyposAndVersion() throws {
    let lr = try run(["train", "--lr", "-1"])
    XCTAssertEqual(lr.stderr, "error: --lr must be positive, got -1.0\n")
    let decay = try run(["train", "--wd", "-0.1"])
    XCTAssertEqual(decay.stderr, "error: --weight-decay must not be negative, got -0.1\n")
    let typo = try run(["train", "--model", "alexnet_cifar"])
    XCTAssertNotEqual(typo.status, 0)
    XCTAssertTrue(typo.stderr.contains("did you mean 'alexnet-cifar'?"), typo.stderr)
    let far = try run(["summary", "transformer"])
    XCTAssertFalse(far.stderr.contains("did you mean"), far.stderr)
    let dataset = try run(["train", "--dataset", "mnistt", "--data-dir", NSTemporaryDirectory()])
    XCTAssertTrue(dataset.stderr.contains("did you mean 'mnist'?"), dataset.stderr)
    let version = try run(["--version"])
    XCTAssertEqual(version.status, 0)
    XCTAssertTrue(version.stdout.hasPrefix("cnnkit "), version.stdout)
  }
}
