import Foundation

/// cuBLAS (`libcublas.so`): the fully connected layers' matrix products.
struct CuBLASAPI {
  let library: DynamicLibrary
  let cublasCreate: @convention(c) (UnsafeMutablePointer<CHandle>) -> CResult
  let cublasGetVersion: @convention(c) (CHandle, UnsafeMutablePointer<Int32>) -> CResult
  let cublasSetMathMode: @convention(c) (CHandle, Int32) -> CResult
  /// Column-major `C = α·op(A)·op(B) + β·C`; operations 0 = N, 1 = T.
  let cublasSgemm:
    @convention(c) (
      CHandle, Int32, Int32, Int32, Int32, Int32, UnsafePointer<Float>, UInt64, Int32, UInt64, Int32,
      UnsafePointer<Float>, UInt64, Int32
    ) -> CResult

  init() throws {
    let lib = try DynamicLibrary(anyOf: ["libcublas.so.13", "libcublas.so.12", "libcublas.so"])
    library = lib
    cublasCreate = try lib.function("cublasCreate_v2", as: type(of: cublasCreate))
    cublasGetVersion = try lib.function("cublasGetVersion_v2", as: type(of: cublasGetVersion))
    cublasSetMathMode = try lib.function("cublasSetMathMode", as: type(of: cublasSetMathMode))
    cublasSgemm = try lib.function("cublasSgemm_v2", as: type(of: cublasSgemm))
  }

  func check(_ status: CResult, _ function: String) throws {
    guard status != 0 else { return }
    throw CUDAError.call(function: function, code: Int(status), message: "cuBLAS error")
  }
}

/// One row of cuDNN's algorithm search (`cudnnConvolution*AlgoPerf_t`; the same layout for all three).
struct CuDNNAlgorithmPerformance {
  var algorithm: Int32 = 0
  var status: Int32 = 0
  var time: Float = 0
  var memory: Int = 0
  var determinism: Int32 = 0
  var mathType: Int32 = 0
  var reserved: (Int32, Int32, Int32) = (0, 0, 0)
}

/// cuDNN 9 (`libcudnn.so.9`), its legacy convolution API: descriptors, algorithm search, the three
/// convolution passes.
struct CuDNNAPI {
  typealias Find =
    @convention(c) (
      CHandle, CHandle, CHandle, CHandle, CHandle, Int32, UnsafeMutablePointer<Int32>, UnsafeMutableRawPointer
    ) -> CResult
  typealias WorkspaceSize =
    @convention(c) (CHandle, CHandle, CHandle, CHandle, CHandle, Int32, UnsafeMutablePointer<Int>) -> CResult
  /// (handle, α, desc1, data1, desc2, data2, conv, algo, workspace, bytes, β, outDesc, out)
  typealias Run =
    @convention(c) (
      CHandle, UnsafePointer<Float>, CHandle, UInt64, CHandle, UInt64, CHandle, Int32, UInt64, Int,
      UnsafePointer<Float>, CHandle, UInt64
    ) -> CResult

  let library: DynamicLibrary
  let cudnnGetVersion: @convention(c) () -> Int
  let cudnnGetErrorString: @convention(c) (CResult) -> UnsafePointer<CChar>?
  let cudnnCreate: @convention(c) (UnsafeMutablePointer<CHandle>) -> CResult
  let cudnnCreateTensorDescriptor: @convention(c) (UnsafeMutablePointer<CHandle>) -> CResult
  let cudnnSetTensor4dDescriptor:
    @convention(c) (CHandle, Int32, Int32, Int32, Int32, Int32, Int32) -> CResult
  let cudnnCreateFilterDescriptor: @convention(c) (UnsafeMutablePointer<CHandle>) -> CResult
  let cudnnSetFilter4dDescriptor:
    @convention(c) (CHandle, Int32, Int32, Int32, Int32, Int32, Int32) -> CResult
  let cudnnCreateConvolutionDescriptor: @convention(c) (UnsafeMutablePointer<CHandle>) -> CResult
  let cudnnSetConvolution2dDescriptor:
    @convention(c) (CHandle, Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32) -> CResult
  let cudnnSetConvolutionGroupCount: @convention(c) (CHandle, Int32) -> CResult
  let cudnnSetConvolutionMathType: @convention(c) (CHandle, Int32) -> CResult
  let findForward: Find
  let findBackwardData: Find
  let findBackwardFilter: Find
  let forwardWorkspace: WorkspaceSize
  let backwardDataWorkspace: WorkspaceSize
  let backwardFilterWorkspace: WorkspaceSize
  let convolutionForward: Run
  let convolutionBackwardData: Run
  let convolutionBackwardFilter: Run

  init() throws {
    let lib = try DynamicLibrary(anyOf: ["libcudnn.so.9", "libcudnn.so"])
    library = lib
    cudnnGetVersion = try lib.function("cudnnGetVersion", as: type(of: cudnnGetVersion))
    cudnnGetErrorString = try lib.function("cudnnGetErrorString", as: type(of: cudnnGetErrorString))
    cudnnCreate = try lib.function("cudnnCreate", as: type(of: cudnnCreate))
    cudnnCreateTensorDescriptor = try lib.function(
      "cudnnCreateTensorDescriptor", as: type(of: cudnnCreateTensorDescriptor))
    cudnnSetTensor4dDescriptor = try lib.function(
      "cudnnSetTensor4dDescriptor", as: type(of: cudnnSetTensor4dDescriptor))
    cudnnCreateFilterDescriptor = try lib.function(
      "cudnnCreateFilterDescriptor", as: type(of: cudnnCreateFilterDescriptor))
    cudnnSetFilter4dDescriptor = try lib.function(
      "cudnnSetFilter4dDescriptor", as: type(of: cudnnSetFilter4dDescriptor))
    cudnnCreateConvolutionDescriptor = try lib.function(
      "cudnnCreateConvolutionDescriptor", as: type(of: cudnnCreateConvolutionDescriptor))
    cudnnSetConvolution2dDescriptor = try lib.function(
      "cudnnSetConvolution2dDescriptor", as: type(of: cudnnSetConvolution2dDescriptor))
    cudnnSetConvolutionGroupCount = try lib.function(
      "cudnnSetConvolutionGroupCount", as: type(of: cudnnSetConvolutionGroupCount))
    cudnnSetConvolutionMathType = try lib.function(
      "cudnnSetConvolutionMathType", as: type(of: cudnnSetConvolutionMathType))
    findForward = try lib.function("cudnnFindConvolutionForwardAlgorithm", as: Find.self)
    findBackwardData = try lib.function("cudnnFindConvolutionBackwardDataAlgorithm", as: Find.self)
    findBackwardFilter = try lib.function("cudnnFindConvolutionBackwardFilterAlgorithm", as: Find.self)
    forwardWorkspace = try lib.function("cudnnGetConvolutionForwardWorkspaceSize", as: WorkspaceSize.self)
    backwardDataWorkspace = try lib.function(
      "cudnnGetConvolutionBackwardDataWorkspaceSize", as: WorkspaceSize.self)
    backwardFilterWorkspace = try lib.function(
      "cudnnGetConvolutionBackwardFilterWorkspaceSize", as: WorkspaceSize.self)
    convolutionForward = try lib.function("cudnnConvolutionForward", as: Run.self)
    convolutionBackwardData = try lib.function("cudnnConvolutionBackwardData", as: Run.self)
    convolutionBackwardFilter = try lib.function("cudnnConvolutionBackwardFilter", as: Run.self)
  }

  func check(_ status: CResult, _ function: String) throws {
    guard status != 0 else { return }
    let message = cudnnGetErrorString(status).map { String(cString: $0) } ?? "cuDNN error"
    throw CUDAError.call(function: function, code: Int(status), message: message)
  }

  /// `major.minor.patch` from cuDNN's packed version number (9.14.0 is 91400).
  var version: String {
    let v = cudnnGetVersion()
    return "\(v / 10000).\(v % 10000 / 100).\(v % 100)"
  }
}
