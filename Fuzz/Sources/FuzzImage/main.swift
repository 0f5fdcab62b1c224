import CNNKit
import FuzzSupport

runFuzzer(fuzzImage)

/// JPEG and PNG through the C codecs (the format comes from the first bytes, the requested channels
/// from the input's length), with a 512×512 pixel cap so that each input decodes quickly.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImage(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  let channels = [ImageChannels.rgb, .grey, .native][size % 3]
  let input = fuzzBytes(data, size)
  guard let image = attempt({ try ImageDecoder.decode(input, channels: channels, maximumPixels: 1 << 18) })
  else { return 0 }
  precondition(image.pixels.count == image.height * image.width * image.channels)
  return 0
}
