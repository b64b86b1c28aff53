//! Subtitles as timed text: a sidecar or user-given file (SubRip, WebVTT,
//! SSA/ASS) or the first embedded text subtitle stream (SubRip in Matroska,
//! `mov_text` in MP4, ASS, WebVTT, ...).
//!
//! Cue times are seconds on the video's timeline (0 is the first frame of
//! the video stream); cue text is plain: markup (`<i>`, `{\i1}`, ...) is
//! removed, line breaks kept as `\n`, surrounding space trimmed.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use ffmpeg_next as ffmpeg;
use ffmpeg_next::codec::Id;
use ffmpeg_next::media;
use rsubs_lib::{SSAEventLineType, SRT, SSA, VTT};
use vprog_runtime::module::Returns;
use vprog_runtime::value::{Cue, TimeRange, TimedText, VideoRef};
use vprog_runtime::{Args, CachePolicy, Module, ModuleError, Param, Registry, Signature, StepContext, Type, Value};

use crate::video::{media_error, open_input, rate, video_stream_index};

/// Registers the `subtitles` module. A name already taken is logged and skipped.
pub fn register(registry: &mut Registry) {
    let module: Arc<dyn Module> = Arc::new(Subtitles::new());
    if let Err(e) = registry.register(module) {
        tracing::error!(module = "subtitles", "{e}; skipping the subtitles module");
    }
}

/// A subtitle file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubtitleFormat {
    /// SubRip (`.srt`).
    Srt,
    /// WebVTT (`.vtt`).
    Vtt,
    /// Advanced SubStation Alpha (`.ass`, v4.00+).
    Ass,
    /// SubStation Alpha (`.ssa`, v4.00).
    Ssa,
}

impl SubtitleFormat {
    /// The format a file extension names (case-insensitive).
    pub fn from_extension(path: &Path) -> Option<SubtitleFormat> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "srt" => Some(SubtitleFormat::Srt),
            "vtt" | "webvtt" => Some(SubtitleFormat::Vtt),
            "ass" => Some(SubtitleFormat::Ass),
            "ssa" => Some(SubtitleFormat::Ssa),
            _ => None,
        }
    }

    /// The format the text looks like, if any.
    pub fn sniff(text: &str) -> Option<SubtitleFormat> {
        let t = text.trim_start_matches('\u{feff}').trim_start();
        if t.starts_with("WEBVTT") {
            Some(SubtitleFormat::Vtt)
        } else if t.starts_with("[Script Info]") || t.contains("\n[Events]") {
            if t.contains("[V4+ Styles]") || t.to_ascii_lowercase().contains("scripttype: v4.00+") {
                Some(SubtitleFormat::Ass)
            } else {
                Some(SubtitleFormat::Ssa)
            }
        } else if t.contains("-->") {
            Some(SubtitleFormat::Srt)
        } else {
            None
        }
    }

    /// The cue `source` tag: `subtitles:srt`, `subtitles:vtt`, `subtitles:ass`, `subtitles:ssa`.
    pub fn source(self) -> &'static str {
        match self {
            SubtitleFormat::Srt => "subtitles:srt",
            SubtitleFormat::Vtt => "subtitles:vtt",
            SubtitleFormat::Ass => "subtitles:ass",
            SubtitleFormat::Ssa => "subtitles:ssa",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            SubtitleFormat::Srt => "SubRip (.srt)",
            SubtitleFormat::Vtt => "WebVTT (.vtt)",
            SubtitleFormat::Ass => "ASS (.ass)",
            SubtitleFormat::Ssa => "SSA (.ssa)",
        }
    }
}

/// The subtitles of `video`: its subtitle file (`video.subtitles`, a sidecar
/// or user-given file) if set, else its first embedded text subtitle stream,
/// else no cues (logged, not an error). Cues are sorted by start time.
///
/// Blocking (reads files, demuxes the video for embedded streams).
///
/// # Errors
///
/// [`ModuleError::Media`] naming the file when the subtitle file cannot be
/// read or parsed, or the video cannot be opened.
pub fn load_subtitles(video: &VideoRef) -> Result<TimedText, ModuleError> {
    if let Some(path) = &video.subtitles {
        return parse_subtitle_file(path);
    }
    match read_embedded(&video.path)? {
        Some(text) => Ok(text),
        None => {
            tracing::info!(video = %video.path.display(), "no subtitles: no sidecar file and no embedded text subtitle stream");
            Ok(TimedText::default())
        }
    }
}

/// Parses a subtitle file: the format comes from the extension (`.srt`,
/// `.vtt`, `.ass`, `.ssa`), or from the content when the extension is
/// unknown or the content is plainly another format.
///
/// # Errors
///
/// [`ModuleError::Media`] naming the file and what is wrong (unreadable,
/// unknown format, a malformed line).
pub fn parse_subtitle_file(path: &Path) -> Result<TimedText, ModuleError> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => media_error(path, "subtitle file not found"),
        _ => media_error(path, format!("cannot read the subtitle file: {e}")),
    })?;
    let text = decode_text(&bytes);
    if text.trim_start_matches('\u{feff}').trim().is_empty() {
        tracing::info!(file = %path.display(), "subtitle file is empty: no cues");
        return Ok(TimedText::default());
    }
    let by_ext = SubtitleFormat::from_extension(path);
    let sniffed = SubtitleFormat::sniff(&text);
    let format = match (by_ext, sniffed) {
        (Some(e), _) => e,
        (None, Some(s)) => s,
        (None, None) => {
            return Err(media_error(path, "not a subtitle file: neither the extension nor the content says SubRip, WebVTT or SSA/ASS"));
        }
    };
    match parse_as(&text, format) {
        Ok(cues) => Ok(finish(cues)),
        Err(first) => {
            // A file named .srt that really is WebVTT (and the like).
            if let Some(other) = sniffed.filter(|s| *s != format) {
                if let Ok(cues) = parse_as(&text, other) {
                    tracing::warn!(file = %path.display(), "subtitle file is {} despite its extension", other.describe());
                    return Ok(finish(cues));
                }
            }
            Err(media_error(path, format!("malformed {} subtitles: {first}", format.describe())))
        }
    }
}

/// UTF-8 (BOM stripped), UTF-16 with a BOM, else Latin-1.
fn decode_text(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return String::from_utf8_lossy(rest).into_owned();
    }
    let utf16 = |rest: &[u8], le: bool| {
        let units: Vec<u16> =
            rest.chunks_exact(2).map(|c| if le { u16::from_le_bytes([c[0], c[1]]) } else { u16::from_be_bytes([c[0], c[1]]) }).collect();
        String::from_utf16_lossy(&units)
    };
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(rest, true);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return utf16(rest, false);
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

fn seconds((h, m, s, ns): (u8, u8, u8, u32)) -> f64 {
    f64::from(h) * 3600.0 + f64::from(m) * 60.0 + f64::from(s) + f64::from(ns) / 1e9
}

/// Runs a parser, turning a panic inside it into an error.
fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| Err("the parser crashed on a malformed line it does not check".into()))
}

/// Raw cues (start, end, text) of `text` parsed as `format`.
fn parse_as(text: &str, format: SubtitleFormat) -> Result<Vec<Cue>, String> {
    let source = format.source().to_string();
    let cue = |start: f64, end: f64, raw: &str, ass: bool| Cue {
        start,
        end,
        text: if ass { clean_ass_text(raw) } else { clean_markup(raw) },
        score: None,
        bbox: None,
        source: source.clone(),
    };
    match format {
        SubtitleFormat::Srt => {
            let normalised = normalise_srt(text);
            let srt = guarded(|| SRT::parse(&normalised).map_err(|e| e.to_string()))?;
            Ok(srt.lines.iter().map(|l| cue(seconds(l.start.as_hms_nano()), seconds(l.end.as_hms_nano()), &l.text, false)).collect())
        }
        SubtitleFormat::Vtt => {
            let vtt = guarded(|| VTT::parse(text).map_err(|e| e.to_string()))?;
            Ok(vtt.lines.iter().map(|l| cue(seconds(l.start.as_hms_nano()), seconds(l.end.as_hms_nano()), &l.text, false)).collect())
        }
        SubtitleFormat::Ass | SubtitleFormat::Ssa => {
            let normalised = normalise_ssa(text);
            let ssa = guarded(|| SSA::parse_lenient(&normalised).map_err(|e| e.to_string()))?;
            Ok(ssa
                .events
                .iter()
                .filter(|e| e.line_type == SSAEventLineType::Dialogue)
                .map(|e| cue(seconds(e.start.as_hms_nano()), seconds(e.end.as_hms_nano()), &e.text, true))
                .collect())
        }
    }
}

/// SubRip timing lines as the parser wants them: `00:00:01,000 --> 00:00:02,000`
/// (a `.` before the milliseconds and trailing position hints are common).
fn normalise_srt(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        match line.split_once("-->") {
            Some((a, b)) if a.trim().len() <= 14 => {
                let end = b.split_whitespace().next().unwrap_or("");
                out.push_str(&a.trim().replace('.', ","));
                out.push_str(" --> ");
                out.push_str(&end.replace('.', ","));
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// SSA/ASS prepared for the parser: style sections are dropped (cue text
/// does not need them, and the parser rejects or even panics on unusual
/// style lines), and SSA v4's first event field `Marked` (`Marked=0`) is
/// renamed to ASS's `Layer`, the only name the parser knows.
fn normalise_ssa(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_events = false;
    let mut in_styles = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            let section = trimmed.trim_end();
            in_events = section.eq_ignore_ascii_case("[Events]");
            in_styles = section.to_ascii_lowercase().contains("styles]");
            if in_styles {
                continue;
            }
        }
        if in_styles {
            continue;
        }
        if in_events && trimmed.starts_with("Format:") {
            out.push_str(&line.replacen("Marked", "Layer", 1));
        } else if let (true, Some((kind, rest))) = (in_events, line.split_once(':')) {
            match rest.trim_start().strip_prefix("Marked=") {
                Some(value) => {
                    out.push_str(kind);
                    out.push_str(": ");
                    out.push_str(value);
                }
                None => out.push_str(line),
            }
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// Removes ASS override blocks (`{\i1}`), turns `\N`/`\n` into line breaks and
/// `\h` into a space, then cleans as [`clean_markup`].
pub fn clean_ass_text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut depth = 0usize;
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            '\\' => match chars.peek() {
                Some('N') | Some('n') => {
                    chars.next();
                    out.push('\n');
                }
                Some('h') => {
                    chars.next();
                    out.push(' ');
                }
                _ => out.push('\\'),
            },
            _ => out.push(c),
        }
    }
    clean_markup(&out)
}

/// Strips HTML-like tags (`<i>`, `</font>`, `<c.yellow>`, `<00:01.000>`) and
/// ASS override blocks, decodes the common entities, trims each line and
/// drops empty lines.
pub fn clean_markup(raw: &str) -> String {
    let mut stripped = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find(['<', '{']) {
        stripped.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (open, close) = if rest[i..].starts_with('<') { ('<', '>') } else { ('{', '}') };
        let is_tag = match open {
            '<' => after.chars().next().is_some_and(|c| c == '/' || c.is_ascii_alphanumeric()),
            _ => after.starts_with('\\'),
        };
        match (is_tag, after.find(close)) {
            (true, Some(end)) => rest = &after[end + 1..],
            _ => {
                stripped.push(open);
                rest = after;
            }
        }
    }
    stripped.push_str(rest);
    let decoded = stripped
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", " ")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&lrm;", "")
        .replace("&rlm;", "")
        .replace("&amp;", "&");
    decoded.split(['\n', '\r']).map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\n")
}

/// Sorted cues with text, negative-length spans repaired.
fn finish(cues: Vec<Cue>) -> TimedText {
    let mut cues: Vec<Cue> = cues
        .into_iter()
        .filter(|c| !c.text.is_empty() && c.start.is_finite() && c.end.is_finite())
        .map(|mut c| {
            if c.end < c.start {
                c.end = c.start;
            }
            c
        })
        .collect();
    cues.sort_by(|a, b| a.start.total_cmp(&b.start).then(a.end.total_cmp(&b.end)));
    TimedText { cues }
}

/// Subtitle codecs carried as pictures, which have no text to read.
fn is_bitmap(id: Id) -> bool {
    matches!(id, Id::DVD_SUBTITLE | Id::DVB_SUBTITLE | Id::HDMV_PGS_SUBTITLE | Id::XSUB)
}

/// The text of one decoded ASS rect: `ReadOrder,Layer,Style,Name,MarginL,
/// MarginR,MarginV,Effect,Text` (or a full `Dialogue:` line from older
/// decoders).
fn ass_rect_text(line: &str) -> &str {
    match line.strip_prefix("Dialogue:") {
        Some(rest) => rest.splitn(10, ',').nth(9).unwrap_or(""),
        None => line.splitn(9, ',').nth(8).unwrap_or(""),
    }
}

/// Cues of the first embedded text subtitle stream of `path`, `None` if it
/// has none.
///
/// # Errors
///
/// [`ModuleError::Media`] when the file cannot be opened or demuxed.
pub fn read_embedded(path: &Path) -> Result<Option<TimedText>, ModuleError> {
    let mut ictx = open_input(path)?;
    let video_start = video_stream_index(&ictx)
        .and_then(|i| ictx.stream(i))
        .and_then(|s| {
            let tb = rate(s.time_base())?;
            (s.start_time() != ffmpeg::ffi::AV_NOPTS_VALUE).then(|| s.start_time() as f64 * tb)
        })
        .unwrap_or(0.0);
    let mut chosen = None;
    for stream in ictx.streams().filter(|s| s.parameters().medium() == media::Type::Subtitle) {
        let id = stream.parameters().id();
        if is_bitmap(id) {
            tracing::info!(file = %path.display(), stream = stream.index(), codec = id.name(), "skipping picture-based subtitle stream");
            continue;
        }
        let Some(tb) = rate(stream.time_base()) else {
            continue;
        };
        let decoder = ffmpeg::codec::context::Context::from_parameters(stream.parameters()).and_then(|c| {
            let mut d = c.decoder();
            d.set_packet_time_base(stream.time_base());
            d.subtitle()
        });
        match decoder {
            Ok(d) => {
                chosen = Some((stream.index(), tb, d));
                break;
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), stream = stream.index(), codec = id.name(), "cannot decode subtitle stream: {e}")
            }
        }
    }
    let Some((index, tb, mut decoder)) = chosen else {
        return Ok(None);
    };
    let source = format!("subtitles:stream#{index}");
    let mut cues = Vec::new();
    let mut errors = 0u32;
    let mut packet = ffmpeg::Packet::empty();
    loop {
        match packet.read(&mut ictx) {
            Ok(()) => {}
            Err(ffmpeg::Error::Eof) => break,
            Err(ffmpeg::Error::InvalidData) => {
                errors += 1;
                if errors > 1_000 {
                    return Err(media_error(path, "corrupt container: too many unreadable packets while reading subtitles"));
                }
                continue;
            }
            Err(e) => return Err(media_error(path, format!("read error while reading subtitle stream #{index}: {e}"))),
        }
        if packet.stream() != index {
            continue;
        }
        let Some(pts) = packet.pts().or_else(|| packet.dts()) else {
            continue;
        };
        let mut sub = ffmpeg::Subtitle::new();
        match decoder.decode(&packet, &mut sub) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(file = %path.display(), stream = index, "undecodable subtitle packet: {e}");
                continue;
            }
        }
        let at = pts as f64 * tb - video_start;
        let start = at + f64::from(sub.start()) / 1000.0;
        let end = if packet.duration() > 0 {
            at + packet.duration() as f64 * tb
        } else if sub.end() > sub.start() && sub.end() != u32::MAX {
            at + f64::from(sub.end()) / 1000.0
        } else {
            start
        };
        let mut lines = Vec::new();
        for rect in sub.rects() {
            let text = match rect {
                ffmpeg::codec::subtitle::Rect::Ass(a) => clean_ass_text(ass_rect_text(&String::from_utf8_lossy(a.get().as_bytes()))),
                ffmpeg::codec::subtitle::Rect::Text(t) => clean_markup(&String::from_utf8_lossy(t.get().as_bytes())),
                _ => continue,
            };
            if !text.is_empty() {
                lines.push(text);
            }
        }
        if !lines.is_empty() {
            cues.push(Cue { start, end, text: lines.join("\n"), score: None, bbox: None, source: source.clone() });
        }
    }
    Ok(Some(finish(cues)))
}

/// Whether a cue shares time with a segment (an instant cue counts when it
/// lies inside the segment or on its edge).
fn overlaps(cue: &Cue, seg: &TimeRange) -> bool {
    if cue.end <= cue.start {
        seg.start <= cue.start && cue.start <= seg.end
    } else {
        cue.start < seg.end && cue.end > seg.start || (seg.is_empty() && cue.start <= seg.start && seg.start <= cue.end)
    }
}

/// Module `subtitles`: a clip's subtitles as timed text.
pub struct Subtitles {
    sig: Signature,
}

impl Default for Subtitles {
    fn default() -> Self {
        Subtitles::new()
    }
}

impl Subtitles {
    /// The module with its signature.
    pub fn new() -> Subtitles {
        let sig = Signature::new(
            "subtitles",
            "1.0.0",
            Returns::Is(Type::TimedText),
            "The subtitles of a clip as timed text (what is said, with when).

Reads the video's subtitle file (a sidecar next to it with the same name and extension .srt, .vtt, .ass or .ssa, or one given explicitly), else its first embedded text subtitle stream (SubRip, mov_text, ASS, WebVTT). A video without subtitles gives no cues (not an error). Only cues overlapping the clip's segments are kept. Text is plain: styling tags are removed, line breaks kept. Each cue's source says where it came from: subtitles:srt, subtitles:vtt, subtitles:ass, subtitles:ssa or subtitles:stream#N.",
        )
        .param(Param::of("video", Type::Clip, "The clip (or whole video) whose subtitles to read."))
        .cache(CachePolicy::Memory);
        Subtitles { sig }
    }
}

#[async_trait]
impl Module for Subtitles {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    async fn call(&self, args: Args, ctx: &StepContext) -> Result<Value, ModuleError> {
        let clip = args.clip("video")?;
        let video = clip.video.clone();
        let all = ctx.blocking(move || load_subtitles(&video)).await?;
        let cues = all.cues.into_iter().filter(|c| clip.segments.iter().any(|s| overlaps(c, s))).collect();
        Ok(Value::TimedText(Arc::new(TimedText { cues })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_stripped() {
        assert_eq!(clean_markup("  <i>Hello</i>,\r\n <font color=\"red\">world</font> "), "Hello,\nworld");
        assert_eq!(clean_markup("a < b and c > d"), "a < b and c > d");
        assert_eq!(clean_markup("<c.yellow>x</c> &amp; y"), "x & y");
        assert_eq!(clean_ass_text("{\\i1}Hello{\\i0}\\Nworld\\hagain"), "Hello\nworld again");
        assert_eq!(ass_rect_text("0,0,Default,,0,0,0,,Hi, there"), "Hi, there");
        assert_eq!(ass_rect_text("Dialogue: 0,0:00:01.00,0:00:02.00,Default,,0,0,0,,Hi"), "Hi");
    }

    #[test]
    fn formats_are_sniffed() {
        assert_eq!(SubtitleFormat::sniff("\u{feff}WEBVTT\n\n00:01.000 --> 00:02.000\nx"), Some(SubtitleFormat::Vtt));
        assert_eq!(SubtitleFormat::sniff("1\n00:00:01,000 --> 00:00:02,000\nx"), Some(SubtitleFormat::Srt));
        assert_eq!(SubtitleFormat::sniff("[Script Info]\nScriptType: v4.00+\n[V4+ Styles]"), Some(SubtitleFormat::Ass));
        assert_eq!(SubtitleFormat::sniff("hello"), None);
    }

    #[test]
    fn srt_with_dots_and_empty_vtt_parse_without_panicking() {
        let cues = parse_as("1\n00:00:01.500 --> 00:00:02.000 X1:0\nHi\n", SubtitleFormat::Srt).unwrap_or_default();
        assert_eq!(cues.len(), 1);
        assert!((cues[0].start - 1.5).abs() < 1e-9);
        assert!(parse_as("", SubtitleFormat::Vtt).is_err());
        assert!(parse_as("garbage", SubtitleFormat::Srt).is_err());
    }

    #[test]
    fn odd_ssa_styles_do_not_matter() {
        // An alignment of 99 makes the style parser panic; styles are skipped.
        let text = "[Script Info]\nScriptType: v4.00+\n\n[V4+ Styles]\nFormat: Name, Alignment\nStyle: Default,99\n\n\
                    [Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n\
                    Dialogue: 0,0:00:01.00,0:00:02.50,Default,,0,0,0,,{\\b1}Hi{\\b0}\n\
                    Comment: 0,0:00:03.00,0:00:04.00,Default,,0,0,0,,not shown\n";
        let cues = parse_as(text, SubtitleFormat::Ass).unwrap_or_default();
        assert_eq!(cues.len(), 1);
        assert_eq!((cues[0].start, cues[0].end, cues[0].text.as_str()), (1.0, 2.5, "Hi"));
    }

    #[test]
    fn instant_cues_overlap_their_segment() {
        let cue = |start: f64, end: f64| Cue { start, end, text: "x".into(), score: None, bbox: None, source: "t".into() };
        let seg = TimeRange { start: 10.0, end: 20.0 };
        assert!(overlaps(&cue(5.0, 10.5), &seg));
        assert!(!overlaps(&cue(5.0, 10.0), &seg));
        assert!(overlaps(&cue(20.0, 20.0), &seg));
        assert!(!overlaps(&cue(21.0, 22.0), &seg));
    }
}
