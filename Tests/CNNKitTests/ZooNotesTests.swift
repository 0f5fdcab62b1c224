import CNNKit
import Foundation
import XCTest

/// Which study note each zoo model matches: the `note` on each `ZooEntry`, what `cnnkit list` prints
/// from it, and README's model table, which must list every model with its parameter count and the
/// same note text.
final class ZooNotesTests: XCTestCase {
  private func note(_ name: String) throws -> String? { try Zoo.entry(named: name).note }

  func testEntriesNameTheNoteTheyMatch() throws {
    // Note 003's code is the one-tower AlexNet; the grouped model is the paper's and says where to go.
    XCTAssertEqual(try note("alexnet-paper-single"), "note 003: its AlexNet code")
    let paper = try XCTUnwrap(try note("alexnet-paper"))
    XCTAssertTrue(paper.hasPrefix("note 003"), paper)
    XCTAssertTrue(paper.contains("alexnet-paper-single"), paper)
    XCTAssertTrue(try Zoo.entry(named: "alexnet-paper").summary.contains("two GPUs"))
    XCTAssertTrue(try Zoo.entry(named: "alexnet-paper-single").summary.contains("one tower"))

    XCTAssertTrue(try XCTUnwrap(try note("alexnet-bn")).hasPrefix("note 000"))
    let plain = try XCTUnwrap(try note("alexnet-plain"))
    XCTAssertTrue(plain.hasPrefix("note 002"), plain)
    XCTAssertTrue(plain.contains("001") && plain.contains("004") && plain.contains("without dropout"), plain)
    for name in ["vgg16", "vgg16_bn", "vgg11-cifar", "vgg19-cifar", "resnet-tutorial"] {
      XCTAssertTrue(try XCTUnwrap(try note(name), name).hasPrefix("note 003"), name)
    }
    // No note writes these: torchvision's AlexNet and ResNets, LeNet, the CIFAR ResNets, BN VGG-CIFAR.
    for name in ["alexnet", "lenet5", "resnet18", "resnet20", "resnet110", "vgg16_bn-cifar"] {
      XCTAssertNil(try note(name), name)
    }

    // Every note text names one note, and every note is named by some model.
    let notes = Zoo.entries.compactMap(\.note)
    for text in notes {
      XCTAssertNotNil(text.range(of: #"^note 00[0-4]"#, options: .regularExpression), text)
    }
    for number in ["000", "001", "002", "003", "004"] {
      XCTAssertTrue(notes.contains { $0.contains(number) }, "no zoo model names note \(number)")
    }
  }

  func testListPrintsEachNoteAndSignpostsThePaperAlexNets() throws {
    let output = try runList()
    let lines = output.split(separator: "\n").map(String.init)
    XCTAssertEqual(lines.count, Zoo.entries.count, output)
    func line(_ name: String) throws -> String {
      try XCTUnwrap(lines.first { $0.hasPrefix(name + " ") }, "no list line for \(name)")
    }
    let single = try line("alexnet-paper-single")
    XCTAssertTrue(single.hasSuffix("(note 003: its AlexNet code) [input 3,227,227]"), single)
    let paper = try line("alexnet-paper")
    XCTAssertTrue(paper.contains("split over its two GPUs (groups 2 on conv2/4/5)"), paper)
    XCTAssertTrue(
      paper.contains("(note 003 cites this paper; the AlexNet code it writes is alexnet-paper-single)"), paper
    )
    let batchNorm = try line("alexnet-bn")
    XCTAssertTrue(batchNorm.contains("(note 000: "), batchNorm)
    let lenet = try line("lenet5")
    XCTAssertFalse(lenet.contains("(note"), lenet)
    // `[input C,H,W]` stays last: Scripts/check-onnx.py reads each model's input size from there.
    for text in lines {
      XCTAssertNotNil(text.range(of: #" \[input \d+,\d+,\d+\]$"#, options: .regularExpression), text)
    }
  }

  func testReadmeModelTableListsEveryModelWithItsCountAndNote() throws {
    let readme = try String(
      contentsOf: SharedDatasets.repositoryRoot.appendingPathComponent("README.md"), encoding: .utf8)
    let section = try XCTUnwrap(readme.components(separatedBy: "\n## Models\n").dropFirst().first)
    let body = section.components(separatedBy: "\n## ")[0]
    // Rows `| `name` | what | parameters | study note |`, by name.
    var rows: [String: [String]] = [:]
    for line in body.split(separator: "\n") where line.hasPrefix("| `") {
      let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast()
        .map { $0.trimmingCharacters(in: .whitespaces) }
      guard cells.count == 4 else { continue }
      rows[cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))] = cells
    }
    for entry in Zoo.entries {
      guard let cells = rows[entry.name] else {
        XCTFail("README's model table has no row for \(entry.name)")
        continue
      }
      let parameters = try XCTUnwrap(ModelZooTests.figures[entry.name]).parameters
      XCTAssertEqual(cells[2], grouped(parameters), entry.name)
      XCTAssertEqual(cells[3], entry.note ?? "—", entry.name)
    }
    XCTAssertEqual(Set(rows.keys), Set(Zoo.names), "README rows that are no zoo model")
  }

  /// 1234567 → "1,234,567", as README writes counts.
  private func grouped(_ value: Int) -> String {
    var digits = Array(String(value))
    var index = digits.count - 3
    while index > 0 {
      digits.insert(",", at: index)
      index -= 3
    }
    return String(digits)
  }

  /// stdout of `cnnkit list`, which must exit 0 with nothing on stderr.
  private func runList() throws -> String {
    let process = Process()
    process.executableURL = try CLITests.executableURL()
    process.arguments = ["list"]
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    XCTAssertEqual(process.terminationStatus, 0)
    XCTAssertEqual(String(decoding: stderr, as: UTF8.self), "")
    return String(decoding: stdout, as: UTF8.self)
  }
}
