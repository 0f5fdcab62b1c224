import CNNKit
import FuzzSupport

runFuzzer(fuzzConfig)

/// The JSON of `cnnkit train --config`: parsed and checked, then every option of the one option table
/// read with its type, and the milestone list and the transform values parsed as the CLI does.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  guard
    let configuration = attempt({ try TrainingConfiguration(json: fuzzBytes(data, size), path: "fuzz.json") })
  else { return 0 }
  for option in TrainingOption.all {
    let key = option.key
    switch option.type {
    case .string: _ = configuration.string(key)
    case .integer: _ = configuration.int(key)
    case .unsignedInteger: _ = configuration.uint64(key)
    case .number: _ = (configuration.double(key), configuration.float(key))
    case .flag: _ = configuration.bool(key)
    }
  }
  if let milestones = configuration.string("lr-milestones") {
    attempt { try SchedulerOptions.parseMilestones(milestones) }
  }
  if let size = configuration.string("resize") { attempt { try Resize(parsing: size) } }
  if let size = configuration.string("center-crop") { attempt { try CenterCrop(parsing: size) } }
  if let text = configuration.string("normalize") { attempt { try Normalize(parsing: text) } }
  return 0
}
