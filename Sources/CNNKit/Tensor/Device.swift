/// Where a tensor's elements live, PyTorch's `torch.device`: the host's memory or one CUDA GPU.
public enum Device: Hashable, Sendable, CustomStringConvertible {
  /// Host memory, computed by the CPU kernels.
  case cpu
  /// The CUDA GPU with this index (`cuda` alone means `cuda:0`).
  case cuda(Int)

  /// Parses PyTorch's spellings: `cpu`, `cuda`, `cuda:1`. Nil for anything else.
  public init?(parsing text: String) {
    let lowered = text.lowercased()
    if lowered == "cpu" {
      self = .cpu
    } else if lowered == "cuda" || lowered == "gpu" {
      self = .cuda(0)
    } else if lowered.hasPrefix("cuda:"), let index = Int(lowered.dropFirst(5)), index >= 0 {
      self = .cuda(index)
    } else {
      return nil
    }
  }

  /// True for every device but the CPU.
  public var isAccelerator: Bool { self != .cpu }

  public var description: String {
    switch self {
    case .cpu: return "cpu"
    case .cuda(let index): return "cuda:\(index)"
    }
  }
}

/// The arithmetic a device's matrix products and convolutions use, PyTorch's
/// `torch.backends.cuda.matmul.allow_tf32` and autocast in one setting.
public enum Precision: String, Sendable, CaseIterable {
  /// IEEE single precision throughout (TF32 off): results match the CPU's to 1e-4.
  case fp32
  /// Convolutions and matrix products on tensor cores with TF32 inputs (10-bit mantissa), fp32
  /// accumulation and storage: PyTorch's default for convolutions on Ampere and later.
  case tf32
  /// Mixed precision: convolutions and linear layers multiply bf16-rounded operands with fp32
  /// accumulation, weights and everything else stay fp32. On the CPU (AVX-512 BF16's `vdpbf16ps`
  /// where the CPU has it, else the same rounding on the fp32 kernels); not yet on CUDA.
  case bf16
}

extension Device {
  /// Sets the precision of this device's convolutions and matrix products (the CPU: fp32 or bf16).
  /// Throws for a precision the device does not offer.
  public func setPrecision(_ precision: Precision) throws {
    switch (self, precision) {
    case (.cpu, .fp32), (.cpu, .bf16): CPUBackend.shared.precision = precision
    case (.cpu, _):
      throw DeviceError.unsupported(
        "precision \(precision.rawValue) needs a CUDA device; the CPU computes in fp32 or bf16")
    case (_, .bf16):
      throw DeviceError.unsupported(
        "precision bf16 runs on the CPU so far; on a CUDA device use fp32 or tf32")
    case (.cuda(let index), _): try CUDAContext.shared(index).setPrecision(precision)
    }
  }
}

/// A device asked for something it does not offer.
public enum DeviceError: Error, CustomStringConvertible {
  case unsupported(String)

  public var description: String {
    switch self {
    case .unsupported(let message): return message
    }
  }
}
