#!/usr/bin/env bash
# The test suite: system packages, real media, the models, then every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export VPROG_MODELS="${VPROG_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/vprog/models}"
bash scripts/fetch-models.sh debug
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --doc 2>&1 | tee -a "$log"
cargo test --workspace --all-targets --no-fail-fast "$@" 2>&1 | tee -a "$log"
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' "$log"
