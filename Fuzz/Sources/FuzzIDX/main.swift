import CNNKit
import FuzzSupport

runFuzzer(fuzzIDX)

/// MNIST's IDX pair (each plain or gzip). The input is split in two: its first two bytes
/// (little-endian) give the length of the images file, the rest after it is the labels file.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIDX(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  let input = fuzzBytes(data, size)
  guard input.count >= 2 else { return 0 }
  let body = input.dropFirst(2)
  let imagesLength = min(Int(input[0]) | Int(input[1]) << 8, body.count)
  let images = Array(body.prefix(imagesLength))
  let labels = Array(body.dropFirst(imagesLength))
  guard let dataset = attempt({ try MNISTDataset(imagesData: images, labelsData: labels) }) else { return 0 }
  for index in [0, dataset.count - 1, dataset.count] {
    attempt { try dataset.item(at: index) }
  }
  if dataset.count > 0 { _ = dataset.label(at: dataset.count - 1) }
  return 0
}
