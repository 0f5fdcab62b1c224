import CNNKit
import Foundation
import XCTest

/// ONNX export without Python: the file parses back, its nodes carry the attributes of the traced ops,
/// and every initializer holds the model's tensor bit for bit. (ONNX Runtime's verdict on every zoo
/// model is `Scripts/check-onnx.py`.)
final class ONNXExportTests: XCTestCase {
  private func temporaryFolder() throws -> String {
    let folder = NSTemporaryDirectory() + "cnnkit-onnx-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    addTeardownBlock { try? FileManager.default.removeItem(atPath: folder) }
    return folder
  }

  /// Exports through a file and reads it back, as a user's runtime would see it.
  private func roundTrip(_ module: Module, input: [Int], options: ONNXExportOptions = ONNXExportOptions())
    throws -> ONNXFile
  {
    let path = try temporaryFolder() + "/model.onnx"
    try ONNXExporter.export(module, input: input, to: path, options: options)
    return try ONNXFile(path: path)
  }

  private func attribute(_ node: Onnx_NodeProto, _ name: String) -> Onnx_AttributeProto? {
    node.attribute.first { $0.name == name }
  }

  /// Every initializer named by a state-dict key equals that tensor bit for bit.
  private func assertInitializersMatch(
    _ file: ONNXFile, _ module: Module, file path: StaticString = #filePath, line: UInt = #line
  ) {
    let state = Dictionary(module.stateDict().map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
    var matched = 0
    for initializer in file.model.graph.initializer where state[initializer.name] != nil {
      let tensor = state[initializer.name]!
      XCTAssertEqual(initializer.dims, tensor.shape.map(Int64.init), initializer.name, file: path, line: line)
      let bits = file.floats(of: initializer.name)!.map(\.bitPattern)
      XCTAssertEqual(bits, tensor.scalars.map(\.bitPattern), initializer.name, file: path, line: line)
      matched += 1
    }
    XCTAssertGreaterThan(matched, 0, file: path, line: line)
  }

  func testLeNetGraphInputsOutputsAndWeights() throws {
    let model = try Zoo.build("lenet5")
    let file = try roundTrip(model, input: [1, 32, 32])
    XCTAssertEqual(file.opset, 17)
    XCTAssertEqual(file.inputs, [ONNXFile.Value(name: "input", dimensions: ["batch", "1", "32", "32"])])
    XCTAssertEqual(file.outputs, [ONNXFile.Value(name: "logits", dimensions: ["batch", "10"])])
    XCTAssertEqual(file.nodeCounts["Conv"], 2)
    XCTAssertEqual(file.nodeCounts["Gemm"], 3)
    XCTAssertEqual(file.nodeCounts["MaxPool"], 2)
    XCTAssertEqual(file.model.graph.node.last?.output, ["logits"])
    // Every parameter is an initializer under its state-dict name.
    XCTAssertEqual(
      Set(file.model.graph.initializer.map(\.name)), Set(model.namedParameters().map(\.name)))
    assertInitializersMatch(file, model)
    // Values flow: each node reads only the input, initializers and earlier outputs.
    var known = Set(["input"] + file.model.graph.initializer.map(\.name))
    for node in file.model.graph.node {
      for input in node.input {
        XCTAssertTrue(known.contains(input), "\(node.name) reads \(input) before it exists")
      }
      known.formUnion(node.output)
    }
  }

  func testPaperAlexNetKeepsGroupsAndThePapersLRNConstant() throws {
    let model = try Zoo.build("alexnet-paper", classes: 10)
    let file = try roundTrip(model, input: [3, 227, 227])
    let convs = file.model.graph.node.filter { $0.opType == "Conv" }
    XCTAssertEqual(convs.map { attribute($0, "group")?.i ?? 0 }, [1, 2, 1, 2, 2])
    XCTAssertEqual(attribute(convs[0], "strides")?.ints, [4, 4])
    XCTAssertEqual(attribute(convs[0], "kernel_shape")?.ints, [11, 11])
    let lrn = file.model.graph.node.filter { $0.opType == "LRN" }
    XCTAssertEqual(lrn.count, 2)
    // The paper adds α·Σx²; ONNX (like PyTorch) adds (α/n)·Σx², so the file's α is the paper's × 5.
    XCTAssertEqual(attribute(lrn[0], "alpha")?.f ?? 0, 5e-4, accuracy: 1e-10)
    XCTAssertEqual(attribute(lrn[0], "size")?.i, 5)
    XCTAssertEqual(attribute(lrn[0], "bias")?.f, 2)
    XCTAssertEqual(attribute(lrn[0], "beta")?.f, 0.75)
    XCTAssertNil(file.nodeCounts["Dropout"], "eval mode: dropout is gone")
    assertInitializersMatch(file, model)
  }

  func testBatchNormKeepsRunningStatisticsOrFoldsExactly() throws {
    let model = try Zoo.build("vgg11_bn-cifar")
    // Non-trivial statistics, so a wrong mapping would show.
    var random = RandomGenerator(seed: 5)
    for (name, tensor) in model.stateDict()
    where name.hasSuffix("running_var") || name.hasSuffix("running_mean") {
      for i in 0..<tensor.count { tensor.data[i] = 0.5 + random.nextUniform() }
    }
    let file = try roundTrip(model, input: [3, 32, 32])
    let norms = file.model.graph.node.filter { $0.opType == "BatchNormalization" }
    XCTAssertEqual(norms.count, 8)
    XCTAssertEqual(
      norms[0].input,
      [
        "features.1.weight", "features.1.bias", "features.1.running_mean", "features.1.running_var",
      ].reduce(into: [norms[0].input[0]]) { $0.append($1) })
    XCTAssertEqual(attribute(norms[0], "epsilon")?.f, 1e-5)
    assertInitializersMatch(file, model)

    var options = ONNXExportOptions()
    options.foldBatchNorm = true
    let folded = try roundTrip(model, input: [3, 32, 32], options: options)
    XCTAssertNil(folded.nodeCounts["BatchNormalization"])
    XCTAssertEqual(folded.nodeCounts["Conv"], 8)
    // The first convolution's first output channel, folded by hand.
    let state = Dictionary(
      model.stateDict().map { ($0.name, $0.tensor.scalars) }, uniquingKeysWith: { a, _ in a })
    let (gamma, beta) = (state["features.1.weight"]![0], state["features.1.bias"]![0])
    let (mean, variance) = (state["features.1.running_mean"]![0], state["features.1.running_var"]![0])
    let factor = gamma / (variance + 1e-5).squareRoot()
    let conv = folded.model.graph.node.first { $0.opType == "Conv" }!
    let weight = folded.floats(of: conv.input[1])!
    let bias = folded.floats(of: conv.input[2])!
    XCTAssertEqual(weight[0], state["features.0.weight"]![0] * factor)
    XCTAssertEqual(bias[0], (state["features.0.bias"]![0] - mean) * factor + beta)
  }

  func testResNetsResidualAddsGlobalPoolAndZeroPaddedShortcut() throws {
    let resnet18 = try Zoo.build("resnet18", classes: 10)
    let file = try roundTrip(resnet18, input: [3, 224, 224])
    XCTAssertEqual(file.nodeCounts["Add"], 8)
    XCTAssertEqual(file.nodeCounts["GlobalAveragePool"], 1)
    XCTAssertEqual(file.nodeCounts["Conv"], 20)
    assertInitializersMatch(file, resnet18)

    let resnet20 = try Zoo.build("resnet20")
    let cifar = try roundTrip(resnet20, input: [3, 32, 32])
    let pads = cifar.model.graph.node.filter { $0.opType == "Pad" }
    XCTAssertEqual(pads.count, 2, "option-A shortcuts at stages 2 and 3")
    // 16 → 32 channels: 8 zero channels before and after, on axis 1 only.
    let amounts = cifar.model.graph.initializer.first { $0.name == pads[0].input[1] }!.int64Data
    XCTAssertEqual(amounts, [0, 8, 0, 0, 0, 8, 0, 0])
    assertInitializersMatch(cifar, resnet20)
  }

  func testAdaptivePoolingBecomesFixedOrIsRefusedWhenWindowsDiffer() throws {
    // torchvision AlexNet at 224: the adaptive pool meets 6×6 features and is the identity.
    let alexnet = try Zoo.build("alexnet", classes: 10)
    let (_, report) = try ONNXExporter.makeModel(alexnet, input: [3, 224, 224])
    XCTAssertNil(report.nodeCounts["AveragePool"])
    XCTAssertTrue(report.inputNote.contains("only the exported height and width"), report.inputNote)
    // At 195×195 the features are 5×5: windows of unequal size have no fixed ONNX pooling.
    XCTAssertThrowsError(try ONNXExporter.makeModel(alexnet, input: [3, 195, 195])) { error in
      XCTAssertTrue("\(error)".contains("unequal windows"), "\(error)")
    }
  }

  func testLargeWeightsGoToExternalData() throws {
    let model = try Zoo.build("lenet5")
    let folder = try temporaryFolder()
    var options = ONNXExportOptions()
    options.externalDataThreshold = 1000
    let report = try ONNXExporter.export(model, input: [1, 32, 32], to: folder + "/m.onnx", options: options)
    XCTAssertEqual(report.externalDataPath, folder + "/m.onnx.data")
    let side = try Data(contentsOf: URL(fileURLWithPath: folder + "/m.onnx.data"))
    XCTAssertEqual(side.count, model.parameterCount * 4)
    let file = try ONNXFile(path: folder + "/m.onnx")
    var offset = 0
    for initializer in file.model.graph.initializer {
      let entries = Dictionary(
        initializer.externalData.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
      XCTAssertEqual(initializer.dataLocation, .external)
      XCTAssertEqual(entries["location"], "m.onnx.data")
      XCTAssertEqual(entries["offset"], String(offset))
      let length = Int(entries["length"]!)!
      // The side file holds the tensor's bytes at that offset.
      let tensor = model.stateDict().first { $0.name == initializer.name }!.tensor
      let stored = side.subdata(in: offset..<offset + length).withUnsafeBytes {
        Array($0.bindMemory(to: Float.self))
      }
      XCTAssertEqual(stored.map(\.bitPattern), tensor.scalars.map(\.bitPattern), initializer.name)
      offset += length
    }
    XCTAssertEqual(offset, side.count)
  }
}

/// `cnnkit export --format onnx` and `cnnkit inspect` on .onnx files, and their mistakes.
extension CLITests {
  func testExportONNXAndInspectIt() throws {
    let folder = NSTemporaryDirectory() + "cnnkit-onnx-cli-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let path = folder + "/lenet.onnx"
    let export = try run(["export", "--model", "lenet5", "--format", "onnx", "--output", path])
    XCTAssertEqual(export.status, 0, export.stderr)
    XCTAssertTrue(export.stdout.contains("ONNX opset 17, 12 nodes"), export.stdout)
    let inspect = try run(["inspect", path])
    XCTAssertEqual(inspect.status, 0, inspect.stderr)
    XCTAssertTrue(inspect.stdout.contains("input input [batch, 1, 32, 32]"), inspect.stdout)
    XCTAssertTrue(inspect.stdout.contains("output logits [batch, 10]"), inspect.stdout)
    XCTAssertTrue(inspect.stdout.contains("metadata cnnkit.model: lenet5"), inspect.stdout)

    // A failed export leaves the good file alone.
    let good = try Data(contentsOf: URL(fileURLWithPath: path))
    let refused = try run([
      "export", "--model", "alexnet", "--input", "3,195,195", "--format", "onnx", "--output", path,
    ])
    XCTAssertNotEqual(refused.status, 0)
    XCTAssertTrue(
      refused.stderr.hasPrefix("error: ") && refused.stderr.contains("unequal windows"), refused.stderr)
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), good)

    let badFormat = try run(["export", "--model", "lenet5", "--format", "tflite", "--output", path])
    XCTAssertEqual(badFormat.stderr, "error: --format must be safetensors or onnx, got 'tflite'\n")
    let foldSafetensors = try run([
      "export", "--model", "lenet5", "--fold-bn", "--output", folder + "/w.safetensors",
    ])
    XCTAssertEqual(foldSafetensors.stderr, "error: --fold-bn applies to --format onnx only\n")

    try Data("not a protobuf at all".utf8).write(to: URL(fileURLWithPath: folder + "/junk.onnx"))
    let junk = try run(["inspect", folder + "/junk.onnx"])
    XCTAssertNotEqual(junk.status, 0)
    XCTAssertTrue(junk.stderr.hasPrefix("error: \(folder)/junk.onnx: not an ONNX model"), junk.stderr)
  }
}
