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
