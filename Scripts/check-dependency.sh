#!/usr/bin/env bash
# Proves that another package can depend on CNNKit by version, as README's "Using the library"
# shows: `.package(url: …, from: "1.0.0")`. SwiftPM refuses a versioned dependency whose targets
# carry unsafe flags (the kernels' `-target-cpu`) unless its manifest declares tools-version 6.2 or
# later, and nothing in the main test suite would notice a manifest that slipped back: the package
# under test is always the root, where unsafe flags are allowed.
#
# Steps, all in a temporary folder that is removed afterwards:
#   1. a throwaway git repository of this checkout's tracked files as they are in the working tree
#      (uncommitted edits included, so a manifest change can be tried before committing it), one
#      commit tagged 1.0.0;
#   2. a consumer package depending on it by `file://` URL `from: "1.0.0"`, whose executable builds
#      the zoo's LeNet-5 and prints its parameter count;
#   3. `swift build` (debug by default; CONFIGURATION=release to build it as users ship it), a check
#      that the kernels really were compiled with the manifest's target CPU, then a run that must
#      print 61706 (`cnnkit summary lenet5`: "Total params: 61,706").
# Any failure prints one `error:` line and exits non-zero. Run by .ci/run after the tests.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
configuration=${CONFIGURATION:-debug}
expected=61706

fail() {
  echo "error: check-dependency: $*" >&2
  exit 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/cnnkit-dependency.XXXXXX")
trap 'rm -rf "$work"' EXIT
repo=$work/cnnkit-repo
consumer=$work/consumer
# The throwaway commits need an author wherever this runs (CI's clone may have no git identity).
git=(git -c user.name=check-dependency -c user.email=check-dependency@localhost -c commit.gpgsign=false)

# 1. The package as a tagged repository. `git stash create` makes a commit object of the working
# tree's tracked files without touching the index, the tree or any ref; on a clean tree it prints
# nothing (and exits 1), and then HEAD is the same thing.
snapshot=$("${git[@]}" -C "$root" stash create) || snapshot=""
mkdir -p "$repo"
"${git[@]}" -C "$root" archive "${snapshot:-HEAD}" | tar -x -C "$repo"
"${git[@]}" -C "$repo" init --quiet
"${git[@]}" -C "$repo" add --all
"${git[@]}" -C "$repo" commit --quiet -m "CNNKit snapshot for check-dependency.sh"
"${git[@]}" -C "$repo" tag 1.0.0

# 2. The consumer. Its own tools-version is deliberately the oldest this toolchain family reads:
# what matters is the dependency's manifest, not the root's.
mkdir -p "$consumer/Sources/Consumer"
cat >"$consumer/Package.swift" <<EOF
// swift-tools-version:6.0
import PackageDescription

let package = Package(
  name: "Consumer",
  dependencies: [.package(url: "file://$repo", from: "1.0.0")],
  targets: [
    .executableTarget(name: "Consumer", dependencies: [.product(name: "CNNKit", package: "cnnkit-repo")])
  ]
)
EOF
cat >"$consumer/Sources/Consumer/main.swift" <<'EOF'
import CNNKit

let model = try Zoo.build("lenet5")
print(model.parameterCount)
EOF

# 3. Build (verbose, to see the compiler's arguments), check, run.
log=$work/build.log
start=$SECONDS
if ! swift build --package-path "$consumer" -c "$configuration" -v >"$log" 2>&1; then
  grep -E 'error:' "$log" | head -n 20 >&2 || tail -n 20 "$log" >&2
  fail "a package depending on CNNKit from: \"1.0.0\" does not build (log above)"
fi
echo "check-dependency: built the consumer ($configuration) in $((SECONDS - start)) s"

# SwiftPM 6.2+ passes a dependency's unsafe flags through; were they dropped instead, the build
# would succeed with kernels ~150× slower, so check that the target CPU reached the kernels'
# compile. (Package.swift sets none where the CPU is not x86-64 or CNNKIT_ISA=generic.)
if [ "$(uname -m)" = x86_64 ] && [ "${CNNKIT_ISA:-}" != generic ]; then
  grep -E -- '-module-name CNNKitKernels .*-target-cpu|-target-cpu .*-module-name CNNKitKernels' "$log" \
    >/dev/null || fail "CNNKitKernels was built without Package.swift's -target-cpu"
fi

binary=$(swift build --package-path "$consumer" -c "$configuration" --show-bin-path)/Consumer
printed=$("$binary") || fail "the consumer built but exited non-zero"
if [ "$printed" != "$expected" ]; then
  fail "the consumer printed '$printed' for lenet5's parameter count, expected $expected"
fi
echo "check-dependency: a package depending on CNNKit from: \"1.0.0\" builds and runs (lenet5: $printed parameters)"
