import Foundation

/// What `cnnkit doctor` reports about the machine: the CUDA driver, its devices and the libraries
/// CNNKit would load, or why there are none.
public enum DeviceInventory {
  /// A few lines: the CPU, then each CUDA device with its libraries' versions, or the reason none
  /// can be used.
  public static func describe() -> String {
    var lines = ["cpu: available (\(ProcessInfo.processInfo.activeProcessorCount) threads)"]
    do {
      let count = try CUDAContext.deviceCount()
      if count == 0 { lines.append("cuda: the driver sees no device") }
      for index in 0..<count {
        let context = try CUDAContext.shared(index)
        let memory = context.totalMemory.formatted(.byteCount(style: .memory))
        lines.append(
          "cuda:\(index): \(context.name), compute capability \(context.computeCapability.major).\(context.computeCapability.minor), \(memory)"
        )
        if index == 0 {
          lines.append("  driver CUDA \(context.driverVersionString) (\(context.driver.library.name))")
          lines.append("  cuBLAS \(context.cublasVersion) (\(context.cublas.library.name))")
          lines.append("  cuDNN \(context.cudnn.version) (\(context.cudnn.library.name))")
          lines.append("  NVRTC \(context.nvrtc.version) (\(context.nvrtc.library.name))")
        }
      }
    } catch {
      lines.append("cuda: unavailable: \(error)")
    }
    return lines.joined(separator: "\n")
  }
}
