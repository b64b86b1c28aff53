#!/usr/bin/env bash
# Installs the system packages vprog builds against and uses at run time
# (FFmpeg, OpenCV with its Haar cascades, Tesseract with English data, clang
# for the bindings, pip and npm for fetching model packages, clang's wasm32 runtime,
# lld and wasi-libc for the C plugins, headless Chromium for the report's
# browser test), adds rustc's wasm32-wasip2 target for
# the Rust plugin (or says it cannot, in which case the C plugins are still
# built by Debian clang), and fetches the real test media (sha256-checked)
# into media/. Safe to re-run: it skips what is
# already there. Models are fetched by scripts/fetch-models.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(pkg-config clang libclang-dev ffmpeg libavcodec-dev libavformat-dev libavutil-dev
          libswscale-dev libavfilter-dev libavdevice-dev libswresample-dev
          libopencv-dev opencv-data libtesseract-dev libleptonica-dev tesseract-ocr-eng
          lld wasi-libc libclang-rt-14-dev-wasm32 chromium)
python3 -m pip --version >/dev/null 2>&1 || PACKAGES+=(python3-pip)
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
  if command -v rustup >/dev/null && timeout 300 rustup target add wasm32-wasip2 >&2; then
    echo "setup: added rustc target wasm32-wasip2 (Rust plugins)" >&2
  else
    echo "setup: WARNING: cannot add rustc's wasm32-wasip2 target (no rustup, or no network to static.rust-lang.org);" \
         "the Rust example plugin is skipped and the C plugins are built with Debian clang" >&2
  fi
fi

bash scripts/fetch-media.sh
