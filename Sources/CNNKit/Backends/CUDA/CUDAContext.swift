import Foundation

/// A block of device memory from `CUDAContext`'s caching allocator; goes back to the cache (not to
/// the driver) when released, so a steady training loop calls `cuMemAlloc` only in its first step.
final class DeviceBuffer: @unchecked Sendable {
  /// The device address.
  let address: UInt64
  /// Bytes of the block (its size class).
  let bytes: Int
  unowned let context: CUDAContext

  init(address: UInt64, bytes: Int, context: CUDAContext) {
    self.address = address
    self.bytes = bytes
    self.context = context
  }

  deinit { context.recycle(address: address, bytes: bytes) }
}

/// One CUDA device with everything CNNKit keeps for it: the primary context, the libraries' handles,
/// the compiled kernels and the memory cache. Work goes onto the legacy default stream, in order, so
/// copies to the host see every earlier kernel's result without extra synchronisation.
final class CUDAContext: @unchecked Sendable {
  let driver: DriverAPI
  let nvrtc: NVRTCAPI
  let cublas: CuBLASAPI
  let cudnn: CuDNNAPI
  let deviceIndex: Int
  let name: String
  let computeCapability: (major: Int, minor: Int)
  let totalMemory: Int
  let driverVersion: Int
  private let context: CHandle
  let cublasHandle: CHandle
  let cudnnHandle: CHandle
  private var functions: [String: CHandle] = [:]
  private let lock = NSLock()
  /// Free blocks by size class.
  private var cache: [Int: [UInt64]] = [:]
  /// Convolution descriptors and chosen algorithms, by geometry.
  var convolutionPlans: [Conv2dPlanKey: CUDAConvolutionPlan] = [:]
  /// The math of convolutions and matrix products (strict fp32 unless set otherwise).
  private(set) var precision = Precision.fp32

  private nonisolated(unsafe) static var contexts: [Int: CUDAContext] = [:]
  private nonisolated(unsafe) static var libraries: (DriverAPI, NVRTCAPI, CuBLASAPI, CuDNNAPI)?
  private static let contextsLock = NSLock()

  /// The context of `cuda:index`, set up on first use: loads the libraries, compiles the kernels.
  static func shared(_ index: Int) throws -> CUDAContext {
    contextsLock.lock()
    defer { contextsLock.unlock() }
    if let existing = contexts[index] {
      try existing.makeCurrent()
      return existing
    }
    let libs = try libraries ?? (DriverAPI(), NVRTCAPI(), CuBLASAPI(), CuDNNAPI())
    libraries = libs
    let made = try CUDAContext(index: index, driver: libs.0, nvrtc: libs.1, cublas: libs.2, cudnn: libs.3)
    contexts[index] = made
    return made
  }

  /// The driver and the number of devices it sees (loads only `libcuda`).
  static func deviceCount() throws -> Int {
    let driver = try libraries?.0 ?? DriverAPI()
    try driver.check(driver.cuInit(0), "cuInit")
    var count: Int32 = 0
    try driver.check(driver.cuDeviceGetCount(&count), "cuDeviceGetCount")
    return Int(count)
  }

  private init(index: Int, driver: DriverAPI, nvrtc: NVRTCAPI, cublas: CuBLASAPI, cudnn: CuDNNAPI) throws {
    self.driver = driver
    self.nvrtc = nvrtc
    self.cublas = cublas
    self.cudnn = cudnn
    deviceIndex = index
    try driver.check(driver.cuInit(0), "cuInit")
    var count: Int32 = 0
    try driver.check(driver.cuDeviceGetCount(&count), "cuDeviceGetCount")
    guard index < count else {
      throw CUDAError.noDevice(
        "no CUDA device cuda:\(index): the driver sees \(count) device\(count == 1 ? "" : "s")")
    }
    var device: Int32 = 0
    try driver.check(driver.cuDeviceGet(&device, Int32(index)), "cuDeviceGet")
    var nameBytes = [CChar](repeating: 0, count: 256)
    try driver.check(driver.cuDeviceGetName(&nameBytes, 256, device), "cuDeviceGetName")
    name = String(cString: nameBytes)
    // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR / _MINOR.
    var major: Int32 = 0
    var minor: Int32 = 0
    try driver.check(driver.cuDeviceGetAttribute(&major, 75, device), "cuDeviceGetAttribute")
    try driver.check(driver.cuDeviceGetAttribute(&minor, 76, device), "cuDeviceGetAttribute")
    computeCapability = (Int(major), Int(minor))
    var total = 0
    try driver.check(driver.cuDeviceTotalMem(&total, device), "cuDeviceTotalMem")
    totalMemory = total
    var version: Int32 = 0
    try driver.check(driver.cuDriverGetVersion(&version), "cuDriverGetVersion")
    driverVersion = Int(version)
    var ctx: CHandle = nil
    try driver.check(driver.cuDevicePrimaryCtxRetain(&ctx, device), "cuDevicePrimaryCtxRetain")
    context = ctx
    try driver.check(driver.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
    var blas: CHandle = nil
    try cublas.check(cublas.cublasCreate(&blas), "cublasCreate")
    // CUBLAS_DEFAULT_MATH: no TF32, so results match the CPU's fp32.
    try cublas.check(cublas.cublasSetMathMode(blas, 0), "cublasSetMathMode")
    cublasHandle = blas
    var dnn: CHandle = nil
    try cudnn.check(cudnn.cudnnCreate(&dnn), "cudnnCreate")
    cudnnHandle = dnn
    let cubin = try nvrtc.compile(
      cudaKernelSource, name: "cnnkit_kernels.cu", arch: Int(major) * 10 + Int(minor))
    var module: CHandle = nil
    try cubin.withUnsafeBytes {
      try driver.check(driver.cuModuleLoadData(&module, $0.baseAddress!), "cuModuleLoadData")
    }
    for kernel in cudaKernelNames {
      var function: CHandle = nil
      try driver.check(
        driver.cuModuleGetFunction(&function, module, kernel), "cuModuleGetFunction(\(kernel))")
      functions[kernel] = function
    }
  }

  /// Switches convolutions (cuDNN's math type; plans are searched again) and cuBLAS between strict
  /// fp32 and TF32 tensor-core math.
  func setPrecision(_ precision: Precision) throws {
    guard precision != self.precision else { return }
    // CUBLAS_DEFAULT_MATH (0) or CUBLAS_TF32_TENSOR_OP_MATH (3).
    try cublas.check(cublas.cublasSetMathMode(cublasHandle, precision == .tf32 ? 3 : 0), "cublasSetMathMode")
    self.precision = precision
    convolutionPlans = [:]
  }

  /// Makes this device's context current on the calling thread (contexts are per thread).
  func makeCurrent() throws { try driver.check(driver.cuCtxSetCurrent(context), "cuCtxSetCurrent") }

  /// `major.minor` of the driver's CUDA version (13000 is 13.0).
  var driverVersionString: String { "\(driverVersion / 1000).\(driverVersion % 1000 / 10)" }

  /// cuBLAS's version number.
  var cublasVersion: String {
    var v: Int32 = 0
    _ = cublas.cublasGetVersion(cublasHandle, &v)
    return "\(v / 10000).\(v % 10000 / 100).\(v % 100)"
  }

  // MARK: Memory

  /// Size classes: powers of two up to 1 MiB, then multiples of 2 MiB, so blocks are reused across
  /// batches of slightly different sizes without wasting more than half of a small one.
  private static func sizeClass(_ bytes: Int) -> Int {
    let b = max(bytes, 512)
    if b <= 1 << 20 { return 1 << (Int.bitWidth - (b - 1).leadingZeroBitCount) }
    return (b + (2 << 20) - 1) / (2 << 20) * (2 << 20)
  }

  /// A block of at least `bytes`: from the cache when one of its size class is free, else from the
  /// driver; when the driver has none left, the cache is emptied and the driver asked once more.
  func allocate(bytes: Int) throws -> DeviceBuffer {
    let size = Self.sizeClass(bytes)
    lock.lock()
    if var free = cache[size], let address = free.popLast() {
      cache[size] = free
      lock.unlock()
      return DeviceBuffer(address: address, bytes: size, context: self)
    }
    lock.unlock()
    var address: UInt64 = 0
    if driver.cuMemAlloc(&address, size) != 0 {
      releaseCache()
      let status = driver.cuMemAlloc(&address, size)
      if status == 2 {  // CUDA_ERROR_OUT_OF_MEMORY
        var (free, total) = (0, 0)
        _ = driver.cuMemGetInfo(&free, &total)
        throw CUDAError.outOfMemory(device: "cuda:\(deviceIndex)", bytes: size, free: free)
      }
      try driver.check(status, "cuMemAlloc")
    }
    return DeviceBuffer(address: address, bytes: size, context: self)
  }

  /// Takes a released block back into the cache.
  func recycle(address: UInt64, bytes: Int) {
    lock.lock()
    cache[bytes, default: []].append(address)
    lock.unlock()
  }

  /// Gives every cached block back to the driver.
  func releaseCache() {
    lock.lock()
    let blocks = cache.values.flatMap { $0 }
    cache = [:]
    lock.unlock()
    _ = driver.cuCtxSynchronize()
    for address in blocks { _ = driver.cuMemFree(address) }
  }

  func copyToDevice(_ source: UnsafeRawPointer, _ destination: UInt64, bytes: Int) throws {
    guard bytes > 0 else { return }
    try driver.check(driver.cuMemcpyHtoD(destination, source, bytes), "cuMemcpyHtoD")
  }

  func copyToHost(_ source: UInt64, _ destination: UnsafeMutableRawPointer, bytes: Int) throws {
    guard bytes > 0 else { return }
    try driver.check(driver.cuMemcpyDtoH(destination, source, bytes), "cuMemcpyDtoH")
  }

  func copyOnDevice(_ source: UInt64, _ destination: UInt64, bytes: Int) throws {
    guard bytes > 0 else { return }
    try driver.check(driver.cuMemcpyDtoD(destination, source, bytes), "cuMemcpyDtoD")
  }

  /// Waits for every queued kernel; reports an error a kernel raised.
  func synchronize() throws { try driver.check(driver.cuCtxSynchronize(), "cuCtxSynchronize") }

  // MARK: Kernels

  /// One kernel argument, passed by value as the kernel's C signature declares it.
  enum Argument {
    case pointer(UInt64)
    case int(Int32)
    case int64(Int64)
    case float(Float)
    /// A struct of `int` fields, passed by value.
    case int32s([Int32])
  }

  /// Launches the NVRTC-compiled kernel `name` on `grid` blocks of `block` threads.
  func launch(_ name: String, grid: Int, block: Int = 256, sharedBytes: Int = 0, _ arguments: [Argument])
    throws
  {
    guard grid > 0 else { return }
    guard let function = functions[name] ?? nil else {
      throw CUDAError.symbolMissing(library: "cnnkit_kernels.cu", symbol: name)
    }
    // Each argument in a slot of its own, 8-byte aligned; the driver reads as many bytes as the
    // parameter's C type holds.
    let sizes = arguments.map { argument -> Int in
      if case .int32s(let values) = argument { return (values.count * 4 + 7) / 8 * 8 }
      return 8
    }
    let storage = UnsafeMutableRawPointer.allocate(byteCount: max(sizes.reduce(0, +), 8), alignment: 8)
    defer { storage.deallocate() }
    var pointers: [UnsafeMutableRawPointer?] = []
    var offset = 0
    for (argument, size) in zip(arguments, sizes) {
      let slot = storage + offset
      offset += size
      switch argument {
      case .pointer(let v): slot.storeBytes(of: v, as: UInt64.self)
      case .int(let v): slot.storeBytes(of: v, as: Int32.self)
      case .int64(let v): slot.storeBytes(of: v, as: Int64.self)
      case .float(let v): slot.storeBytes(of: v, as: Float.self)
      case .int32s(let values):
        for (i, v) in values.enumerated() { (slot + 4 * i).storeBytes(of: v, as: Int32.self) }
      }
      pointers.append(slot)
    }
    let status = pointers.withUnsafeMutableBufferPointer {
      driver.cuLaunchKernel(
        function, UInt32(min(grid, Int(Int32.max))), 1, 1, UInt32(block), 1, 1, UInt32(sharedBytes), nil,
        $0.baseAddress, nil)
    }
    try driver.check(status, "cuLaunchKernel(\(name))")
  }

  /// Blocks for a grid-stride loop over `count` elements (each thread may take several).
  static func blocks(for count: Int, block: Int = 256) -> Int {
    min(max((count + block - 1) / block, 1), 65_536)
  }
}
