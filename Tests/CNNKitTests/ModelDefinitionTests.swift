import CNNKit
import Foundation
import XCTest

/// Model-definition files: the schema's features and every kind of mistake, each reported with the
/// file, line and key.
final class ModelDefinitionTests: XCTestCase {
  private func definition(_ json: String) throws -> ModelDefinition {
    try ModelDefinition(json: Array(json.utf8), path: "net.json")
  }

  /// The message of the error reading (or, when reading succeeds, building) `json` throws.
  private func failure(_ json: String, classes: Int? = nil) -> String {
    do {
      _ = try definition(json).build(classes: classes)
      return "no error"
    } catch let error as ModelDefinitionError {
      return error.description
    } catch {
      return "unexpected \(type(of: error)): \(error)"
    }
  }

  private func model(_ layers: String, input: String = "[3, 8, 8]") -> String {
    "{\n  \"input\": \(input),\n  \"layers\": [\n\(layers)\n  ]\n}"
  }

  func testSizesAreInferredAndKerasPaddingWorks() throws {
    let file = try definition(
      model(
        """
            {"type": "Conv2d", "out_channels": 4, "kernel_size": 3, "padding": "same"},
            {"type": "BatchNorm2d"},
            {"type": "ReLU", "functional": true},
            {"type": "MaxPool2d", "kernel_size": 2},
            {"type": "Flatten"},
            {"name": "head", "type": "Linear", "out_features": "classes"}
        """
      ).replacingOccurrences(of: "\"input\"", with: "\"classes\": 5, \"class\": \"Tiny\", \"input\""))
    let network = try file.build()
    XCTAssertEqual(
      network.stateDict().map(\.name),
      [
        "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
        "1.num_batches_tracked",
        "head.weight", "head.bias",
      ])
    // 3×3 "same" keeps 8×8; the pool halves it; 4·4·4 = 64 features reach the head.
    XCTAssertEqual(try XCTUnwrap(network.namedChildren.last?.module as? Linear).inFeatures, 64)
    XCTAssertEqual(try file.build(classes: 7).parameterCount, 4 * 27 + 4 + 8 + 64 * 7 + 7)
    let trace = try ModelTrace(model: network, inputShape: [1, 3, 8, 8])
    XCTAssertTrue(trace.summary(.torchinfo).contains("Tiny "))
    // The functional ReLU has no row.
    XCTAssertFalse(trace.summary(.torchsummary).contains("ReLU"))
    XCTAssertEqual(file.zooEntry.defaultClasses, 5)
    XCTAssertEqual(file.name, "net")
  }

  func testSyntaxErrorsNameTheLine() {
    XCTAssertEqual(
      failure(model("    {\"type\": \"ReLU\",}")),
      "net.json:4: not valid JSON (column 21): expected a key in double quotes")
    XCTAssertEqual(
      failure("{\"input\": [3, 8, 8],\n \"input\": [1, 2, 2]}"),
      "net.json:2: not valid JSON (column 1): key 'input' appears twice in one object")
    XCTAssertTrue(failure(String(repeating: "[", count: 200)).contains("nested deeper than 64"))
    XCTAssertTrue(failure("").hasPrefix("net.json:1: not valid JSON"))
    XCTAssertTrue(failure("{\"a\": \"\\ud800\"}").contains("unpaired surrogate"))
  }

  func testSchemaErrorsNameLineAndKey() {
    XCTAssertEqual(
      failure(model("    {\"type\": \"Conv2d\", \"out_channels\": 4, \"kernal_size\": 3}")),
      "net.json:4: layers[0].kernal_size: unknown key for Conv2d (did you mean 'kernel_size'?); known: bias, "
        + "dilation, functional, groups, in_channels, init_bias, init_std, kernel_size, name, out_channels, "
        + "padding, stride, type")
    XCTAssertTrue(
      failure(model("    {\"type\": \"Conv2D\"}")).hasPrefix(
        "net.json:4: layers[0].type: unknown layer type 'Conv2D' (did you mean 'Conv2d'?)"))
    XCTAssertEqual(failure(model("    {\"kernel_size\": 3}")), "net.json:4: layers[0]: needs a \"type\" key")
    XCTAssertEqual(
      failure(model("    {\"type\": \"Conv2d\", \"out_channels\": 0, \"kernel_size\": 3}")),
      "net.json:4: layers[0].out_channels: must be an integer from 1 to 16777216")
    XCTAssertEqual(
      failure(model("    {\"type\": \"Linear\", \"out_features\": 4, \"functional\": true}")),
      "net.json:4: layers[0].functional: only parameter-free layers can be functional; Linear has state")
    XCTAssertEqual(
      failure("{\"layers\": [{\"type\": \"ReLU\"}]}"), "net.json:1: needs a \"input\" key")
    XCTAssertEqual(
      failure(
        model("    {\"type\": \"Flatten\"},\n    {\"type\": \"Linear\", \"out_features\": \"classes\"}")),
      "net.json:1: a layer's size is \"classes\" but the file sets no top-level \"classes\"")
    XCTAssertEqual(
      failure(model("    {\"type\": \"ReLU\"},\n    {\"type\": \"ReLU\", \"name\": \"0\"}")),
      "net.json:5: layers[1].name: '0' names an earlier layer of the same list")
  }

  func testShapeErrorsNameTheLayer() {
    XCTAssertEqual(
      failure(
        model(
          "    {\"type\": \"Conv2d\", \"out_channels\": 4, \"kernel_size\": 3},\n    {\"type\": \"Linear\", \"out_features\": 2}"
        )),
      "net.json:5: layers[1]: Linear needs flat features, but a 4×6×6 input reaches it; put a Flatten before it"
    )
    XCTAssertEqual(
      failure(
        model("    {\"type\": \"Conv2d\", \"in_channels\": 1, \"out_channels\": 4, \"kernel_size\": 3}")),
      "net.json:4: layers[0].in_channels: is 1, but the input reaching this layer has 3")
    XCTAssertTrue(
      failure(model("    {\"type\": \"MaxPool2d\", \"kernel_size\": 9}")).hasPrefix(
        "net.json:4: layers[0]: does not fit the 3×8×8 input reaching it:"))
    XCTAssertEqual(
      failure(
        model("    {\"type\": \"Conv2d\", \"out_channels\": 4, \"kernel_size\": 2, \"padding\": \"same\"}")),
      "net.json:4: layers[0].padding: \"same\" needs an odd kernel_size (PyTorch pads both sides equally)")
    XCTAssertEqual(
      failure(
        model(
          "    {\"type\": \"Flatten\"},\n    {\"type\": \"Linear\", \"out_features\": 9, \"in_features\": 16777216}",
          input: "[1, 1, 1]")),
      "net.json:5: layers[1].in_features: is 16777216, but the input reaching this layer has 1")
    XCTAssertEqual(
      failure(model("    {\"type\": \"Conv2d\", \"out_channels\": 16777216, \"kernel_size\": 300}")),
      "net.json:4: layers[0]: would hold 16777216×3×300×300 weights, more than the 1073741824 one layer may")
    XCTAssertEqual(
      failure(
        model("    {\"type\": \"Flatten\"},\n    {\"type\": \"Linear\", \"out_features\": 3}"), classes: 10),
      "net.json: the file fixes the output at 3, so it cannot give 10 classes; write \"out_features\": "
        + "\"classes\" in the last layer and a top-level \"classes\" to size it by request")
  }

  func testResidualBlocksAndCalls() throws {
    let block = """
          {"type": "Residual", "class": "Block", "layers": [
            {"name": "conv", "type": "Conv2d", "out_channels": 6, "kernel_size": 3, "stride": 2, "padding": 1},
            {"name": "relu", "type": "ReLU"}
          ], "shortcut": {"type": "ChannelPad", "out_channels": 6, "stride": 2}, "after": [{"call": "relu"}]}
      """
    let network = try definition(model(block)).build()
    XCTAssertEqual(network.stateDict().map(\.name), ["0.conv.weight", "0.conv.bias"])
    let trace = try ModelTrace(model: network, inputShape: [1, 3, 8, 8])
    XCTAssertEqual(trace.calls.last?.outputShape, [1, 6, 4, 4])
    // torchsummary's rows: conv, relu, the shortcut (akamaster's LambdaLayer), relu again, the block.
    XCTAssertEqual(
      trace.callsInFinishOrder.dropLast().map { $0.module.typeName },
      ["Conv2d", "ReLU", "LambdaLayer", "ReLU", "Block"])

    XCTAssertEqual(
      failure(model(block.replacingOccurrences(of: "\"stride\": 2}", with: "\"stride\": 1}"))),
      "net.json:4: layers[0]: the layers give 6×4×4 but the shortcut gives 6×8×8; they must match to be added"
    )
    XCTAssertEqual(
      failure(model(block.replacingOccurrences(of: "{\"call\": \"relu\"}", with: "{\"call\": \"act\"}"))),
      "net.json:7: layers[0].after[0]: calls 'act', but no earlier layer of this module is named so")
  }

  /// Random damage to the example files never crashes the reader: every outcome is a model or a
  /// `ModelDefinitionError` (the fuzz target FuzzModelDefinition does the same at scale).
  func testDamagedFilesFailCleanly() throws {
    let folder = SharedDatasets.repositoryRoot.appendingPathComponent("examples/notes").path
    var rng = RandomGenerator(seed: 19)
    var outcomes = (read: 0, refused: 0)
    let punctuation = Array("[]{}\",:09-e.".utf8)
    for name in try FileManager.default.contentsOfDirectory(atPath: folder).sorted() {
      let original = Array(try Data(contentsOf: URL(fileURLWithPath: folder + "/" + name)))
      for _ in 0..<150 {
        var bytes = original
        for _ in 0..<1 + Int(rng.next() % 3) {
          let position = Int(rng.next() % UInt64(bytes.count))
          switch rng.next() % 3 {
          case 0: bytes[position] = UInt8(truncatingIfNeeded: rng.next())
          case 1: bytes.remove(at: position)
          default: bytes.insert(punctuation[Int(rng.next() % UInt64(punctuation.count))], at: position)
          }
        }
        do {
          _ = try ModelDefinition(json: bytes, path: name)
          outcomes.read += 1
        } catch is ModelDefinitionError {
          outcomes.refused += 1
        }
      }
    }
    XCTAssertEqual(outcomes.read + outcomes.refused, 1200)
    XCTAssertGreaterThan(outcomes.refused, 600)
  }
}
