// swift-tools-version:6.0
import PackageDescription

// libFuzzer targets for CNNKit's parsers, kept out of the main package so that its build and tests
// never need the sanitizers. Build and run them with `Fuzz/run.sh` (see Fuzz/README.md): the
// sanitizer flags come from that script's command line, so they reach CNNKit and the C codecs too.
//
// The root package is a path dependency; SwiftPM names it after its folder, whatever the clone is called.
let root = Context.packageDirectory + "/.."
let rootIdentity =
  String(Context.packageDirectory.split(separator: "/").dropLast().last ?? "CNNKit").lowercased()
let cnnkit = Target.Dependency.product(name: "CNNKit", package: rootIdentity)

/// One executable per format. Each exports `LLVMFuzzerTestOneInput` and its `main.swift` hands it to
/// libFuzzer's driver (SwiftPM gives executables a Swift `main`, so libFuzzer's own is not linked).
let fuzzTargets = [
  "FuzzSafeTensors", "FuzzIDX", "FuzzCIFAR", "FuzzDigits", "FuzzImage", "FuzzGzip", "FuzzConfig",
  "FuzzCheckpoint", "FuzzModelDefinition",
]

let package = Package(
  name: "CNNKitFuzz",
  dependencies: [.package(path: root)],
  targets: [
    .target(name: "CLibFuzzer"),
    .target(name: "FuzzSupport", dependencies: ["CLibFuzzer", cnnkit]),
  ]
    + fuzzTargets.map { .executableTarget(name: $0, dependencies: ["FuzzSupport", cnnkit]) }
)
