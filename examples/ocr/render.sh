#!/bin/sh
# Regenerates the rendered "screenshots" in rendered/ from Debian documentation
# files on this machine. Each image's exact text is written beside it as
# rendered/<name>.txt (one rendered line per text line; blank lines are gaps).
# Needs: ImageMagick 6 `convert`, man-db `man`, coreutils `fmt`/`expand`,
# fonts-dejavu-core / fonts-dejavu-extra.
# Made with ImageMagick 6.9.11-60 Q16 on Debian; other versions may move
# glyphs by a pixel, so boxes in lines.jsonl match the committed PNGs.
set -eu
cd "$(dirname "$0")"
mkdir -p rendered
F=/usr/share/fonts/truetype/dejavu
DOC=/usr/share/doc

# ---- source text excerpts (ASCII, <= 60 chars a line) ----
MANWIDTH=60 LC_ALL=C man -P cat ls | sed -n '1,18p' | expand > rendered/term_ls_man.txt
zcat $DOC/bash/INTRO.gz | sed -n '3,9p' | fmt -w 56 > rendered/term_bash_intro.txt
sed -n '31,38p' $DOC/bc/README | sed 's/ *$//' > rendered/term_bc_readme.txt
sed -n '8,12p' $DOC/cscope/README | sed 's/^ *//' > rendered/slide_cscope_readme.txt
zcat $DOC/coreutils/README.gz | sed -n '1,6p' | fmt -w 46 > rendered/slide_coreutils_readme.txt
sed -n '1p' $DOC/base-files/README > rendered/slide_base_files_title.txt
sed -n '24,25p' $DOC/base-files/README | fmt -w 44 > rendered/slide_base_files_body.txt

# Text is passed with "$(cat FILE)" (Debian's ImageMagick policy forbids @FILE);
# the excerpts contain no '%' or '\' so -annotate draws them literally.

# ---- (a) terminal style: light grey/green monospace on near-black, 960x540 ----
convert -size 960x540 xc:'#0c100c' -font $F/DejaVuSansMono.ttf -pointsize 16 \
  -interline-spacing 9 -fill '#c4e0c4' -annotate +24+36 "$(cat rendered/term_ls_man.txt)" \
  -strip rendered/term_ls_man.png
convert -size 960x540 xc:'#101010' -font $F/DejaVuSansMono.ttf -pointsize 15 \
  -interline-spacing 10 -fill '#d0d0d0' -annotate +32+48 "$(cat rendered/term_bash_intro.txt)" \
  -strip rendered/term_bash_intro.png
convert -size 960x540 xc:'#07140d' -font $F/DejaVuSansMono.ttf -pointsize 18 \
  -interline-spacing 12 -fill '#9ee89e' -annotate +40+80 "$(cat rendered/term_bc_readme.txt)" \
  -strip rendered/term_bc_readme.png

# ---- (b) slide style: dark proportional text on white/light, 1280x720 ----
convert -size 1280x720 xc:white -font $F/DejaVuSans.ttf -pointsize 36 \
  -interline-spacing 30 -fill '#202020' -annotate +90+170 "$(cat rendered/slide_cscope_readme.txt)" \
  -strip rendered/slide_cscope_readme.png
convert -size 1280x720 xc:'#f6f1e1' -font $F/DejaVuSans.ttf -pointsize 32 \
  -interline-spacing 22 -fill '#1c2b4a' -annotate +120+150 "$(cat rendered/slide_coreutils_readme.txt)" \
  -strip rendered/slide_coreutils_readme.png
convert -size 1280x720 xc:'#e9f1f8' \
  -font $F/DejaVuSans-Bold.ttf -pointsize 40 -fill '#1a1a1a' -annotate +100+170 "$(cat rendered/slide_base_files_title.txt)" \
  -font $F/DejaVuSans.ttf -pointsize 34 -interline-spacing 24 -fill '#333333' -annotate +100+300 "$(cat rendered/slide_base_files_body.txt)" \
  -strip rendered/slide_base_files.png
