//! `retrieve_clips(video, query, k, window, fps, model)`: the stretches of a
//! clip that best match a text, by CLIP image–text similarity
//! ([`super::frame_search`], hub checkpoint `clip-vit-b32`), as one clip of
//! up to `k` segments `window` seconds long.
//!
//! Every frame sampled at `fps` is scored against the query. A window is
//! centred on each sampled frame (kept inside the segment the frame belongs
//! to) and scored by the mean similarity of the frames it covers, so one
//! stray frame does not outrank a stretch that matches throughout. Windows
//! are taken best first, skipping any that overlaps or touches one already
//! taken, until `k` are chosen ([`pick_windows`]). The chosen windows and
//! their scores go into the trace.

use std::sync::Arc;

use async_trait::async_trait;
use vprog_models::hub::CLIP_VIT_B32;
use vprog_runtime::value::{Clip, TimeRange};
use vprog_runtime::{Args, CachePolicy, Module, ModuleError, Param, Returns, Signature, StepContext, Type, Value};

use super::frame_search::{FrameSearch, FPS_RANGE};

/// Most segments one call returns.
pub const MAX_K: i64 = 64;
/// The range of window lengths, seconds.
pub const WINDOW_RANGE: (f64, f64) = (0.1, 600.0);

const DOC: &str = "Finds the stretches of a clip that best match a text query by CLIP image-text similarity (hub model \
`clip-vit-b32`; install with `vprog models fetch clip-vit-b32`). Scores frames sampled at `fps`, ranks windows of `window` seconds \
by their frames' mean similarity, and returns the `k` best non-overlapping windows as one clip (in time order); scores are in the \
trace. Use it to find when something happens (\"the dog jumps into the pool\") and then trim, transcribe or describe that part.";

/// `retrieve_clips(video, query, k = 3, window = 4 s, fps = 1.0, model = "clip-vit-b32")`.
pub struct RetrieveClips {
    sig: Signature,
    search: Arc<FrameSearch>,
}

impl RetrieveClips {
    /// The module, searching with `search`.
    pub fn new(search: Arc<FrameSearch>) -> RetrieveClips {
        let sig = Signature::new("retrieve_clips", "1.0.0", Returns::Is(Type::Clip), DOC)
            .param(Param::of("video", Type::Clip, "The clip (or whole video) to search."))
            .param(Param::of("query", Type::Text, "What the stretches should show."))
            .param(Param::of("k", Type::Int, "How many stretches to return (at most).").default(Value::Int(3)).range(1.0, MAX_K as f64))
            .param(
                Param::of("window", Type::Duration, "Length of each stretch.")
                    .default(Value::Duration(4.0))
                    .range(WINDOW_RANGE.0, WINDOW_RANGE.1)
                    .searchable(2.0, 10.0),
            )
            .param(
                Param::of("fps", Type::Number, "Frames per second of clip time to scan.")
                    .default(Value::Number(1.0))
                    .range(FPS_RANGE.0, FPS_RANGE.1)
                    .searchable(0.25, 2.0),
            )
            .param(Param::of("model", Type::Text, "The CLIP checkpoint's id.").default(Value::text(CLIP_VIT_B32)))
            .cache(CachePolicy::Disk);
        RetrieveClips { sig, search }
    }
}

/// A window of clip time and its score.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// The stretch of time.
    pub range: TimeRange,
    /// Mean similarity of the frames it covers.
    pub score: f32,
}

/// Up to `k` windows of length `window`, best first: one centred on each
/// frame time in `times` (kept inside the segment of `segments` holding the
/// frame), scored by the mean of `scores` over the frames it covers, none
/// overlapping or touching another. Ties go to the earlier window.
pub fn pick_windows(segments: &[TimeRange], times: &[f64], scores: &[f32], window: f64, k: usize) -> Vec<Window> {
    let mut candidates: Vec<Window> = times
        .iter()
        .filter_map(|&t| {
            let seg = segments.iter().find(|s| s.start <= t && t <= s.end)?;
            let len = window.min(seg.end - seg.start);
            let start = (t - len / 2.0).clamp(seg.start, seg.end - len);
            let range = TimeRange { start, end: start + len };
            let covered: Vec<f32> =
                times.iter().zip(scores).filter(|(u, _)| range.start <= **u && **u <= range.end).map(|(_, s)| *s).collect();
            let score = covered.iter().sum::<f32>() / covered.len().max(1) as f32;
            Some(Window { range, score })
        })
        .collect();
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.range.start.total_cmp(&b.range.start)));
    let mut chosen: Vec<Window> = Vec::with_capacity(k);
    for c in candidates {
        if chosen.len() == k {
            break;
        }
        if chosen.iter().all(|w| c.range.end < w.range.start || c.range.start > w.range.end) {
            chosen.push(c);
        }
    }
    chosen
}

#[async_trait]
impl Module for RetrieveClips {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    fn missing_model(&self) -> Option<String> {
        self.search.missing()
    }

    async fn call(&self, args: Args, ctx: &StepContext) -> Result<Value, ModuleError> {
        let clip = args.clip("video")?;
        let query = args.text("query")?;
        let k = args.number("k")?;
        let window = args.seconds("window")?;
        let fps = args.number("fps")?;
        let model = args.text("model")?.trim().to_string();
        if k.fract() != 0.0 || !(1.0..=MAX_K as f64).contains(&k) {
            return Err(ModuleError::invalid("k", format!("must be a whole number from 1 to {MAX_K}, got {k}")));
        }
        if !(window.is_finite() && (WINDOW_RANGE.0..=WINDOW_RANGE.1).contains(&window)) {
            return Err(ModuleError::invalid("window", format!("must be {} to {} s, got {window}", WINDOW_RANGE.0, WINDOW_RANGE.1)));
        }
        let scored = self.search.score(&clip, &query, fps, &model, ctx).await?;
        let times: Vec<f64> = scored.frames.iter().map(|f| f.time).collect();
        let windows = pick_windows(&clip.segments, &times, &scored.scores, window, k as usize);
        let mut facts = scored.facts;
        facts.insert("query".into(), query.to_string().into());
        facts.insert("window".into(), window.into());
        facts.insert(
            "windows".into(),
            windows
                .iter()
                .map(|w| serde_json::json!({"start": w.range.start, "end": w.range.end, "score": w.score}))
                .collect::<Vec<_>>()
                .into(),
        );
        ctx.note("retrieve_clips", serde_json::Value::Object(facts));
        Ok(Value::Clip(Arc::new(Clip::new(clip.video.clone(), windows.into_iter().map(|w| w.range)))))
    }
}

#[cfg(test)]
mod tests {
    use vprog_runtime::value::TimeRange;

    use super::pick_windows;

    fn r(start: f64, end: f64) -> TimeRange {
        TimeRange { start, end }
    }

    #[test]
    fn a_stretch_that_matches_throughout_beats_one_stray_frame() {
        let times: Vec<f64> = (0..20).map(f64::from).collect();
        let mut scores = vec![0.1f32; 20];
        scores[3] = 0.9; // one stray frame
        for s in &mut scores[10..15] {
            *s = 0.6; // a stretch
        }
        let w = pick_windows(&[r(0.0, 19.0)], &times, &scores, 4.0, 2);
        assert_eq!(w.len(), 2);
        assert_eq!((w[0].range.start, w[0].range.end), (10.0, 14.0));
        assert!((w[0].score - 0.6).abs() < 1e-6);
        // The second window does not overlap or touch the first.
        assert!(w[1].range.end < 10.0 || w[1].range.start > 14.0, "{w:?}");
    }

    #[test]
    fn windows_stay_inside_their_segment_and_k_caps_them() {
        let times = [0.5, 1.5, 30.5, 31.5];
        let scores = [0.2f32, 0.3, 0.8, 0.7];
        let w = pick_windows(&[r(0.0, 2.0), r(30.0, 32.0)], &times, &scores, 5.0, 5);
        // A window longer than its segment shrinks to the segment.
        assert_eq!(w.iter().map(|w| (w.range.start, w.range.end)).collect::<Vec<_>>(), vec![(30.0, 32.0), (0.0, 2.0)]);
        assert_eq!(pick_windows(&[r(0.0, 2.0), r(30.0, 32.0)], &times, &scores, 5.0, 1).len(), 1);
        assert!(pick_windows(&[r(0.0, 2.0)], &[], &[], 4.0, 3).is_empty());
    }
}
