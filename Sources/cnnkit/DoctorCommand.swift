import ArgumentParser
import CNNKit
import Foundation

/// `--device cpu|cuda|cuda:N`, defined once for every command that computes.
struct DeviceOption: ParsableArguments {
  @Option(help: "Where to compute: cpu, cuda or cuda:N (default: cpu).")
  var device: String?

  @Option(
    help:
      "Convolution and matrix-product math: fp32 (default), tf32 (CUDA) or bf16 (CPU: bf16 operands, fp32 sums)."
  )
  var precision: String?

  /// The parsed device (the CPU when the flag is absent) with `--precision` applied to it, or a
  /// `CLIError` naming the flag.
  func parsed() throws -> Device {
    try Self.parse(device: device ?? "cpu", precision: precision)
  }

  /// Device `text` with `precision` (nil: fp32) applied to it, or a `CLIError` naming the flag.
  static func parse(device text: String, precision: String?) throws -> Device {
    guard let parsed = Device(parsing: text) else {
      throw CLIError("--device: '\(text)' is not a device (use cpu, cuda or cuda:N)")
    }
    if let precision {
      guard let chosen = Precision(rawValue: precision.lowercased()) else {
        throw CLIError("--precision: '\(precision)' is not one of fp32, tf32, bf16")
      }
      do {
        if chosen != .fp32 { try parsed.setPrecision(chosen) }
      } catch let error as DeviceError {
        // The library speaks of the precision; here it was a flag.
        let text = "\(error)"
        throw CLIError(text.hasPrefix("precision ") ? "--" + text : text)
      }
    }
    return parsed
  }
}

/// `cnnkit doctor`: which devices and CUDA libraries are here, then every op of the zoo run forward
/// and backward on the device against the CPU, as a table. Exits non-zero on any failure.
struct DoctorCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "doctor",
    abstract: "List devices and CUDA libraries; check every op on a device against the CPU.")

  @OptionGroup var deviceOption: DeviceOption

  @Option(help: "Largest max relative error that passes.")
  var tolerance: Float = 1e-4

  func run() throws {
    do {
      let device = try deviceOption.parsed()
      print(DeviceInventory.describe())
      print(Distributed.describeMPI())
      if device == .cpu {
        print("\nchecking the CPU's fast kernels against the naive reference kernels")
      } else {
        print("\nchecking every op on \(device) against the CPU (forward and backward, strict fp32)")
      }
      let results = try CLIError.wrap { try DeviceCheck.run(device: device, tolerance: tolerance) }
      let width = max(results.map(\.operation.count).max() ?? 0, 2)
      let shapeWidth = max(results.map(\.shape.count).max() ?? 0, 5)
      func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: n, withPad: " ", startingAt: 0) }
      print("\(pad("op", width))  \(pad("shape", shapeWidth))  max rel. error  result")
      for r in results {
        let error = String(format: "%.2e", Double(r.maxRelativeError))
        print(
          "\(pad(r.operation, width))  \(pad(r.shape, shapeWidth))  \(pad(error, 14))  \(r.passed ? "pass" : "FAIL")"
        )
      }
      let failed = results.filter { !$0.passed }.count
      print("\(results.count - failed) passed, \(failed) failed")
      if failed > 0 { throw ExitCode.failure }
    } catch let error as CLIError {
      throw error.report()
    }
  }
}
