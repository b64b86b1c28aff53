//! Opening a video file: identity hash, FFmpeg probe, sanity checks and
//! subtitle sidecar lookup.
//!
//! Every failure is a [`ModuleError::Media`] naming the file and saying, in
//! words, what is wrong with it: missing, empty, not a media file, truncated
//! or corrupt, without a video stream, or in a codec this FFmpeg cannot
//! decode.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use ffmpeg_next as ffmpeg;
use ffmpeg_next::format::context::Input;
use ffmpeg_next::format::stream::Disposition;
use ffmpeg_next::media;
use vprog_runtime::value::{StreamInfo, VideoInfo, VideoRef};
use vprog_runtime::ModuleError;

use super::decode::{Tail, VideoSource};

/// Subtitle sidecar extensions, in the order they are looked for.
pub const SIDECAR_EXTENSIONS: [&str; 4] = ["srt", "vtt", "ass", "ssa"];

/// How far the container's duration may run past the last video data found
/// near the end before the file counts as truncated, in seconds.
const TAIL_SLACK: f64 = 2.0;

/// Builds a [`ModuleError::Media`] for `path`.
pub(crate) fn media_error(path: &Path, reason: impl Into<String>) -> ModuleError {
    ModuleError::Media { path: path.to_path_buf(), reason: reason.into() }
}

/// Initialises FFmpeg once per process and quiets its logging (it would
/// otherwise print decoder chatter such as "non-intra slice in an IDR NAL
/// unit" on stderr). Set `VPROG_FFMPEG_LOG` to `error`, `warning`, `info` or
/// `debug` to see FFmpeg's own messages.
pub(crate) fn init_ffmpeg() -> Result<(), ModuleError> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    let result = INIT.get_or_init(|| {
        ffmpeg::init().map_err(|e| format!("FFmpeg failed to initialise: {e}"))?;
        let level = match std::env::var("VPROG_FFMPEG_LOG").unwrap_or_default().to_ascii_lowercase().as_str() {
            "quiet" => ffmpeg::util::log::Level::Quiet,
            "error" => ffmpeg::util::log::Level::Error,
            "warning" | "warn" => ffmpeg::util::log::Level::Warning,
            "info" => ffmpeg::util::log::Level::Info,
            "verbose" => ffmpeg::util::log::Level::Verbose,
            "debug" => ffmpeg::util::log::Level::Debug,
            _ => ffmpeg::util::log::Level::Fatal,
        };
        ffmpeg::util::log::set_level(level);
        Ok(())
    });
    result.clone().map_err(ModuleError::Failed)
}

/// Opens and probes a video file.
///
/// - Hashes the file's bytes with BLAKE3 (streamed, the file is never held in
///   memory whole); the hex digest is the video's identity in the step cache.
/// - Probes it with FFmpeg: container format, duration, average frame rate,
///   size, frame count (when the container says) and codec of the main video
///   stream, and every stream's kind, codec and language.
/// - Checks that it is usable: a video stream exists, its codec can be
///   decoded, its first frame decodes, and video data reaches (nearly) the
///   duration the container claims.
/// - Finds subtitles: `subtitles` when given (it must exist), else a sidecar
///   next to the video with the same stem and extension `.srt`, `.vtt`,
///   `.ass` or `.ssa` (the first found, in that order), else none.
///
/// Blocking and I/O heavy (the whole file is read for the hash): call it from
/// a blocking context.
///
/// # Errors
///
/// [`ModuleError::Media`] naming the file (or the subtitle file) and the
/// reason: not found, a directory, unreadable, empty, not a media file,
/// truncated or corrupt, no video stream, or an unsupported codec.
pub fn open_video(path: &Path, subtitles: Option<&Path>) -> Result<Arc<VideoRef>, ModuleError> {
    let len = check_file(path)?;
    if len == 0 {
        return Err(media_error(path, "the file is empty (0 bytes), not a video"));
    }
    let hash = hash_file(path)?;
    let info = probe(path, len)?;
    let subtitles = match subtitles {
        Some(s) => {
            check_subtitle_file(s)?;
            Some(s.to_path_buf())
        }
        None => find_sidecar(path),
    };
    Ok(Arc::new(VideoRef { path: path.to_path_buf(), hash, info, subtitles }))
}

/// The sidecar subtitle file for `video`, if one exists: same directory, same
/// stem, extension `.srt`, `.vtt`, `.ass` or `.ssa` (first found, in that
/// order; lower case first, then upper case).
pub fn find_sidecar(video: &Path) -> Option<PathBuf> {
    let stem = video.file_stem()?;
    let dir = video.parent().unwrap_or_else(|| Path::new(""));
    for ext in SIDECAR_EXTENSIONS {
        for ext in [ext.to_string(), ext.to_ascii_uppercase()] {
            let mut name = stem.to_os_string();
            name.push(".");
            name.push(&ext);
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// Checks that `path` is a readable regular file; returns its length.
fn check_file(path: &Path) -> Result<u64, ModuleError> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => media_error(path, "file not found"),
        io::ErrorKind::PermissionDenied => media_error(path, "permission denied: the file cannot be read"),
        _ => media_error(path, format!("cannot read the file: {e}")),
    })?;
    if meta.is_dir() {
        return Err(media_error(path, "is a directory, not a video file"));
    }
    if !meta.is_file() {
        return Err(media_error(
            path,
            format!(
                "is {}, not a regular file: vprog reads a video more than once (hash, probe, seeks), so it needs a file on disk",
                special_file_kind(&meta)
            ),
        ));
    }
    Ok(meta.len())
}

/// What a non-regular, non-directory file is, for messages.
fn special_file_kind(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
    }
    let _ = meta;
    "a special file"
}

/// FFmpeg's demuxers for single still images (`png_pipe`, `jpeg_pipe`,
/// `image2`, ...): such a file is a picture, not a video, whatever its name.
fn is_still_image_format(format: &str) -> bool {
    format == "image2" || format.ends_with("_pipe")
}

fn check_subtitle_file(path: &Path) -> Result<(), ModuleError> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => media_error(path, "subtitle file not found"),
        _ => media_error(path, format!("cannot read the subtitle file: {e}")),
    })?;
    if meta.is_dir() {
        return Err(media_error(path, "is a directory, not a subtitle file"));
    }
    Ok(())
}

/// BLAKE3 of the file's bytes, hex, read in 64 KiB chunks.
fn hash_file(path: &Path) -> Result<String, ModuleError> {
    let mut file = File::open(path).map_err(|e| media_error(path, format!("cannot open the file: {e}")))?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(media_error(path, format!("error while reading the file: {e}"))),
        };
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().to_hex().to_string())
}

/// The string FFmpeg should open: `file:` plus the absolute path, so that a
/// name like `concat:x` or `http:y` is never taken for a protocol.
fn ffmpeg_url(path: &Path) -> Result<String, ModuleError> {
    let abs = std::fs::canonicalize(path).map_err(|e| media_error(path, format!("cannot resolve the path: {e}")))?;
    let s = abs.to_str().ok_or_else(|| media_error(path, "the path is not valid UTF-8, which FFmpeg cannot open; rename the file"))?;
    if s.contains('\0') {
        return Err(media_error(path, "the path contains a NUL byte"));
    }
    Ok(format!("file:{s}"))
}

/// Opens `path` with FFmpeg's demuxer (header read and streams probed),
/// explaining a failure in terms of what the file looks like.
pub(crate) fn open_input(path: &Path) -> Result<Input, ModuleError> {
    init_ffmpeg()?;
    let url = ffmpeg_url(path)?;
    ffmpeg::format::input(&url).map_err(|e| explain_open_error(path, &e))
}

/// Why FFmpeg could not open `path`, from the error and the file's first bytes.
fn explain_open_error(path: &Path, err: &ffmpeg::Error) -> ModuleError {
    use ffmpeg::util::error::{EACCES, ENOENT};
    match err {
        ffmpeg::Error::Other { errno } if *errno == ENOENT => return media_error(path, "file not found"),
        ffmpeg::Error::Other { errno } if *errno == EACCES => return media_error(path, "permission denied: the file cannot be read"),
        _ => {}
    }
    let head = read_head(path, 4096).unwrap_or_default();
    if head.is_empty() {
        return media_error(path, "the file is empty (0 bytes), not a video");
    }
    match sniff_container(&head) {
        Some(container) => {
            let detail = container_damage(path, container, true).map(|d| format!(": {d}")).unwrap_or_default();
            media_error(
                path,
                format!(
                    "truncated or corrupt {} file{detail} (FFmpeg recognises the container but cannot read it: {err})",
                    container.name()
                ),
            )
        }
        None if looks_like_text(&head) => {
            let first_line: String = String::from_utf8_lossy(&head).lines().next().unwrap_or("").chars().take(40).collect();
            media_error(path, format!("not a media file: it contains plain text (starting {first_line:?}), not audio or video data"))
        }
        None => media_error(path, format!("not a media file: FFmpeg does not recognise its format ({err})")),
    }
}

fn read_head(path: &Path, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(n);
    File::open(path)?.take(n as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Containers recognisable from their first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Mp4,
    Avi,
    Riff,
    Matroska,
    Ogg,
    Flv,
    MpegTs,
    MpegPs,
    Asf,
    Mp3,
}

impl Container {
    fn name(self) -> &'static str {
        match self {
            Container::Mp4 => "MP4/QuickTime",
            Container::Avi => "AVI",
            Container::Riff => "RIFF",
            Container::Matroska => "Matroska/WebM",
            Container::Ogg => "Ogg",
            Container::Flv => "FLV",
            Container::MpegTs => "MPEG transport stream",
            Container::MpegPs => "MPEG program stream",
            Container::Asf => "ASF/WMV",
            Container::Mp3 => "MP3",
        }
    }
}

fn sniff_container(head: &[u8]) -> Option<Container> {
    const MP4_BOXES: [&[u8; 4]; 7] = [b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"];
    if head.len() >= 8 && MP4_BOXES.iter().any(|b| &head[4..8] == *b) {
        return Some(Container::Mp4);
    }
    if head.starts_with(b"RIFF") {
        return Some(if head.get(8..12) == Some(b"AVI ") { Container::Avi } else { Container::Riff });
    }
    if head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        return Some(Container::Matroska);
    }
    if head.starts_with(b"OggS") {
        return Some(Container::Ogg);
    }
    if head.starts_with(b"FLV") {
        return Some(Container::Flv);
    }
    if head.first() == Some(&0x47) && (head.len() < 189 || head.get(188) == Some(&0x47)) && head.len() >= 188 {
        return Some(Container::MpegTs);
    }
    if head.starts_with(&[0, 0, 1, 0xBA]) || head.starts_with(&[0, 0, 1, 0xB3]) {
        return Some(Container::MpegPs);
    }
    if head.starts_with(&[0x30, 0x26, 0xB2, 0x75]) {
        return Some(Container::Asf);
    }
    if head.starts_with(b"ID3") {
        return Some(Container::Mp3);
    }
    None
}

/// Whether the bytes look like text (valid UTF-8 without control characters
/// other than whitespace).
fn looks_like_text(head: &[u8]) -> bool {
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        // A multi-byte character cut off by the read limit.
        Err(e) if e.error_len().is_none() => match std::str::from_utf8(&head[..e.valid_up_to()]) {
            Ok(t) => t,
            Err(_) => return false,
        },
        Err(_) => return false,
    };
    !text.is_empty() && text.chars().all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t' | '\u{c}'))
}

/// What is structurally wrong with a recognised container, when it can be
/// told cheaply from its top-level layout: the file is shorter than its
/// header says, or (for MP4, when `need_index`) the index box is missing.
fn container_damage(path: &Path, container: Container, need_index: bool) -> Option<String> {
    let mut file = File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    match container {
        Container::Mp4 => {
            let (problem, seen_moov) = mp4_layout(&mut file, len)?;
            match (problem, seen_moov || !need_index) {
                (Some(p), false) => Some(format!("{p} and the 'moov' index box is missing")),
                (Some(p), true) => Some(p),
                (None, false) => Some("the 'moov' index box is missing".into()),
                (None, true) => None,
            }
        }
        Container::Avi | Container::Riff => {
            let mut hdr = [0u8; 8];
            file.read_exact(&mut hdr).ok()?;
            let declared = u64::from(u32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]])) + 8;
            // 0 and 0xFFFFFFFF mean "unknown" (a recording that was never finalised).
            (declared > len && declared != 8 && declared != u64::from(u32::MAX) + 8)
                .then(|| format!("its RIFF header declares {declared} bytes but the file has only {len}"))
        }
        _ => None,
    }
}

/// Walks the top-level boxes of an MP4/QuickTime file: the first structural
/// problem (a box running past the end of the file, an invalid size) and
/// whether a 'moov' box was seen.
fn mp4_layout(file: &mut File, len: u64) -> Option<(Option<String>, bool)> {
    let mut offset = 0u64;
    let mut seen_moov = false;
    for _ in 0..100_000 {
        if offset + 8 > len {
            break;
        }
        file.seek(SeekFrom::Start(offset)).ok()?;
        let mut hdr = [0u8; 16];
        let n = file.read(&mut hdr).ok()?;
        if n < 8 {
            break;
        }
        let kind: String = hdr[4..8].iter().map(|&b| if b.is_ascii_graphic() { char::from(b) } else { '?' }).collect();
        let mut size = u64::from(u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]));
        if size == 1 && n >= 16 {
            size = u64::from_be_bytes([hdr[8], hdr[9], hdr[10], hdr[11], hdr[12], hdr[13], hdr[14], hdr[15]]);
        } else if size == 0 {
            size = len - offset;
        }
        if kind == "moov" {
            seen_moov = true;
        }
        if size < 8 {
            return Some((Some(format!("box '{kind}' at byte {offset} has an invalid size {size}")), seen_moov));
        }
        if offset.saturating_add(size) > len {
            return Some((
                Some(format!(
                    "the file ends inside its '{kind}' box, which declares {size} bytes from byte {offset}, but the file has {len} bytes"
                )),
                seen_moov,
            ));
        }
        offset += size;
    }
    Some((None, seen_moov))
}

/// The index of the main video stream: FFmpeg's best video stream unless it
/// is an attached picture (cover art), else the first real video stream.
pub(crate) fn video_stream_index(ictx: &Input) -> Option<usize> {
    let is_video = |s: &ffmpeg::format::stream::Stream| {
        s.parameters().medium() == media::Type::Video && !s.disposition().contains(Disposition::ATTACHED_PIC)
    };
    if let Some(best) = ictx.streams().best(media::Type::Video) {
        if is_video(&best) {
            return Some(best.index());
        }
    }
    ictx.streams().find(|s| is_video(s)).map(|s| s.index())
}

/// The main video stream's index, or an error saying what the file holds instead.
pub(crate) fn require_video_stream(path: &Path, ictx: &Input) -> Result<usize, ModuleError> {
    if let Some(i) = video_stream_index(ictx) {
        return Ok(i);
    }
    let kinds: Vec<String> =
        ictx.streams().map(|s| format!("{} ({})", kind_name(s.parameters().medium()), s.parameters().id().name())).collect();
    let reason = if kinds.is_empty() {
        "no video stream: the file has no streams at all".to_string()
    } else if ictx.streams().all(|s| s.parameters().medium() == media::Type::Audio) {
        format!("no video stream: it is an audio-only file ({})", kinds.join(", "))
    } else {
        format!("no video stream (the file has: {})", kinds.join(", "))
    };
    Err(media_error(path, reason))
}

pub(crate) fn kind_name(kind: media::Type) -> &'static str {
    match kind {
        media::Type::Video => "video",
        media::Type::Audio => "audio",
        media::Type::Subtitle => "subtitle",
        media::Type::Data => "data",
        media::Type::Attachment => "attachment",
        media::Type::Unknown => "unknown",
    }
}

/// Rational to f64, `None` when zero or invalid.
pub(crate) fn rate(r: ffmpeg::Rational) -> Option<f64> {
    (r.numerator() > 0 && r.denominator() > 0).then(|| f64::from(r.numerator()) / f64::from(r.denominator()))
}

fn probe(path: &Path, file_len: u64) -> Result<VideoInfo, ModuleError> {
    let ictx = open_input(path)?;
    // FFmpeg reads many cut-off files happily (an AVI missing its second
    // half opens as a shorter video); the container header knows better.
    if let Some(container) = read_head(path, 16).ok().as_deref().and_then(sniff_container) {
        if let Some(damage) = container_damage(path, container, false) {
            return Err(media_error(path, format!("truncated or corrupt {} file: {damage}", container.name())));
        }
    }
    let vindex = require_video_stream(path, &ictx)?;
    let stream = ictx.stream(vindex).ok_or_else(|| media_error(path, "the video stream vanished while probing"))?;

    let streams: Vec<StreamInfo> = ictx
        .streams()
        .map(|s| StreamInfo {
            index: s.index(),
            kind: kind_name(s.parameters().medium()).to_string(),
            codec: s.parameters().id().name().to_string(),
            language: s.metadata().get("language").filter(|l| !l.is_empty() && *l != "und").map(str::to_string),
        })
        .collect();

    let tb = rate(stream.time_base());
    let stream_duration = tb
        .map(|tb| stream.duration() as f64 * tb)
        .filter(|d| d.is_finite() && *d > 0.0 && stream.duration() != ffmpeg::ffi::AV_NOPTS_VALUE);
    let format_duration = (ictx.duration() > 0).then(|| ictx.duration() as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE));
    let frames = stream.frames();
    let frame_count = (frames > 0).then_some(frames as u64);
    let fps = rate(stream.avg_frame_rate()).or_else(|| rate(stream.rate()));
    let duration = stream_duration.or(format_duration).or_else(|| Some(frame_count? as f64 / fps?));
    let codec = stream.parameters().id().name().to_string();
    let format = ictx.format().name().to_string();
    drop(ictx);

    if is_still_image_format(&format) {
        let kind = format.trim_end_matches("_pipe").to_uppercase();
        return Err(media_error(
            path,
            format!("a still image ({kind}, read by FFmpeg's {format} demuxer), not a video: vprog needs a video file (e.g. MP4, WebM, AVI, MKV)"),
        ));
    }
    let Some(duration) = duration else {
        return Err(media_error(
            path,
            format!("truncated or corrupt: the {format} container gives no duration for its {codec} video stream"),
        ));
    };
    let fps = match fps.or_else(|| Some(frame_count? as f64 / duration)) {
        Some(f) if f.is_finite() && f > 0.0 && f <= 10_000.0 => f,
        _ => {
            return Err(media_error(
                path,
                format!("truncated or corrupt: the {format} container gives no usable frame rate for its {codec} video stream"),
            ))
        }
    };

    // Decode the first frame: proves the codec works and gives the real size.
    let mut source = VideoSource::open(path, false)?;
    let first = source.next_frame()?.ok_or_else(|| {
        media_error(path, format!("truncated or corrupt: not a single {codec} video frame could be decoded from its {file_len} bytes"))
    })?;
    let (width, height) = (first.frame.width(), first.frame.height());
    if width == 0 || height == 0 {
        return Err(media_error(path, "corrupt: the video stream has no frame size"));
    }
    drop(first);

    // Does the data reach (nearly) the end the container claims?
    let mut duration = duration;
    if duration > TAIL_SLACK * 2.0 {
        let claims = format!("the container claims {duration:.2} s");
        match source.tail(duration - TAIL_SLACK)? {
            Tail::NoData => return Err(media_error(path, format!("truncated or corrupt: {claims} but there is no data near the end"))),
            Tail::Data { any_end, .. } if any_end < duration - TAIL_SLACK => {
                return Err(media_error(path, format!("truncated or corrupt: {claims} but the data ends at {any_end:.2} s")));
            }
            Tail::Data { video_end: Some(v), .. } if v < duration - TAIL_SLACK && stream_duration.is_none() => {
                // Other streams (audio) run on after the video: the video's own end is the duration.
                tracing::info!(path = %path.display(), video_end = v, container = duration, "video ends before the other streams");
                duration = v;
            }
            Tail::Data { .. } | Tail::Unknown => {}
        }
    }

    Ok(VideoInfo { format, duration, fps, width, height, frame_count, video_codec: codec, streams })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_containers_and_text() {
        assert_eq!(sniff_container(b"\0\0\0 ftypisom"), Some(Container::Mp4));
        assert_eq!(sniff_container(b"RIFF\0\0\0\0AVI LIST"), Some(Container::Avi));
        assert_eq!(sniff_container(&[0x1A, 0x45, 0xDF, 0xA3, 1]), Some(Container::Matroska));
        assert_eq!(sniff_container(b"hello world\n"), None);
        assert!(looks_like_text(b"hello world\n"));
        assert!(looks_like_text("caf\u{e9}".as_bytes()));
        assert!(!looks_like_text(&[0, 1, 2, 3]));
        assert!(!looks_like_text(b""));
    }
}
