import CNNKit
import Foundation
import XCTest

/// Data-parallel training under `mpirun`: two ranks against one with the same flags, a rank killed
/// mid-run, errors that stop every rank. Skipped where Open MPI is not installed (`.ci/run` installs it).
final class DataParallelTests: XCTestCase {
  /// examples/distributed/: a small net with dropout twice and average pooling (no max-pool ties, so
  /// one and two processes differ only in the order of floating-point sums), and one with two
  /// batch-norm layers for `--sync-bn`.
  static func example(_ name: String) -> String {
    SharedDatasets.repositoryRoot.appendingPathComponent("examples/distributed/" + name).path
  }

  private var folder = ""

  override func setUpWithError() throws {
    folder = NSTemporaryDirectory() + "cnnkit-dp-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: folder) }

  /// Open MPI's launcher, or a skip.
  static func mpirun() throws -> String {
    for candidate in ["/usr/bin/mpirun", "/usr/local/bin/mpirun"]
    where FileManager.default.isExecutableFile(atPath: candidate) {
      return candidate
    }
    throw XCTSkip("mpirun not installed (Debian: apt-get install openmpi-bin libopenmpi-dev)")
  }

  /// Starts `cnnkit` with `arguments`, under `mpirun -np ranks` when `ranks` > 1.
  static func launch(ranks: Int, _ arguments: [String], output: Pipe) throws -> Process {
    let process = Process()
    let cnnkit = try CLITests.executableURL().path
    if ranks > 1 {
      process.executableURL = URL(fileURLWithPath: try mpirun())
      process.arguments = ["--oversubscribe", "-np", String(ranks), cnnkit] + arguments
    } else {
      process.executableURL = URL(fileURLWithPath: cnnkit)
      process.arguments = arguments
    }
    var environment = ProcessInfo.processInfo.environment
    // Open MPI refuses root without these; containers may lack the shared-memory single-copy path.
    environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
    environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    environment["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none"
    process.environment = environment
    process.standardOutput = output
    process.standardError = output
    try process.run()
    return process
  }

  /// Runs to the end (at most two minutes); the status and everything printed.
  func run(ranks: Int, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let pipe = Pipe()
    let process = try Self.launch(ranks: ranks, arguments, output: pipe)
    let watchdog = DispatchWorkItem { process.terminate() }
    DispatchQueue.global().asyncAfter(deadline: .now() + 120, execute: watchdog)
    let text = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    watchdog.cancel()
    return (process.terminationStatus, String(decoding: text, as: UTF8.self))
  }

  /// The largest `max|a − b| / max|a|` over the tensors of two `model.safetensors`.
  func worstDifference(_ pathA: String, _ pathB: String) throws -> Double {
    let (a, b) = (try SafeTensorsFile(path: pathA), try SafeTensorsFile(path: pathB))
    XCTAssertEqual(a.entries.map(\.name), b.entries.map(\.name))
    var worst = 0.0
    for entry in a.entries {
      let (x, y) = (try a.tensor(named: entry.name).scalars, try b.tensor(named: entry.name).scalars)
      let scale = Double(x.map(abs).max() ?? 0)
      let difference = zip(x, y).map { Double(abs($0 - $1)) }.max() ?? 0
      // NaN fails the comparison below.
      let relative = scale > 0 ? difference / scale : (difference == 0 ? 0 : .nan)
      worst = relative.isNaN || worst.isNaN ? .nan : max(worst, relative)
    }
    return worst
  }

  /// One and two processes train the same model with the same flags; the weights agree.
  private func assertSameRun(model: String, extra: [String], steps: Int, limit: Bool = true) throws {
    let base =
      ["train", "--model", Self.example(model), "--batch-size", "16", "--threads", "1", "--workers", "1"]
      + extra
    let common = base + (limit ? ["--max-steps", String(steps)] : [])
    let single = try run(ranks: 1, common + ["--output-dir", folder + "/one"])
    XCTAssertEqual(single.status, 0, single.output)
    let pair = try run(ranks: 2, common + ["--output-dir", folder + "/two"])
    XCTAssertEqual(pair.status, 0, pair.output)
    XCTAssertTrue(pair.output.contains("batch 16 = 2 processes × 8"), pair.output)
    let worst = try worstDifference(folder + "/one/model.safetensors", folder + "/two/model.safetensors")
    print("DataParallelTests: \(model) \(extra) after \(steps) steps, worst max|Δw|/max|w| \(worst)")
    XCTAssertLessThanOrEqual(worst, 1e-5, "\(model): 2 ranks drifted from 1 rank")
    XCTAssertEqual(try Checkpoint.readState(from: folder + "/two/checkpoint.safetensors").globalStep, steps)
  }

  func testTwoRanksTrainAsOneWithDropout() throws {
    try assertSameRun(model: "dropout-net.json", extra: ["--no-validation"], steps: 20)
  }

  func testTwoRanksTrainAsOneWithSyncBatchNorm() throws {
    try assertSameRun(model: "batchnorm-net.json", extra: ["--sync-bn", "--no-validation"], steps: 20)
  }

  /// 33 images in batches of 16 end with a batch of one, which only rank 0 holds; validation is
  /// split across the ranks and summed, so the logged epochs agree as well.
  func testShortLastBatchAndShardedValidation() throws {
    try assertSameRun(
      model: "dropout-net.json", extra: ["--train-subset", "33", "--val-subset", "50", "--epochs", "2"],
      steps: 6,
      limit: false)
    let one = try String(contentsOfFile: folder + "/one/metrics.csv", encoding: .utf8)
    let two = try String(contentsOfFile: folder + "/two/metrics.csv", encoding: .utf8)
    // Validation accuracy and loss columns, without timings.
    func columns(_ csv: String) -> [String] {
      csv.split(separator: "\n").dropFirst().map { $0.split(separator: ",").prefix(5).joined(separator: ",") }
    }
    XCTAssertEqual(columns(one).count, 2)
    XCTAssertEqual(
      columns(one).map { $0.split(separator: ",")[4] }, columns(two).map { $0.split(separator: ",")[4] })
  }

  func testErrorsStopEveryRank() throws {
    let odd = try run(
      ranks: 2,
      [
        "train", "--model", Self.example("dropout-net.json"), "--batch-size", "15", "--output-dir",
        folder + "/x",
      ])
    XCTAssertNotEqual(odd.status, 0)
    XCTAssertTrue(
      odd.output.contains("error: rank 0 of 2: --batch-size 15 does not split over 2 processes"), odd.output)
  }

  /// Started as one of two processes but without a usable MPI library: one error line naming it.
  /// Needs no MPI installed, so it runs everywhere.
  func testMissingMPILibraryIsOneErrorLine() throws {
    let process = Process()
    process.executableURL = try CLITests.executableURL()
    process.arguments = ["train", "--model", "lenet5", "--max-steps", "1", "--output-dir", folder + "/x"]
    var environment = ProcessInfo.processInfo.environment
    environment["OMPI_COMM_WORLD_SIZE"] = "2"
    environment["OMPI_COMM_WORLD_RANK"] = "1"
    environment["CNNKIT_MPI_LIBRARY"] = folder + "/no-such-libmpi.so"
    process.environment = environment
    let err = Pipe()
    process.standardError = err
    process.standardOutput = Pipe()
    try process.run()
    let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    XCTAssertNotEqual(process.terminationStatus, 0)
    XCTAssertTrue(text.hasPrefix("error: started by mpirun but the MPI library could not be loaded"), text)
    XCTAssertTrue(text.contains("no-such-libmpi.so"), text)
    XCTAssertEqual(text.split(separator: "\n").count, 1, text)
    XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/x/checkpoint.safetensors"))
  }

  /// A rank killed mid-run stops the job with a message naming it; the last checkpoint loads, and a
  /// run with a different process count resumes from it.
  func testKilledRankStopsTheRunAndResumeFinishes() throws {
    let run = folder + "/killed"
    let pipe = Pipe()
    let job = try Self.launch(
      ranks: 2,
      [
        "train", "--model", Self.example("dropout-net.json"), "--batch-size", "16", "--threads", "1",
        "--workers",
        "1",
        "--checkpoint-every", "5", "--no-validation", "--output-dir", run,
      ], output: pipe)
    // Kill rank 1 once the first checkpoint exists.
    let deadline = Date().addingTimeInterval(60)
    while !FileManager.default.fileExists(atPath: run + "/checkpoint.safetensors") && Date() < deadline {
      Thread.sleep(forTimeInterval: 0.05)
    }
    let victim = try XCTUnwrap(Self.pid(ofRank: 1), "rank 1 not found")
    kill(victim, SIGKILL)
    let watchdog = DispatchWorkItem { job.terminate() }
    DispatchQueue.global().asyncAfter(deadline: .now() + 60, execute: watchdog)
    let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    job.waitUntilExit()
    watchdog.cancel()
    XCTAssertNotEqual(job.terminationStatus, 0, text)
    XCTAssertTrue(text.contains("rank 1"), text)
    let saved = try Checkpoint.readState(from: run + "/checkpoint.safetensors")
    XCTAssertGreaterThanOrEqual(saved.globalStep, 5)
    let resumed = try self.run(
      ranks: 1,
      [
        "train", "--model", Self.example("dropout-net.json"), "--batch-size", "16", "--threads", "1",
        "--workers",
        "1",
        "--no-validation", "--output-dir", run, "--resume", run, "--max-steps", String(saved.globalStep + 3),
      ])
    XCTAssertEqual(resumed.status, 0, resumed.output)
    XCTAssertEqual(
      try Checkpoint.readState(from: run + "/checkpoint.safetensors").globalStep, saved.globalStep + 3)
  }

  /// The process whose environment says it is `OMPI_COMM_WORLD_RANK=rank` and that runs `cnnkit`.
  static func pid(ofRank rank: Int) -> pid_t? {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    for entry in entries {
      guard let pid = pid_t(entry),
        let environment = FileManager.default.contents(atPath: "/proc/\(entry)/environ"),
        let command = try? String(contentsOfFile: "/proc/\(entry)/cmdline", encoding: .utf8),
        command.contains("cnnkit"), !command.hasPrefix("mpirun"), !command.contains("/mpirun")
      else { continue }
      let variables = environment.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
      if variables.contains("OMPI_COMM_WORLD_RANK=\(rank)") { return pid }
    }
    return nil
  }
}

/// Sharding a loader: every batch is the same across processes, each takes a consecutive share.
final class DataShardTests: XCTestCase {
  func testShardsCoverEachBatchOnceInOrder() throws {
    let dataset = try SyntheticShardDataset(count: 37)
    for workers in [0, 2] {
      let whole = try DataLoader(dataset: dataset, batchSize: 8, shuffle: true, seed: 3, workers: workers)
      for ranks in [1, 2, 3] {
        var byBatch: [[Int]] = Array(repeating: [], count: whole.batchCount)
        for rank in 0..<ranks {
          let shard = whole.sharded(rank: rank, of: ranks)
          XCTAssertEqual(shard.batchCount, whole.batchCount)
          let batches = try shard.batches(epoch: 1)
          while let batch = try batches.next() {
            XCTAssertEqual(batch.firstRow, byBatch[batch.batchIndex].count)
            XCTAssertEqual(batch.globalCount, min(8, 37 - batch.batchIndex * 8))
            byBatch[batch.batchIndex] += batch.indices
          }
        }
        let expected = try whole.batches(epoch: 1)
        var b = 0
        while let batch = try expected.next() {
          XCTAssertEqual(byBatch[b], batch.indices, "workers \(workers), \(ranks) ranks, batch \(b)")
          b += 1
        }
      }
    }
  }

  func testLauncherVariables() throws {
    XCTAssertNil(try Distributed.launchedProcesses(environment: [:]))
    let open = try XCTUnwrap(
      try Distributed.launchedProcesses(environment: [
        "OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": "3",
      ]))
    XCTAssertEqual(open.size, 4)
    XCTAssertEqual(open.rank, 3)
    XCTAssertThrowsError(try Distributed.launchedProcesses(environment: ["PMI_SIZE": "two"])) {
      XCTAssertTrue("\($0)".contains("PMI_SIZE"), "\($0)")
    }
  }
}

/// Tiny 1×2×2 images whose label is their index modulo 3.
private struct SyntheticShardDataset: ImageDataset {
  let count: Int
  init(count: Int) throws { self.count = count }
  var classNames: [String] { ["a", "b", "c"] }
  func item(at index: Int) throws -> LabeledImage {
    LabeledImage(
      image: Image(height: 2, width: 2, channels: 1, pixels: [Float](repeating: Float(index), count: 4)),
      label: index % 3)
  }
}
