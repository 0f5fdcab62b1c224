import CNNKit
import FuzzSupport

runFuzzer(fuzzConfig)

/// The JSON of `cnnkit train --config`: parsed and checked, then every key read with its type, and
/// the milestone list parsed as the CLI does.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  guard
    let configuration = attempt({ try TrainingConfiguration(json: fuzzBytes(data, size), path: "fuzz.json") })
  else { return 0 }
  for (key, type) in TrainingConfiguration.keyTypes {
    switch type {
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
  return 0
}
