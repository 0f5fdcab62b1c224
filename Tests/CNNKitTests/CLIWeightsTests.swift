import CNNKit
import Foundation
import XCTest

/// `cnnkit inspect`, `export` and `forward`: weights in and out, and their bad-input errors.
extension CLITests {
  private func temporaryFolder() throws -> String {
    let folder = NSTemporaryDirectory() + "cnnkit-cli-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    addTeardownBlock { try? FileManager.default.removeItem(atPath: folder) }
    return folder
  }

  func testExportInspectAndForwardRoundTrip() throws {
    let folder = try temporaryFolder()
    let weights = folder + "/lenet.safetensors"
    let export = try run(["export", "--model", "lenet5", "--seed", "3", "--output", weights])
    XCTAssertEqual(export.status, 0, export.stderr)
    let inspect = try run(["inspect", weights])
    XCTAssertEqual(inspect.status, 0, inspect.stderr)
    XCTAssertTrue(inspect.stdout.contains("features.0.weight"))
    XCTAssertTrue(inspect.stdout.contains("10 tensors, 61706 elements"))

    var rng = RandomGenerator(seed: 9)
    let x = Tensor.randn([3, 1, 32, 32], using: &rng)
    let input = folder + "/x.safetensors"
    try SafeTensorsWriter.write([.init(name: "input", tensor: x)], to: input)
    let output = folder + "/y.safetensors"
    let forward = try run([
      "forward", "--model", "lenet5", "--weights", weights, "--input", input, "--output", output,
    ])
    XCTAssertEqual(forward.status, 0, forward.stderr)
    // The same weights in the library give the same logits.
    let model = try Zoo.build("lenet5")
    try model.loadStateDict(contentsOf: weights)
    model.eval()
    let expected = try GradMode.withNoGrad { try model(x) }
    XCTAssertEqual(try SafeTensorsFile(path: output).tensor(named: "output").scalars, expected.scalars)
  }

  func testWeightErrorsAreOneLineAndLeaveOutputsAlone() throws {
    let folder = try temporaryFolder()
    let garbage = folder + "/garbage.safetensors"
    _ = FileManager.default.createFile(atPath: garbage, contents: Data("not a safetensors file".utf8))
    let inspect = try run(["inspect", garbage])
    XCTAssertNotEqual(inspect.status, 0)
    XCTAssertTrue(inspect.stderr.contains(garbage), inspect.stderr)
    XCTAssertEqual(inspect.stderr.split(separator: "\n").count, 1, inspect.stderr)

    let otherWeights = folder + "/lenet10.safetensors"
    XCTAssertEqual(try run(["export", "--model", "lenet5", "--output", otherWeights]).status, 0)
    let input = folder + "/x.safetensors"
    try SafeTensorsWriter.write([.init(name: "input", tensor: Tensor(zeros: [1, 1, 32, 32]))], to: input)
    let output = folder + "/y.safetensors"
    _ = FileManager.default.createFile(atPath: output, contents: Data("keep me".utf8))
    // Weights of another model: a strict load lists the problems by name and writes nothing.
    let mismatch = try run([
      "forward", "--model", "lenet5", "--classes", "7", "--weights", otherWeights, "--input", input,
      "--output", output,
    ])
    XCTAssertNotEqual(mismatch.status, 0)
    XCTAssertTrue(
      mismatch.stderr.contains("classifier.4.weight: model [7, 84] vs file [10, 84]"), mismatch.stderr)
    XCTAssertEqual(try String(contentsOfFile: output, encoding: .utf8), "keep me")
    // --non-strict loads what fits and warns about the rest.
    let relaxed = try run([
      "forward", "--model", "lenet5", "--classes", "7", "--weights", otherWeights, "--non-strict", "--input",
      input,
      "--output", output,
    ])
    XCTAssertEqual(relaxed.status, 0, relaxed.stderr)
    XCTAssertTrue(relaxed.stderr.contains("warning:"), relaxed.stderr)
    XCTAssertEqual(try SafeTensorsFile(path: output).tensor(named: "output").shape, [1, 7])

    let noInput = try run(["forward", "--model", "lenet5", "--input", otherWeights, "--output", output])
    XCTAssertNotEqual(noInput.status, 0)
    XCTAssertTrue(noInput.stderr.contains("no tensor named 'input'"), noInput.stderr)
    let missing = try run([
      "forward", "--model", "lenet5", "--input", folder + "/nope.safetensors", "--output", output,
    ])
    XCTAssertNotEqual(missing.status, 0)
    XCTAssertTrue(missing.stderr.contains("nope.safetensors: cannot read"), missing.stderr)
  }
}
