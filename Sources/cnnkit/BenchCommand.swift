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

  func validate() throws {
    guard mode == "infer" || mode == "train" else { throw ValidationError("--mode must be 'infer' or 'train', got '\(mode)'") }
    guard iterations >= 1 else { throw ValidationError("--iterations must be at least 1, got \(iterations)") }
    guard warmup >= 0 else { throw ValidationError("--warmup must be 0 or more, got \(warmup)") }
    if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
    _ = try parseBatches()
  }

  private func parseBatches() throws -> [Int] {
    let values = batch.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) >= 1 }) else {
      throw ValidationError("--batch must be positive integers separated by commas, got '\(batch)'")
    }
    return values.map { $0! }
  }

  func run() throws {
    if let threads { Parallel.threadCount = threads }
    let inputShape = try input.map { try parseShapeOption($0, flag: "--input") }
    let network = try runOrExit { try Zoo.build(model, classes: classes, input: inputShape) }
    let entry = try runOrExit { try Zoo.entry(named: model) }
    let chw = inputShape ?? entry.defaultInput
    let classCount = classes ?? entry.defaultClasses
    let macsPerImage = try runOrExit { try ModelTrace(model: network, inputShape: [1] + chw).totalMultiplyAccumulates }
    print("model \(model), input \(chw.map(String.init).joined(separator: "×")), \(mode), \(Parallel.threadCount) threads")
    print("batch   img/s median      min      max   GFLOP/s  max RSS MiB")
    for b in try parseBatches() {
      var rng = RandomGenerator(seed: 1)
      let x = Tensor.randn([b] + chw, using: &rng)
      let labels = (0..<b).map { $0 % classCount }
      let optimizer = SGD(parameters: network.parameters(), learningRate: 1e-4, momentum: 0.9, weightDecay: 5e-4)
      if mode == "train" { network.train() } else { network.eval() }
      var seconds: [Double] = []
      for i in 0..<(warmup + iterations) {
        let start = DispatchTime.now().uptimeNanoseconds
        try runOrExit {
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
          format: "%5d  %12.1f %8.1f %8.1f  %8.1f  %11.0f", b, median, rates.first!, rates.last!, gflops, rss))
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

/// Parses `C,H,W` for a flag, or fails with a message that names the flag.
func parseShapeOption(_ text: String, flag: String) throws -> [Int] {
  let parts = text.split(separator: ",", omittingEmptySubsequences: false).map {
    Int($0.trimmingCharacters(in: .whitespaces))
  }
  guard parts.count == 3, parts.allSatisfy({ ($0 ?? 0) > 0 }) else {
    throw ValidationError("\(flag) must be three positive integers C,H,W (e.g. 3,224,224), got '\(text)'")
  }
  return parts.map { $0! }
}

/// Runs `body`; library errors become one line on stderr and exit code 1.
func runOrExit<T>(_ body: () throws -> T) throws -> T {
  do {
    return try body()
  } catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    throw ExitCode.failure
  }
}
