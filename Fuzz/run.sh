#!/usr/bin/env bash
# Builds the libFuzzer targets (ASan + coverage over CNNKit and the C codecs) and runs them.
#
#   Fuzz/run.sh [TARGET|all] [SECONDS|-runs=N]      default: all, 60 seconds each
#   Fuzz/run.sh build                               build only
#
# TARGET is one of: safetensors idx cifar digits image gzip config checkpoint.
# Each target starts from Fuzz/Corpus/<target> (the committed seeds, never written to), with the
# tokens of Fuzz/Dictionaries/<target>.dict where there is one; new inputs
# go to Fuzz/.build/corpus/<target>, crashes to Fuzz/.build/artifacts/. Reproduce a crash with
#   Fuzz/.build/release/Fuzz<Name> Fuzz/.build/artifacts/<target>-crash-...
# The script prints the executions of every target and exits non-zero if any of them failed.
set -euo pipefail
cd "$(dirname "$0")/.."

which=${1:-all}
budget=${2:-60}
lock=${CNNKIT_BUILD_LOCK:-/tmp/cnnkit-build.lock}

# target:executable:max_len (bytes: enough for a few records or a small file of the format)
table="safetensors:FuzzSafeTensors:4096
idx:FuzzIDX:4096
cifar:FuzzCIFAR:10000
digits:FuzzDigits:4096
image:FuzzImage:8192
gzip:FuzzGzip:4096
config:FuzzConfig:2048
checkpoint:FuzzCheckpoint:8192
model:FuzzModelDefinition:16384"

build() {
  # The sanitizer flags go on the command line, not in Fuzz/Package.swift, so that they also reach
  # CNNKit and CImageCodecs: -sanitize=fuzzer instruments Swift for coverage and links libFuzzer,
  # -fsanitize=fuzzer-no-link does the same for the C shim (the system libjpeg, libpng and zlib are
  # not instrumented, but ASan still checks every buffer they are given).
  local command=(swift build -c release --package-path Fuzz
    -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=fuzzer-no-link,address)
  if command -v flock >/dev/null; then
    flock "$lock" "${command[@]}"
  else
    "${command[@]}"
  fi
}

build
[ "$which" = build ] && exit 0

if [[ $budget == -runs=* ]]; then limit=("$budget"); else limit=("-max_total_time=$budget"); fi
mkdir -p Fuzz/.build/artifacts
summary=()
failed=0
found=0
while IFS=: read -r name executable max_len; do
  [ "$which" = all ] || [ "$which" = "$name" ] || continue
  found=1
  work=Fuzz/.build/corpus/$name
  log=Fuzz/.build/fuzz-$name.log
  mkdir -p "$work"
  dictionary=()
  if [ -f "Fuzz/Dictionaries/$name.dict" ]; then dictionary=("-dict=Fuzz/Dictionaries/$name.dict"); fi
  echo "== $name ($executable, max_len $max_len, ${limit[*]})"
  set +e
  "Fuzz/.build/release/$executable" "$work" "Fuzz/Corpus/$name" "${limit[@]}" "${dictionary[@]}" \
    -max_len="$max_len" \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="Fuzz/.build/artifacts/$name-" >"$log" 2>&1
  status=$?
  set -e
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  seconds=$(sed -n 's/^stat::slowest_unit_time_sec: *//p' "$log" | tail -n 1)
  coverage=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1)
  line="$name: ${runs:-?} executions, ${coverage:-cov: ?}, slowest unit ${seconds:-?} s"
  if [ "$status" -ne 0 ]; then
    failed=1
    line="$line, FAILED (exit $status, see $log)"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|Fatal error|.*Test unit written)' "$log" | head -n 5 || true
  fi
  echo "$line"
  summary+=("$line")
done <<<"$table"

if [ "$found" = 0 ]; then
  echo "unknown target '$which'; known: all, build, $(cut -d: -f1 <<<"$table" | tr '\n' ' ')" >&2
  exit 64
fi
echo
printf '%s\n' "${summary[@]}"
exit "$failed"
