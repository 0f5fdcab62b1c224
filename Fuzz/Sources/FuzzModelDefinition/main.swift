import CNNKit
import FuzzSupport

runFuzzer(fuzzModelDefinition)

/// A model-definition file: read and checked, then built and traced at a small input so that shape
/// inference, residual checks and calls run too. The input is clipped to 40×40 so a trace stays cheap;
/// the reader's own cap (2³⁰ weights a layer) bounds memory, so run with libFuzzer's -rss_limit_mb.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzModelDefinition(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  guard let definition = attempt({ try ModelDefinition(json: fuzzBytes(data, size), path: "fuzz.json") }) else {
    return 0
  }
  let input = [definition.input[0], min(definition.input[1], 40), min(definition.input[2], 40)]
  guard input[0] <= 16, (definition.classes ?? 1) <= 1000 else { return 0 }
  if let model = attempt({ try definition.build(input: input) }), model.parameterCount < 1 << 24 {
    attempt { try ModelTrace(model: model, inputShape: [1] + input) }
  }
  return 0
}
