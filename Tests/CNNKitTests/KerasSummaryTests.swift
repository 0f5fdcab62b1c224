import CNNKit
import Foundation
import XCTest

// Byte-exact checks of the Keras layouts against the tables in the user's study notes
// (../shared/seeds) and the Keras 3 output in ../shared/reference.md, read at test time so the
// comparison is with the notes themselves; each test skips when the shared folder is absent.

private func sharedText(_ relativePath: String) throws -> String { try StudyNotes.sharedText(relativePath) }
private func seed(_ number: String) throws -> String { try StudyNotes.seed(number) }
private func lines(_ text: String) -> [String] { StudyNotes.lines(text) }

/// The zoo's `name` traced on `input` (C, H, W) with a batch of one.
private func zooTrace(_ name: String, classes: Int? = nil, input: [Int]) throws -> ModelTrace {
  try ModelTrace(model: try Zoo.build(name, classes: classes, input: input), inputShape: [1] + input)
}

final class KerasSummaryTests: XCTestCase {
  /// Note 000's Keras table is TF 2.9–2.12 output for the BatchNorm AlexNet, which is the zoo's
  /// `alexnet-bn` at its default 1000 classes and 227×227. The notebook export dropped the `=` rule
  /// under the header and the note stops mid-table (its last line is cut short), so the note's lines
  /// are compared with ours less that rule, the last one as a prefix.
  func testTF2LayoutMatchesNote000() throws {
    let note = lines(try seed("000"))
    let start = try XCTUnwrap(note.firstIndex(of: "Model: \"sequential\""))
    let end = try XCTUnwrap(note[start...].firstIndex(of: ""))
    let expected = Array(note[start..<end])
    XCTAssertGreaterThan(expected.count, 10)

    let text = try zooTrace("alexnet-bn", input: [3, 227, 227]).summary(.keras, modelName: "sequential")
    var ours = lines(text)
    XCTAssertEqual(ours[3], String(repeating: "=", count: 65))
    ours.remove(at: 3)
    XCTAssertEqual(Array(ours.prefix(expected.count - 1)), Array(expected.dropLast()))
    XCTAssertTrue(ours[expected.count - 1].hasPrefix(expected[expected.count - 1]))
    // Where the note stops: the rest follows the same rules, totals grouped as TF 2.9–2.12 print them.
    let blank = String(repeating: " ", count: 65)
    let tail = [
      " dense_2 (Dense)             (None, 1000)              4097000   ", blank,
      String(repeating: "=", count: 65), "Total params: 62,379,752", "Trainable params: 62,379,048",
      "Non-trainable params: 704", String(repeating: "_", count: 65), "",
    ]
    XCTAssertEqual(Array(ours.suffix(tail.count)), tail)
  }

  /// Note 004's last table, byte for byte (its notebook indents outputs by four spaces). No zoo model
  /// is that network: `alexnet-plain` has dropout before its first two Linears, which Keras would
  /// list, so the test builds the note's layer list itself.
  func testLegacyLayoutMatchesNote004() throws {
    let note = lines(try seed("004"))
    let start = try XCTUnwrap(
      note.lastIndex(of: "    Layer (type)                 Output Shape              Param #   "))
    let end = try XCTUnwrap(note[start...].firstIndex { $0.hasPrefix("    Non-trainable params: ") })
    let expected =
      note[(start - 1)...(end + 1)].map { String($0.dropFirst(4)) }.joined(separator: "\n") + "\n"

    let network = Sequential(
      Conv2d(3, 96, kernelSize: 11, stride: 4), ReLU(), MaxPool2d(kernelSize: 3, stride: 2),
      Conv2d(96, 256, kernelSize: 5, padding: 2), ReLU(), MaxPool2d(kernelSize: 3, stride: 2),
      Conv2d(256, 384, kernelSize: 3, padding: 1), ReLU(),
      Conv2d(384, 384, kernelSize: 3, padding: 1), ReLU(),
      Conv2d(384, 256, kernelSize: 3, padding: 1), ReLU(), MaxPool2d(kernelSize: 3, stride: 2),
      Flatten(), Linear(9216, 4096), ReLU(), Linear(4096, 4096), ReLU(), Linear(4096, 10), Softmax())
    let trace = try ModelTrace(model: network, inputShape: [1, 3, 227, 227])
    XCTAssertEqual(trace.summary(.keras, kerasLayout: .legacy), expected)

    // The zoo's nearest model in the same layout: the note's rows plus Keras' two Dropout rows.
    let plain = lines(
      try zooTrace("alexnet-plain", classes: 10, input: [3, 227, 227]).summary(.keras, kerasLayout: .legacy))
    XCTAssertEqual(plain[0], String(repeating: "_", count: 65))
    XCTAssertEqual(plain[19], "flatten_1 (Flatten)          (None, 9216)              0         ")
    XCTAssertEqual(plain[21], "dropout_1 (Dropout)          (None, 9216)              0         ")
    XCTAssertTrue(plain.contains("Total params: 58,322,314"))
  }

  /// Keras 3.15's table for note 000's model, as quoted in reference.md (the same bytes Keras 3.15.1
  /// prints with its numpy backend on an 80-column pipe).
  func testKeras3LayoutMatchesKeras3Output() throws {
    let reference = lines(try sharedText("reference.md"))
    let heading = try XCTUnwrap(reference.firstIndex { $0.hasPrefix("Keras 3.15.1") })
    let start = try XCTUnwrap(reference[heading...].firstIndex(of: "```")) + 1
    let end = try XCTUnwrap(reference[start...].firstIndex(of: "```"))
    let expected = reference[start..<end].joined(separator: "\n") + "\n"

    let trace = try zooTrace("alexnet-bn", input: [3, 227, 227])
    let text = trace.summary(.keras, kerasLayout: .keras3, modelName: "sequential")
    XCTAssertEqual(text, expected)
    XCTAssertTrue(
      text.contains("\n│ batch_normalization             │ (None, 27, 27, 96)     │           384 │\n"))
    XCTAssertTrue(
      text.contains("\n│ (BatchNormalization)            │                        │               │\n"))
    XCTAssertTrue(text.hasSuffix("\n Non-trainable params: 704 (2.75 KB)\n"))
    // Keras 3 numbers as tf.keras does; the legacy numbering is still one argument away.
    let legacy = trace.summary(.keras, kerasLayout: .keras3, kerasNaming: .legacy, modelName: "notes")
    XCTAssertTrue(legacy.hasPrefix("Model: \"notes\"\n"))
    XCTAssertTrue(
      legacy.contains("\n│ conv2d_1 (Conv2D)               │ (None, 55, 55, 96)     │        34,944 │\n"))
  }

  /// Without a name the report calls the model after its snake-cased type, as Keras does a subclass.
  func testDefaultModelNameAndNamingFollowTheLayout() throws {
    let trace = try zooTrace("alexnet-plain", classes: 10, input: [3, 227, 227])
    XCTAssertTrue(trace.summary(.keras).hasPrefix("Model: \"alex_net_plain\"\n___"))
    XCTAssertTrue(trace.summary(.keras).contains("\n conv2d (Conv2D) "))
    XCTAssertTrue(trace.summary(.keras, kerasLayout: .legacy).contains("\nconv2d_1 (Conv2D) "))
    XCTAssertTrue(trace.summary(.keras, kerasNaming: .legacy).contains("\n conv2d_1 (Conv2D) "))
  }
}
