#!/usr/bin/env bash
# Starts the virtual microphone and keeps it up after this script ends (for a
# person or a benchmark run; `npm test` brings it up and down by itself).
# `bash e2e/virtual-mic.sh stop` undoes what `start` did. Idempotent. The
# logic lives in e2e/support/virtual-mic-server.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
exec node --import tsx e2e/support/virtual-mic-cli.ts "${1:-start}"
