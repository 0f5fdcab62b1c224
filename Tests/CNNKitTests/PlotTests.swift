import CNNKit
import Foundation
import XCTest

#if canImport(FoundationXML)
  import FoundationXML
#endif

/// Round axis ticks, the training-history plot that uses them, and the confusion-matrix picture.
final class PlotTests: XCTestCase {
  func testTicksAreRoundSteps() {
    let unit = AxisTicks(covering: 0.0743, 0.93)
    XCTAssertEqual(unit.step, 0.2)
    XCTAssertEqual(unit.values, [0, 0.2, 0.4, 0.6, 0.8, 1.0])
    XCTAssertEqual(unit.values.map(unit.label), ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])

    let loss = AxisTicks(covering: 0.0512, 2.31)
    XCTAssertEqual(loss.step, 0.5)
    XCTAssertEqual(loss.values.map(loss.label), ["0.0", "0.5", "1.0", "1.5", "2.0", "2.5"])

    let percent = AxisTicks(covering: 7.43, 98.6)
    XCTAssertEqual(percent.values, [0, 20, 40, 60, 80, 100])
    XCTAssertEqual(percent.label(40), "40")

    let narrow = AxisTicks(covering: 0.9712, 0.9855)
    XCTAssertEqual(narrow.step, 0.005, accuracy: 1e-15)
    XCTAssertEqual(narrow.label(narrow.low), "0.970")
    XCTAssertEqual(narrow.label(narrow.high), "0.990")
    XCTAssertLessThanOrEqual(narrow.low, 0.9712)
    XCTAssertGreaterThanOrEqual(narrow.high, 0.9855)

    // Exactly a round step stays that step.
    XCTAssertEqual(AxisTicks(covering: 0, 1).step, 0.2)
    XCTAssertEqual(AxisTicks(covering: -3, 3).values, [-4, -2, 0, 2, 4])
    XCTAssertEqual(AxisTicks(covering: -0.4, 0.1).label(-0.0), "0.0")
  }

  func testTicksOfIntegersAndDegenerateRanges() {
    XCTAssertEqual(AxisTicks(covering: 1, 5, targetCount: 8, integers: true).values, [1, 2, 3, 4, 5])
    XCTAssertEqual(AxisTicks(covering: 1, 90, targetCount: 8, integers: true).step, 20)
    let constant = AxisTicks(covering: 0.5, 0.5)
    XCTAssertLessThan(constant.low, 0.5)
    XCTAssertGreaterThan(constant.high, 0.5)
    XCTAssertEqual(AxisTicks(covering: .nan, 1).values.first, 0)
    XCTAssertEqual(AxisTicks(covering: .infinity, 1).values.last, 1)
  }

  func testHistoryPlotLabelsRoundValues() throws {
    let history = TrainingHistory(records: [
      EpochRecord(
        epoch: 1, trainLoss: 0.93, trainAccuracy: 0.743, validationLoss: 0.444, validationAccuracy: 0.8,
        learningRate: 0.1, seconds: 1, imagesPerSecond: 10),
      EpochRecord(
        epoch: 2, trainLoss: 0.0743, trainAccuracy: 0.91, validationLoss: 0.21, validationAccuracy: 0.9,
        learningRate: 0.1, seconds: 1, imagesPerSecond: 10),
    ])
    let svg = history.svg
    for label in [">0.0<", ">0.2<", ">1.0<", ">70<", ">80<", ">95<"] {
      XCTAssertTrue(svg.contains(label), label)
    }
    // The data's own odd values are no longer tick labels.
    XCTAssertFalse(svg.contains(">0.0743<"))
    XCTAssertFalse(svg.contains(">0.444<"))
    try assertWellFormed(svg)
  }

  func testConfusionMatrixPictureHasCountsNamesAndAccuracy() throws {
    var matrix = ConfusionMatrix(classCount: 3, classNames: ["cat", "dog", "bird & bee"])
    matrix.add(predictions: [0, 0, 0, 1, 1, 2, 2, 2, 2, 0], labels: [0, 0, 1, 1, 1, 2, 2, 2, 2, 2])
    let svg = ConfusionMatrixPlot.svg(matrix, title: "lenet5 <test>")
    try assertWellFormed(svg)
    let texts = try textContents(svg)
    for expected in ["cat", "dog", "bird & bee", "2", "1", "4", "predicted class", "true class"] {
      XCTAssertTrue(texts.contains(expected), "\(expected) in \(texts)")
    }
    XCTAssertTrue(
      texts.contains("lenet5 <test> — accuracy 80.00% (8/10)"), "title in \(texts)")
    // Nine cells and a count in each, the largest count darkest.
    XCTAssertEqual(svg.components(separatedBy: "<rect x=").count - 1, 9 + 2, "cells, frame and scale")
    XCTAssertTrue(svg.contains("fill=\"#08306b\"><title>true bird &amp; bee, predicted bird &amp; bee: 4"))

    // Many classes: still drawn, but the counts no longer fit in the cells.
    var large = ConfusionMatrix(classCount: 100)
    large.add(actual: 3, predicted: 7)
    let big = ConfusionMatrixPlot.svg(large)
    try assertWellFormed(big)
    XCTAssertEqual(big.components(separatedBy: "<text").count - 1, 5, "title, axis names and scale only")
  }

  func testConfusionMatrixFileIsSVGOnlyAndAtomic() throws {
    let folder = NSTemporaryDirectory() + "cnnkit-plot-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    var matrix = ConfusionMatrix(classCount: 2)
    matrix.add(actual: 0, predicted: 0)
    try ConfusionMatrixPlot.write(matrix, to: folder + "/cm.SVG")
    try assertWellFormed(
      String(decoding: try Data(contentsOf: URL(fileURLWithPath: folder + "/cm.SVG")), as: UTF8.self))
    XCTAssertEqual(
      try FileManager.default.contentsOfDirectory(atPath: folder), ["cm.SVG"], "no temporary file")
    XCTAssertThrowsError(try ConfusionMatrixPlot.write(matrix, to: folder + "/cm.png")) {
      XCTAssertEqual($0 as? ConfusionMatrixPlot.PlotError, .unsupportedFormat(path: folder + "/cm.png"))
    }
    XCTAssertThrowsError(try ConfusionMatrixPlot.checkDestination(folder + "/missing/cm.svg")) {
      XCTAssertEqual(
        $0 as? ConfusionMatrixPlot.PlotError,
        .missingFolder(path: folder + "/missing/cm.svg", folder: folder + "/missing"))
    }
  }

  /// Parses `svg` as XML; any error fails the test.
  private func assertWellFormed(_ svg: String, file: StaticString = #filePath, line: UInt = #line) throws {
    let parser = XMLParser(data: Data(svg.utf8))
    XCTAssertTrue(
      parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "") in\n\(svg)", file: file, line: line)
  }

  /// The text of every `<text>` element, entities decoded.
  private func textContents(_ svg: String) throws -> [String] {
    final class Collector: NSObject, XMLParserDelegate {
      var texts: [String] = []
      var current: String?
      func parser(
        _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String] = [:]
      ) {
        if name == "text" { current = "" }
      }
      func parser(_ parser: XMLParser, foundCharacters string: String) { current? += string }
      func parser(
        _ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?
      ) {
        if name == "text", let text = current {
          texts.append(text)
          current = nil
        }
      }
    }
    let parser = XMLParser(data: Data(svg.utf8))
    let collector = Collector()
    parser.delegate = collector
    XCTAssertTrue(parser.parse())
    return collector.texts
  }
}
