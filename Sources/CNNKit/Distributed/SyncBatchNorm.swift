import Foundation

/// Batch normalisation whose statistics span every process of a data-parallel run, PyTorch's
/// `SyncBatchNorm`: the per-channel sums of the forward pass and of the backward pass are summed
/// over processes (two small all-reduces per layer and step), so N processes normalise exactly as one
/// process holding the whole batch would. CPU tensors only; plain loops over channels, since the
/// exchange, not the arithmetic, dominates.
enum SyncBatchNorm {
  /// Training-mode forward over NCHW `input`, updating the running statistics with the global ones.
  static func forward(
    _ input: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor, momentum: Float,
    eps: Float, communicator: any Communicator
  ) throws -> Tensor {
    guard !input.isAccelerated else {
      throw DistributedError.unsupported("--sync-bn runs on the CPU only; train without --device cuda")
    }
    let (n, c) = (input.shape[0], input.shape[1])
    let spatial = input.count / max(n * c, 1)
    let x = input.storage.readOnlyPointer
    // Per channel: sum and sum of squares, then the local value count, summed over processes.
    var sums = [Double](repeating: 0, count: 2 * c + 1)
    for image in 0..<n {
      for channel in 0..<c {
        let plane = x + (image * c + channel) * spatial
        var (s1, s2) = (0.0, 0.0)
        for i in 0..<spatial {
          let v = Double(plane[i])
          s1 += v
          s2 += v * v
        }
        sums[channel] += s1
        sums[c + channel] += s2
      }
    }
    sums[2 * c] = Double(n * spatial)
    sums = try communicator.allReduceSum(sums)
    let total = sums[2 * c]
    guard total > 1 else {
      throw TensorError.shapeMismatch(
        operation: "batch_norm", message: "training needs more than one value per channel over all processes")
    }
    var mean = [Double](repeating: 0, count: c)
    var invStd = [Double](repeating: 0, count: c)
    let (runMean, runVar) = (runningMean.data, runningVar.data)
    for channel in 0..<c {
      mean[channel] = sums[channel] / total
      let variance = max(sums[c + channel] / total - mean[channel] * mean[channel], 0)
      invStd[channel] = 1 / (variance + Double(eps)).squareRoot()
      // The running variance is the unbiased one, as PyTorch keeps it.
      runMean[channel] = (1 - momentum) * runMean[channel] + momentum * Float(mean[channel])
      runVar[channel] = (1 - momentum) * runVar[channel] + momentum * Float(variance * total / (total - 1))
    }
    let out = Tensor(uninitializedShape: input.shape)
    let (y, w, b) = (out.data, weight.storage.readOnlyPointer, bias.storage.readOnlyPointer)
    for image in 0..<n {
      for channel in 0..<c {
        let offset = (image * c + channel) * spatial
        let scale = Double(w[channel]) * invStd[channel]
        for i in 0..<spatial {
          y[offset + i] = Float((Double(x[offset + i]) - mean[channel]) * scale) + b[channel]
        }
      }
    }
    return out.recording("sync_batch_norm", [input, weight, bias]) { g in
      do {
        return try backward(
          input: input, gradient: g, weight: weight, mean: mean, invStd: invStd, total: total,
          communicator: communicator)
      } catch {
        // A failed exchange leaves the processes out of step: nothing sensible can follow.
        FileHandle.standardError.write(Data("error: rank \(communicator.rank): \(error)\n".utf8))
        communicator.abort(code: 1)
      }
    }
  }

  /// dx = γ·σ⁻¹·(dy − mean(dy) − x̂·mean(dy·x̂)) with both means over all processes; dγ and dβ are
  /// this process's share (the gradient all-reduce adds the rest).
  private static func backward(
    input: Tensor, gradient: Tensor, weight: Tensor, mean: [Double], invStd: [Double], total: Double,
    communicator: any Communicator
  ) throws -> [Tensor?] {
    let (n, c) = (input.shape[0], input.shape[1])
    let spatial = input.count / max(n * c, 1)
    let (x, g) = (input.storage.readOnlyPointer, gradient.storage.readOnlyPointer)
    var sums = [Double](repeating: 0, count: 2 * c)
    for image in 0..<n {
      for channel in 0..<c {
        let offset = (image * c + channel) * spatial
        var (sumG, sumGX) = (0.0, 0.0)
        for i in 0..<spatial {
          let dy = Double(g[offset + i])
          sumG += dy
          sumGX += dy * (Double(x[offset + i]) - mean[channel]) * invStd[channel]
        }
        sums[channel] += sumG
        sums[c + channel] += sumGX
      }
    }
    let (gradWeight, gradBias) = (Tensor(zeros: [c]), Tensor(zeros: [c]))
    for channel in 0..<c {
      gradBias.data[channel] = Float(sums[channel])
      gradWeight.data[channel] = Float(sums[c + channel])
    }
    let global = try communicator.allReduceSum(sums)
    let dx = Tensor(uninitializedShape: input.shape)
    let (out, w) = (dx.data, weight.storage.readOnlyPointer)
    for image in 0..<n {
      for channel in 0..<c {
        let offset = (image * c + channel) * spatial
        let meanG = global[channel] / total
        let meanGX = global[c + channel] / total
        let scale = Double(w[channel]) * invStd[channel]
        for i in 0..<spatial {
          let xHat = (Double(x[offset + i]) - mean[channel]) * invStd[channel]
          out[offset + i] = Float(scale * (Double(g[offset + i]) - meanG - xHat * meanGX))
        }
      }
    }
    return [dx, gradWeight, gradBias]
  }
}
