import CNNKit
import Foundation
import XCTest

/// Devices: parsing, moving tensors and modules, and the checks `cnnkit doctor` runs. Tests that
/// need a CUDA GPU skip, saying why, where none can be used.
final class DeviceTests: XCTestCase {
  /// Skips unless a CUDA device is usable here (driver, libraries and a GPU).
  private func requireCUDA() throws {
    do {
      _ = try Tensor(zeros: [1]).to(.cuda(0))
    } catch {
      throw XCTSkip("no usable CUDA device: \(error)")
    }
  }

  func testParsesPyTorchDeviceNames() {
    XCTAssertEqual(Device(parsing: "cpu"), .cpu)
    XCTAssertEqual(Device(parsing: "cuda"), .cuda(0))
    XCTAssertEqual(Device(parsing: "CUDA:3"), .cuda(3))
    XCTAssertNil(Device(parsing: "cuda:"))
    XCTAssertNil(Device(parsing: "cuda:-1"))
    XCTAssertNil(Device(parsing: "tpu"))
    XCTAssertEqual(Device.cuda(2).description, "cuda:2")
    XCTAssertFalse(Device.cpu.isAccelerator)
  }

  func testMovingToTheCPUIsTheIdentity() throws {
    let t = Tensor(shape: [2], scalars: [1, 2])
    XCTAssertTrue(try t.to(.cpu) === t)
    XCTAssertEqual(t.device, .cpu)
  }

  func testWithoutCUDAMovingThereNamesWhatIsMissing() throws {
    let t = Tensor(shape: [2], scalars: [1, 2])
    do {
      _ = try t.to(.cuda(0))
      throw XCTSkip("a CUDA device is usable here; the no-GPU message cannot be checked")
    } catch let error as CUDAError {
      // Whatever is missing first (the driver on a machine without a GPU) is named.
      XCTAssertTrue(
        error.description.contains("libcuda") || error.description.contains("cuda:0")
          || error.description.contains("lib"), error.description)
    }
    XCTAssertEqual(t.scalars, [1, 2])
  }

  func testCPUKernelsMatchTheirReferences() throws {
    let results = try DeviceCheck.run(device: .cpu)
    XCTAssertEqual(results.count, 3)
    for r in results {
      XCTAssertTrue(r.passed, "\(r.operation): \(r.maxRelativeError)")
      XCTAssertLessThan(r.maxRelativeError, 1e-5, r.operation)
    }
  }

  func testEveryOpOnCUDAMatchesTheCPU() throws {
    try requireCUDA()
    let results = try DeviceCheck.run(device: .cuda(0))
    XCTAssertGreaterThanOrEqual(results.count, 20)
    for r in results { XCTAssertTrue(r.passed, "\(r.operation) \(r.shape): \(r.maxRelativeError)") }
  }

  func testModuleMovesToCUDAAndBack() throws {
    try requireCUDA()
    let model = try Zoo.build("lenet5").eval()
    var rng = RandomGenerator(seed: 4)
    let x = Tensor.randn([2, 1, 32, 32], using: &rng)
    let expected = try GradMode.withNoGrad { try model(x) }
    try model.to(.cuda(0))
    XCTAssertTrue(model.parameters().allSatisfy { $0.device == .cuda(0) })
    let y = try GradMode.withNoGrad { try model(x.to(.cuda(0))) }
    XCTAssertEqual(y.device, .cuda(0))
    let error = DeviceCheck.relativeError(try y.to(.cpu).scalars, expected.scalars)
    XCTAssertLessThan(error, 1e-5)
    // An input left on the CPU is named together with the weights' device.
    XCTAssertThrowsError(try GradMode.withNoGrad { try model(x) }) { error in
      XCTAssertTrue("\(error)".contains("cpu") && "\(error)".contains("cuda:0"), "\(error)")
    }
  }
}

extension CLITests {
  func testDoctorOnTheCPUPassesAndBadDevicesAreOneLine() throws {
    let doctor = try run(["doctor"])
    XCTAssertEqual(doctor.status, 0, doctor.stderr)
    XCTAssertTrue(doctor.stdout.contains("cpu: available"), doctor.stdout)
    XCTAssertTrue(doctor.stdout.contains("3 passed, 0 failed"), doctor.stdout)
    // The MPI line names a library (and its version) or says there is none; either way, started alone.
    XCTAssertTrue(doctor.stdout.contains("\nMPI: "), doctor.stdout)
    XCTAssertTrue(doctor.stdout.contains("; not started by mpirun\n"), doctor.stdout)
    let bad = try run(["doctor", "--device", "tpu"])
    XCTAssertNotEqual(bad.status, 0)
    XCTAssertEqual(bad.stderr, "error: --device: 'tpu' is not a device (use cpu, cuda or cuda:N)\n")
  }

  func testForwardOnAMissingGPUWritesNothing() throws {
    if (try? Tensor(zeros: [1]).to(.cuda(0))) != nil { throw XCTSkip("a CUDA device is usable here") }
    let folder = NSTemporaryDirectory() + "cnnkit-device-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let input = folder + "/x.safetensors"
    try SafeTensorsWriter.write([.init(name: "input", tensor: Tensor(zeros: [1, 1, 32, 32]))], to: input)
    let output = folder + "/y.safetensors"
    _ = FileManager.default.createFile(atPath: output, contents: Data("keep me".utf8))
    let result = try run([
      "forward", "--model", "lenet5", "--input", input, "--output", output, "--device", "cuda",
    ])
    XCTAssertNotEqual(result.status, 0)
    XCTAssertTrue(result.stderr.hasPrefix("error: "), result.stderr)
    XCTAssertTrue(result.stderr.contains("CUDA"), result.stderr)
    XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.stderr)
    XCTAssertEqual(try String(contentsOfFile: output, encoding: .utf8), "keep me")
  }
}
