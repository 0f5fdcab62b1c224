import CNNKit
import FuzzSupport

runFuzzer(fuzzCIFAR)

/// One CIFAR batch file (plain or gzip), read as CIFAR-10 and as CIFAR-100 records.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCIFAR(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  let input = fuzzBytes(data, size)
  for variant in [CIFARDataset.Variant.cifar10, .cifar100] {
    guard let dataset = attempt({ try CIFARDataset(data: input, path: "fuzz.bin", variant: variant) })
    else { continue }
    for index in [0, dataset.count - 1, dataset.count] {
      attempt { try dataset.item(at: index) }
    }
  }
  return 0
}
