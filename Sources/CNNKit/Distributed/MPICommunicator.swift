import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// MPI's world communicator, reached through Open MPI's `libmpi` opened at run time: CNNKit builds,
/// and runs on one process, on machines without MPI. Open MPI's handles (`MPI_COMM_WORLD`,
/// `MPI_FLOAT`, `MPI_SUM`) are C macros for the addresses of global objects, which Swift cannot
/// import but `dlsym` finds; MPICH's integer handles are different, hence "Open MPI only".
public final class MPICommunicator: Communicator, @unchecked Sendable {
  public let rank: Int
  public let size: Int
  public let allowsCallsFromAnotherThread: Bool
  private let api: MPIFunctions

  /// Joins `MPI_COMM_WORLD` (once per process; later calls return the same communicator).
  public static func world() throws -> MPICommunicator {
    lock.lock()
    defer { lock.unlock() }
    if let joined { return joined }
    let api = try MPIFunctions()
    var provided: Int32 = 0
    // SERIALIZED: the gradient thread and the training thread never call MPI at the same time.
    try api.check("MPI_Init_thread", api.initThread(nil, nil, 2, &provided))
    var rank: Int32 = 0
    var size: Int32 = 0
    try api.check("MPI_Comm_rank", api.commRank(api.world, &rank))
    try api.check("MPI_Comm_size", api.commSize(api.world, &size))
    let communicator = MPICommunicator(
      rank: Int(rank), size: Int(size), serialized: provided >= 2, api: api)
    finalize = api.finalize
    // A run that ends normally must finalise, or mpirun reports the process as failed.
    atexit { _ = MPICommunicator.finalize?() }
    joined = communicator
    return communicator
  }

  nonisolated(unsafe) private static var joined: MPICommunicator?
  nonisolated(unsafe) private static var finalize: (@convention(c) () -> Int32)?
  private static let lock = NSLock()

  private init(rank: Int, size: Int, serialized: Bool, api: MPIFunctions) {
    self.rank = rank
    self.size = size
    self.allowsCallsFromAnotherThread = serialized
    self.api = api
  }

  /// MPI counts are 32-bit: large buffers go in pieces of at most 2^28 elements.
  private static let piece = 1 << 28

  public func allReduceSum(_ values: UnsafeMutablePointer<Float>, count: Int) throws {
    try reduce(UnsafeMutableRawPointer(values), count: count, stride: 4, type: api.float)
  }

  public func allReduceSum(_ values: UnsafeMutablePointer<Double>, count: Int) throws {
    try reduce(UnsafeMutableRawPointer(values), count: count, stride: 8, type: api.double)
  }

  private func reduce(_ values: UnsafeMutableRawPointer, count: Int, stride: Int, type: OpaquePointer) throws
  {
    var start = 0
    while start < count {
      let n = min(Self.piece, count - start)
      // MPI_IN_PLACE is `(void *) 1` in Open MPI's mpi.h.
      try api.check(
        "MPI_Allreduce",
        api.allreduce(
          UnsafeRawPointer(bitPattern: 1), values + start * stride, Int32(n), type, api.sum, api.world))
      start += n
    }
  }

  public func broadcast(_ values: UnsafeMutablePointer<Float>, count: Int, root: Int) throws {
    var start = 0
    while start < count {
      let n = min(Self.piece, count - start)
      try api.check("MPI_Bcast", api.bcast(values + start, Int32(n), api.float, Int32(root), api.world))
      start += n
    }
  }

  public func abort(code: Int32) -> Never {
    fflush(stdout)
    _ = api.abort(api.world, code)
    exit(code)
  }
}

/// The few MPI functions and handles CNNKit uses, looked up in `libmpi`.
private struct MPIFunctions {
  typealias Handle = OpaquePointer
  typealias InitThread =
    @convention(c) (
      UnsafeMutablePointer<Int32>?,
      UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?,
      Int32, UnsafeMutablePointer<Int32>
    ) -> Int32
  typealias CommQuery = @convention(c) (Handle, UnsafeMutablePointer<Int32>) -> Int32
  typealias Allreduce =
    @convention(c) (
      UnsafeRawPointer?, UnsafeMutableRawPointer, Int32, Handle, Handle, Handle
    ) -> Int32
  typealias Bcast = @convention(c) (UnsafeMutableRawPointer, Int32, Handle, Int32, Handle) -> Int32
  typealias Abort = @convention(c) (Handle, Int32) -> Int32
  typealias Finalize = @convention(c) () -> Int32
  let initThread: InitThread
  let commRank: CommQuery
  let commSize: CommQuery
  let allreduce: Allreduce
  let bcast: Bcast
  let abort: Abort
  let finalize: Finalize
  let world: Handle
  let float: Handle
  let double: Handle
  let sum: Handle

  /// Library names tried in order: only `CNNKIT_MPI_LIBRARY` when it is set (the user's choice
  /// stands alone), else Open MPI's sonames.
  static var candidates: [String] {
    if let chosen = ProcessInfo.processInfo.environment["CNNKIT_MPI_LIBRARY"] { return [chosen] }
    return ["libmpi.so.40", "libmpi.so", "/usr/lib/x86_64-linux-gnu/libmpi.so.40"]
  }

  init() throws {
    var handle: UnsafeMutableRawPointer?
    var name = ""
    var reason = "not found"
    for candidate in Self.candidates {
      // GLOBAL: Open MPI's own plug-ins resolve their symbols against libmpi.
      if let opened = dlopen(candidate, RTLD_NOW | RTLD_GLOBAL) {
        handle = opened
        name = candidate
        break
      }
      if let message = dlerror() { reason = String(cString: message) }
    }
    guard let handle else { throw DistributedError.libraryMissing(tried: Self.candidates, reason: reason) }
    func symbol(_ symbolName: String) throws -> UnsafeMutableRawPointer {
      guard let address = dlsym(handle, symbolName) else {
        throw DistributedError.symbolMissing(library: name, symbol: symbolName)
      }
      return address
    }
    func function<T>(_ symbolName: String, as type: T.Type) throws -> T {
      unsafeBitCast(try symbol(symbolName), to: type)
    }
    initThread = try function("MPI_Init_thread", as: InitThread.self)
    commRank = try function("MPI_Comm_rank", as: CommQuery.self)
    commSize = try function("MPI_Comm_size", as: CommQuery.self)
    allreduce = try function("MPI_Allreduce", as: Allreduce.self)
    bcast = try function("MPI_Bcast", as: Bcast.self)
    abort = try function("MPI_Abort", as: Abort.self)
    finalize = try function("MPI_Finalize", as: Finalize.self)
    world = OpaquePointer(try symbol("ompi_mpi_comm_world"))
    float = OpaquePointer(try symbol("ompi_mpi_float"))
    double = OpaquePointer(try symbol("ompi_mpi_double"))
    sum = OpaquePointer(try symbol("ompi_mpi_op_sum"))
  }

  func check(_ function: String, _ code: Int32) throws {
    guard code == 0 else { throw DistributedError.call(function: function, code: code) }
  }
}

extension Distributed {
  /// One line for `cnnkit doctor`: the MPI library `mpirun` runs would open and its version (MPI
  /// allows asking before initialising), or why there is none, and how this process was started.
  public static func describeMPI() -> String {
    let started =
      (try? launchedProcesses()).flatMap { $0 }.map { "started as rank \($0.rank) of \($0.size)" }
      ?? "not started by mpirun"
    var reason = "not found"
    for candidate in MPIFunctions.candidates {
      guard let handle = dlopen(candidate, RTLD_NOW | RTLD_GLOBAL) else {
        if let message = dlerror() { reason = String(cString: message) }
        continue
      }
      typealias Version = @convention(c) (UnsafeMutablePointer<CChar>, UnsafeMutablePointer<Int32>) -> Int32
      var version = "version unknown"
      if let address = dlsym(handle, "MPI_Get_library_version") {
        // MPI_MAX_LIBRARY_VERSION_STRING is 256 in Open MPI; twice that is safe for any library.
        var buffer = [CChar](repeating: 0, count: 512)
        var length: Int32 = 0
        if unsafeBitCast(address, to: Version.self)(&buffer, &length) == 0 {
          version = String(cString: buffer).split(separator: ",").first.map(String.init) ?? version
        }
      }
      return "MPI: \(candidate) (\(version)); \(started)"
    }
    return "MPI: none (\(reason)); data-parallel training under mpirun needs Open MPI; \(started)"
  }
}
