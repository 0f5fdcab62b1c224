import Foundation

/// What went wrong joining or talking to the other processes of a data-parallel run. Each message
/// names the library, variable or call involved.
public enum DistributedError: Error, CustomStringConvertible {
  /// The process was started by a launcher (`mpirun`) but the MPI library could not be opened.
  case libraryMissing(tried: [String], reason: String)
  /// The MPI library opened but lacks a symbol CNNKit needs (not Open MPI, or too old).
  case symbolMissing(library: String, symbol: String)
  /// An MPI call returned an error code.
  case call(function: String, code: Int32)
  /// A launcher variable holds something that is not a process count or rank.
  case badEnvironment(variable: String, value: String)
  /// Something a data-parallel run cannot do (a flag combination, a batch that does not split).
  case unsupported(String)

  public var description: String {
    switch self {
    case .libraryMissing(let tried, let reason):
      return
        "started by mpirun but the MPI library could not be loaded (tried \(tried.joined(separator: ", ")): "
        + "\(reason)); install Open MPI (Debian: openmpi-bin libopenmpi-dev) or set CNNKIT_MPI_LIBRARY "
        + "to libmpi.so's path"
    case .symbolMissing(let library, let symbol):
      return "MPI library \(library) has no symbol \(symbol): CNNKit needs Open MPI 4 or later"
    case .call(let function, let code): return "\(function) failed with MPI error code \(code)"
    case .badEnvironment(let variable, let value):
      return "environment variable \(variable) is \"\(value)\", not a number"
    case .unsupported(let message): return message
    }
  }
}

/// The processes of one data-parallel run and the collective operations between them, as
/// `torch.distributed`'s process group. Every process must make the same calls in the same order.
public protocol Communicator: AnyObject, Sendable {
  /// This process's number, 0 ..< `size`; rank 0 writes the outputs.
  var rank: Int { get }
  /// How many processes share the run.
  var size: Int { get }
  /// Replaces each of `count` floats with their sum over all processes.
  func allReduceSum(_ values: UnsafeMutablePointer<Float>, count: Int) throws
  /// Replaces each of `count` doubles with their sum over all processes.
  func allReduceSum(_ values: UnsafeMutablePointer<Double>, count: Int) throws
  /// Copies `count` floats from process `root` to every other process.
  func broadcast(_ values: UnsafeMutablePointer<Float>, count: Int, root: Int) throws
  /// Stops every process of the run with `code` (after this process has printed why).
  func abort(code: Int32) -> Never
  /// Whether a second thread may make the calls while the first makes none (MPI's
  /// `MPI_THREAD_SERIALIZED`): what overlapping the gradient exchange with backward needs.
  var allowsCallsFromAnotherThread: Bool { get }
}

extension Communicator {
  /// Sums an array of doubles over all processes.
  public func allReduceSum(_ values: [Double]) throws -> [Double] {
    var copy = values
    try copy.withUnsafeMutableBufferPointer { try allReduceSum($0.baseAddress!, count: $0.count) }
    return copy
  }

  /// True in the process that prints and writes files.
  public var isPrimary: Bool { rank == 0 }
}

/// A run of one process: every collective is the identity.
public final class SingleProcess: Communicator {
  public init() {}
  public var rank: Int { 0 }
  public var size: Int { 1 }
  public func allReduceSum(_ values: UnsafeMutablePointer<Float>, count: Int) throws {}
  public func allReduceSum(_ values: UnsafeMutablePointer<Double>, count: Int) throws {}
  public func broadcast(_ values: UnsafeMutablePointer<Float>, count: Int, root: Int) throws {}
  public func abort(code: Int32) -> Never { exit(code) }
  public var allowsCallsFromAnotherThread: Bool { true }
}

/// Finds out how this process was started and joins the run it belongs to.
public enum Distributed {
  /// The process count and rank a launcher announced, or nil when started on its own. Open MPI's
  /// `mpirun` sets `OMPI_COMM_WORLD_SIZE` / `_RANK`; MPICH's and Slurm's PMI set `PMI_SIZE` / `PMI_RANK`.
  public static func launchedProcesses(environment: [String: String] = ProcessInfo.processInfo.environment)
    throws -> (size: Int, rank: Int)?
  {
    for (sizeKey, rankKey) in [("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"), ("PMI_SIZE", "PMI_RANK")] {
      guard let sizeText = environment[sizeKey] else { continue }
      guard let size = Int(sizeText), size > 0 else {
        throw DistributedError.badEnvironment(variable: sizeKey, value: sizeText)
      }
      let rankText = environment[rankKey] ?? "0"
      guard let rank = Int(rankText), (0..<size).contains(rank) else {
        throw DistributedError.badEnvironment(variable: rankKey, value: rankText)
      }
      return (size, rank)
    }
    return nil
  }

  /// The run this process belongs to: MPI's world when a launcher started more than one process,
  /// a single process otherwise (no MPI library is touched then).
  public static func join() throws -> any Communicator {
    guard let launched = try launchedProcesses(), launched.size > 1 else { return SingleProcess() }
    let world = try MPICommunicator.world()
    lock.lock()
    joined = world
    lock.unlock()
    return world
  }

  /// The run `join()` joined (a single process before that): where an error handler finds the
  /// processes to stop.
  public static var current: any Communicator {
    lock.lock()
    defer { lock.unlock() }
    return joined
  }

  nonisolated(unsafe) private static var joined: any Communicator = SingleProcess()
  private static let lock = NSLock()

  /// How many processes of the run share this machine (Open MPI's `OMPI_COMM_WORLD_LOCAL_SIZE`; 1
  /// when not said), so each can take its share of the cores.
  public static var processesOnThisMachine: Int {
    ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init).map { max($0, 1) }
      ?? 1
  }
}
