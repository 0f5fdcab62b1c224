import Dispatch

/// Measures the machine's single-precision FMA throughput, the ceiling for every kernel here.
public enum FMAPeak {
  #if CNNKIT_AVX512
    typealias Vector = SIMD16<Float>
  #else
    typealias Vector = SIMD8<Float>
  #endif

  /// GFLOP/s of independent vector FMAs on `threads` threads (an FMA counts as two FLOPs).
  /// Takes about `seconds`; the best of three runs, since a busy neighbour only ever lowers it.
  public static func measure(threads: Int, seconds: Double = 0.1) -> Double {
    let calibration = 200_000
    let start = DispatchTime.now().uptimeNanoseconds
    _ = chains(calibration)
    let perRound = Double(max(1, DispatchTime.now().uptimeNanoseconds - start)) / Double(calibration)
    let rounds = max(10_000, Int(seconds * 1e9 / perRound))
    var best = 0.0
    for _ in 0..<3 {
      let t0 = DispatchTime.now().uptimeNanoseconds
      DispatchQueue.concurrentPerform(iterations: max(1, threads)) { _ in _ = chains(rounds) }
      let elapsed = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
      let flops = Double(rounds) * 12 * Double(Vector.scalarCount) * 2 * Double(max(1, threads))
      best = max(best, flops / elapsed / 1e9)
    }
    return best
  }

  /// Twelve independent FMA chains: enough to cover the FMA latency on both pipes.
  @inline(never)
  static func chains(_ rounds: Int) -> Float {
    let m = Vector(repeating: 0.999_999)
    // Distinct starting values, or the optimiser merges identical chains into one.
    let one = Vector(repeating: 1)
    var a0 = one, a1 = one * 2, a2 = one * 3, a3 = one * 4, a4 = one * 5, a5 = one * 6
    var a6 = one * 7, a7 = one * 8, a8 = one * 9, a9 = one * 10, a10 = one * 11, a11 = one * 12
    for _ in 0..<rounds {
      a0 = a0.addingProduct(a0, m)
      a1 = a1.addingProduct(a1, m)
      a2 = a2.addingProduct(a2, m)
      a3 = a3.addingProduct(a3, m)
      a4 = a4.addingProduct(a4, m)
      a5 = a5.addingProduct(a5, m)
      a6 = a6.addingProduct(a6, m)
      a7 = a7.addingProduct(a7, m)
      a8 = a8.addingProduct(a8, m)
      a9 = a9.addingProduct(a9, m)
      a10 = a10.addingProduct(a10, m)
      a11 = a11.addingProduct(a11, m)
    }
    let sum = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11
    return sum.sum()
  }
}
