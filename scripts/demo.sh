#!/usr/bin/env bash
# A real demo: asks what the speaker of a real TED talk says luck is, answered
# by a vprog program over the talk's subtitles, and writes the audit trace
# and an HTML report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export VPROG_MODELS="${VPROG_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/vprog/models}"
bash scripts/fetch-models.sh release
vprog="${CARGO_TARGET_DIR:-target}/release/vprog"
"$vprog" check examples/luck.vp
"$vprog" run examples/luck.vp media/ted/test.mp4 \
  --question "What does the speaker say luck is?" \
  --options "a lightning strike" "success or failure apparently caused by chance" \
            "the result of hard work alone" "a skill you are born with" "something entrepreneurs never need" \
  --trace runs/luck
"$vprog" trace show runs/luck
"$vprog" report runs/luck -o runs/luck/report.html
echo "open runs/luck/report.html to see every step's evidence"
