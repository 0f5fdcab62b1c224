import CNNKit
import Foundation
import XCTest

#if canImport(FoundationXML)
  import FoundationXML
#endif

/// `train --tensorboard` and `eval --plot` end to end on a slice of the built-in MNIST subset.
extension CLITests {
  func testTrainWritesTensorBoardEventsAndEvalDrawsTheMatrix() throws {
    let folder = NSTemporaryDirectory() + "cnnkit-logs-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    addTeardownBlock { try? FileManager.default.removeItem(atPath: folder) }
    let result = try run([
      "train", "--model", "lenet5", "--epochs", "2", "--train-subset", "64", "--val-subset", "32", "-b", "16",
      "--workers", "1", "--output-dir", folder + "/run", "--tensorboard", folder + "/tb/lenet",
    ])
    XCTAssertEqual(result.status, 0, result.stderr)
    let names = try FileManager.default.contentsOfDirectory(atPath: folder + "/tb/lenet")
    XCTAssertEqual(names.count, 1, "\(names)")
    let name = try XCTUnwrap(names.first)
    XCTAssertTrue(name.hasPrefix("events.out.tfevents."), name)

    let events = try TensorBoardWriterTests.events(inFile: folder + "/tb/lenet/" + name)
    XCTAssertEqual(events.first?.fileVersion, "brain.Event:2")
    let series = TensorBoardWriterTests.scalars(events)
    XCTAssertEqual(
      Set(series.keys), ["loss/train", "loss/val", "accuracy/train", "accuracy/val", "lr", "img_per_s"])
    for (tag, points) in series {
      XCTAssertEqual(points.map(\.step), [1, 2], tag)
    }
    // The same figures as metrics.csv, to float precision.
    let csv = try String(contentsOfFile: folder + "/run/metrics.csv", encoding: .utf8)
    let rows = csv.split(separator: "\n").dropFirst().map {
      $0.split(separator: ",", omittingEmptySubsequences: false)
    }
    for (index, row) in rows.enumerated() {
      XCTAssertEqual(Double(series["loss/train"]![index].value), Double(row[1])!, accuracy: 1e-5)
      XCTAssertEqual(Double(series["accuracy/val"]![index].value), Double(row[4])!, accuracy: 1e-5)
    }

    let plot = folder + "/confusion.svg"
    let evaluation = try run([
      "eval", "--model", "lenet5", "--weights", folder + "/run/model.safetensors", "--plot", plot,
    ])
    XCTAssertEqual(evaluation.status, 0, evaluation.stderr)
    XCTAssertTrue(evaluation.stdout.contains("Confusion matrix plot: \(plot)"), evaluation.stdout)
    let svg = try String(contentsOfFile: plot, encoding: .utf8)
    XCTAssertTrue(svg.contains("lenet5 on mnist test — accuracy "), svg)
    XCTAssertTrue(XMLParser(data: Data(svg.utf8)).parse())
  }

  /// A bad --tensorboard folder or --plot name is one error line, before any training or evaluation.
  func testTensorBoardAndPlotMistakes() throws {
    let folder = NSTemporaryDirectory() + "cnnkit-logs-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    addTeardownBlock { try? FileManager.default.removeItem(atPath: folder) }
    let file = folder + "/a-file"
    try Data("x".utf8).write(to: URL(fileURLWithPath: file))
    let cases: [([String], String)] = [
      (
        ["train", "--tensorboard", file, "--output-dir", folder + "/out"],
        "error: --tensorboard \(file): is a file, not a folder"
      ),
      (
        ["train", "--tensorboard", file + "/tb", "--output-dir", folder + "/out"],
        "error: --tensorboard \(file)/tb: \(file) is a file, not a folder"
      ),
      (["eval", "--weights", "w.safetensors", "--plot", folder + "/cm.png"], "--plot"),
      (["eval", "--weights", "w.safetensors", "--plot", folder + "/none/cm.svg"], "does not exist"),
    ]
    for (arguments, expected) in cases {
      let result = try run(arguments)
      XCTAssertNotEqual(result.status, 0, "\(arguments)")
      XCTAssertEqual(result.stdout, "", "\(arguments): nothing ran")
      XCTAssertTrue(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
      XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, "\(arguments): \(result.stderr)")
    }
    XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/out/checkpoint.safetensors"))
  }
}
