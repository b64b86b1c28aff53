//! `read_text(frames)`: on-screen text, read by PP-OCR or Tesseract.
//!
//! # Engines
//!
//! `engine: "auto"` (the default) reads with PP-OCRv6 ([`super::ppocr`]) when
//! `pp-ocrv6-small` is installed and with Tesseract otherwise; the trace's
//! `read_text` note says which engine ran and, for the fallback, the command
//! that installs PP-OCR. `"ppocr"` and `"tesseract"` pick one (a missing
//! model is then an error naming its install command). Steps 1 and 5 below
//! are shared; PP-OCR replaces steps 2-4 with its own detection and
//! recognition, keeps lines whose recognition score reaches `min_score` and
//! that hold a letter or digit, and reports confidence = score × 100.
//!
//! # Tesseract pipeline
//!
//! 1. **Skip unchanged frames.** Each frame is reduced to a grayscale
//!    thumbnail [`THUMB_WIDTH`] cells wide (cell means). A frame is *read*
//!    unless fewer than [`CHANGED_SHARE`] of its cells differ by more than
//!    [`CHANGED_LEVEL`] grey levels from the last frame that was read; a
//!    skipped frame shows what that frame showed. (A caption appearing changes
//!    dozens of cells; compression noise changes none.)
//! 2. **Preprocess.** Grayscale, enlarged (cubic) by `upscale` (auto:
//!    `clamp(720 / height, 1, 3)`: Tesseract wants text ≳ 20 px high), then
//!    binarised twice (see [`Binarisation`]): Otsu's global threshold (dark
//!    text on light, even backgrounds) and Otsu's threshold of the white
//!    top-hat, inverted (light captions over any background: on the TED talk
//!    global thresholds read nothing of the white captions over the red stage,
//!    the top-hat reads "JUNE2018" at confidence 91).
//! 3. **Recognise.** Tesseract (LSTM engine, page segmentation `psm`, default
//!    3 = automatic layout; 11 = sparse text finds more isolated words but also
//!    more garbage in textured scenes) reads each binarisation; words below
//!    `min_confidence` or without a letter or digit are dropped, and the
//!    binarisation whose kept words carry more confidence × characters wins.
//! 4. **Lines.** Kept words are grouped into lines geometrically (vertical
//!    overlap ≥ half the smaller height, horizontal gap ≤ 1.5 heights); a line
//!    needs ≥ 2 letters/digits, and a short one (≤ 3) a mean confidence ≥ 80
//!    (textured scenes read as "fa" or "BON"). Its confidence is the mean of its words'.
//! 5. **Cues.** A line seen in consecutive frames (same letters and digits,
//!    ignoring case and spaces) is one cue from the first frame's time to the
//!    time of the first frame no longer showing it (last frame: plus the median
//!    frame gap). Text, box and score come from its most confident read;
//!    score = confidence / 100; bbox in the input frame's pixels; source
//!    `ocr:tesseract`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use opencv::core::Mat;
use opencv::imgproc;
use opencv::prelude::*;
use tesseract::{PageSegMode, Tesseract};
use vprog_runtime::value::{BBox, Cue, Frame, TimedText};
use vprog_runtime::{Args, CachePolicy, Module, ModuleError, Param, Returns, Signature, StepContext, Type, Value};

use vprog_models::catalog::PP_OCR_V6;

use super::ppocr::{DbParams, PpOcr, PpOcrParams, TextLine};
use super::{check_frame, cv_err, gray_mat, map_chunks, scaled};
use crate::model_store::{locate, ModelStore};

/// `source` of the cues Tesseract reads.
pub const SOURCE: &str = "ocr:tesseract";
/// `source` of the cues PP-OCR reads.
pub const PPOCR_SOURCE: &str = "ocr:ppocr";
/// Thumbnail width, in cells, for the unchanged-frame test.
pub const THUMB_WIDTH: usize = 96;
/// Grey-level difference above which a thumbnail cell counts as changed.
pub const CHANGED_LEVEL: f32 = 12.0;
/// Share of changed cells below which a frame is skipped as unchanged.
pub const CHANGED_SHARE: f64 = 0.002;
/// Lines with at most this many letters and digits are kept only when confident (textures read as "fa", "BON").
pub const SHORT_LINE_CHARS: usize = 3;
/// The mean word confidence a short line needs.
pub const SHORT_LINE_MIN_CONFIDENCE: f32 = 80.0;
/// Debian's Tesseract data directories, newest first.
pub const SYSTEM_TESSDATA: &[&str] =
    &["/usr/share/tesseract-ocr/5/tessdata", "/usr/share/tesseract-ocr/4.00/tessdata", "/usr/share/tessdata", "/usr/local/share/tessdata"];

/// OCR settings.
#[derive(Debug, Clone, PartialEq)]
pub struct OcrParams {
    /// Words below this Tesseract confidence (0-100) are dropped.
    pub min_confidence: f32,
    /// Tesseract page segmentation mode (3, 4, 6, 7, 11 or 12 are sensible).
    pub psm: i64,
    /// Tesseract language(s), e.g. `eng` or `eng+deu`.
    pub lang: String,
    /// Enlargement factor before recognition; `0` = automatic.
    pub upscale: f64,
}

impl Default for OcrParams {
    fn default() -> Self {
        OcrParams { min_confidence: 60.0, psm: 3, lang: "eng".into(), upscale: 0.0 }
    }
}

/// The factor frames of height `height` are enlarged by with `upscale = 0`.
pub fn auto_upscale(height: u32) -> f64 {
    (720.0 / f64::from(height.max(1))).clamp(1.0, 3.0)
}

/// The Debian package holding Tesseract data for `lang`.
fn package_for(lang: &str) -> String {
    format!("tesseract-ocr-{}", lang.to_lowercase().replace('_', "-"))
}

/// The directory holding `<lang>.traineddata` for every language of `lang`
/// (`$TESSDATA_PREFIX` or `$TESSDATA_PREFIX/tessdata` first, then Debian's).
///
/// # Errors
///
/// [`ModuleError::MissingModel`] naming `apt-get install tesseract-ocr-LANG` when no directory has the data.
pub fn tessdata_dir(lang: &str) -> Result<PathBuf, ModuleError> {
    let langs: Vec<&str> = lang.split('+').collect();
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("TESSDATA_PREFIX").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        candidates.push(p.join("tessdata"));
        candidates.push(p);
    }
    candidates.extend(SYSTEM_TESSDATA.iter().map(PathBuf::from));
    if let Some(dir) = candidates.iter().find(|d| langs.iter().all(|l| d.join(format!("{l}.traineddata")).is_file())) {
        return Ok(dir.clone());
    }
    let missing = langs.iter().find(|l| !candidates.iter().any(|d| d.join(format!("{l}.traineddata")).is_file())).copied().unwrap_or(lang);
    Err(ModuleError::MissingModel {
        model: format!("Tesseract language data `{missing}`"),
        install: format!(
            "install it with `sudo apt-get install {}` (looked in {}; set TESSDATA_PREFIX to use another directory)",
            package_for(missing),
            candidates.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
        ),
    })
}

/// A grayscale thumbnail: cell means, [`THUMB_WIDTH`] wide.
fn thumbnail(f: &Frame) -> Vec<f32> {
    let (w, h) = (f.width as usize, f.height as usize);
    let tw = THUMB_WIDTH.min(w).max(1);
    let th = ((h * tw) / w.max(1)).max(1);
    let mut sums = vec![0f32; tw * th];
    let mut counts = vec![0u32; tw * th];
    for y in 0..h {
        let cy = (y * th / h).min(th - 1);
        let row = &f.rgb[y * w * 3..(y + 1) * w * 3];
        for (x, px) in row.chunks_exact(3).enumerate() {
            let cx = (x * tw / w).min(tw - 1);
            let g = 0.299 * f32::from(px[0]) + 0.587 * f32::from(px[1]) + 0.114 * f32::from(px[2]);
            sums[cy * tw + cx] += g;
            counts[cy * tw + cx] += 1;
        }
    }
    sums.iter().zip(&counts).map(|(s, &c)| if c > 0 { s / c as f32 } else { 0.0 }).collect()
}

/// Whether two thumbnails show the same picture (see [`CHANGED_SHARE`]).
fn unchanged(a: &[f32], b: &[f32]) -> bool {
    if a.len() != b.len() || a.is_empty() {
        return false;
    }
    let changed = a.iter().zip(b).filter(|(x, y)| (*x - *y).abs() > CHANGED_LEVEL).count();
    (changed as f64) < CHANGED_SHARE * a.len() as f64
}

/// For each frame, the index of the frame whose reading it shares (itself when it is read).
pub fn read_plan(frames: &[Frame]) -> Vec<usize> {
    let mut plan = Vec::with_capacity(frames.len());
    let mut last: Option<(usize, Vec<f32>, u32, u32)> = None;
    for (i, f) in frames.iter().enumerate() {
        let thumb = thumbnail(f);
        match &last {
            Some((j, t, w, h)) if *w == f.width && *h == f.height && unchanged(t, &thumb) => plan.push(*j),
            _ => {
                plan.push(i);
                last = Some((i, thumb, f.width, f.height));
            }
        }
    }
    plan
}

/// One line of text read in one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Words joined by spaces.
    pub text: String,
    /// Mean word confidence, 0-100.
    pub confidence: f32,
    /// Where, in frame pixels.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub w: f32,
    /// Height.
    pub h: f32,
}

#[derive(Debug, Clone)]
struct Word {
    text: String,
    conf: f32,
    x: f32,
    y: f32,
    w: f32,
    h: f32,
}

/// Words of a Tesseract TSV page (level 5 rows) at or above `min_conf` with a letter or digit.
fn parse_tsv(tsv: &str, min_conf: f32) -> Vec<Word> {
    let mut words = Vec::new();
    for row in tsv.lines() {
        let cols: Vec<&str> = row.splitn(12, '\t').collect();
        if cols.len() < 12 || cols[0] != "5" {
            continue;
        }
        let num = |i: usize| cols[i].trim().parse::<f32>().ok();
        let (Some(x), Some(y), Some(w), Some(h), Some(conf)) = (num(6), num(7), num(8), num(9), num(10)) else { continue };
        let text = cols[11].trim();
        if conf < min_conf || !text.chars().any(char::is_alphanumeric) {
            continue;
        }
        words.push(Word { text: text.to_string(), conf, x, y, w, h });
    }
    words
}

/// Groups words into lines by geometry.
fn group_lines(mut words: Vec<Word>) -> Vec<Line> {
    words.sort_by(|a, b| a.x.total_cmp(&b.x));
    let mut lines: Vec<Vec<Word>> = Vec::new();
    for w in words {
        let slot = lines.iter_mut().find(|line| {
            let Some(last) = line.last() else { return false };
            let (top, bottom) =
                (line.iter().map(|v| v.y).fold(f32::MAX, f32::min), line.iter().map(|v| v.y + v.h).fold(f32::MIN, f32::max));
            let overlap = ((w.y + w.h).min(bottom) - w.y.max(top)).max(0.0);
            let height = w.h.max(last.h);
            let gap = w.x - (last.x + last.w);
            overlap >= 0.5 * w.h.min(bottom - top) && gap <= 1.5 * height && gap >= -0.5 * height
        });
        match slot {
            Some(line) => line.push(w),
            None => lines.push(vec![w]),
        }
    }
    lines
        .into_iter()
        .filter_map(|ws| {
            let text = ws.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" ");
            let alnum = text.chars().filter(|c| c.is_alphanumeric()).count();
            let confidence = ws.iter().map(|w| w.conf).sum::<f32>() / ws.len() as f32;
            if alnum < 2 || (alnum <= SHORT_LINE_CHARS && confidence < SHORT_LINE_MIN_CONFIDENCE) {
                return None;
            }
            let x0 = ws.iter().map(|w| w.x).fold(f32::MAX, f32::min);
            let y0 = ws.iter().map(|w| w.y).fold(f32::MAX, f32::min);
            let x1 = ws.iter().map(|w| w.x + w.w).fold(f32::MIN, f32::max);
            let y1 = ws.iter().map(|w| w.y + w.h).fold(f32::MIN, f32::max);
            Some(Line { text, confidence, x: x0, y: y0, w: x1 - x0, h: y1 - y0 })
        })
        .collect()
}

/// How much a reading is worth: Σ confidence × characters over its lines.
fn reading_weight(lines: &[Line]) -> f32 {
    lines.iter().map(|l| l.confidence * l.text.chars().filter(|c| c.is_alphanumeric()).count() as f32).sum()
}

/// A Tesseract engine for `lang` (one per worker thread).
fn engine(datadir: &std::path::Path, lang: &str) -> Result<Tesseract, ModuleError> {
    super::leptonica::route_messages();
    let dir = datadir.to_str().ok_or_else(|| ModuleError::Failed(format!("Tesseract data dir {} is not UTF-8", datadir.display())))?;
    let bad =
        |reason: String| ModuleError::BadModel { model: format!("Tesseract language data `{lang}`"), path: datadir.to_path_buf(), reason };
    let tess = Tesseract::new(Some(dir), Some(lang)).map_err(|e| bad(e.to_string()))?;
    tess.set_variable("debug_file", "/dev/null").map_err(|e| ModuleError::Failed(format!("Tesseract: {e}")))
}

/// Reads one binarised image; lines in its own pixels.
fn recognise(tess: Tesseract, img: &Mat, psm: PageSegMode, min_conf: f32) -> Result<(Tesseract, Vec<Line>), ModuleError> {
    let (w, h) = (img.cols(), img.rows());
    let bytes = img.data_bytes().map_err(cv_err("reading a binarised frame"))?;
    let fail = |what: &str, e: &dyn std::fmt::Display| ModuleError::Failed(format!("Tesseract {what}: {e}"));
    let mut tess = tess.set_frame(bytes, w, h, 1, w).map_err(|e| fail("set_frame", &e))?.set_source_resolution(300);
    tess.set_page_seg_mode(psm);
    let mut tess = tess.recognize().map_err(|e| fail("recognize", &e))?;
    let tsv = tess.get_tsv_text(0).map_err(|e| fail("get_tsv_text", &e))?;
    Ok((tess, group_lines(parse_tsv(&tsv, min_conf))))
}

fn psm_mode(psm: i64) -> Result<PageSegMode, ModuleError> {
    Ok(match psm {
        3 => PageSegMode::PsmAuto,
        4 => PageSegMode::PsmSingleColumn,
        6 => PageSegMode::PsmSingleBlock,
        7 => PageSegMode::PsmSingleLine,
        11 => PageSegMode::PsmSparseText,
        12 => PageSegMode::PsmSparseTextOsd,
        other => {
            return Err(ModuleError::invalid("psm", format!("supported page segmentation modes are 3, 4, 6, 7, 11 and 12, got {other}")))
        }
    })
}

/// Reads the lines of text in each frame, on the calling thread (no skipping).
///
/// # Errors
///
/// [`ModuleError::MissingModel`] when the language data is not installed,
/// [`ModuleError::InvalidArgument`] for bad frames or parameters,
/// [`ModuleError::Failed`] for OpenCV or Tesseract failures.
pub fn read_frames(frames: &[&Frame], params: &OcrParams) -> Result<Vec<Vec<Line>>, ModuleError> {
    let datadir = tessdata_dir(&params.lang)?;
    let psm = psm_mode(params.psm)?;
    read_frames_with(frames, params, &datadir, psm, &mut || Ok(()))
}

fn read_frames_with(
    frames: &[&Frame],
    params: &OcrParams,
    datadir: &std::path::Path,
    psm: PageSegMode,
    on_frame: &mut dyn FnMut() -> Result<(), ModuleError>,
) -> Result<Vec<Vec<Line>>, ModuleError> {
    if frames.is_empty() {
        return Ok(Vec::new());
    }
    let mut tess = engine(datadir, &params.lang)?;
    let mut out = Vec::with_capacity(frames.len());
    for (i, f) in frames.iter().enumerate() {
        check_frame("frames", i, f)?;
        let factor = if params.upscale > 0.0 { params.upscale } else { auto_upscale(f.height) };
        let gray = gray_mat(f)?;
        let big = scaled(&gray, factor, imgproc::INTER_CUBIC)?;
        let mut best: Vec<Line> = Vec::new();
        for b in BINARISATIONS {
            let bin = binarise(&big, *b, factor)?;
            let (t, lines) = recognise(tess, &bin, psm, params.min_confidence)?;
            tess = t;
            if reading_weight(&lines) > reading_weight(&best) {
                best = lines;
            }
        }
        let inv = 1.0 / factor as f32;
        for l in &mut best {
            (l.x, l.y, l.w, l.h) = (l.x * inv, l.y * inv, l.w * inv, l.h * inv);
        }
        out.push(best);
        on_frame()?;
    }
    Ok(out)
}

/// How a grayscale frame becomes black text on white for Tesseract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binarisation {
    /// Otsu's global threshold: dark text on a light, even background (cards, slides).
    Otsu,
    /// Otsu's threshold of the white top-hat (pixels brighter than their
    /// neighbourhood, kernel ≈ 7 px of the original frame), inverted: light
    /// captions over any background, bright or dark.
    LightText,
    /// The same with the black top-hat: dark text over any background.
    DarkText,
}

/// The binarisations every read frame goes through (the best reading wins).
pub const BINARISATIONS: &[Binarisation] = &[Binarisation::Otsu, Binarisation::LightText];

/// `gray` (already enlarged by `factor`) as black text on white.
///
/// # Errors
///
/// [`ModuleError::Failed`] when OpenCV fails.
pub fn binarise(gray: &Mat, b: Binarisation, factor: f64) -> Result<Mat, ModuleError> {
    let mut bin = Mat::default();
    let otsu = |src: &Mat, dst: &mut Mat, mode: i32| {
        imgproc::threshold(src, dst, 0.0, 255.0, mode | imgproc::THRESH_OTSU).map(|_| ()).map_err(cv_err("binarising a frame"))
    };
    match b {
        Binarisation::Otsu => otsu(gray, &mut bin, imgproc::THRESH_BINARY)?,
        Binarisation::LightText | Binarisation::DarkText => {
            let k = ((7.0 * factor).round() as i32) | 1;
            let kernel = imgproc::get_structuring_element_def(imgproc::MORPH_RECT, opencv::core::Size::new(k, k))
                .map_err(cv_err("making a morphology kernel"))?;
            let op = if b == Binarisation::LightText { imgproc::MORPH_TOPHAT } else { imgproc::MORPH_BLACKHAT };
            let mut hat = Mat::default();
            imgproc::morphology_ex_def(gray, &mut hat, op, &kernel).map_err(cv_err("top-hat filtering a frame"))?;
            otsu(&hat, &mut bin, imgproc::THRESH_BINARY_INV)?;
        }
    }
    Ok(bin)
}

/// A frame's grayscale, enlarged as [`read_frames`] does (for inspecting [`binarise`]).
///
/// # Errors
///
/// [`ModuleError::InvalidArgument`] for a bad frame, [`ModuleError::Failed`] when OpenCV fails.
pub fn prepared(f: &Frame, upscale: f64) -> Result<(Mat, f64), ModuleError> {
    check_frame("frames", 0, f)?;
    let factor = if upscale > 0.0 { upscale } else { auto_upscale(f.height) };
    Ok((scaled(&gray_mat(f)?, factor, imgproc::INTER_CUBIC)?, factor))
}

/// Reads one frame with one binarisation only (for inspecting what each finds); lines in frame pixels.
///
/// # Errors
///
/// As [`read_frames`].
pub fn read_binarised(f: &Frame, b: Binarisation, params: &OcrParams) -> Result<Vec<Line>, ModuleError> {
    let datadir = tessdata_dir(&params.lang)?;
    let (big, factor) = prepared(f, params.upscale)?;
    let bin = binarise(&big, b, factor)?;
    let (_, mut lines) = recognise(engine(&datadir, &params.lang)?, &bin, psm_mode(params.psm)?, params.min_confidence)?;
    let inv = 1.0 / factor as f32;
    for l in &mut lines {
        (l.x, l.y, l.w, l.h) = (l.x * inv, l.y * inv, l.w * inv, l.h * inv);
    }
    Ok(lines)
}

/// Lowercase letters and digits only: two reads of one caption compare equal.
pub fn text_key(s: &str) -> String {
    s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// Joins per-frame lines (`lines[i]` for `frames[i]`) into cues whose `source` is `source`.
pub fn cues_from_lines(times: &[f64], lines: &[Vec<Line>], source: &str) -> Vec<Cue> {
    struct Open {
        key: String,
        best: Line,
        start: f64,
        last: usize,
    }
    let mut gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).filter(|g| *g > 0.0).collect();
    gaps.sort_by(f64::total_cmp);
    let median_gap = gaps.get(gaps.len() / 2).copied().unwrap_or(0.0);
    let end_of = |last: usize| times.get(last + 1).copied().unwrap_or_else(|| times.get(last).copied().unwrap_or(0.0) + median_gap);
    let mut open: Vec<Open> = Vec::new();
    let mut done: Vec<Open> = Vec::new();
    for (i, frame_lines) in lines.iter().enumerate() {
        let mut seen: HashMap<String, &Line> = HashMap::new();
        for l in frame_lines {
            let key = text_key(&l.text);
            match seen.get(&key) {
                Some(prev) if prev.confidence >= l.confidence => {}
                _ => {
                    seen.insert(key, l);
                }
            }
        }
        for (key, l) in seen {
            match open.iter_mut().find(|o| o.key == key && o.last + 1 == i) {
                Some(o) => {
                    o.last = i;
                    if l.confidence > o.best.confidence {
                        o.best = l.clone();
                    }
                }
                None => open.push(Open { key, best: l.clone(), start: times.get(i).copied().unwrap_or(0.0), last: i }),
            }
        }
        let (still, closed): (Vec<Open>, Vec<Open>) = open.into_iter().partition(|o| o.last == i);
        open = still;
        done.extend(closed);
    }
    done.extend(open);
    let mut cues: Vec<Cue> = done
        .into_iter()
        .map(|o| Cue {
            start: o.start,
            end: end_of(o.last).max(o.start),
            text: o.best.text.clone(),
            score: Some(f64::from(o.best.confidence / 100.0).clamp(0.0, 1.0)),
            bbox: Some(BBox {
                x: o.best.x,
                y: o.best.y,
                w: o.best.w,
                h: o.best.h,
                label: "text".into(),
                score: (o.best.confidence / 100.0).clamp(0.0, 1.0),
            }),
            source: source.into(),
        })
        .collect();
    cues.sort_by(|a, b| {
        let ya = a.bbox.as_ref().map_or(0.0, |b| b.y);
        let yb = b.bbox.as_ref().map_or(0.0, |b| b.y);
        a.start.total_cmp(&b.start).then(ya.total_cmp(&yb))
    });
    cues
}

/// Which OCR engine reads the frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// PP-OCRv6 small (`pp-ocrv6-small` in the model store).
    PpOcr,
    /// Tesseract (Debian's `tesseract-ocr-LANG`).
    Tesseract,
}

impl Engine {
    /// Its name, as the `engine` argument and the trace write it.
    pub fn name(self) -> &'static str {
        match self {
            Engine::PpOcr => "ppocr",
            Engine::Tesseract => "tesseract",
        }
    }

    /// The `source` of the cues it reads.
    pub fn source(self) -> &'static str {
        match self {
            Engine::PpOcr => PPOCR_SOURCE,
            Engine::Tesseract => SOURCE,
        }
    }
}

/// PP-OCR lines as [`Line`]s: those with a letter or digit, confidence = score × 100, boxes axis-aligned.
pub fn lines_from_ppocr(read: Vec<TextLine>) -> Vec<Line> {
    read.into_iter()
        .filter(|l| l.text.chars().any(char::is_alphanumeric))
        .map(|l| {
            let (x, y, w, h) = l.bounds();
            Line { text: l.text.trim().to_string(), confidence: l.score * 100.0, x, y, w, h }
        })
        .collect()
}

const DOC: &str = "Reads on-screen text (captions, titles, signs, credits, screen text) in frames; one cue per text line over the run of frames showing it.
Engines (`engine`): \"auto\" (default) = PP-OCRv6 when `pp-ocrv6-small` is installed, else Tesseract (the trace's note says which ran, \
and how to install PP-OCR); \"ppocr\"; \"tesseract\". PP-OCR: DB text detection (shorter side enlarged to `det_side`, default 736; with `det_shrink` larger frames are shrunk to it too), \
CTC line recognition, optional angle classification (`angle`); lines with recognition score < `min_score` (0-1) or without a letter/digit are dropped. \
Tesseract: frames are grayscale-converted, enlarged (`upscale`, auto = clamp(720/height, 1, 3)) and binarised twice (Otsu; white top-hat \
for light captions); Tesseract (LSTM, page segmentation `psm`, default 3; 11 = sparse text) reads both and the more confident reading wins; \
words below `min_confidence` (0-100) are dropped, words are grouped into lines, a line needs ≥ 2 letters/digits (≤ 3: confidence ≥ 80). \
Both: a frame whose 96-cell grayscale thumbnail differs from the last read frame in < 0.2% of cells (by > 12 grey levels) is not re-read. \
A line seen in consecutive frames (same letters and digits, ignoring case and spaces) is one cue from the first frame's time to the next \
frame not showing it. Cue: text and bbox (input frame pixels) of its most confident read, score = confidence (0-1), source `ocr:ppocr` or \
`ocr:tesseract`. Frames without text give no cues (empty TimedText; the trace notes frames read, skipped and why it is empty). \
Tesseract's language data comes from $TESSDATA_PREFIX or Debian's /usr/share/tesseract-ocr/5/tessdata (`lang`; missing → error \
naming `apt-get install tesseract-ocr-LANG`). Cost per read frame per core: PP-OCR about 0.6 s at 720p plus 30-150 ms per line; \
Tesseract 0.3-2 s. Sample 1-2 fps where text is expected.";

/// The engine a call runs.
struct Resolved {
    engine: Engine,
    /// The loaded networks, for PP-OCR.
    ppocr: Option<Arc<PpOcr>>,
    /// Why `auto` fell back to Tesseract.
    fallback: Option<String>,
}

/// `read_text(frames, engine = "auto", min_score = 0.5, det_side = 736, det_shrink = false, angle = false, min_confidence = 60, psm = 3, lang = "eng", upscale = 0)`.
pub struct ReadText {
    sig: Signature,
    store: Arc<ModelStore>,
    /// The loaded PP-OCR networks, with the directory they came from.
    ppocr: Mutex<Option<(PathBuf, Arc<PpOcr>)>>,
}

impl ReadText {
    /// The module with its signature, reading PP-OCR from `store`.
    pub fn new(store: Arc<ModelStore>) -> ReadText {
        let d = OcrParams::default();
        let p = PpOcrParams::default();
        let sig = Signature::new("read_text", "2.0.0", Returns::Is(Type::TimedText), DOC)
            .param(Param::of("frames", Type::Frames, "The frames to read, in time order."))
            .param(
                Param::of("engine", Type::Text, "OCR engine: auto (PP-OCR when installed, else Tesseract), ppocr or tesseract.")
                    .default(Value::text("auto")),
            )
            .param(
                Param::of("min_score", Type::Number, "PP-OCR: lines whose recognition score (0-1) is below this are dropped.")
                    .default(Value::Number(f64::from(p.min_score)))
                    .range(0.0, 1.0)
                    .searchable(0.3, 0.9),
            )
            .param(
                Param::of("det_side", Type::Int, "PP-OCR: the detector enlarges the shorter side of a frame to this many pixels.")
                    .default(Value::Int(i64::from(p.det.limit_side)))
                    .range(128.0, 1536.0),
            )
            .param(
                Param::of(
                    "det_shrink",
                    Type::Bool,
                    "PP-OCR: also shrink frames whose shorter side is longer than det_side (faster on large frames).",
                )
                .default(Value::Bool(p.det.shrink)),
            )
            .param(Param::of("angle", Type::Bool, "PP-OCR: turn upside-down lines (angle classifier).").default(Value::Bool(p.angle)))
            .param(
                Param::of("min_confidence", Type::Number, "Tesseract: words below this confidence (0-100) are dropped.")
                    .default(Value::Number(f64::from(d.min_confidence)))
                    .range(0.0, 100.0)
                    .searchable(30.0, 85.0),
            )
            .param(
                Param::of("psm", Type::Int, "Tesseract page segmentation: 3 automatic, 11 sparse text, 6 one block, 7 one line, 4, 12.")
                    .default(Value::Int(d.psm))
                    .range(3.0, 12.0),
            )
            .param(Param::of("lang", Type::Text, "Tesseract language(s), e.g. eng or eng+deu.").default(Value::text(&d.lang)))
            .param(
                Param::of("upscale", Type::Number, "Tesseract: enlarge frames by this factor before reading; 0 = automatic.")
                    .default(Value::Number(0.0))
                    .range(0.0, 4.0),
            )
            .cache(CachePolicy::Disk);
        ReadText { sig, store, ppocr: Mutex::new(None) }
    }

    /// The engine for `requested` and, for `auto` falling back to Tesseract, why.
    fn resolve(&self, requested: &str) -> Result<Resolved, ModuleError> {
        let resolved = |engine, ppocr, fallback| Ok(Resolved { engine, ppocr, fallback });
        match requested {
            "tesseract" => resolved(Engine::Tesseract, None, None),
            "ppocr" => resolved(Engine::PpOcr, Some(self.load_ppocr()?), None),
            "auto" => match self.load_ppocr() {
                Ok(m) => resolved(Engine::PpOcr, Some(m), None),
                Err(ModuleError::MissingModel { install, .. }) => resolved(
                    Engine::Tesseract,
                    None,
                    Some(format!("PP-OCR (`{PP_OCR_V6}`) is not installed, so Tesseract read the frames; to use PP-OCR, {install}")),
                ),
                Err(e) => Err(e),
            },
            other => Err(ModuleError::invalid("engine", format!("expected auto, ppocr or tesseract, got `{other}`"))),
        }
    }

    /// The installed PP-OCR, loaded once.
    fn load_ppocr(&self) -> Result<Arc<PpOcr>, ModuleError> {
        let dir = locate(&self.store, PP_OCR_V6)?.dir;
        let mut slot = self.ppocr.lock().map_err(|_| ModuleError::Failed("read_text: PP-OCR slot poisoned".into()))?;
        if let Some((loaded_from, m)) = slot.as_ref() {
            if *loaded_from == dir {
                return Ok(m.clone());
            }
        }
        let m = Arc::new(PpOcr::load(&dir)?);
        *slot = Some((dir, m.clone()));
        Ok(m)
    }
}

#[async_trait]
impl Module for ReadText {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    async fn call(&self, args: Args, ctx: &StepContext) -> Result<Value, ModuleError> {
        let frames = args.frames("frames")?;
        let requested = args.text("engine")?.trim().to_lowercase();
        let min_score = args.number("min_score")?;
        let det_side = args.int("det_side")?;
        let det_shrink = args.bool("det_shrink")?;
        let angle = args.bool("angle")?;
        let min_confidence = args.number("min_confidence")?;
        let psm = args.int("psm")?;
        let lang = args.text("lang")?.trim().to_string();
        let upscale = args.number("upscale")?;
        if !(0.0..=1.0).contains(&min_score) {
            return Err(ModuleError::invalid("min_score", format!("must be between 0 and 1, got {min_score}")));
        }
        if !(128..=1536).contains(&det_side) {
            return Err(ModuleError::invalid("det_side", format!("must be between 128 and 1536 pixels, got {det_side}")));
        }
        if !(0.0..=100.0).contains(&min_confidence) {
            return Err(ModuleError::invalid("min_confidence", format!("must be between 0 and 100, got {min_confidence}")));
        }
        if lang.is_empty() || !lang.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '+') {
            return Err(ModuleError::invalid("lang", format!("expected Tesseract language codes like eng or eng+deu, got `{lang}`")));
        }
        if !(0.0..=4.0).contains(&upscale) || (upscale > 0.0 && upscale < 0.25) {
            return Err(ModuleError::invalid("upscale", format!("must be 0 (automatic) or between 0.25 and 4, got {upscale}")));
        }
        let psm_mode = psm_mode(psm)?;
        if let Some(w) = frames.windows(2).find(|w| w[1].time < w[0].time) {
            return Err(ModuleError::invalid(
                "frames",
                format!("frames are not in time order ({:.3} s after {:.3} s)", w[1].time, w[0].time),
            ));
        }
        let Resolved { engine, ppocr, fallback } = self.resolve(&requested)?;
        if frames.is_empty() {
            ctx.note(
                "read_text",
                serde_json::json!({ "engine": engine.name(), "frames": 0, "read": 0, "skipped": 0, "empty": "no frames" }),
            );
            return Ok(Value::TimedText(Arc::new(TimedText::default())));
        }
        for (i, f) in frames.iter().enumerate() {
            check_frame("frames", i, f)?;
        }
        let params = OcrParams { min_confidence: min_confidence as f32, psm, lang, upscale };
        let datadir = if engine == Engine::Tesseract { Some(tessdata_dir(&params.lang)?) } else { None };
        let pp_params = PpOcrParams {
            det: DbParams { limit_side: det_side as u32, shrink: det_shrink, ..DbParams::default() },
            min_score: min_score as f32,
            angle,
        };
        let started = std::time::Instant::now();
        let plan_frames = frames.clone();
        let plan = ctx.blocking(move || Ok(read_plan(&plan_frames))).await?;
        let to_read: Arc<Vec<usize>> = Arc::new(plan.iter().enumerate().filter(|(i, j)| *i == **j).map(|(i, _)| i).collect());
        ctx.progress.set_length(to_read.len() as u64);
        let progress = ctx.progress.clone();
        let stop = ctx.stop_signal();
        let (shared, indices) = (frames.clone(), to_read.clone());
        let read = map_chunks(ctx, to_read.len(), move |range| {
            let chunk: Vec<&Frame> = indices[range].iter().filter_map(|&i| shared.get(i)).collect();
            let progress = progress.clone();
            match (&ppocr, &datadir) {
                (Some(m), _) => chunk
                    .iter()
                    .map(|f| {
                        stop.check()?;
                        let lines = m.read(f, &pp_params).map(lines_from_ppocr);
                        progress.inc(1);
                        lines
                    })
                    .collect(),
                (None, Some(dir)) => read_frames_with(&chunk, &params, dir, psm_mode, &mut || {
                    progress.inc(1);
                    stop.check()
                }),
                (None, None) => Err(ModuleError::Failed("read_text: no OCR engine resolved".into())),
            }
        })
        .await;
        ctx.progress.finish();
        let read = read?;
        let by_frame: HashMap<usize, &Vec<Line>> = to_read.iter().copied().zip(read.iter()).collect();
        let empty = Vec::new();
        let lines: Vec<Vec<Line>> = plan.iter().map(|j| by_frame.get(j).map_or(&empty, |l| *l).clone()).collect();
        let times: Vec<f64> = frames.iter().map(|f| f.time).collect();
        let cues = cues_from_lines(&times, &lines, engine.source());
        let mut note = serde_json::json!({
            "engine": engine.name(),
            "frames": frames.len(),
            "read": to_read.len(),
            "skipped": frames.len() - to_read.len(),
            "frames_with_text": lines.iter().filter(|l| !l.is_empty()).count(),
            "cues": cues.len(),
            "seconds": started.elapsed().as_secs_f64(),
        });
        if let Some(why) = fallback {
            note["fallback"] = serde_json::Value::String(why);
        }
        if cues.is_empty() {
            note["empty"] = serde_json::Value::String(match engine {
                Engine::Tesseract => {
                    format!("Tesseract found no line of ≥ 2 letters/digits with word confidence ≥ {min_confidence} in any frame")
                }
                Engine::PpOcr => format!("PP-OCR found no line with a letter or digit and recognition score ≥ {min_score} in any frame"),
            });
        }
        ctx.note("read_text", note);
        Ok(Value::TimedText(Arc::new(TimedText { cues })))
    }
}
