//! Scene-change sampling: decode every frame of a clip, compare luma
//! histograms of consecutive frames on a small grayscale copy, and keep the
//! first frame after each cut.

use std::collections::HashSet;

use ffmpeg_next::software::scaling;
use ffmpeg_next::util::format::Pixel;
use ffmpeg_next::util::frame;
use vprog_runtime::module::{Progress, StopSignal};
use vprog_runtime::value::{clock, Clip, Frame};
use vprog_runtime::ModuleError;

use super::decode::{Decoded, RgbConverter, VideoSource};
use super::probe::media_error;
use super::timeline::{MAX_FRAMES, MAX_OUTPUT_BYTES};

/// Side of the grayscale thumbnail histograms are taken from.
const THUMB: u32 = 64;

/// Histogram bins.
const BINS: usize = 32;

/// A normalised luma histogram.
type Histogram = [f64; BINS];

/// Half the L1 distance between two normalised histograms: `0` for equal
/// brightness distributions, `1` for disjoint ones.
pub(crate) fn histogram_distance(a: &Histogram, b: &Histogram) -> f64 {
    0.5 * a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f64>()
}

/// Luma histograms of decoded frames via a small grayscale thumbnail.
struct Histogrammer {
    scaler: Option<((Pixel, u32, u32), scaling::Context)>,
}

impl Histogrammer {
    fn histogram(&mut self, d: &Decoded, source: &VideoSource) -> Result<Histogram, ModuleError> {
        let (w, h, format) = (d.frame.width(), d.frame.height(), d.frame.format());
        let key = (format, w, h);
        let scaler = match &mut self.scaler {
            Some((k, s)) if *k == key => s,
            slot => {
                let ctx = scaling::Context::get(format, w, h, Pixel::GRAY8, THUMB, THUMB, scaling::Flags::AREA).map_err(|e| {
                    media_error(source.path(), format!("cannot make grayscale thumbnails of {format:?} {w}x{h} pictures: {e}"))
                })?;
                &mut slot.insert((key, ctx)).1
            }
        };
        let mut gray = frame::Video::empty();
        scaler
            .run(&d.frame, &mut gray)
            .map_err(|e| media_error(source.path(), format!("grayscale conversion failed at {}: {e}", clock(d.time))))?;
        let stride = gray.stride(0);
        let data = gray.data(0);
        let mut hist = [0.0; BINS];
        for y in 0..THUMB as usize {
            let row = data.get(y * stride..y * stride + THUMB as usize).unwrap_or(&[]);
            for &p in row {
                hist[usize::from(p) * BINS / 256] += 1.0;
            }
        }
        let total: f64 = hist.iter().sum();
        if total > 0.0 {
            hist.iter_mut().for_each(|v| *v /= total);
        }
        Ok(hist)
    }
}

/// The first frame of each segment of `clip` plus the first frame after each
/// cut (histogram distance above `threshold`), as RGB at `size`.
pub(crate) fn scene_frames(
    src: &mut VideoSource,
    clip: &Clip,
    threshold: f64,
    size: u32,
    frame_bytes: u64,
    progress: &Progress,
    stop: &StopSignal,
) -> Result<Vec<Frame>, ModuleError> {
    let fps = src.fps();
    let half = 0.5 / fps;
    let mut hist = Histogrammer { scaler: None };
    let mut convert = RgbConverter::new(src.path(), size);
    let mut out: Vec<Frame> = Vec::new();
    let mut seen: HashSet<u64> = HashSet::new();
    progress.set_length((clip.duration() * fps).ceil().max(1.0) as u64);
    for seg in &clip.segments {
        let end = if seg.is_empty() { seg.start + half } else { seg.end };
        let mut prev: Option<Histogram> = None;
        let mut next = match src.position() {
            Some(p) if p < seg.start - half && !src.finished() && src.should_continue(p, seg.start) => src.next_frame()?,
            _ => src.seek_to(seg.start)?,
        };
        while let Some(d) = next {
            if d.time >= end {
                break;
            }
            if d.time >= seg.start - half {
                progress.inc(1);
                stop.check()?;
                let h = hist.histogram(&d, src)?;
                let cut = prev.as_ref().is_none_or(|p| histogram_distance(p, &h) > threshold);
                if cut && seen.insert(d.time.to_bits()) {
                    if out.len() >= MAX_FRAMES || (out.len() as u64 + 1) * frame_bytes > MAX_OUTPUT_BYTES {
                        return Err(ModuleError::invalid(
                            "scenes",
                            format!(
                                "more than {} scene frames at threshold {threshold}; raise the threshold or pass a smaller `size`",
                                out.len()
                            ),
                        ));
                    }
                    out.push(convert.convert(&d)?);
                }
                prev = Some(h);
            }
            next = src.next_frame()?;
        }
    }
    if out.is_empty() {
        return Err(media_error(src.path(), "no video frame could be decoded in the clip (the file is corrupt or truncated)"));
    }
    out.sort_by(|a, b| a.time.total_cmp(&b.time));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_distance_is_zero_to_one() {
        let mut a = [0.0; BINS];
        let mut b = [0.0; BINS];
        a[0] = 1.0;
        b[BINS - 1] = 1.0;
        assert_eq!(histogram_distance(&a, &a), 0.0);
        assert_eq!(histogram_distance(&a, &b), 1.0);
    }
}
