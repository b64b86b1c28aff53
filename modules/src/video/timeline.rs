//! Time arithmetic over clips: which timestamps to sample, intersections for
//! the trims, and fixed-length windows for `split`. No decoding here.

use vprog_runtime::value::{clock, Clip, TimeRange};
use vprog_runtime::ModuleError;

use super::decode::SampleMode;

/// Most frames one `sample` call may return.
pub(crate) const MAX_FRAMES: usize = 10_000;

/// Most pixel bytes one `sample` call may return (4 GiB).
pub(crate) const MAX_OUTPUT_BYTES: u64 = 4 << 30;

/// Most windows one `split` call may return.
pub(crate) const MAX_WINDOWS: usize = 100_000;

/// Slack for comparing times (seconds).
const EPS: f64 = 1e-6;

/// `00:00.0–00:10.0, 00:20.0–00:30.0` (at most four ranges, then a count).
pub(crate) fn describe(clip: &Clip) -> String {
    if clip.segments.is_empty() {
        return "an empty clip".into();
    }
    let shown: Vec<String> = clip.segments.iter().take(4).map(|r| format!("{}–{}", clock(r.start), clock(r.end))).collect();
    let more = clip.segments.len().saturating_sub(4);
    if more > 0 {
        format!("{} and {more} more ranges", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

fn require_nonempty(clip: &Clip, param: &str) -> Result<(), ModuleError> {
    if clip.segments.is_empty() {
        return Err(ModuleError::invalid(param, "the clip is empty: it covers no time of the video"));
    }
    Ok(())
}

/// Checks a scene threshold and the clip for scene sampling.
pub(crate) fn validate_scenes(clip: &Clip, threshold: f64) -> Result<(), ModuleError> {
    if !(threshold.is_finite() && (0.0..=1.0).contains(&threshold)) {
        return Err(ModuleError::invalid("scenes", format!("the threshold must be between 0 and 1, got {threshold}")));
    }
    require_nonempty(clip, "clip")
}

/// The position `x` seconds into the clip's covered time.
fn map_covered(clip: &Clip, x: f64) -> f64 {
    let mut acc = 0.0;
    for seg in &clip.segments {
        if x <= acc + seg.len() {
            return seg.start + (x - acc).max(0.0);
        }
        acc += seg.len();
    }
    clip.segments.last().map_or(0.0, |s| s.end)
}

/// The sorted, distinct timestamps `mode` asks for in `clip` (not for
/// [`SampleMode::Scenes`], which has none fixed in advance).
pub(crate) fn targets(clip: &Clip, mode: &SampleMode) -> Result<Vec<f64>, ModuleError> {
    require_nonempty(clip, "clip")?;
    let mut out = match mode {
        SampleMode::Fps(fps) => {
            let fps = *fps;
            if !(fps.is_finite() && (0.001..=120.0).contains(&fps)) {
                return Err(ModuleError::invalid("fps", format!("must be between 0.001 and 120, got {fps}")));
            }
            let expected: f64 = clip.segments.iter().map(|s| (s.len() * fps).ceil().max(1.0)).sum();
            if expected > MAX_FRAMES as f64 {
                return Err(ModuleError::invalid(
                    "fps",
                    format!(
                        "{fps} fps over {:.1} s of clip gives {expected:.0} frames, more than the limit of {MAX_FRAMES}; lower `fps`, use `count`, or trim the clip",
                        clip.duration()
                    ),
                ));
            }
            let mut out = Vec::with_capacity(expected as usize);
            for seg in &clip.segments {
                if seg.is_empty() {
                    out.push(seg.start);
                    continue;
                }
                for k in 0u64.. {
                    let t = seg.start + k as f64 / fps;
                    if t >= seg.end {
                        break;
                    }
                    out.push(t);
                }
            }
            out
        }
        SampleMode::Count(n) => {
            let n = *n;
            if !(1..=MAX_FRAMES).contains(&n) {
                return Err(ModuleError::invalid("count", format!("must be between 1 and {MAX_FRAMES}, got {n}")));
            }
            let d = clip.duration();
            if d <= 0.0 {
                clip.segments.iter().map(|s| s.start).collect()
            } else {
                (0..n).map(|i| map_covered(clip, (i as f64 + 0.5) * d / n as f64)).collect()
            }
        }
        SampleMode::At(times) => {
            for &t in times {
                if !t.is_finite() {
                    return Err(ModuleError::invalid("at", format!("timestamp {t} is not a finite time")));
                }
                if !clip.segments.iter().any(|s| t >= s.start - EPS && t <= s.end + EPS) {
                    return Err(ModuleError::invalid(
                        "at",
                        format!("timestamp {} ({t:.3} s) is outside the clip ({})", clock(t), describe(clip)),
                    ));
                }
            }
            if times.len() > MAX_FRAMES {
                return Err(ModuleError::invalid("at", format!("{} timestamps, more than the limit of {MAX_FRAMES}", times.len())));
            }
            times.clone()
        }
        SampleMode::Scenes(_) => return Err(ModuleError::Failed("internal error: scene sampling has no fixed timestamps".into())),
    };
    out.sort_by(f64::total_cmp);
    out.dedup_by(|a, b| (*a - *b).abs() < EPS);
    Ok(out)
}

/// The parts of `clip` inside any of `ranges` (clamped to the video, merged).
/// A zero-length range keeps the instant when it lies inside a segment;
/// otherwise parts that merely touch are dropped.
pub(crate) fn intersect(clip: &Clip, ranges: impl IntoIterator<Item = TimeRange>) -> Clip {
    let ranges = Clip::new(clip.video.clone(), ranges).segments;
    let mut pieces = Vec::new();
    for s in &clip.segments {
        for r in &ranges {
            let lo = s.start.max(r.start);
            let hi = s.end.min(r.end);
            if hi > lo || (hi == lo && (s.is_empty() || r.is_empty())) {
                pieces.push(TimeRange { start: lo, end: hi });
            }
        }
    }
    Clip::new(clip.video.clone(), pieces)
}

/// Consecutive windows of `every` seconds over each segment of `clip` (the
/// last window of a segment may be shorter; windows never span two segments).
pub(crate) fn windows(clip: &Clip, every: f64) -> Result<Vec<Clip>, ModuleError> {
    if !(every.is_finite() && (0.1..=86_400.0).contains(&every)) {
        return Err(ModuleError::invalid("every", format!("must be between 0.1 s and 86400 s, got {every} s")));
    }
    let expected: f64 = clip.segments.iter().map(|s| (s.len() / every).ceil().max(1.0)).sum();
    if expected > MAX_WINDOWS as f64 {
        return Err(ModuleError::invalid(
            "every",
            format!("would make {expected:.0} clips, more than the limit of {MAX_WINDOWS}; use a longer window"),
        ));
    }
    let mut out = Vec::new();
    let one = |start: f64, end: f64| Clip { video: clip.video.clone(), segments: vec![TimeRange { start, end }] };
    for seg in &clip.segments {
        if seg.is_empty() {
            out.push(one(seg.start, seg.end));
            continue;
        }
        for k in 0u64.. {
            let start = seg.start + k as f64 * every;
            if start >= seg.end - EPS {
                break;
            }
            out.push(one(start, (start + every).min(seg.end)));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use vprog_runtime::value::{VideoInfo, VideoRef};

    use super::*;

    fn clip(segments: &[(f64, f64)]) -> Clip {
        let video = Arc::new(VideoRef {
            path: "v.mp4".into(),
            hash: "h".into(),
            info: VideoInfo {
                format: "mp4".into(),
                duration: 60.0,
                fps: 10.0,
                width: 64,
                height: 48,
                frame_count: None,
                video_codec: "h264".into(),
                streams: vec![],
            },
            subtitles: None,
        });
        Clip { video, segments: segments.iter().map(|&(start, end)| TimeRange { start, end }).collect() }
    }

    #[test]
    fn count_targets_are_slice_midpoints_across_segments() {
        let c = clip(&[(0.0, 10.0), (20.0, 30.0)]);
        let t = targets(&c, &SampleMode::Count(4)).unwrap_or_default();
        assert_eq!(t, vec![2.5, 7.5, 22.5, 27.5]);
    }

    #[test]
    fn fps_targets_restart_in_each_segment() {
        let c = clip(&[(1.0, 3.0), (10.0, 11.0)]);
        let t = targets(&c, &SampleMode::Fps(1.0)).unwrap_or_default();
        assert_eq!(t, vec![1.0, 2.0, 10.0]);
        assert!(targets(&clip(&[(0.0, 60.0)]), &SampleMode::Fps(120.0)).is_ok());
        assert!(targets(&clip(&[(0.0, 60.0)]), &SampleMode::Fps(0.0)).is_err());
    }

    #[test]
    fn at_targets_must_lie_in_the_clip() {
        let c = clip(&[(0.0, 10.0), (20.0, 30.0)]);
        assert_eq!(targets(&c, &SampleMode::At(vec![25.0, 5.0, 5.0])).unwrap_or_default(), vec![5.0, 25.0]);
        let err = targets(&c, &SampleMode::At(vec![15.0])).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("00:15.0") && err.contains("00:00.0–00:10.0, 00:20.0–00:30.0"), "{err}");
    }

    #[test]
    fn intersections_drop_touching_parts_but_keep_instants() {
        let c = clip(&[(0.0, 5.0), (10.0, 15.0)]);
        assert!(intersect(&c, [TimeRange { start: 5.0, end: 10.0 }]).segments.is_empty());
        assert_eq!(
            intersect(&c, [TimeRange { start: 3.0, end: 12.0 }]).segments,
            vec![TimeRange { start: 3.0, end: 5.0 }, TimeRange { start: 10.0, end: 12.0 }]
        );
        assert_eq!(intersect(&c, [TimeRange { start: 4.0, end: 4.0 }]).segments, vec![TimeRange { start: 4.0, end: 4.0 }]);
    }

    #[test]
    fn windows_stay_within_segments() {
        let c = clip(&[(0.0, 25.0), (30.0, 35.0)]);
        let w = windows(&c, 10.0).unwrap_or_default();
        let spans: Vec<(f64, f64)> = w.iter().map(|c| (c.segments[0].start, c.segments[0].end)).collect();
        assert_eq!(spans, vec![(0.0, 10.0), (10.0, 20.0), (20.0, 25.0), (30.0, 35.0)]);
        assert!(windows(&c, 0.01).is_err());
    }
}
