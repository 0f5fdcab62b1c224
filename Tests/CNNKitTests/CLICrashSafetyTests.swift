import CNNKit
import Foundation
import XCTest

/// Crash safety of `cnnkit train`: SIGKILL at random moments never leaves an unreadable newest
/// checkpoint, and resuming until done ends with the same parameters as a run never interrupted.
/// Ctrl-C (SIGINT) finishes the step, checkpoints and exits 130.
extension CLITests {
  private func crashFolder() throws -> String {
    let folder = NSTemporaryDirectory() + "cnnkit-crash-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    addTeardownBlock { try? FileManager.default.removeItem(atPath: folder) }
    return folder
  }

  /// Kills and steps of the crash test: a short form in CI; Tests/kill-resume-long.sh raises them.
  private var killRounds: Int { Int(ProcessInfo.processInfo.environment["CNNKIT_KILLS"] ?? "") ?? 6 }
  private var killSteps: Int { Int(ProcessInfo.processInfo.environment["CNNKIT_KILL_STEPS"] ?? "") ?? 60 }

  /// A LeNet-5 run on the built-in MNIST subset that checkpoints every 10 steps.
  private func trainArguments(_ folder: String, resume: Bool) -> [String] {
    [
      "train", "--model", "lenet5", "--max-steps", String(killSteps), "--checkpoint-every", "10",
      "--no-validation",
      "--workers", "1", "--output-dir", folder,
    ] + (resume ? ["--resume", folder] : [])
  }

  private func start(_ arguments: [String]) throws -> Process {
    let process = Process()
    process.executableURL = try Self.executableURL()
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    return process
  }

  /// Every tensor (model and optimiser) of a checkpoint, by name.
  private func tensors(_ path: String) throws -> [String: [Float]] {
    let file = try SafeTensorsFile(path: path)
    var out: [String: [Float]] = [:]
    for entry in file.entries { out[entry.name] = try file.tensor(named: entry.name).scalars }
    return out
  }

  func testKilledTrainingResumesToTheUninterruptedResult() throws {
    let reference = try crashFolder()
    let started = Date()
    XCTAssertEqual(try run(trainArguments(reference, resume: false)).status, 0)
    // Kill times are drawn from the first 80 % of an uninterrupted run, however fast this machine is.
    let runMicroseconds = UInt64(Date().timeIntervalSince(started) * 1_000_000)
    let expected = try tensors(reference + "/checkpoint.safetensors")

    let folder = try crashFolder()
    let checkpoint = folder + "/checkpoint.safetensors"
    let seed = UInt64(Date().timeIntervalSince1970)
    var rng = RandomGenerator(seed: seed)
    var kills = 0
    for attempt in 0..<(killRounds + 20) {
      let resume = FileManager.default.fileExists(atPath: checkpoint)
      let process = try start(trainArguments(folder, resume: resume))
      if attempt < killRounds {
        // Kill at a random moment — during start-up, mid-step, or while a checkpoint is being
        // written — early enough that about `killRounds` attempts are needed to reach the end.
        let fraction = 0.03 + 2 / Double(killRounds) * Double(rng.next() % 1000) / 1000
        usleep(UInt32(Double(runMicroseconds) * fraction))
        if process.isRunning {
          kill(process.processIdentifier, SIGKILL)
          kills += 1
        }
      }
      process.waitUntilExit()
      if FileManager.default.fileExists(atPath: checkpoint) {
        // Whatever the moment of the kill, the newest checkpoint is complete and loadable.
        let state = try Checkpoint.readState(from: checkpoint)
        XCTAssertTrue(
          state.globalStep % 10 == 0 || state.batchInEpoch == 0,
          "checkpoints fall every 10 steps or at an epoch end, not at step \(state.globalStep) (seed \(seed))"
        )
        _ = try tensors(checkpoint)
      }
      if process.terminationReason == .exit && process.terminationStatus == 0 { break }
    }
    XCTAssertGreaterThan(kills, 0)
    print("crash test: \(kills) kills over \(killSteps) steps, seed \(seed)")
    XCTAssertEqual(try Checkpoint.readState(from: checkpoint).globalStep, killSteps)
    let resumed = try tensors(checkpoint)
    XCTAssertEqual(Set(resumed.keys), Set(expected.keys))
    for (name, values) in expected {
      XCTAssertEqual(resumed[name], values, "\(name) differs after \(kills) kills (seed \(seed))")
    }
  }

  func testInterruptCheckpointsAndExits130() throws {
    let folder = try crashFolder()
    let process = try start([
      "train", "--model", "alexnet-mnist", "--epochs", "1", "--no-validation", "--workers", "1",
      "--output-dir", folder,
    ])
    // Let it get into the epoch (the built-in data loads in well under a second).
    usleep(1_500_000)
    XCTAssertTrue(process.isRunning)
    kill(process.processIdentifier, SIGINT)
    process.waitUntilExit()
    XCTAssertEqual(process.terminationReason, .exit)
    XCTAssertEqual(process.terminationStatus, 130)
    let state = try Checkpoint.readState(from: folder + "/checkpoint.safetensors")
    XCTAssertGreaterThan(state.globalStep, 0)
    XCTAssertEqual(state.epoch, 0)
    XCTAssertEqual(state.batchInEpoch, state.globalStep)
  }
}
