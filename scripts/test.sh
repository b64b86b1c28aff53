#!/usr/bin/env bash
# The test suite: system packages, real media, the models, then every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export VPROG_MODELS="${VPROG_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/vprog/models}"
bash scripts/fetch-models.sh debug
log=$(mktemp)
trap 'rm -f "$log"' EXIT
t0=$(date +%s)
cargo test --workspace --all-targets --no-run "$@"
t1=$(date +%s)
cargo test --workspace --doc 2>&1 | tee -a "$log"
t2=$(date +%s)
cargo test --workspace --all-targets --no-fail-fast "$@" 2>&1 | tee -a "$log"
t3=$(date +%s)
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' "$log"
# Where the time went: the build, the doc tests, then each test binary (slowest first).
echo "time: build $((t1 - t0)) s, doc tests $((t2 - t1)) s, test binaries $((t3 - t2)) s"
awk '/^ *Running / { name = $NF; gsub(/[()]/, "", name); sub(/.*\//, "", name); sub(/-[0-9a-f]+$/, "", name); name = name " (" $2 ")" } /^test result:/ && name != "" { s = $NF; sub(/s$/, "", s); printf "%8.1f s  %s\n", s, name; name = "" }' "$log" | sort -rn | head -n 25
