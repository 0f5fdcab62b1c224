import Foundation
import XCTest

/// Runs the built `cnnkit` executable, which SwiftPM places next to the test bundle.
final class CLITests: XCTestCase {
  struct Result {
    let status: Int32
    let stdout: String
    let stderr: String
  }

  /// The products directory: on Linux the test runner is the `.xctest` binary inside it; on macOS
  /// the `.xctest` bundle sits in it.
  static func executableURL() throws -> URL {
    var candidates = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()]
    for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
      candidates.append(bundle.bundleURL.deletingLastPathComponent())
    }
    if let argument = CommandLine.arguments.first {
      candidates.append(URL(fileURLWithPath: argument).deletingLastPathComponent())
    }
    for directory in candidates {
      let url = directory.appendingPathComponent("cnnkit")
      if FileManager.default.isExecutableFile(atPath: url.path) { return url }
    }
    throw XCTSkip("cnnkit executable not found next to the tests (looked in \(candidates.map(\.path)))")
  }

  /// Runs `cnnkit arguments`, with `environment` added to this process's environment.
  func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
    let process = Process()
    process.executableURL = try Self.executableURL()
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Read before waiting so a large table cannot fill the pipe and block the child.
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Result(
      status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
      stderr: String(decoding: stderr, as: UTF8.self))
  }

  func testSummaryAlexNetPrintsTheTorchsummaryReference() throws {
    let result = try run(["summary", "alexnet"])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertEqual(result.stdout, SummaryTests.torchsummaryAlexNet)
    XCTAssertEqual(result.stderr, "")
  }

  func testSummaryFormatsAndExplain() throws {
    let info = try run(["summary", "alexnet", "--format", "torchinfo"])
    XCTAssertEqual(info.status, 0, info.stderr)
    XCTAssertTrue(info.stdout.contains("Total mult-adds (M): 714.68\n"))
    XCTAssertTrue(info.stdout.contains("Estimated Total Size (MB): 248.96\n"))
    let keras = try run([
      "summary", "alexnet", "--format", "keras", "--classes", "10", "--input", "3,227,227", "--explain",
    ])
    XCTAssertEqual(keras.status, 0, keras.stderr)
    XCTAssertTrue(keras.stdout.hasPrefix("Model: \"sequential\"\n"))
    XCTAssertTrue(
      keras.stdout.contains("\n dense_2 (Dense)             (None, 10)                40970     \n"))
    XCTAssertTrue(keras.stdout.contains("height, width: (227 − 11 + 2·2)/4 + 1 = 56"))
    let batched = try run(["summary", "alexnet", "--batch", "8"])
    XCTAssertTrue(
      batched.stdout.contains("            Conv2d-1            [8, 64, 55, 55]          23,296\n"))
    XCTAssertTrue(batched.stdout.contains("Input size (MB): 4.59\n"))
  }

  func testSummaryKerasLayoutOptions() throws {
    let legacy = try run([
      "summary", "alexnet-plain", "--format", "keras", "--classes", "10", "--keras-layout", "legacy",
    ])
    XCTAssertEqual(legacy.status, 0, legacy.stderr)
    XCTAssertTrue(legacy.stdout.hasPrefix(String(repeating: "_", count: 65) + "\nLayer (type) "))
    XCTAssertTrue(
      legacy.stdout.contains("\nmax_pooling2d_1 (MaxPooling2 (None, 27, 27, 96)        0         \n"))
    let named = try run([
      "summary", "alexnet-plain", "--format", "keras", "--keras-layout", "keras3", "--keras-naming", "legacy",
      "--model-name", "alexnet",
    ])
    XCTAssertEqual(named.status, 0, named.stderr)
    XCTAssertTrue(named.stdout.hasPrefix("Model: \"alexnet\"\n┏━"))
    XCTAssertTrue(
      named.stdout.contains(
        "\n│ conv2d_1 (Conv2D)               │ (None, 55, 55, 96)     │        34,944 │\n"))
    let wrong = try run(["summary", "alexnet", "--format", "keras", "--keras-layout", "tf1"])
    XCTAssertNotEqual(wrong.status, 0)
    XCTAssertTrue(
      wrong.stderr.contains("unknown --keras-layout 'tf1'; choose one of tf2, legacy, keras3"), wrong.stderr)
    let help = try run(["summary", "--help"])
    XCTAssertTrue(help.stdout.contains("note 000"), help.stdout)
  }

  func testSummaryOfTheCIFARResNets() throws {
    let result = try run(["summary", "resnet20"])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertTrue(result.stdout.contains("Total params: 269,722\n"), result.stdout)
    // Shortcuts are akamaster's LambdaLayer rows: no parameters.
    XCTAssertTrue(
      result.stdout.contains("      LambdaLayer-22           [-1, 32, 16, 16]               0\n"),
      result.stdout)
    let tutorial = try run(["summary", "resnet-tutorial", "--format", "torchinfo"])
    XCTAssertEqual(tutorial.status, 0, tutorial.stderr)
    XCTAssertTrue(tutorial.stdout.contains("Total params: 195,738\n"), tutorial.stdout)
    let list = try run(["list"])
    for name in ["resnet20", "resnet110", "resnet-tutorial"] {
      XCTAssertTrue(list.stdout.split(separator: "\n").contains { $0.hasPrefix(name + " ") }, name)
    }
  }

  func testListIncludesAlexNet() throws {
    for command in ["list", "models"] {
      let result = try run([command])
      XCTAssertEqual(result.status, 0)
      XCTAssertTrue(result.stdout.split(separator: "\n").contains { $0.hasPrefix("alexnet ") }, result.stdout)
    }
  }

  /// Each mistake exits non-zero with exactly one stderr line that names what was wrong.
  func testErrorsAreOneLineNamingTheProblem() throws {
    let cases: [([String], String)] = [
      (["summary", "resnet9000"], "unknown model 'resnet9000'"),
      (["summary", "alexnet", "--input", "3,x,224"], "--input"),
      (["summary", "alexnet", "--input", "0,224,224"], "--input"),
      (["summary", "alexnet", "--input", "224,224"], "--input"),
      (["summary", "alexnet", "--classes", "0"], "--classes"),
      (["summary", "alexnet", "--input", "3,10,10"], "MaxPool2d"),
      (["summary", "alexnet", "--format", "caffe"], "--format"),
    ]
    for (arguments, needle) in cases {
      let result = try run(arguments)
      XCTAssertNotEqual(result.status, 0, "\(arguments)")
      XCTAssertEqual(result.stdout, "", "\(arguments)")
      let lines = result.stderr.split(separator: "\n")
      XCTAssertEqual(lines.count, 1, "\(arguments): \(result.stderr)")
      XCTAssertTrue(result.stderr.contains(needle), "\(arguments): \(result.stderr)")
      XCTAssertTrue(result.stderr.hasPrefix("error: "), "\(arguments): \(result.stderr)")
    }
  }
}
