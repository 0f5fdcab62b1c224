// swift-tools-version:6.0
import Foundation
import PackageDescription

// SIMD FMA needs a target CPU: without one, `addingProduct` lowers to scalar `fmaf` calls (~150x slower).
// The kernels are built for the machine that builds them: AVX-512 where /proc/cpuinfo lists it (12×32
// GEMM tile in zmm registers), else AVX2 + FMA (6×16 tile; also the default when the CPU can't be read).
// CNNKIT_ISA=avx512|avx2|generic overrides the choice, e.g. to build for an older machine than this one.
func kernelISA() -> String {
  #if arch(x86_64)
    if let forced = ProcessInfo.processInfo.environment["CNNKIT_ISA"] { return forced }
    let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    let flagLine = cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") } ?? ""
    let flags = Set(flagLine.split(separator: " ").map(String.init))
    let avx512 = ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"]
    if avx512.allSatisfy(flags.contains) { return "avx512" }
    return "avx2"
  #else
    return "generic"
  #endif
}

let isaFlags: [SwiftSetting] =
  switch kernelISA() {
  case "avx512": [.unsafeFlags(["-target-cpu", "skylake-avx512"]), .define("CNNKIT_AVX512")]
  case "avx2": [.unsafeFlags(["-target-cpu", "haswell"]), .define("CNNKIT_AVX2")]
  default: []
  }
let kernelFlags: [SwiftSetting] = isaFlags + [.swiftLanguageMode(.v5)]

let package = Package(
  name: "CNNKit",
  products: [
    .library(name: "CNNKit", targets: ["CNNKit"]),
    .executable(name: "cnnkit", targets: ["cnnkit"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
  ],
  targets: [
    // A software prefetch for the kernels (Swift has no spelling for one).
    .target(name: "CKernelSupport"),
    .target(name: "CNNKitKernels", dependencies: ["CKernelSupport"], swiftSettings: kernelFlags),
    // JPEG/PNG/gzip decoding on the system libjpeg-turbo, libpng and zlib (headers from the -dev packages).
    .target(
      name: "CImageCodecs",
      linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png"), .linkedLibrary("z")]),
    .target(name: "CNNKit", dependencies: ["CNNKitKernels", "CImageCodecs"], swiftSettings: kernelFlags),
    .executableTarget(
      name: "cnnkit",
      dependencies: ["CNNKit", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      resources: [.copy("Resources/mnist-mini")],
      swiftSettings: kernelFlags),
    // Helpers both test targets share (one closeness rule for the whole suite); no library code uses it.
    .target(name: "CNNKitTestSupport", path: "Tests/CNNKitTestSupport"),
    .testTarget(
      name: "CNNKitKernelsTests", dependencies: ["CNNKitKernels", "CNNKitTestSupport"], swiftSettings: kernelFlags),
    .testTarget(
      name: "CNNKitTests", dependencies: ["CNNKit", "cnnkit", "CNNKitTestSupport"], exclude: ["Fixtures"],
      swiftSettings: kernelFlags),
  ]
)
