import CNNKit
import Foundation
import XCTest

// The networks of the study notes as model files (examples/notes/), each checked against the table
// its note prints — byte for byte where the note shows one — and against the zoo model it equals.

/// A model file of examples/notes/.
private func noteModel(_ file: String) throws -> ModelDefinition {
  try ModelDefinition(
    path: SharedDatasets.repositoryRoot.appendingPathComponent("examples/notes/" + file).path)
}

private func trace(_ file: String, classes: Int? = nil) throws -> ModelTrace {
  let definition = try noteModel(file)
  return try ModelTrace(
    model: try definition.build(classes: classes), inputShape: [1] + definition.input)
}

/// The note's table from the line before `header` to the first empty line (or the end). Notebook exports drop
/// the `=` rule under the header and the notes stop mid-table, so `ours` is compared less that rule
/// and the note's last line as a prefix.
private func assertMatchesNoteTable(
  _ ours: String, note: String, header: String, rule: Int, file: StaticString = #filePath, line: UInt = #line
) throws {
  let noteLines = StudyNotes.lines(note)
  let start = try XCTUnwrap(noteLines.firstIndex(of: header), file: file, line: line) - 1
  // Note 000's table is the end of the file.
  let end = noteLines[start...].firstIndex(of: "") ?? noteLines.count
  let expected = Array(noteLines[start..<end])
  XCTAssertGreaterThan(expected.count, 10, file: file, line: line)
  var ourLines = StudyNotes.lines(ours)
  XCTAssertTrue(ourLines[rule].allSatisfy { $0 == "=" }, ourLines[rule], file: file, line: line)
  ourLines.remove(at: rule)
  XCTAssertEqual(
    Array(ourLines.prefix(expected.count - 1)), Array(expected.dropLast()), file: file, line: line)
  XCTAssertTrue(
    ourLines[expected.count - 1].hasPrefix(expected[expected.count - 1]), ourLines[expected.count - 1],
    file: file,
    line: line)
}

private func keys(_ model: Module) -> [String] { model.stateDict().map(\.name) }

final class NoteModelFileTests: XCTestCase {
  private let torchsummaryHeader = "        Layer (type)               Output Shape         Param #"

  func testNote000PyTorchTableAndZooTwin() throws {
    let text = try trace("000-alexnet-bn-pytorch.json").summary(.torchsummary)
    try assertMatchesNoteTable(text, note: try StudyNotes.seed("000"), header: torchsummaryHeader, rule: 2)
    XCTAssertTrue(text.contains("Total params: 62,379,048\n"))
    // The note's class is the zoo's alexnet-bn: same keys in the same order (log_softmax is functional).
    let zoo = try Zoo.build("alexnet-bn")
    XCTAssertEqual(keys(try noteModel("000-alexnet-bn-pytorch.json").build()), keys(zoo))
  }

  func testNote000KerasTable() throws {
    let text = try trace("000-alexnet-bn-keras.json").summary(.keras, modelName: "sequential")
    let note = StudyNotes.lines(try StudyNotes.seed("000"))
    let start = try XCTUnwrap(note.firstIndex(of: "Model: \"sequential\""))
    let end = try XCTUnwrap(note[start...].firstIndex(of: ""))
    let expected = Array(note[start..<end])
    var ours = StudyNotes.lines(text)
    ours.remove(at: 3)  // the `=` rule the export dropped
    XCTAssertEqual(Array(ours.prefix(expected.count - 1)), Array(expected.dropLast()))
    XCTAssertTrue(ours[expected.count - 1].hasPrefix(expected[expected.count - 1]))
    // Keras counts BatchNormalization's moving statistics as non-trainable parameters.
    XCTAssertTrue(text.contains("Total params: 62,379,752\n"), text)
    XCTAssertTrue(text.contains("Non-trainable params: 704\n"), text)
  }

  func testNote001TableAndCounts() throws {
    let text = try trace("001-net.json").summary(.torchsummary)
    try assertMatchesNoteTable(text, note: try StudyNotes.seed("001"), header: torchsummaryHeader, rule: 2)
    XCTAssertTrue(text.contains("           Linear-19                 [-1, 1000]       4,097,000\n"), text)
    let model = try noteModel("001-net.json").build()
    XCTAssertEqual(model.parameterCount, 62_378_344)
    XCTAssertEqual(keys(model).first, "architecture.0.weight")
    XCTAssertEqual(keys(model).last, "architecture.18.bias")
    // F.log_softmax: log-probabilities whose exponentials sum to one.
    var data = TestData(seed: 1)
    let output = try model.eval()(data.normal([1, 3, 227, 227], requiresGrad: false))
    let total = output.scalars.reduce(0) { $0 + exp(Double($1)) }
    XCTAssertEqual(total, 1, accuracy: 1e-4)
  }

  func testNote002And003AlexNetsMatchTheZoo() throws {
    let note002 = try noteModel("002-alexnet.json").build()
    XCTAssertEqual(note002.parameterCount, 62_378_344)
    XCTAssertEqual(keys(note002), keys(try Zoo.build("alexnet-plain")))

    let note003 = try noteModel("003-alexnet.json").build()
    XCTAssertEqual(note003.parameterCount, try Zoo.build("alexnet-paper-single").parameterCount)
    XCTAssertEqual(note003.parameterCount, 62_378_344)
    // init_bias_weights: N(0, 0.01) convolutions, bias 1 in net[4], net[10] and net[12], 0 in the others.
    let state = Dictionary(uniqueKeysWithValues: note003.stateDict().map { ($0.name, $0.tensor) })
    for (index, bias) in [(0, 0), (4, 1), (8, 0), (10, 1), (12, 1)] as [(Int, Float)] {
      XCTAssertEqual(Set(try XCTUnwrap(state["net.\(index).bias"]).scalars), [bias], "net.\(index).bias")
    }
    let weights = try XCTUnwrap(state["net.8.weight"]).scalars
    let std = (weights.reduce(0) { $0 + Double($1 * $1) } / Double(weights.count)).squareRoot()
    XCTAssertEqual(std, 0.01, accuracy: 0.0005)
    XCTAssertTrue(note003.description.contains("LocalResponseNorm(5, alpha=0.0001, beta=0.75, k=2.0)"))
  }

  func testNote003VGGMatchesTheZoo() throws {
    let definition = try noteModel("003-vgg16-cifar.json")
    let zoo = try Zoo.build("vgg16-cifar")
    let model = try definition.build()
    XCTAssertEqual(model.parameterCount, 15_245_130)
    XCTAssertEqual(keys(model), keys(zoo))
    XCTAssertEqual(
      try trace("003-vgg16-cifar.json").summary(.torchinfo),
      try ModelTrace(model: zoo, inputShape: [1, 3, 32, 32]).summary(.torchinfo))
  }

  func testNote004KerasTableByteForByte() throws {
    let note = StudyNotes.lines(try StudyNotes.seed("004"))
    let start = try XCTUnwrap(
      note.lastIndex(of: "    Layer (type)                 Output Shape              Param #   "))
    let end = try XCTUnwrap(note[start...].firstIndex { $0.hasPrefix("    Non-trainable params: ") })
    let expected =
      note[(start - 1)...(end + 1)].map { String($0.dropFirst(4)) }.joined(separator: "\n") + "\n"
    XCTAssertEqual(try trace("004-alexnet-keras.json").summary(.keras, kerasLayout: .legacy), expected)
  }

  /// The tutorial ResNet written as data is the zoo's `resnet-tutorial`: same keys, same tables, and
  /// with the same weights the same logits.
  func testTutorialResNetFileEqualsTheZooModel() throws {
    let definition = try noteModel("resnet-tutorial.json")
    let file = try definition.build()
    let zoo = try Zoo.build("resnet-tutorial")
    XCTAssertEqual(file.parameterCount, 195_738)
    XCTAssertEqual(keys(file), keys(zoo))
    for format in [SummaryFormat.torchsummary, .torchinfo, .keras] {
      XCTAssertEqual(
        try ModelTrace(model: file, inputShape: [2, 3, 32, 32]).summary(format),
        try ModelTrace(model: zoo, inputShape: [2, 3, 32, 32]).summary(format), "\(format)")
    }
    for ((_, mine), (_, theirs)) in zip(file.stateDict(), zoo.stateDict()) {
      mine.data.update(from: theirs.readOnlyData, count: theirs.count)
    }
    var data = TestData(seed: 2)
    let input = data.normal([2, 3, 32, 32], requiresGrad: false)
    for training in [false, true] {
      file.train(training)
      zoo.train(training)
      let ours = try file(input).scalars
      let reference = try zoo(input).scalars
      XCTAssertEqual(ours.count, 20)
      XCTAssertTrue(ours.allSatisfy(\.isFinite))
      XCTAssertEqual(ours, reference, "training \(training)")
    }
  }

  /// Every file of examples/notes reads and builds, and its `name` is the file name's note.
  func testEveryExampleFileBuilds() throws {
    let folder = SharedDatasets.repositoryRoot.appendingPathComponent("examples/notes").path
    let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".json") }
    XCTAssertEqual(files.count, 8)
    for file in files {
      let definition = try noteModel(file)
      let model = try definition.build()
      let output = try ModelTrace(model: model, inputShape: [1] + definition.input).calls.last?.outputShape
      XCTAssertEqual(output, [1, definition.classes ?? -1], file)
    }
  }
}
