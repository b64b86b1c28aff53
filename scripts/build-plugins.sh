#!/usr/bin/env bash
# Builds the example and hostile vprog plugins (WebAssembly components) from source:
#   scripts/build-plugins.sh [OUT_DIR]        (default target/plugins)
# into OUT_DIR: redness.wasm (Rust), dominant_colour.wasm (C), hostile_*.wasm (C), corrupt.wasm.
# Intermediate files go to OUT_DIR/../plugins-build. Prints one line per artifact. Idempotent and quick
# when nothing changed (cargo is incremental; a C plugin is rebuilt only when an input is newer than it),
# and serialised with flock, so test binaries running at once may all call it.
#
# Needs: cargo; Debian clang + lld with the wasm32-wasi sysroot
#   (apt-get install -y clang lld wasi-libc libclang-rt-14-dev-wasm32);
# and, for the Rust plugin only, rustc's wasm32-wasip2 target (rustup target add wasm32-wasip2). Without
# that target the Rust plugin is skipped with a line saying so, and the script still succeeds.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

OUT=${1:-target/plugins}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
BUILD=$(dirname "$OUT")/plugins-build
mkdir -p "$BUILD/c"

exec 9>"$BUILD/.lock"
flock 9

# Flags meant for the host's own builds must not leak into these (a test binary may run this script).
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_TARGET CARGO_TARGET_DIR CARGO_BUILD_RUSTFLAGS
CARGO=${CARGO:-cargo}

say() { printf 'plugin %-28s %9s bytes  %s\n' "$(basename "$1")" "$(stat -c %s "$1")" "$2"; }

# --- the native tool: C bindings, componentizing, inspecting -------------------------------------
"$CARGO" build --quiet --release --locked --manifest-path plugins/tools/componentize/Cargo.toml --target-dir "$BUILD/tool"
TOOL=$BUILD/tool/release/componentize

# --- C toolchain ---------------------------------------------------------------------------------
CC_WASM=(clang --target=wasm32-wasi -mexec-model=reactor -O2 -Wall -Wextra -Werror -I"$ROOT/plugins/common")
missing=""
command -v clang >/dev/null || missing="clang"
command -v wasm-ld >/dev/null || missing="$missing lld"
[ -e /usr/lib/wasm32-wasi/libc.a ] || missing="$missing wasi-libc"
if command -v clang >/dev/null && [ ! -e "$(clang --target=wasm32-wasi -print-libgcc-file-name)" ]; then
  missing="$missing libclang-rt-$(clang -dumpversion | cut -d. -f1)-dev-wasm32"
fi
if [ -n "$missing" ]; then
  echo "build-plugins: the C plugins need Debian packages:$missing (apt-get install -y clang lld wasi-libc libclang-rt-14-dev-wasm32)" >&2
  exit 1
fi

# newer TARGET INPUT...: whether TARGET is missing or older than an input.
stale() {
  local target=$1 f
  shift
  [ -e "$target" ] || return 0
  for f in "$@"; do [ "$f" -nt "$target" ] && return 0; done
  return 1
}

# Bindings for each WIT the C plugins are built against; `componentize bindings` rewrites only files
# whose contents changed, so their mtimes say when a rebuild is due.
"$TOOL" bindings --wit plugin/wit/since_v0.1.0 --world plugin --out "$BUILD/c/bind-std"
"$TOOL" bindings --wit plugin/wit/since_v0.1.0 --wit plugins/hostile/wit-extra --world plugin --out "$BUILD/c/bind-evil"
mkdir -p "$BUILD/c/wit-old"
sed 's/vprog:plugin@0\.1\.0/vprog:plugin@0.2.0/; s/(`vprog:plugin@0\.1\.0`)/(`vprog:plugin@0.2.0`)/' plugin/wit/since_v0.1.0/plugin.wit >"$BUILD/c/wit-old/plugin.wit.new"
if cmp -s "$BUILD/c/wit-old/plugin.wit.new" "$BUILD/c/wit-old/plugin.wit"; then
  rm "$BUILD/c/wit-old/plugin.wit.new"
else
  mv "$BUILD/c/wit-old/plugin.wit.new" "$BUILD/c/wit-old/plugin.wit"
fi
"$TOOL" bindings --wit "$BUILD/c/wit-old" --world plugin --out "$BUILD/c/bind-old"

# c_plugin NAME SOURCE BINDINGS CHECK [CFLAGS...]: OUT/NAME.wasm from one C file. CHECK=check runs
# `componentize inspect --check` (exports vprog:plugin/module@0.1.0, imports only the host's); CHECK=reject
# asserts that the check fails (for plugins meant to be refused at load).
c_plugin() {
  local name=$1 src=$2 bind=$3 check=$4
  shift 4
  local core=$BUILD/c/$name.core.wasm out=$OUT/$name.wasm
  if stale "$out" "$src" plugins/common/vprog_plugin.h "$bind/plugin.c" "$bind/plugin.h" "$bind/plugin_component_type.o" "$TOOL" "$ROOT/scripts/build-plugins.sh"; then
    "${CC_WASM[@]}" -I"$bind" "$@" "$src" "$bind/plugin.c" "$bind/plugin_component_type.o" -o "$core"
    "$TOOL" new "$core" -o "$out"
    case $check in
      check) "$TOOL" inspect --check "$out" >/dev/null ;;
      reject) if "$TOOL" inspect --check "$out" >/dev/null 2>&1; then
          echo "build-plugins: $name passes the import/export check, but it is meant to fail it" >&2
          exit 1
        fi ;;
    esac
    say "$out" built
  else
    say "$out" "up to date"
  fi
}

c_plugin dominant_colour plugins/dominant-colour/dominant_colour.c "$BUILD/c/bind-std" check
for h in loop memory recursion trap wrong_type oversized file stdout; do
  c_plugin "hostile_$h" plugins/hostile/hostile.c "$BUILD/c/bind-std" check "-DHOSTILE_${h^^}"
done
c_plugin hostile_unknown_import plugins/hostile/hostile.c "$BUILD/c/bind-evil" reject -DHOSTILE_UNKNOWN_IMPORT
c_plugin hostile_old_version plugins/hostile/hostile.c "$BUILD/c/bind-old" reject -DHOSTILE_OLD_VERSION

# Not components: a core module (what a C build gives before `componentize new`), and a good plugin cut
# in half (a valid header, then a section that ends too soon).
copy_if_changed() {
  if cmp -s "$1" "$2"; then say "$2" "up to date"; else cp "$1" "$2.tmp" && mv "$2.tmp" "$2" && say "$2" built; fi
}
copy_if_changed "$BUILD/c/dominant_colour.core.wasm" "$OUT/hostile_core_module.wasm"
size=$(stat -c %s "$OUT/dominant_colour.wasm")
head -c $((size / 2)) "$OUT/dominant_colour.wasm" >"$BUILD/c/corrupt.wasm"
copy_if_changed "$BUILD/c/corrupt.wasm" "$OUT/corrupt.wasm"

# --- the Rust plugin -----------------------------------------------------------------------------
if [ ! -d "$(rustc --print sysroot)/lib/rustlib/wasm32-wasip2" ]; then
  command -v rustup >/dev/null && timeout 120 rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
fi
if [ -d "$(rustc --print sysroot)/lib/rustlib/wasm32-wasip2" ]; then
  # Built from its own directory so that plugins/redness/.cargo/config.toml (WebAssembly SIMD) applies.
  (cd plugins/redness && "$CARGO" build --quiet --release --locked --target wasm32-wasip2 --target-dir "$BUILD/rust")
  "$TOOL" inspect --check "$BUILD/rust/wasm32-wasip2/release/redness.wasm" >/dev/null
  copy_if_changed "$BUILD/rust/wasm32-wasip2/release/redness.wasm" "$OUT/redness.wasm"
else
  rm -f "$OUT/redness.wasm"
  echo "plugin redness.wasm SKIPPED: rustc has no wasm32-wasip2 target and 'rustup target add wasm32-wasip2' failed;" \
    "the C plugins were built with Debian clang"
fi
