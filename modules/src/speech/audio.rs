//! Audio for speech recognition: the best audio stream of a file decoded with
//! FFmpeg and resampled (libswresample) to 16 kHz mono `f32`.
//!
//! Times are video times: seconds from the first presentation timestamp of
//! the main video stream (the convention of the video modules), or of the
//! audio stream when the file has no video.

use std::path::Path;

use ffmpeg_next as ffmpeg;
use ffmpeg_next::format::sample::{Sample, Type as SampleType};
use ffmpeg_next::software::resampling;
use ffmpeg_next::{media, ChannelLayout};
use vprog_runtime::value::TimeRange;
use vprog_runtime::ModuleError;

use super::mel::SAMPLE_RATE;
use crate::video::{media_error, open_input, rate, video_stream_index};

/// How far before a range's start decoding begins after a seek, in seconds
/// (decoders and containers seek to a packet at or somewhat before the time).
const PRE_ROLL: f64 = 1.0;

/// The audio of one time range.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeAudio {
    /// The range asked for (video time).
    pub range: TimeRange,
    /// 16 kHz mono samples from `range.start` on; shorter than the range when
    /// the audio ends early, zeros where it starts late.
    pub samples: Vec<f32>,
}

/// The decoded audio of some ranges of a file.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedAudio {
    /// Index of the audio stream used.
    pub stream: usize,
    /// Its codec.
    pub codec: String,
    /// One entry per range, in order.
    pub ranges: Vec<RangeAudio>,
    /// Packets the decoder rejected (skipped).
    pub bad_packets: usize,
}

/// Decodes the audio of `ranges` of `path` to 16 kHz mono.
///
/// Returns `Ok(None)` when the file has no audio stream.
///
/// # Errors
///
/// [`ModuleError::Media`] when the file cannot be opened, the audio codec has
/// no decoder, or the resampler cannot be set up.
pub fn decode_ranges(path: &Path, ranges: &[TimeRange]) -> Result<Option<DecodedAudio>, ModuleError> {
    let mut ictx = open_input(path)?;
    let Some(stream) = ictx.streams().best(media::Type::Audio) else { return Ok(None) };
    let index = stream.index();
    let tb = rate(stream.time_base()).ok_or_else(|| media_error(path, format!("corrupt: audio stream #{index} has no time base")))?;
    let codec_id = stream.parameters().id();
    if ffmpeg::decoder::find(codec_id).is_none() {
        return Err(media_error(path, format!("unsupported audio codec '{}': this FFmpeg build has no decoder for it", codec_id.name())));
    }
    // Video time zero: the main video stream's start, else the audio's.
    let zero = |s: &ffmpeg::format::stream::Stream<'_>| {
        let st = s.start_time();
        if st == ffmpeg::ffi::AV_NOPTS_VALUE {
            0.0
        } else {
            rate(s.time_base()).map_or(0.0, |tb| st as f64 * tb)
        }
    };
    let origin = match video_stream_index(&ictx).and_then(|v| ictx.stream(v)) {
        Some(v) => zero(&v),
        None => zero(&stream),
    };
    let params = stream.parameters();
    let codec = codec_id.name().to_string();
    let mut out = DecodedAudio { stream: index, codec, ranges: Vec::new(), bad_packets: 0 };
    for (n, range) in ranges.iter().enumerate() {
        if n > 0 || range.start > PRE_ROLL {
            let target = ((range.start - PRE_ROLL).max(0.0) + origin).max(0.0);
            let ts = (target * f64::from(ffmpeg::ffi::AV_TIME_BASE)) as i64;
            if ictx.seek(ts, ..ts).is_err() {
                // Unseekable: decode from wherever the demuxer is (reopen for a range behind us).
                ictx = open_input(path)?;
            }
        }
        let context = ffmpeg::codec::context::Context::from_parameters(params.clone())
            .map_err(|e| media_error(path, format!("corrupt audio stream #{index}: its codec parameters are unusable ({e})")))?;
        let mut decoder =
            context.decoder().audio().map_err(|e| media_error(path, format!("cannot open the {} audio decoder ({e})", codec_id.name())))?;
        let mut state = RangeState::new(*range);
        let mut frame = ffmpeg::frame::Audio::empty();
        for (s, packet) in ictx.packets() {
            if s.index() != index {
                continue;
            }
            if decoder.send_packet(&packet).is_err() {
                out.bad_packets += 1;
                continue;
            }
            while decoder.receive_frame(&mut frame).is_ok() {
                state.push(path, &frame, tb, origin)?;
            }
            if state.done() {
                break;
            }
        }
        if !state.done() && decoder.send_eof().is_ok() {
            while decoder.receive_frame(&mut frame).is_ok() {
                state.push(path, &frame, tb, origin)?;
            }
        }
        out.ranges.push(state.finish(path)?);
    }
    Ok(Some(out))
}

/// Collects resampled audio for one range.
struct RangeState {
    range: TimeRange,
    resampler: Option<(resampling::Context, (Sample, u64, u32))>,
    /// Video time of the next resampled sample.
    clock: Option<f64>,
    samples: Vec<f32>,
    wanted: usize,
}

impl RangeState {
    fn new(range: TimeRange) -> RangeState {
        let wanted = (range.len() * SAMPLE_RATE as f64).round() as usize;
        RangeState { range, resampler: None, clock: None, samples: Vec::with_capacity(wanted), wanted }
    }

    fn done(&self) -> bool {
        self.samples.len() >= self.wanted
    }

    fn push(&mut self, path: &Path, frame: &ffmpeg::frame::Audio, tb: f64, origin: f64) -> Result<(), ModuleError> {
        if frame.samples() == 0 || frame.rate() == 0 {
            return Ok(());
        }
        let layout = match frame.channel_layout() {
            l if l.is_empty() || l.channels() != i32::from(frame.channels()) => ChannelLayout::default(i32::from(frame.channels()).max(1)),
            l => l,
        };
        let key = (frame.format(), layout.bits(), frame.rate());
        if self.resampler.as_ref().is_none_or(|(_, k)| *k != key) {
            let ctx = resampling::Context::get(
                frame.format(),
                layout,
                frame.rate(),
                Sample::F32(SampleType::Packed),
                ChannelLayout::MONO,
                SAMPLE_RATE as u32,
            )
            .map_err(|e| {
                media_error(path, format!("cannot resample the audio ({:?}, {} Hz) to 16 kHz mono: {e}", frame.format(), frame.rate()))
            })?;
            self.resampler = Some((ctx, key));
        }
        if self.clock.is_none() {
            if let Some(pts) = frame.pts().or_else(|| frame.timestamp()) {
                self.clock = Some(pts as f64 * tb - origin);
            }
        }
        let mut input = frame.clone();
        if input.channel_layout() != layout {
            input.set_channel_layout(layout);
        }
        let Some((ctx, _)) = self.resampler.as_mut() else { return Ok(()) };
        // Room for this frame's output and anything the resampler still holds.
        let cap = input.samples() * SAMPLE_RATE / input.rate() as usize + 1024;
        let mut resampled = ffmpeg::frame::Audio::new(Sample::F32(SampleType::Packed), cap, ChannelLayout::MONO);
        ctx.run(&input, &mut resampled).map_err(|e| media_error(path, format!("resampling failed: {e}")))?;
        let chunk = to_f32(&resampled);
        self.append(&chunk);
        Ok(())
    }

    fn append(&mut self, chunk: &[f32]) {
        let clock = self.clock.unwrap_or(self.range.start);
        // Index (in the range's samples) of the chunk's first sample.
        let first = ((clock - self.range.start) * SAMPLE_RATE as f64).round() as i64;
        self.clock = Some(clock + chunk.len() as f64 / SAMPLE_RATE as f64);
        for (i, &v) in chunk.iter().enumerate() {
            let at = first + i as i64;
            if at < 0 {
                continue;
            }
            let at = at as usize;
            if at >= self.wanted {
                break;
            }
            if at > self.samples.len() {
                self.samples.resize(at, 0.0);
            }
            if at == self.samples.len() {
                self.samples.push(v);
            } else {
                self.samples[at] = v;
            }
        }
    }

    fn finish(mut self, path: &Path) -> Result<RangeAudio, ModuleError> {
        if let Some((ctx, _)) = self.resampler.as_mut() {
            let mut rest = ffmpeg::frame::Audio::new(Sample::F32(SampleType::Packed), 4096, ChannelLayout::MONO);
            ctx.flush(&mut rest).map_err(|e| media_error(path, format!("resampling failed: {e}")))?;
            let chunk = to_f32(&rest);
            self.append(&chunk);
        }
        Ok(RangeAudio { range: self.range, samples: self.samples })
    }
}

/// The samples of a packed mono `f32` frame.
fn to_f32(frame: &ffmpeg::frame::Audio) -> Vec<f32> {
    if frame.samples() == 0 || frame.planes() == 0 {
        return Vec::new();
    }
    let bytes = frame.data(0);
    let n = (frame.samples() * 4).min(bytes.len());
    bytes[..n].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}
