//! `shots(frames, threshold)`: shot boundaries found among already sampled
//! frames, as timed text the evidence renderer can show.
//!
//! Each frame's luma histogram (32 bins, over a grid of at most 64×64
//! pixels) is compared with the previous frame's, as `sample(…, scenes: …)`
//! does over every decoded frame; a cut is a distance (half the L1 distance
//! of the normalised histograms, 0 to 1) above `threshold`. On frames sampled
//! at `fps`, a cut is placed at the first frame after it, so its time is late
//! by up to `1/fps`: the fast path gets shot boundaries over the whole video
//! without decoding it a second time.

use std::sync::Arc;

use async_trait::async_trait;
use vprog_runtime::value::{Cue, Frame, TimedText};
use vprog_runtime::{Args, CachePolicy, Module, ModuleError, Param, Returns, Signature, StepContext, Type, Value};

use super::scenes::histogram_distance;

/// `source` of every cue.
pub const SOURCE: &str = "shots";

/// Default cut threshold.
pub const DEFAULT_THRESHOLD: f64 = 0.3;

const BINS: usize = 32;
const GRID: u32 = 64;

/// The normalised luma histogram of `f` over a grid of at most `GRID`×`GRID` pixels.
fn histogram(f: &Frame) -> [f64; BINS] {
    let mut hist = [0.0; BINS];
    let (w, h) = (f.width.max(1), f.height.max(1));
    let (sx, sy) = (w.div_ceil(GRID).max(1), h.div_ceil(GRID).max(1));
    for y in (0..h).step_by(sy as usize) {
        for x in (0..w).step_by(sx as usize) {
            let i = ((y * w + x) * 3) as usize;
            if let Some(p) = f.rgb.get(i..i + 3) {
                let luma = (299 * u32::from(p[0]) + 587 * u32::from(p[1]) + 114 * u32::from(p[2])) / 1000;
                hist[(luma as usize * BINS / 256).min(BINS - 1)] += 1.0;
            }
        }
    }
    let total: f64 = hist.iter().sum();
    if total > 0.0 {
        hist.iter_mut().for_each(|v| *v /= total);
    }
    hist
}

/// The shots of `frames` (in time order): one cue per shot, from its first
/// frame to the next shot's first frame (the last one to the last frame plus
/// the median frame gap), `shot K of N`, with the cut's distance as score
/// (the first shot has none).
pub fn shots(frames: &[Frame], threshold: f64) -> TimedText {
    let Some(first) = frames.first() else { return TimedText::default() };
    let mut starts = vec![(first.time, None)];
    let mut prev = histogram(first);
    for f in &frames[1..] {
        let h = histogram(f);
        let d = histogram_distance(&prev, &h);
        if d > threshold {
            starts.push((f.time, Some(d)));
        }
        prev = h;
    }
    let mut gaps: Vec<f64> = frames.windows(2).map(|w| w[1].time - w[0].time).collect();
    gaps.sort_by(f64::total_cmp);
    let gap = gaps.get(gaps.len() / 2).copied().unwrap_or(0.0);
    let end = frames.last().map_or(first.time, |f| f.time) + gap;
    let n = starts.len();
    let cues = starts
        .iter()
        .enumerate()
        .map(|(k, &(start, score))| Cue {
            start,
            end: starts.get(k + 1).map_or(end, |s| s.0),
            text: format!("shot {} of {n}", k + 1),
            score,
            bbox: None,
            source: SOURCE.into(),
        })
        .collect();
    TimedText { cues }
}

/// Module `shots`.
pub struct Shots {
    sig: Signature,
}

impl Default for Shots {
    fn default() -> Self {
        Shots::new()
    }
}

impl Shots {
    /// The module with its signature.
    pub fn new() -> Shots {
        let sig = Signature::new(
            "shots",
            "1.0.0",
            Returns::Is(Type::TimedText),
            "Shot boundaries among sampled frames, as one cue per shot (`shot K of N`, from its first frame to the next shot's).
A cut is a change of the luma histogram between consecutive frames above `threshold` \
(0 to 1; the distance is the cue's score). The frames are not decoded again: on frames \
sampled at `fps`, a cut is placed at the first frame after it (up to 1/fps late). \
For exact cuts, `sample(clip, scenes: …)` decodes every frame.",
        )
        .param(Param::of("frames", Type::Frames, "Frames in time order, e.g. from `sample(video, fps: 1)`."))
        .param(
            Param::of("threshold", Type::Number, "Histogram change (0 to 1) above which consecutive frames are in different shots.")
                .default(Value::Number(DEFAULT_THRESHOLD))
                .range(0.0, 1.0)
                .searchable(0.1, 0.6),
        )
        .cache(CachePolicy::Memory);
        Shots { sig }
    }
}

#[async_trait]
impl Module for Shots {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    async fn call(&self, args: Args, ctx: &StepContext) -> Result<Value, ModuleError> {
        let frames = args.frames("frames")?;
        let threshold = args.number("threshold")?;
        if !(0.0..=1.0).contains(&threshold) {
            return Err(ModuleError::invalid("threshold", format!("must be in [0, 1], got {threshold}")));
        }
        let out = ctx.blocking(move || Ok(shots(&frames, threshold))).await?;
        ctx.note("shots", out.cues.len());
        Ok(Value::TimedText(Arc::new(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(time: f64, grey: u8) -> Frame {
        Frame { time, width: 8, height: 4, rgb: Arc::from(vec![grey; 8 * 4 * 3]) }
    }

    #[test]
    fn a_change_of_brightness_starts_a_shot() {
        let frames = [flat(0.0, 10), flat(1.0, 12), flat(2.0, 200), flat(3.0, 201)];
        let t = shots(&frames, 0.3);
        assert_eq!(t.cues.len(), 2, "{t:?}");
        assert_eq!((t.cues[0].start, t.cues[0].end, t.cues[0].text.as_str()), (0.0, 2.0, "shot 1 of 2"));
        assert_eq!((t.cues[1].start, t.cues[1].end), (2.0, 4.0));
        assert!(t.cues[1].score.is_some_and(|d| d > 0.9));
        assert!(shots(&[], 0.3).cues.is_empty());
        assert_eq!(shots(&frames[..1], 0.3).cues.len(), 1);
    }
}
