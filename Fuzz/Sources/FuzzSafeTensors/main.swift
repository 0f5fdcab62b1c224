import CNNKit
import FuzzSupport

runFuzzer(fuzzSafeTensors)

/// A safetensors file: header, entries, every tensor read, then loaded into a small model strictly
/// and non-strictly.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  guard let file = attempt({ try SafeTensorsFile(bytes: fuzzBytes(data, size), path: "fuzz.safetensors") })
  else { return 0 }
  _ = file.metadata.count
  for entry in file.entries {
    _ = entry.count
    attempt { try file.tensor(named: entry.name) }
  }
  let model = tinyModel()
  attempt { try model.loadStateDict(from: file, strict: true) }
  attempt { try model.loadStateDict(from: file, strict: false) }
  return 0
}
