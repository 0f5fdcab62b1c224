import CLibFuzzer
import CNNKit
import Foundation

/// A fuzz target's `LLVMFuzzerTestOneInput`.
public typealias FuzzEntry = @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32

/// Runs libFuzzer's driver on `entry` with the process's arguments (`-runs=N`, corpus folders, ...)
/// and exits with its status.
public func runFuzzer(_ entry: FuzzEntry) -> Never {
  var argc = CommandLine.argc
  var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
  exit(LLVMFuzzerRunDriver(&argc, &argv, entry))
}

/// The fuzzer's input as an array.
public func fuzzBytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
  guard let data, size > 0 else { return [] }
  return Array(UnsafeBufferPointer(start: data, count: size))
}

/// Runs `body`; an error is an expected outcome for most inputs, and its message is rendered so
/// that the error descriptions are fuzzed too.
@discardableResult
public func attempt<T>(_ body: () throws -> T) -> T? {
  do {
    return try body()
  } catch {
    _ = String(describing: error)
    return nil
  }
}

/// A model small enough to build for every input, with a parameter of every kind the state-dict
/// loader handles (convolution, BatchNorm buffers with the int64 counter, linear):
/// `0.weight [2,1,3,3]`, `0.bias`, `1.weight`, `1.bias`, `1.running_mean`, `1.running_var`,
/// `1.num_batches_tracked []`, `4.weight [3,8]`, `4.bias [3]`.
public func tinyModel() -> Module {
  Sequential(Conv2d(1, 2, kernelSize: 3), BatchNorm2d(2), ReLU(), Flatten(), Linear(8, 3))
}
