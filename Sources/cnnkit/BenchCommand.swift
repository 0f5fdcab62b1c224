import ArgumentParser
import CNNKit
import CNNKitKernels
import Foundation

/// `cnnkit bench`: times inference or training steps of a zoo model on random data.
struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Time forward (infer) or forward+backward+SGD (train) passes of a zoo model.",
    discussion: """
      Prints a table and one JSON line per measurement. GFLOP/s counts 2 FLOPs per multiply-accumulate
      (training as 3× the forward work); % of peak is against --peak, or the FMA peak measured first.
      `--kernel gemm` times the GEMM alone on AlexNet's conv-as-GEMM shapes instead of a model.
      """)

  @Option(name: .long, help: "Zoo model name (see `cnnkit list`).")
  var model = "alexnet"

  @Option(name: .long, help: "Comma-separated batch sizes, e.g. 1,32.")
  var batch = "8"

  @Option(name: .long, help: "infer or train.")
  var mode = "train"

  @Option(name: .long, help: "Number of output classes.")
  var classes: Int?

  @Option(name: .long, help: "Input size C,H,W (default: the model's own).")
  var input: String?

  @Option(name: .long, help: "Threads for the kernels (default: all cores).")
  var threads: Int?

  @Option(name: .long, help: "Timed repetitions per batch size.")
  var iterations = 5

  @Option(name: .long, help: "Untimed warm-up repetitions.")
  var warmup = 1

  @Option(name: .long, help: "FP32 peak in GFLOP/s for the % column (default: measured with an FMA loop).")
  var peak: Double?

  @Option(name: .long, help: "Time a kernel instead of a model: gemm.")
  var kernel: String?

  @Flag(name: .long, help: "Also print the forward time of each layer (median over the timed runs).")
  var perLayer = false

  @OptionGroup var deviceOption: DeviceOption

  func run() throws {
    do {
      try benchmark()
    } catch let error as CLIError {
      throw error.report()
    }
  }

  private func parseBatches() throws -> [Int] {
    let values = batch.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) >= 1 }) else {
      throw CLIError("--batch must be positive integers separated by commas, got '\(batch)'")
    }
    return values.map { $0! }
  }

  private func benchmark() throws {
    guard mode == "infer" || mode == "train" else {
      throw CLIError("--mode must be 'infer' or 'train', got '\(mode)'")
    }
    guard iterations >= 1 else { throw CLIError("--iterations must be at least 1, got \(iterations)") }
    guard warmup >= 0 else { throw CLIError("--warmup must be 0 or more, got \(warmup)") }
    if let threads {
      guard threads >= 1 else { throw CLIError("--threads must be at least 1, got \(threads)") }
      Parallel.threadCount = threads
    }
    if let peak, !(peak > 0) { throw CLIError("--peak must be a positive GFLOP/s figure, got \(peak)") }
    if let kernel, kernel != "gemm" { throw CLIError("--kernel must be 'gemm', got '\(kernel)'") }
    let device = try deviceOption.parsed()
    let precisionName = deviceOption.precision?.lowercased() ?? "fp32"
    if device.isAccelerator && kernel != nil {
      throw CLIError("--kernel gemm times the CPU's GEMM; drop --device")
    }
    // On a GPU the CPU's FMA peak means nothing: % of peak needs --peak there.
    let peakGFLOPS = peak ?? (device.isAccelerator ? 0 : FMAPeak.measure(threads: Parallel.threadCount))
    if device.isAccelerator {
      print("device \(device)" + (peak.map { "; FP32 peak \(String(format: "%.0f", $0)) GFLOP/s" } ?? ""))
    } else {
      print(
        "kernels: \(GEMMKernelInfo.isa), GEMM tile \(GEMMKernelInfo.tile); FP32 peak \(String(format: "%.0f", peakGFLOPS)) GFLOP/s"
          + (peak == nil ? " (measured)" : "") + " on \(Parallel.threadCount) threads")
      if precisionName == "bf16" {
        print(
          BFloat16.hardware
            ? "precision bf16: AVX-512 BF16 tile (vdpbf16ps), fp32 sums"
            : "precision bf16: no AVX-512 BF16 here, so bf16-rounded operands on the fp32 kernels (slower than fp32)"
        )
      }
    }
    if kernel != nil {
      try benchmarkGEMM(peakGFLOPS: peakGFLOPS)
      return
    }
    let batches = try parseBatches()
    let entry = try CLIError.wrap { try Zoo.resolve(model) }
    let chw = try input.map(SummaryCommand.parseShape) ?? entry.defaultInput
    let classCount = classes ?? entry.defaultClasses
    let network = try CLIError.wrap { try Zoo.build(model, classes: classCount, input: chw) }
    let macsPerImage = try CLIError.wrap {
      try ModelTrace(model: network, inputShape: [1] + chw).totalMultiplyAccumulates
    }
    try CLIError.wrap { try network.to(device) }
    print(
      "model \(model), input \(chw.map(String.init).joined(separator: "×")), \(mode), \(Parallel.threadCount) threads"
    )
    print("batch   img/s median      min      max   GFLOP/s  % peak  max RSS MiB")
    for b in batches {
      var rng = RandomGenerator(seed: 1)
      let x = try CLIError.wrap { try Tensor.randn([b] + chw, using: &rng).to(device) }
      let labels = (0..<b).map { $0 % classCount }
      let optimizer = SGD(
        parameters: network.parameters(), learningRate: 1e-4, momentum: 0.9, weightDecay: 5e-4)
      if mode == "train" { network.train() } else { network.eval() }
      var seconds: [Double] = []
      let timer = LayerTimer(model: network)
      for i in 0..<(warmup + iterations) {
        let start = DispatchTime.now().uptimeNanoseconds
        let step = {
          if mode == "train" {
            optimizer.zeroGrad()
            let loss = try Functional.crossEntropy(network(x), targets: labels)
            loss.backward()
            optimizer.step()
          } else {
            _ = try GradMode.withNoGrad { try network(x) }
          }
          // A device runs asynchronously: the step ends when its queued work has finished.
          try device.synchronize()
        }
        // The timer observes every layer, which turns off fusions (Conv2d → ReLU): only when asked.
        try CLIError.wrap {
          do {
            try perLayer && i >= warmup ? timer.observing(step) : step()
          } catch let error as CUDAError where error.isOutOfMemory {
            // Out of memory names the batch size that did not fit.
            throw CLIError("\(error) (batch size \(b))")
          }
        }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        if i >= warmup { seconds.append(elapsed) }
      }
      if perLayer { timer.printTable(batch: b, stepSeconds: seconds.sorted()[seconds.count / 2]) }
      let rates = seconds.map { Double(b) / $0 }.sorted()
      let median = rates[rates.count / 2]
      // Training is about 3× the forward work (forward, input gradients, weight gradients).
      let flopsPerImage = Double(macsPerImage) * 2 * (mode == "train" ? 3 : 1)
      let gflops = median * flopsPerImage / 1e9
      let rss = peakResidentMiB()
      let percent = peakGFLOPS > 0 ? 100 * gflops / peakGFLOPS : 0
      print(
        String(
          format: "%5d  %12.1f %8.1f %8.1f  %8.1f  %6.1f  %11.0f", b, median, rates.first!, rates.last!,
          gflops,
          percent, rss))
      let json: [String: Any] = [
        "framework": "cnnkit", "model": model, "mode": mode, "batch": b, "threads": Parallel.threadCount,
        "device": device.description, "precision": precisionName,
        "img_s_median": median, "img_s_min": rates.first!, "img_s_max": rates.last!, "gflops_median": gflops,
        // Sustained throughput (all timed images over all timed seconds), as an epoch reports it.
        "img_s_mean": Double(b * seconds.count) / seconds.reduce(0, +),
        "percent_of_peak": percent, "peak_gflops": peakGFLOPS, "isa": GEMMKernelInfo.isa, "max_rss_mib": rss,
      ]
      let data = try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])
      print(String(decoding: data, as: UTF8.self))
      if ProcessInfo.processInfo.environment["CNNKIT_MEMORY_STATS"] != nil { printMemoryStatistics() }
    }
  }

  /// Where the peak RSS goes, for `CNNKIT_MEMORY_STATS=1`: the buffer pool's live peak and cache.
  private func printMemoryStatistics() {
    let pool = BufferPool.statistics
    let mib = { (bytes: Int) in String(format: "%.0f", Double(bytes) / 1_048_576) }
    print(
      "buffer pool: peak live \(mib(pool.peakLiveBytes)) MiB, live \(mib(pool.liveBytes)) MiB, cached "
        + "\(mib(pool.cachedBytes)) MiB, \(pool.hits) hits, \(pool.misses) misses")
  }
}

extension BenchCommand {
  /// AlexNet's convolutions as GEMM (M = output channels, N = output pixels × images, K = C·kh·kw),
  /// per image and batched over 32 images, plus a square reference. `packedA` rows time the GEMM as
  /// an inference convolution on the GEMM path runs it: the weight (A) packed once, outside the timing.
  static let gemmShapes: [(name: String, m: Int, n: Int, k: Int, transposeB: Bool, packedA: Bool)] = [
    ("alexnet conv1", 64, 3025, 363, false, false), ("alexnet conv2", 192, 729, 1600, false, false),
    ("alexnet conv3", 384, 169, 1728, false, false), ("alexnet conv4", 256, 169, 3456, false, false),
    ("alexnet conv5", 256, 169, 2304, false, false), ("alexnet conv1, W packed", 64, 3025, 363, false, true),
    ("alexnet conv2, W packed", 192, 729, 1600, false, true),
    ("alexnet conv3, W packed", 384, 169, 1728, false, true),
    ("alexnet conv4, W packed", 256, 169, 3456, false, true),
    ("alexnet conv5, W packed", 256, 169, 2304, false, true),
    ("alexnet conv3 ×32", 384, 169 * 32, 1728, false, false),
    ("alexnet conv5 ×32", 256, 169 * 32, 2304, false, false),
    ("alexnet fc6 ×32 (x·Wᵀ)", 32, 4096, 9216, true, false),
    ("alexnet fc6 ×128 (x·Wᵀ)", 128, 4096, 9216, true, false),
    ("conv3 dW ×32 (dY·colsᵀ)", 384, 1728, 169 * 32, true, false),
    ("square 1024", 1024, 1024, 1024, false, false),
  ]

  /// Times `gemm` alone on `gemmShapes`: the kernel's share of the machine's peak.
  func benchmarkGEMM(peakGFLOPS: Double) throws {
    guard iterations >= 1 else { throw CLIError("--iterations must be at least 1, got \(iterations)") }
    print("shape                        M      N      K   GFLOP/s median      min      max  % peak")
    for shape in Self.gemmShapes {
      let a = UnsafeMutablePointer<Float>.allocate(capacity: shape.m * shape.k)
      let b = UnsafeMutablePointer<Float>.allocate(capacity: shape.k * shape.n)
      let c = UnsafeMutablePointer<Float>.allocate(capacity: shape.m * shape.n)
      defer { [a, b, c].forEach { $0.deallocate() } }
      for i in 0..<(shape.m * shape.k) { a[i] = Float(i % 7) * 0.1 }
      for i in 0..<(shape.k * shape.n) { b[i] = Float(i % 5) * 0.1 }
      let packed = UnsafeMutablePointer<Float>.allocate(
        capacity: shape.packedA ? gemmPackedACount(m: shape.m, k: shape.k) : 0)
      defer { packed.deallocate() }
      if shape.packedA {
        gemmPackA(transposeA: false, m: shape.m, k: shape.k, a: a, lda: shape.k, dst: packed)
      }
      let flops = 2 * Double(shape.m) * Double(shape.n) * Double(shape.k)
      var rates: [Double] = []
      for i in 0..<(max(1, warmup) + iterations) {
        let start = DispatchTime.now().uptimeNanoseconds
        let ldb = shape.transposeB ? shape.k : shape.n
        if shape.packedA {
          gemmPrepackedA(
            m: shape.m, n: shape.n, k: shape.k, alpha: 1, packedA: packed, transposeB: shape.transposeB, b: b,
            ldb: ldb, beta: 0, c: c, ldc: shape.n)
        } else {
          gemm(
            transposeA: false, transposeB: shape.transposeB, m: shape.m, n: shape.n, k: shape.k, alpha: 1,
            a: a,
            lda: shape.k, b: b, ldb: ldb, beta: 0, c: c, ldc: shape.n)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        if i >= max(1, warmup) { rates.append(flops / seconds / 1e9) }
      }
      rates.sort()
      let median = rates[rates.count / 2]
      let name = shape.name.padding(toLength: 24, withPad: " ", startingAt: 0)
      print(
        String(
          format: "%@ %6d %6d %6d  %15.1f %8.1f %8.1f  %6.1f", name, shape.m, shape.n, shape.k, median,
          rates.first!, rates.last!, 100 * median / peakGFLOPS))
      let json: [String: Any] = [
        "framework": "cnnkit", "kernel": "gemm", "shape": shape.name, "m": shape.m, "n": shape.n,
        "k": shape.k, "packed_a": shape.packedA,
        "threads": Parallel.threadCount, "gflops_median": median, "gflops_min": rates.first!,
        "gflops_max": rates.last!, "percent_of_peak": 100 * median / peakGFLOPS, "peak_gflops": peakGFLOPS,
        "isa": GEMMKernelInfo.isa,
      ]
      let data = try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])
      print(String(decoding: data, as: UTF8.self))
    }
  }
}

/// Times the forward call of every leaf layer (`--per-layer`): a coarse profile in layer names.
final class LayerTimer: ModuleCallObserver {
  private var paths: [ObjectIdentifier: String] = [:]
  private var order: [String] = []
  private var samples: [String: [Double]] = [:]
  private var starts: [UInt64] = []

  init(model: Module) {
    super.init()
    for (path, module) in model.namedModules() where module.namedChildren.isEmpty {
      let name = "\(path) \(module.typeName)"
      paths[ObjectIdentifier(module)] = name
      order.append(name)
    }
  }

  override func willCall(_ module: Module, input: [Int]) {
    starts.append(DispatchTime.now().uptimeNanoseconds)
  }

  override func didCall(_ module: Module, input: [Int], output: [Int]) {
    guard let start = starts.popLast(), let name = paths[ObjectIdentifier(module)] else { return }
    samples[name, default: []].append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
  }

  /// Median milliseconds per layer, and the forward share of a whole step.
  func printTable(batch: Int, stepSeconds: Double) {
    print("batch \(batch): forward time per layer (median ms)")
    var total = 0.0
    for name in order {
      guard let times = samples[name]?.sorted(), !times.isEmpty else { continue }
      let median = times[times.count / 2]
      total += median
      print("  " + name.padding(toLength: 36, withPad: " ", startingAt: 0) + String(format: " %9.3f", median))
    }
    print(
      String(
        format: "  %@ %9.3f of %.3f ms per step",
        "forward total".padding(toLength: 36, withPad: " ", startingAt: 0), total,
        stepSeconds * 1e3))
    samples = [:]
  }
}

/// Peak resident set size of this process in MiB (VmHWM from /proc), 0 where unavailable.
func peakResidentMiB() -> Double {
  guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
  for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
    let kib = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
    return kib / 1024
  }
  return 0
}
