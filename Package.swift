// swift-tools-version:6.0
import PackageDescription

// SIMD FMA needs a target CPU: without one, `addingProduct` lowers to scalar `fmaf` calls (~150x slower).
// Haswell (AVX2 + FMA) runs as fast as an AVX-512 build on Zen 4 and stays portable to older x86-64 parts.
let kernelFlags: [SwiftSetting] = [
  .unsafeFlags(["-target-cpu", "haswell"]),
  .swiftLanguageMode(.v5),
]

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
    .target(name: "CNNKitKernels", swiftSettings: kernelFlags),
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
    .testTarget(name: "CNNKitKernelsTests", dependencies: ["CNNKitKernels"], swiftSettings: kernelFlags),
    .testTarget(
      name: "CNNKitTests", dependencies: ["CNNKit", "cnnkit"], exclude: ["Fixtures"], swiftSettings: kernelFlags),
  ]
)
