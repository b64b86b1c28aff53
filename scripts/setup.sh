#!/usr/bin/env bash
# Installs the system packages vprog builds against and uses at run time
# (FFmpeg, OpenCV with its Haar cascades, Tesseract with English data, clang
# for the bindings, pip for fetching model wheels) and fetches the real test
# media (sha256-checked) into media/. Safe to re-run: it skips what is
# already there. Models are fetched by scripts/fetch-models.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(pkg-config clang libclang-dev ffmpeg libavcodec-dev libavformat-dev libavutil-dev
          libswscale-dev libavfilter-dev libavdevice-dev libswresample-dev
          libopencv-dev opencv-data libtesseract-dev libleptonica-dev tesseract-ocr-eng)
python3 -m pip --version >/dev/null 2>&1 || PACKAGES+=(python3-pip)

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

bash scripts/fetch-media.sh
