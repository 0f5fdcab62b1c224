#!/usr/bin/env bash
# The long form of the crash-safety test: many SIGKILLs during a longer training run, then a
# resume to the end, compared bit for bit with an uninterrupted run. CI runs the short form.
# Usage: Tests/kill-resume-long.sh [KILLS] [STEPS]   (defaults 40 kill attempts, 600 steps)
set -euo pipefail
cd "$(dirname "$0")/.."
CNNKIT_KILLS=${1:-40} CNNKIT_KILL_STEPS=${2:-600} \
  swift test -c release --disable-swift-testing --filter 'CLITests.testKilledTrainingResumesToTheUninterruptedResult'
