//! Decoding frames: a seekable frame source over FFmpeg, RGB conversion, and
//! sparse sampling (seek to the keyframe at or before a target, decode
//! forward, keep the frame nearest the target).

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ffmpeg_next as ffmpeg;
use ffmpeg_next::codec::threading;
use ffmpeg_next::filter;
use ffmpeg_next::format::context::Input;
use ffmpeg_next::util::format::Pixel;
use ffmpeg_next::util::frame;
use vprog_runtime::module::{Progress, StopSignal};
use vprog_runtime::value::{clock, Clip, Frame};
use vprog_runtime::ModuleError;

use super::probe::{media_error, open_input, rate, require_video_stream};
use super::scenes;
use super::timeline::{self, MAX_FRAMES, MAX_OUTPUT_BYTES};

/// Targets closer than this (seconds) to the current decode position are
/// reached by decoding forward rather than seeking.
const CONTINUE_GAP: f64 = 2.0;

/// Video packets in a row that may fail to produce a frame before decoding
/// counts as broken.
const MAX_PACKETS_WITHOUT_FRAME: u64 = 500;

/// Unreadable packets in a row before the file counts as broken.
const MAX_READ_ERRORS: u32 = 1_000;

/// How far (seconds) a target may lie from the display span of the nearest
/// decodable frame before the file counts as damaged or truncated there.
const MAX_GAP: f64 = 2.0;

/// How to pick frames from a clip.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleMode {
    /// Frames at `start`, `start + 1/fps`, ... within each segment.
    Fps(f64),
    /// This many frames spread evenly over the clip's covered time (the
    /// midpoints of equal slices).
    Count(usize),
    /// The frames nearest these timestamps (seconds); each must lie in the clip.
    At(Vec<f64>),
    /// The first frame of each segment and the first frame after each cut,
    /// where a cut is a luma-histogram difference above this threshold
    /// (`0..=1`). Decodes every frame of the clip.
    Scenes(f64),
}

/// What sampling cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SampleStats {
    /// Frames the decoder produced (including those not returned).
    pub decoded_frames: u64,
    /// Seeks performed.
    pub seeks: u64,
    /// Video packets read from the container.
    pub packets_read: u64,
    /// Packets the demuxer or decoder rejected as corrupt (FFmpeg conceals
    /// these; frames are still returned).
    pub corrupt_packets: u64,
}

/// Sampled frames and what it took to get them.
#[derive(Debug, Clone)]
pub struct Sampled {
    /// The frames, in time order, without duplicates.
    pub frames: Vec<Frame>,
    /// Decoding statistics.
    pub stats: SampleStats,
}

/// Samples frames of `clip` as `mode` says, scaled so the longest side is
/// `size` pixels (`0` keeps the native size).
///
/// Each returned frame's `time` is its real presentation time (seconds from
/// the start of the video stream). For `Fps`, `Count` and `At` the frame is
/// the one nearest each requested time, so it lies within one frame interval
/// of the request; frames that several requests map to are returned once.
/// These modes seek and decode only the stretch from the keyframe before each
/// target (nearby targets are reached by decoding on). `Scenes` decodes every
/// frame of the clip.
///
/// Blocking and CPU heavy: call it from a blocking context.
///
/// # Errors
///
/// [`ModuleError::InvalidArgument`] for bad parameters (an `at` time outside
/// the clip, too many frames, an empty clip) and [`ModuleError::Media`] when
/// the file cannot be decoded (corrupt, truncated).
pub fn sample_clip(clip: &Clip, mode: &SampleMode, size: u32, progress: &Progress, stop: &StopSignal) -> Result<Sampled, ModuleError> {
    let info = &clip.video.info;
    let (out_w, out_h) = output_size(info.width, info.height, size);
    let frame_bytes = out_w as u64 * out_h as u64 * 3;
    let path = clip.video.path.as_path();
    // Check the request before touching the file.
    let targets = match mode {
        SampleMode::Scenes(threshold) => {
            timeline::validate_scenes(clip, *threshold)?;
            None
        }
        _ => {
            let targets = timeline::targets(clip, mode)?;
            let bytes = targets.len() as u64 * frame_bytes;
            if bytes > MAX_OUTPUT_BYTES {
                return Err(ModuleError::invalid(
                    "size",
                    format!(
                        "{} frames of {out_w}x{out_h} would take {:.1} GiB (limit {} GiB); pass a smaller `size` or fewer frames",
                        targets.len(),
                        bytes as f64 / f64::from(1u32 << 30),
                        MAX_OUTPUT_BYTES >> 30
                    ),
                ));
            }
            Some(targets)
        }
    };
    let (frames, stats) = match (mode, targets) {
        (SampleMode::Scenes(threshold), _) => {
            let mut src = VideoSource::open(path, true)?;
            (scenes::scene_frames(&mut src, clip, *threshold, size, frame_bytes, progress, stop)?, src.stats)
        }
        (_, targets) => {
            let targets = targets.unwrap_or_default();
            progress.set_length(targets.len() as u64);
            sample_sparse(path, &targets, size, progress, stop)?
        }
    };
    if stats.corrupt_packets > 0 {
        tracing::warn!(path = %path.display(), corrupt = stats.corrupt_packets, "corrupt packets while decoding; FFmpeg concealed them");
    }
    Ok(Sampled { frames, stats })
}

/// Seeks needed before parallel decoders pay off (per decoder).
const SEEKS_PER_WORKER: usize = 4;

/// Samples sorted `targets`. Sparse targets (far enough apart that each needs
/// a seek) are split into contiguous groups decoded side by side by
/// independent single-threaded decoders, one per core: seeking restarts a
/// frame-threaded decoder's pipeline every time, while separate decoders
/// keep every core busy. Dense targets use one frame-threaded decoder.
fn sample_sparse(
    path: &Path,
    targets: &[f64],
    size: u32,
    progress: &Progress,
    stop: &StopSignal,
) -> Result<(Vec<Frame>, SampleStats), ModuleError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let seeks = targets.windows(2).filter(|w| w[1] - w[0] > CONTINUE_GAP).count() + 1;
    let workers = cores.min(seeks / SEEKS_PER_WORKER).max(1);
    if workers == 1 {
        let mut src = VideoSource::open(path, true)?;
        let frames = sample_times(&mut src, targets, size, progress, stop)?;
        return Ok((frames, src.stats));
    }
    let chunk = targets.len().div_ceil(workers);
    let results: Vec<Result<(Vec<Frame>, SampleStats), ModuleError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = targets
            .chunks(chunk)
            .map(|group| {
                scope.spawn(move || {
                    let mut src = VideoSource::open(path, false)?;
                    let frames = sample_times(&mut src, group, size, progress, stop)?;
                    Ok((frames, src.stats))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(media_error(path, "a decoding thread panicked")))).collect()
    });
    let mut frames: Vec<Frame> = Vec::with_capacity(targets.len());
    let mut stats = SampleStats::default();
    for r in results {
        let (f, s) = r?;
        frames.extend(f);
        stats.decoded_frames += s.decoded_frames;
        stats.seeks += s.seeks;
        stats.packets_read += s.packets_read;
        stats.corrupt_packets += s.corrupt_packets;
    }
    frames.sort_by(|a, b| a.time.total_cmp(&b.time));
    // Neighbouring groups can land on the same frame only at their boundary.
    frames.dedup_by(|a, b| a.time.to_bits() == b.time.to_bits());
    Ok((frames, stats))
}

/// The output size for a `width`x`height` frame: native for `size == 0`,
/// else the longest side becomes `size` and the other keeps the aspect ratio.
pub fn output_size(width: u32, height: u32, size: u32) -> (u32, u32) {
    if size == 0 || width == 0 || height == 0 {
        return (width, height);
    }
    let scale = |short: u32, long: u32| ((f64::from(short) * f64::from(size) / f64::from(long)).round() as u32).max(1);
    if width >= height {
        (size, scale(height, width))
    } else {
        (scale(width, height), size)
    }
}

/// One decoded frame with its presentation time.
pub(crate) struct Decoded {
    /// Seconds from the start of the video stream.
    pub time: f64,
    /// How long it is shown, seconds (one frame interval when unknown).
    pub duration: f64,
    /// The decoded picture.
    pub frame: frame::Video,
}

/// What reading the last stretch of a file found (seconds on the video's
/// timeline).
pub(crate) enum Tail {
    /// Packets were read to the end of the file.
    Data {
        /// Where the main video stream's packets end, if any were seen.
        video_end: Option<f64>,
        /// Where the last packet of any stream ends.
        any_end: f64,
    },
    /// Not a single packet after the seek.
    NoData,
    /// Could not tell (not seekable, no timestamps, or the data goes on).
    Unknown,
}

/// A seekable source of decoded frames of a file's main video stream.
pub(crate) struct VideoSource {
    path: PathBuf,
    threaded: bool,
    ictx: Input,
    stream_index: usize,
    decoder: ffmpeg::decoder::Video,
    /// Seconds per time-base tick.
    tb: f64,
    /// The stream's first timestamp in ticks (0 when unknown).
    start_ts: i64,
    fps: f64,
    pending: Option<ffmpeg::Packet>,
    input_eof: bool,
    drained: bool,
    fresh: bool,
    last_time: Option<f64>,
    last_key: Option<f64>,
    max_gop: Option<f64>,
    packets_since_frame: u64,
    read_errors: u32,
    last_error: Option<ffmpeg::Error>,
    seeked_to: Option<f64>,
    /// Cleared when the container refuses to seek: decoding then only goes forward.
    seekable: bool,
    /// While set, packets presented before this time skip their non-reference
    /// frames: nothing later depends on them, so the frames that are decoded
    /// come out exactly the same, with less work on the way to a target.
    skip_before: Option<f64>,
    /// Decoding statistics.
    pub stats: SampleStats,
}

impl VideoSource {
    /// Opens the main video stream of `path` and its decoder (frame threads
    /// when `threaded`).
    pub(crate) fn open(path: &Path, threaded: bool) -> Result<VideoSource, ModuleError> {
        let ictx = open_input(path)?;
        let stream_index = require_video_stream(path, &ictx)?;
        let stream = ictx.stream(stream_index).ok_or_else(|| media_error(path, "the video stream vanished while opening"))?;
        let tb = rate(stream.time_base()).ok_or_else(|| media_error(path, "corrupt: the video stream has no time base"))?;
        let start_ts = match stream.start_time() {
            ffmpeg::ffi::AV_NOPTS_VALUE => 0,
            s => s,
        };
        let fps = rate(stream.avg_frame_rate()).or_else(|| rate(stream.rate())).filter(|f| *f <= 10_000.0).unwrap_or(25.0);
        let params = stream.parameters();
        let id = params.id();
        if ffmpeg::decoder::find(id).is_none() {
            let reason = if id == ffmpeg::codec::Id::None {
                format!("unsupported video codec: FFmpeg does not recognise the codec of video stream #{stream_index}")
            } else {
                format!("unsupported video codec '{}': this FFmpeg build has no decoder for it", id.name())
            };
            return Err(media_error(path, reason));
        }
        let mut context = ffmpeg::codec::context::Context::from_parameters(params)
            .map_err(|e| media_error(path, format!("corrupt video stream #{stream_index}: its codec parameters are unusable ({e})")))?;
        if threaded {
            context.set_threading(threading::Config { kind: threading::Type::Frame, count: 0, ..Default::default() });
        }
        let mut decoder = context.decoder();
        decoder.set_packet_time_base(stream.time_base());
        let decoder = decoder.video().map_err(|e| {
            media_error(path, format!("cannot open the {} decoder ({e}): the stream header is probably corrupt", id.name()))
        })?;
        Ok(VideoSource {
            path: path.to_path_buf(),
            threaded,
            ictx,
            stream_index,
            decoder,
            tb,
            start_ts,
            fps,
            pending: None,
            input_eof: false,
            drained: false,
            fresh: true,
            last_time: None,
            last_key: None,
            max_gop: None,
            packets_since_frame: 0,
            read_errors: 0,
            last_error: None,
            seeked_to: None,
            seekable: true,
            skip_before: None,
            stats: SampleStats::default(),
        })
    }

    /// The file being decoded.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The stream's average frame rate.
    pub(crate) fn fps(&self) -> f64 {
        self.fps
    }

    /// Whether nothing has been read since opening.
    pub(crate) fn is_fresh(&self) -> bool {
        self.fresh
    }

    /// Whether the decoder has returned its last frame.
    pub(crate) fn finished(&self) -> bool {
        self.drained
    }

    /// Time of the last decoded frame.
    pub(crate) fn position(&self) -> Option<f64> {
        self.last_time
    }

    /// Skip non-reference frames presented before `t` (`None`: decode every frame).
    pub(crate) fn skip_non_reference_before(&mut self, t: Option<f64>) {
        self.skip_before = t;
    }

    /// Whether a target `t` ahead of the decode position `pos` is cheaper to
    /// reach by decoding on than by seeking: it is close, or it lies before
    /// the next keyframe expected from the GOP lengths seen so far.
    pub(crate) fn should_continue(&self, pos: f64, t: f64) -> bool {
        if t - pos <= CONTINUE_GAP || !self.seekable {
            return true;
        }
        matches!((self.last_key, self.max_gop), (Some(k), Some(g)) if t < k + g)
    }

    fn ticks_to_seconds(&self, ts: i64) -> f64 {
        ts.saturating_sub(self.start_ts) as f64 * self.tb
    }

    fn seconds_to_av_time(&self, t: f64) -> i64 {
        let abs = t.max(0.0) + self.start_ts as f64 * self.tb;
        (abs * f64::from(ffmpeg::ffi::AV_TIME_BASE)).round() as i64
    }

    /// Seeks to the keyframe at or before `t` (seconds) and resets the
    /// decoder. Files FFmpeg cannot seek in are reopened (decoding restarts
    /// at the beginning).
    pub(crate) fn seek(&mut self, t: f64) -> Result<(), ModuleError> {
        self.stats.seeks += 1;
        let ts = self.seconds_to_av_time(t);
        if self.ictx.seek(ts, ..ts).is_err() {
            tracing::debug!(path = %self.path.display(), "the container cannot seek; decoding from the start");
            self.reopen()?;
            self.seekable = false;
            return Ok(());
        }
        self.decoder.flush();
        self.reset_position();
        self.seeked_to = Some(t);
        Ok(())
    }

    fn reset_position(&mut self) {
        self.pending = None;
        self.input_eof = false;
        self.drained = false;
        self.last_time = None;
        self.last_key = None;
        self.packets_since_frame = 0;
        self.read_errors = 0;
    }

    fn reopen(&mut self) -> Result<(), ModuleError> {
        let stats = self.stats;
        let max_gop = self.max_gop;
        *self = VideoSource::open(&self.path, self.threaded)?;
        self.stats = stats;
        self.max_gop = max_gop;
        Ok(())
    }

    /// Positions the source so the next frames are at or just before `t`:
    /// seeks, and if the first frame decoded lands after `t` (an imprecise
    /// index), seeks again further back (1 s, 4 s, 16 s, ... down to the
    /// start). Returns the first decoded frame, `None` at end of stream.
    pub(crate) fn seek_to(&mut self, t: f64) -> Result<Option<Decoded>, ModuleError> {
        let tolerance = 0.5 / self.fps;
        let mut back = 0.0;
        loop {
            let at = (t - back).max(0.0);
            self.seek(at)?;
            let first = self.next_frame()?;
            if first.as_ref().is_some_and(|f| f.time <= t + tolerance) || at <= 0.0 {
                return Ok(first);
            }
            back = if back == 0.0 { 1.0 } else { back * 4.0 };
        }
    }

    /// The next decoded frame in presentation order; `None` at the end.
    pub(crate) fn next_frame(&mut self) -> Result<Option<Decoded>, ModuleError> {
        self.fresh = false;
        loop {
            let mut frame = frame::Video::empty();
            match self.decoder.receive_frame(&mut frame) {
                Ok(()) => return Ok(Some(self.finish_frame(frame))),
                Err(ffmpeg::Error::Eof) => {
                    self.drained = true;
                    return Ok(None);
                }
                Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::util::error::EAGAIN => {}
                Err(e) => {
                    self.note_decode_error(e);
                    continue;
                }
            }
            if self.drained || self.input_eof {
                // End of input was sent and the decoder has nothing more.
                self.drained = true;
                return Ok(None);
            }
            self.feed()?;
        }
    }

    fn finish_frame(&mut self, frame: frame::Video) -> Decoded {
        let time = match frame.timestamp().or_else(|| frame.pts()) {
            Some(ts) => self.ticks_to_seconds(ts),
            None => self.last_time.map_or(0.0, |t| t + 1.0 / self.fps),
        };
        let ticks = frame.packet().duration;
        let duration = if ticks > 0 { ticks as f64 * self.tb } else { 1.0 / self.fps };
        self.last_time = Some(time);
        self.packets_since_frame = 0;
        self.stats.decoded_frames += 1;
        Decoded { time, duration, frame }
    }

    fn note_decode_error(&mut self, e: ffmpeg::Error) {
        self.stats.corrupt_packets += 1;
        self.last_error = Some(e);
    }

    /// Where decoding is, for error messages.
    fn where_(&self) -> String {
        match (self.last_time, self.seeked_to) {
            (Some(t), _) => format!("after {}", clock(t)),
            (None, Some(s)) => format!("after seeking to {}", clock(s)),
            (None, None) => "from the start of the stream".to_string(),
        }
    }

    /// Reads one packet and hands it to the decoder (if it is video).
    fn feed(&mut self) -> Result<(), ModuleError> {
        if let Some(packet) = self.pending.take() {
            return self.send(packet);
        }
        let mut packet = ffmpeg::Packet::empty();
        match packet.read(&mut self.ictx) {
            Ok(()) => {
                self.read_errors = 0;
                if packet.stream() != self.stream_index {
                    return Ok(());
                }
                self.stats.packets_read += 1;
                self.packets_since_frame += 1;
                if self.packets_since_frame > MAX_PACKETS_WITHOUT_FRAME {
                    let last = self.last_error.map(|e| format!(" (last decoder error: {e})")).unwrap_or_default();
                    return Err(media_error(
                        &self.path,
                        format!(
                            "corrupt video data: {MAX_PACKETS_WITHOUT_FRAME} video packets in a row {} decoded to no picture{last}",
                            self.where_()
                        ),
                    ));
                }
                if packet.is_key() {
                    if let Some(ts) = packet.pts().or_else(|| packet.dts()) {
                        let kt = self.ticks_to_seconds(ts);
                        if let Some(prev) = self.last_key {
                            if kt > prev {
                                self.max_gop = Some(self.max_gop.map_or(kt - prev, |g| g.max(kt - prev)));
                            }
                        }
                        self.last_key = Some(kt);
                    }
                }
                self.send(packet)
            }
            Err(ffmpeg::Error::Eof) => {
                self.input_eof = true;
                // Draining may report an error for a decoder that was never fed; the
                // next receive then ends the stream.
                let _ = self.decoder.send_eof();
                Ok(())
            }
            Err(ffmpeg::Error::InvalidData) => {
                self.read_errors += 1;
                self.stats.corrupt_packets += 1;
                if self.read_errors > MAX_READ_ERRORS {
                    return Err(media_error(
                        &self.path,
                        format!("corrupt container: {MAX_READ_ERRORS} unreadable packets in a row {}", self.where_()),
                    ));
                }
                Ok(())
            }
            Err(e) => Err(media_error(&self.path, format!("read error {}: {e} (the file may be truncated or unreadable)", self.where_()))),
        }
    }

    fn send(&mut self, packet: ffmpeg::Packet) -> Result<(), ModuleError> {
        let skip = match (self.skip_before, packet.pts().or_else(|| packet.dts())) {
            (Some(limit), Some(ts)) if self.ticks_to_seconds(ts) < limit => ffmpeg::Discard::NonReference,
            _ => ffmpeg::Discard::Default,
        };
        self.decoder.skip_frame(skip);
        match self.decoder.send_packet(&packet) {
            Ok(()) | Err(ffmpeg::Error::Eof) => Ok(()),
            Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::util::error::EAGAIN => {
                // The decoder wants its output read first; resend afterwards.
                self.pending = Some(packet);
                Ok(())
            }
            Err(e) => {
                self.note_decode_error(e);
                Ok(())
            }
        }
    }

    /// Seeks near `t` and reads raw packets (no decoding) to the end of the
    /// file: where the data really ends.
    pub(crate) fn tail(&mut self, t: f64) -> Result<Tail, ModuleError> {
        let ts = self.seconds_to_av_time(t);
        if self.ictx.seek(ts, ..ts).is_err() {
            return Ok(Tail::Unknown);
        }
        let video_start = self.start_ts as f64 * self.tb;
        let mut video_end: Option<f64> = None;
        let mut any_end: Option<f64> = None;
        let mut any = false;
        for _ in 0..20_000 {
            let mut packet = ffmpeg::Packet::empty();
            match packet.read(&mut self.ictx) {
                Ok(()) => {
                    any = true;
                    let Some(tb) = self.ictx.stream(packet.stream()).and_then(|s| rate(s.time_base())) else {
                        continue;
                    };
                    let Some(ts) = packet.pts().or_else(|| packet.dts()) else {
                        continue;
                    };
                    let end = ts as f64 * tb + packet.duration().max(0) as f64 * tb - video_start;
                    any_end = Some(any_end.map_or(end, |x| x.max(end)));
                    if packet.stream() == self.stream_index {
                        video_end = Some(video_end.map_or(end, |x| x.max(end)));
                    }
                }
                Err(ffmpeg::Error::InvalidData) => {}
                Err(ffmpeg::Error::Eof) => {
                    return Ok(match (any, any_end) {
                        (false, _) => Tail::NoData,
                        (true, Some(any_end)) => Tail::Data { video_end, any_end },
                        (true, None) => Tail::Unknown,
                    })
                }
                Err(_) => return Ok(Tail::Unknown),
            }
        }
        Ok(Tail::Unknown)
    }
}

/// Converts decoded frames to packed RGB24 at an output size.
///
/// Runs FFmpeg's `scale` filter rather than a bare swscale context: the filter
/// honours each frame's colour matrix and range (BT.709 for most HD video,
/// full-range JPEG-style YUV), which swscale alone would treat as BT.601
/// limited range. Output matches `ffmpeg -sws_flags
/// bilinear+accurate_rnd+full_chroma_int -pix_fmt rgb24` bit for bit.
pub(crate) struct RgbConverter {
    size: u32,
    path: PathBuf,
    graph: Option<((Pixel, u32, u32), filter::Graph)>,
}

impl RgbConverter {
    /// A converter to frames whose longest side is `size` (0: native).
    pub(crate) fn new(path: &Path, size: u32) -> RgbConverter {
        RgbConverter { size, path: path.to_path_buf(), graph: None }
    }

    fn build(format: Pixel, w: u32, h: u32, dw: u32, dh: u32) -> Result<filter::Graph, ffmpeg::Error> {
        let mut graph = filter::Graph::new();
        let buffer = filter::find("buffer").ok_or(ffmpeg::Error::FilterNotFound)?;
        let sink = filter::find("buffersink").ok_or(ffmpeg::Error::FilterNotFound)?;
        let pix_fmt = format.descriptor().ok_or(ffmpeg::Error::InvalidData)?.name();
        graph.add(&buffer, "in", &format!("video_size={w}x{h}:pix_fmt={pix_fmt}:time_base=1/1:pixel_aspect=1/1"))?;
        graph.add(&sink, "out", "")?;
        let kernel = if dw < w || dh < h {
            "area"
        } else if dw > w || dh > h {
            "bicubic"
        } else {
            "bilinear"
        };
        let spec = format!("scale=w={dw}:h={dh}:flags={kernel}+accurate_rnd+full_chroma_int,format=rgb24");
        graph.output("in", 0)?.input("out", 0)?.parse(&spec)?;
        graph.validate()?;
        Ok(graph)
    }

    fn run(graph: &mut filter::Graph, frame: &frame::Video) -> Result<frame::Video, ffmpeg::Error> {
        // The buffer source takes over the references of the frame it is
        // given, so hand it a copy and keep the decoded frame intact.
        let copy = frame.clone();
        graph.get("in").ok_or(ffmpeg::Error::FilterNotFound)?.source().add(&copy)?;
        let mut out = frame::Video::empty();
        graph.get("out").ok_or(ffmpeg::Error::FilterNotFound)?.sink().frame(&mut out)?;
        Ok(out)
    }

    /// The frame as RGB24.
    pub(crate) fn convert(&mut self, d: &Decoded) -> Result<Frame, ModuleError> {
        let (w, h, format) = (d.frame.width(), d.frame.height(), d.frame.format());
        if w == 0 || h == 0 || format == Pixel::None {
            return Err(media_error(&self.path, format!("corrupt video data: the decoder produced an empty picture at {}", clock(d.time))));
        }
        let (dw, dh) = output_size(w, h, self.size);
        let key = (format, w, h);
        let graph = match &mut self.graph {
            Some((k, g)) if *k == key => g,
            slot => {
                let g = Self::build(format, w, h, dw, dh)
                    .map_err(|e| media_error(&self.path, format!("cannot convert {format:?} {w}x{h} pictures to RGB: {e}")))?;
                &mut slot.insert((key, g)).1
            }
        };
        let out = Self::run(graph, &d.frame)
            .map_err(|e| media_error(&self.path, format!("pixel conversion failed at {}: {e}", clock(d.time))))?;
        if (out.width(), out.height(), out.format()) != (dw, dh, Pixel::RGB24) {
            return Err(media_error(
                &self.path,
                format!("pixel conversion produced a {:?} {}x{} picture", out.format(), out.width(), out.height()),
            ));
        }
        let row = dw as usize * 3;
        let stride = out.stride(0);
        let data = out.data(0);
        let mut rgb = Vec::with_capacity(row * dh as usize);
        for y in 0..dh as usize {
            let line = data
                .get(y * stride..y * stride + row)
                .ok_or_else(|| media_error(&self.path, "pixel conversion produced a short picture"))?;
            rgb.extend_from_slice(line);
        }
        Ok(Frame { time: d.time, width: dw, height: dh, rgb: Arc::from(rgb) })
    }
}

/// Frame intervals before a target within which every frame is decoded.
const SKIP_MARGIN_FRAMES: f64 = 3.0;

/// The frame in `window` nearest `t` (the earlier one on a tie).
fn nearest(window: &VecDeque<Decoded>, t: f64) -> Option<&Decoded> {
    window.iter().min_by(|a, b| (a.time - t).abs().total_cmp(&(b.time - t).abs()))
}

/// Adds the target time to a media error's reason.
fn looking_for(e: ModuleError, t: f64) -> ModuleError {
    match e {
        ModuleError::Media { path, reason } => {
            ModuleError::Media { path, reason: format!("{reason}, while looking for the frame at {}", clock(t)) }
        }
        other => other,
    }
}

/// The frames nearest each of the sorted `targets`.
fn sample_times(
    src: &mut VideoSource,
    targets: &[f64],
    size: u32,
    progress: &Progress,
    stop: &StopSignal,
) -> Result<Vec<Frame>, ModuleError> {
    let path = src.path.clone();
    let mut convert = RgbConverter::new(&path, size);
    let mut window: VecDeque<Decoded> = VecDeque::with_capacity(3);
    let mut seen: HashSet<u64> = HashSet::new();
    let mut out = Vec::with_capacity(targets.len());
    let tolerance = 0.5 / src.fps();
    for &t in targets {
        let need_seek = match (window.front(), window.back()) {
            (Some(first), Some(last)) => {
                if t < first.time - tolerance {
                    true
                } else if t <= last.time || src.finished() {
                    false
                } else {
                    !src.should_continue(last.time, t)
                }
            }
            _ => !(src.is_fresh() && t <= CONTINUE_GAP),
        };
        // Frames more than a few intervals before the target cannot be the
        // nearest one: their non-reference frames need not be decoded.
        src.skip_non_reference_before(Some(t - SKIP_MARGIN_FRAMES / src.fps()));
        if need_seek {
            window.clear();
            if let Some(f) = src.seek_to(t).map_err(|e| looking_for(e, t))? {
                window.push_back(f);
            }
        }
        while window.back().is_none_or(|f| f.time < t) && !src.finished() {
            match src.next_frame().map_err(|e| looking_for(e, t))? {
                Some(f) => {
                    window.push_back(f);
                    if window.len() > 2 {
                        window.pop_front();
                    }
                }
                None => break,
            }
        }
        let best = nearest(&window, t).ok_or_else(|| {
            media_error(&path, format!("no video frame could be decoded at or before {} (the file is corrupt or truncated)", clock(t)))
        })?;
        // The frame shown at `t` is `best` when `t` lies within its display
        // span; a target far from any decodable frame means damage.
        let gap = if t < best.time { best.time - t } else { (t - (best.time + best.duration)).max(0.0) };
        if gap > MAX_GAP {
            let corrupt = src.stats.corrupt_packets;
            let reason = if t > best.time && src.finished() {
                format!(
                    "truncated or corrupt: the video data ends at {} but {} was requested ({corrupt} corrupt packets)",
                    clock(best.time + best.duration),
                    clock(t)
                )
            } else {
                format!(
                    "corrupt video data: no frame near {} could be decoded (the nearest decodable frame is at {}; {corrupt} corrupt packets)",
                    clock(t),
                    clock(best.time)
                )
            };
            return Err(media_error(&path, reason));
        }
        if seen.insert(best.time.to_bits()) {
            if out.len() >= MAX_FRAMES {
                return Err(ModuleError::invalid("count", format!("more than {MAX_FRAMES} frames requested")));
            }
            out.push(convert.convert(best)?);
        }
        progress.inc(1);
        stop.check()?;
    }
    out.sort_by(|a, b| a.time.total_cmp(&b.time));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_sizes_keep_aspect() {
        assert_eq!(output_size(1280, 720, 0), (1280, 720));
        assert_eq!(output_size(1280, 720, 320), (320, 180));
        assert_eq!(output_size(360, 640, 320), (180, 320));
        assert_eq!(output_size(768, 576, 100), (100, 75));
        assert_eq!(output_size(1000, 1, 10), (10, 1));
    }
}
