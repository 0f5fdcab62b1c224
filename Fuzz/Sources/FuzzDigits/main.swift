import CNNKit
import FuzzSupport

runFuzzer(fuzzDigits)

/// sklearn's digits CSV (plain or gzip); the split comes from the input's length.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDigits(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  let split = [DigitsDataset.Split.all, .train, .test][size % 3]
  guard
    let dataset = attempt({ try DigitsDataset(csv: fuzzBytes(data, size), path: "fuzz.csv", split: split) })
  else { return 0 }
  for index in [0, dataset.count - 1, dataset.count] {
    attempt { try dataset.item(at: index) }
  }
  return 0
}
