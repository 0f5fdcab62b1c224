#!/usr/bin/env bash
# Regenerates the Swift for the .proto files under Protos/. Only needed after editing one: the
# generated Swift is committed, so building, testing and CI never run this (building the plugin
# alone takes minutes).
#
# Needs protoc (Debian: apt-get install protobuf-compiler). protoc-gen-swift is built from the
# swift-protobuf version Package.swift resolves, so the generated code matches the runtime it is
# compiled against; PROTOC_GEN_SWIFT=/path/to/protoc-gen-swift uses an existing build instead.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v protoc >/dev/null; then
  echo "protoc not found: apt-get install protobuf-compiler" >&2
  exit 1
fi

plugin=${PROTOC_GEN_SWIFT:-}
if [ -z "$plugin" ]; then
  swift package resolve
  swift build -c release --package-path .build/checkouts/swift-protobuf \
    --scratch-path .build-protoc-gen-swift --product protoc-gen-swift
  plugin=$PWD/.build-protoc-gen-swift/release/protoc-gen-swift
fi

# Public types: tests and users can decode what the writers produce. DropPath: one flat folder.
protoc --plugin=protoc-gen-swift="$plugin" \
  --swift_opt=Visibility=Public --swift_opt=FileNaming=DropPath \
  --swift_out=Sources/CNNKit/IO/Generated -I Protos \
  Protos/tensorboard/event.proto Protos/onnx/onnx.proto
echo "wrote Sources/CNNKit/IO/Generated/event.pb.swift and onnx.pb.swift"
