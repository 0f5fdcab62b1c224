import ArgumentParser
import CNNKit
import CNNKitKernels
import Foundation

/// `cnnkit bench`: times inference or training steps of a zoo model on random data.
struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Time forward (infer) or forward+backward+SGD (train) passes of a zoo model.")

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
    let batches = try parseBatches()
    let entry = try CLIError.wrap { try Zoo.entry(named: model) }
    let chw = try input.map(SummaryCommand.parseShape) ?? entry.defaultInput
    let classCount = classes ?? entry.defaultClasses
    let network = try CLIError.wrap { try Zoo.build(model, classes: classCount, input: chw) }
    let macsPerImage = try CLIError.wrap {
      try ModelTrace(model: network, inputShape: [1] + chw).totalMultiplyAccumulates
    }
    print(
      "model \(model), input \(chw.map(String.init).joined(separator: "×")), \(mode), \(Parallel.threadCount) threads"
    )
    print("batch   img/s median      min      max   GFLOP/s  max RSS MiB")
    for b in batches {
      var rng = RandomGenerator(seed: 1)
      let x = Tensor.randn([b] + chw, using: &rng)
      let labels = (0..<b).map { $0 % classCount }
      let optimizer = SGD(
        parameters: network.parameters(), learningRate: 1e-4, momentum: 0.9, weightDecay: 5e-4)
      if mode == "train" { network.train() } else { network.eval() }
      var seconds: [Double] = []
      for i in 0..<(warmup + iterations) {
        let start = DispatchTime.now().uptimeNanoseconds
        try CLIError.wrap {
          if mode == "train" {
            optimizer.zeroGrad()
            let loss = try Functional.crossEntropy(network(x), targets: labels)
            loss.backward()
            optimizer.step()
          } else {
            _ = try GradMode.withNoGrad { try network(x) }
          }
        }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        if i >= warmup { seconds.append(elapsed) }
      }
      let rates = seconds.map { Double(b) / $0 }.sorted()
      let median = rates[rates.count / 2]
      // Training is about 3× the forward work (forward, input gradients, weight gradients).
      let flopsPerImage = Double(macsPerImage) * 2 * (mode == "train" ? 3 : 1)
      let gflops = median * flopsPerImage / 1e9
      let rss = peakResidentMiB()
      print(
        String(
          format: "%5d  %12.1f %8.1f %8.1f  %8.1f  %11.0f", b, median, rates.first!, rates.last!, gflops, rss)
      )
      let json: [String: Any] = [
        "framework": "cnnkit", "model": model, "mode": mode, "batch": b, "threads": Parallel.threadCount,
        "img_s_median": median, "img_s_min": rates.first!, "img_s_max": rates.last!, "gflops_median": gflops,
        "max_rss_mib": rss,
      ]
      let data = try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])
      print(String(decoding: data, as: UTF8.self))
    }
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
