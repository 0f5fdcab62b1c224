import CNNKit
import FuzzSupport

runFuzzer(fuzzGzip)

/// gzip inflation (every member, trailing padding) with a 4 MiB output cap, directly and as a file's
/// contents.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGzip(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  let input = fuzzBytes(data, size)
  if let output = attempt({ try Gzip.decompress(input, maximumBytes: 1 << 22) }) {
    precondition(output.count <= 1 << 22)
  }
  if let file = attempt({ try FileBytes(bytes: input, maximumDecompressedBytes: 1 << 22) }) {
    precondition(file.count <= max(1 << 22, size))
  }
  return 0
}
