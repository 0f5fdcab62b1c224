import Foundation

/// What went wrong on the way to, or on, a CUDA device. Every message names the library, symbol,
/// function or size involved, so the CLI can print it as one `error:` line.
public enum CUDAError: Error, CustomStringConvertible {
  /// A shared library could not be opened from any place CNNKit looks.
  case libraryMissing(library: String, tried: [String], reason: String)
  /// A library opened but lacks a function CNNKit calls (too old a version).
  case symbolMissing(library: String, symbol: String)
  /// The driver works but offers no such device.
  case noDevice(String)
  /// A library call returned an error status.
  case call(function: String, code: Int, message: String)
  /// The device has not enough free memory for a buffer.
  case outOfMemory(device: String, bytes: Int, free: Int)
  /// NVRTC could not compile CNNKit's kernels; `log` is its message.
  case compile(log: String)

  /// True for `outOfMemory`.
  public var isOutOfMemory: Bool {
    if case .outOfMemory = self { return true }
    return false
  }

  public var description: String {
    switch self {
    case .libraryMissing(let library, let tried, let reason):
      return
        "CUDA library \(library) not found (tried \(tried.joined(separator: ", ")): \(reason)); "
        + "set CNNKIT_CUDA_LIBRARY_PATH to the folder that holds it"
    case .symbolMissing(let library, let symbol):
      return "CUDA library \(library) has no function \(symbol) (too old a version?)"
    case .noDevice(let message): return message
    case .call(let function, let code, let message):
      return "\(function) failed with status \(code): \(message)"
    case .outOfMemory(let device, let bytes, let free):
      return
        "out of memory on \(device): a buffer of \(bytes.formatted(.byteCount(style: .memory))) does not fit "
        + "in the \(free.formatted(.byteCount(style: .memory))) free; try a smaller batch size"
    case .compile(let log): return "NVRTC could not compile CNNKit's CUDA kernels: \(log)"
    }
  }
}

/// One shared library opened with `dlopen`, and the functions looked up in it.
final class DynamicLibrary: @unchecked Sendable {
  /// The file that was opened (a soname or a full path).
  let name: String
  private let handle: UnsafeMutableRawPointer

  /// Folders named by `CNNKIT_CUDA_LIBRARY_PATH` (colon-separated), searched before anything else.
  static var customFolders: [String] {
    ProcessInfo.processInfo.environment["CNNKIT_CUDA_LIBRARY_PATH"]?.split(separator: ":").map(String.init)
      ?? []
  }

  /// Where the CUDA toolkit and Debian's packages put the libraries, searched after the loader's path.
  static var standardFolders: [String] {
    var folders: [String] = []
    let toolkits = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/local")) ?? [])
      .filter { $0.hasPrefix("cuda") }.sorted().reversed()
    for toolkit in toolkits {
      folders += ["/usr/local/\(toolkit)/targets/x86_64-linux/lib", "/usr/local/\(toolkit)/lib64"]
    }
    return folders + ["/usr/lib/x86_64-linux-gnu", "/usr/local/nvidia/lib64", "/usr/lib64"]
  }

  /// Opens the first of `sonames` found: folders named by `CNNKIT_CUDA_LIBRARY_PATH` first, then the
  /// loader's search path, then the toolkit's folders.
  init(anyOf sonames: [String]) throws {
    var tried: [String] = []
    var lastError = "not found"
    var candidates: [String] = []
    for soname in sonames {
      candidates += Self.customFolders.map { "\($0)/\(soname)" }
      candidates.append(soname)
      candidates += Self.standardFolders.map { "\($0)/\(soname)" }
    }
    var seen = Set<String>()
    for candidate in candidates where seen.insert(candidate).inserted {
      if candidate.contains("/") && !FileManager.default.fileExists(atPath: candidate) { continue }
      tried.append(candidate)
      // Global, so libraries that open their own parts (cuDNN's engines) find what was opened here.
      if let handle = dlopen(candidate, RTLD_NOW | RTLD_GLOBAL) {
        self.handle = handle
        self.name = candidate
        return
      }
      lastError = dlerror().map { String(cString: $0) } ?? "dlopen failed"
    }
    throw CUDAError.libraryMissing(
      library: sonames.joined(separator: " or "), tried: tried, reason: lastError)
  }

  /// The folder the library was opened from, when it was opened by path.
  var folder: String? { name.contains("/") ? (name as NSString).deletingLastPathComponent : nil }

  /// The function `symbol`, cast to the C function type `T`.
  func function<T>(_ symbol: String, as type: T.Type) throws -> T {
    guard let address = dlsym(handle, symbol) else {
      throw CUDAError.symbolMissing(library: name, symbol: symbol)
    }
    return unsafeBitCast(address, to: type)
  }
}

// C handle types of the CUDA libraries, all opaque pointers here.
typealias CHandle = UnsafeMutableRawPointer?
typealias CResult = Int32

/// The subset of the CUDA driver API (`libcuda.so.1`) CNNKit uses, looked up once.
struct DriverAPI {
  let library: DynamicLibrary
  let cuInit: @convention(c) (UInt32) -> CResult
  let cuDriverGetVersion: @convention(c) (UnsafeMutablePointer<Int32>) -> CResult
  let cuDeviceGetCount: @convention(c) (UnsafeMutablePointer<Int32>) -> CResult
  let cuDeviceGet: @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> CResult
  let cuDeviceGetName: @convention(c) (UnsafeMutablePointer<CChar>, Int32, Int32) -> CResult
  let cuDeviceGetAttribute: @convention(c) (UnsafeMutablePointer<Int32>, Int32, Int32) -> CResult
  let cuDeviceTotalMem: @convention(c) (UnsafeMutablePointer<Int>, Int32) -> CResult
  let cuDevicePrimaryCtxRetain: @convention(c) (UnsafeMutablePointer<CHandle>, Int32) -> CResult
  let cuCtxSetCurrent: @convention(c) (CHandle) -> CResult
  let cuCtxSynchronize: @convention(c) () -> CResult
  let cuMemAlloc: @convention(c) (UnsafeMutablePointer<UInt64>, Int) -> CResult
  let cuMemFree: @convention(c) (UInt64) -> CResult
  let cuMemGetInfo: @convention(c) (UnsafeMutablePointer<Int>, UnsafeMutablePointer<Int>) -> CResult
  let cuMemcpyHtoD: @convention(c) (UInt64, UnsafeRawPointer, Int) -> CResult
  let cuMemcpyDtoH: @convention(c) (UnsafeMutableRawPointer, UInt64, Int) -> CResult
  let cuMemcpyDtoD: @convention(c) (UInt64, UInt64, Int) -> CResult
  let cuModuleLoadData: @convention(c) (UnsafeMutablePointer<CHandle>, UnsafeRawPointer) -> CResult
  let cuModuleGetFunction:
    @convention(c) (UnsafeMutablePointer<CHandle>, CHandle, UnsafePointer<CChar>) -> CResult
  let cuLaunchKernel:
    @convention(c) (
      CHandle, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, CHandle,
      UnsafeMutablePointer<UnsafeMutableRawPointer?>?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?
    ) -> CResult
  let cuGetErrorString: @convention(c) (CResult, UnsafeMutablePointer<UnsafePointer<CChar>?>) -> CResult

  init() throws {
    let lib = try DynamicLibrary(anyOf: ["libcuda.so.1", "libcuda.so"])
    library = lib
    cuInit = try lib.function("cuInit", as: type(of: cuInit))
    cuDriverGetVersion = try lib.function("cuDriverGetVersion", as: type(of: cuDriverGetVersion))
    cuDeviceGetCount = try lib.function("cuDeviceGetCount", as: type(of: cuDeviceGetCount))
    cuDeviceGet = try lib.function("cuDeviceGet", as: type(of: cuDeviceGet))
    cuDeviceGetName = try lib.function("cuDeviceGetName", as: type(of: cuDeviceGetName))
    cuDeviceGetAttribute = try lib.function("cuDeviceGetAttribute", as: type(of: cuDeviceGetAttribute))
    cuDeviceTotalMem = try lib.function("cuDeviceTotalMem_v2", as: type(of: cuDeviceTotalMem))
    cuDevicePrimaryCtxRetain = try lib.function(
      "cuDevicePrimaryCtxRetain", as: type(of: cuDevicePrimaryCtxRetain))
    cuCtxSetCurrent = try lib.function("cuCtxSetCurrent", as: type(of: cuCtxSetCurrent))
    cuCtxSynchronize = try lib.function("cuCtxSynchronize", as: type(of: cuCtxSynchronize))
    cuMemAlloc = try lib.function("cuMemAlloc_v2", as: type(of: cuMemAlloc))
    cuMemFree = try lib.function("cuMemFree_v2", as: type(of: cuMemFree))
    cuMemGetInfo = try lib.function("cuMemGetInfo_v2", as: type(of: cuMemGetInfo))
    cuMemcpyHtoD = try lib.function("cuMemcpyHtoD_v2", as: type(of: cuMemcpyHtoD))
    cuMemcpyDtoH = try lib.function("cuMemcpyDtoH_v2", as: type(of: cuMemcpyDtoH))
    cuMemcpyDtoD = try lib.function("cuMemcpyDtoD_v2", as: type(of: cuMemcpyDtoD))
    cuModuleLoadData = try lib.function("cuModuleLoadData", as: type(of: cuModuleLoadData))
    cuModuleGetFunction = try lib.function("cuModuleGetFunction", as: type(of: cuModuleGetFunction))
    cuLaunchKernel = try lib.function("cuLaunchKernel", as: type(of: cuLaunchKernel))
    cuGetErrorString = try lib.function("cuGetErrorString", as: type(of: cuGetErrorString))
  }

  /// Throws `CUDAError.call` naming `function` unless `status` is CUDA_SUCCESS.
  func check(_ status: CResult, _ function: String) throws {
    guard status != 0 else { return }
    var text: UnsafePointer<CChar>? = nil
    _ = cuGetErrorString(status, &text)
    throw CUDAError.call(
      function: function, code: Int(status), message: text.map { String(cString: $0) } ?? "unknown error")
  }
}

/// NVRTC (`libnvrtc.so`): compiles CNNKit's CUDA C kernels for the device at run time.
struct NVRTCAPI {
  let library: DynamicLibrary
  let nvrtcVersion: @convention(c) (UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Int32>) -> CResult
  let nvrtcCreateProgram:
    @convention(c) (
      UnsafeMutablePointer<CHandle>, UnsafePointer<CChar>, UnsafePointer<CChar>?, Int32,
      UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<UnsafePointer<CChar>?>?
    ) -> CResult
  let nvrtcCompileProgram: @convention(c) (CHandle, Int32, UnsafePointer<UnsafePointer<CChar>?>?) -> CResult
  let nvrtcGetProgramLogSize: @convention(c) (CHandle, UnsafeMutablePointer<Int>) -> CResult
  let nvrtcGetProgramLog: @convention(c) (CHandle, UnsafeMutablePointer<CChar>) -> CResult
  let nvrtcGetCUBINSize: @convention(c) (CHandle, UnsafeMutablePointer<Int>) -> CResult
  let nvrtcGetCUBIN: @convention(c) (CHandle, UnsafeMutableRawPointer) -> CResult
  let nvrtcDestroyProgram: @convention(c) (UnsafeMutablePointer<CHandle>) -> CResult

  init() throws {
    let lib = try DynamicLibrary(anyOf: ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"])
    // NVRTC opens its builtins library by soname; opening it first from NVRTC's own folder means
    // that folder need not be on the loader's path.
    if let folder = lib.folder, let names = try? FileManager.default.contentsOfDirectory(atPath: folder) {
      for builtins in names where builtins.hasPrefix("libnvrtc-builtins.so") {
        _ = dlopen("\(folder)/\(builtins)", RTLD_NOW | RTLD_GLOBAL)
      }
    }
    library = lib
    nvrtcVersion = try lib.function("nvrtcVersion", as: type(of: nvrtcVersion))
    nvrtcCreateProgram = try lib.function("nvrtcCreateProgram", as: type(of: nvrtcCreateProgram))
    nvrtcCompileProgram = try lib.function("nvrtcCompileProgram", as: type(of: nvrtcCompileProgram))
    nvrtcGetProgramLogSize = try lib.function("nvrtcGetProgramLogSize", as: type(of: nvrtcGetProgramLogSize))
    nvrtcGetProgramLog = try lib.function("nvrtcGetProgramLog", as: type(of: nvrtcGetProgramLog))
    nvrtcGetCUBINSize = try lib.function("nvrtcGetCUBINSize", as: type(of: nvrtcGetCUBINSize))
    nvrtcGetCUBIN = try lib.function("nvrtcGetCUBIN", as: type(of: nvrtcGetCUBIN))
    nvrtcDestroyProgram = try lib.function("nvrtcDestroyProgram", as: type(of: nvrtcDestroyProgram))
  }

  /// Compiles `source` for `sm_<arch>` to a cubin; the compiler's log is the error on failure.
  func compile(_ source: String, name: String, arch: Int) throws -> [UInt8] {
    var program: CHandle = nil
    try check(nvrtcCreateProgram(&program, source, name, 0, nil, nil), "nvrtcCreateProgram")
    defer { _ = nvrtcDestroyProgram(&program) }
    // Strict IEEE division and square roots: results must match the CPU kernels to 1e-4.
    let options = ["--gpu-architecture=sm_\(arch)", "--std=c++17", "-default-device"]
    let cOptions = options.map { UnsafePointer(strdup($0)) }
    defer { cOptions.forEach { free(UnsafeMutablePointer(mutating: $0)) } }
    let status = cOptions.withUnsafeBufferPointer {
      nvrtcCompileProgram(program, Int32(options.count), $0.baseAddress)
    }
    if status != 0 {
      var size = 0
      _ = nvrtcGetProgramLogSize(program, &size)
      var log = [CChar](repeating: 0, count: max(size, 1))
      _ = nvrtcGetProgramLog(program, &log)
      throw CUDAError.compile(log: String(cString: log))
    }
    var size = 0
    try check(nvrtcGetCUBINSize(program, &size), "nvrtcGetCUBINSize")
    var cubin = [UInt8](repeating: 0, count: size)
    try check(cubin.withUnsafeMutableBytes { nvrtcGetCUBIN(program, $0.baseAddress!) }, "nvrtcGetCUBIN")
    return cubin
  }

  /// `major.minor` of the NVRTC found.
  var version: String {
    var (major, minor): (Int32, Int32) = (0, 0)
    _ = nvrtcVersion(&major, &minor)
    return "\(major).\(minor)"
  }

  private func check(_ status: CResult, _ function: String) throws {
    guard status != 0 else { return }
    throw CUDAError.call(function: function, code: Int(status), message: "NVRTC error")
  }
}
