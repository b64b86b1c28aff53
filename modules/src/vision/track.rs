//! `track(detections)`: ByteTrack-style association of per-frame boxes into
//! tracks of distinct objects.
//!
//! Per label (tracks of different labels never merge), frame by frame in time order:
//!
//! 1. **Predict.** Every live track's box is moved by its constant velocity
//!    (centre pixels per second, smoothed 50/50 with each new measurement) over
//!    the time since it was last seen; its size is the last detection's.
//! 2. **High-score stage.** Detections scoring ≥ `high_score` are matched to all
//!    live tracks (confirmed, tentative and lost) greedily by IoU with the
//!    predicted box, best pair first, pairs below `iou` never matched.
//! 3. **Low-score stage.** Detections below `high_score` (ByteTrack's insight:
//!    occluded objects give weak boxes) are matched to the confirmed tracks still
//!    unmatched, requiring IoU ≥ max(`iou`, 0.5). Unmatched low boxes are dropped.
//! 4. **Recovery.** Strong detections still unmatched are matched to the
//!    still-unmatched tracks by IoU ≥ `iou` with each track's *last observed*
//!    box (OC-SORT's observation-centric recovery: an object that stopped or
//!    turned is where it was, not where its velocity says).
//! 5. **Births and deaths.** An unmatched high-score detection starts a tentative
//!    track; it is confirmed once it has been matched in `min_hits` frames
//!    (counting the first) and deleted if it misses a frame before that. A
//!    confirmed track unmatched for more than `max_age` seconds is ended.
//!
//! With `min_travel > 0`, tracks whose box centre never gets farther than
//! `min_travel` (median) box heights from its first position are dropped:
//! static false positives (HOG fires on a parked car in `vtest.avi` for 73 s)
//! and jitter fragments. `1` keeps objects that moved about their own height,
//! the natural reading of "walked through".
//!
//! Only confirmed tracks are returned, with the detections matched to them as
//! points (never predicted boxes). Ids are dense, `1..=n`, in order of first
//! appearance (ties by label, then left edge).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use vprog_runtime::value::{BBox, Detections, Track as TrackValue, TrackPoint, Tracks};
use vprog_runtime::{Args, CachePolicy, Module, ModuleError, Param, Returns, Signature, StepContext, Type, Value};

/// Tracker settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackParams {
    /// Smallest IoU between a predicted track box and a detection that may match.
    pub iou: f32,
    /// Seconds a confirmed track survives without a match.
    pub max_age: f64,
    /// Frames a new track must be matched in before it counts.
    pub min_hits: usize,
    /// Detections at or above this score take part in the first stage and may start tracks.
    pub high_score: f32,
    /// Tracks whose box centre never gets farther than this many box heights
    /// from where it started are dropped (`0` keeps every track).
    pub min_travel: f32,
}

impl Default for TrackParams {
    fn default() -> Self {
        TrackParams { iou: 0.3, max_age: 1.0, min_hits: 3, high_score: 0.5, min_travel: 0.0 }
    }
}

/// IoU floor of the low-score stage.
pub const LOW_STAGE_MIN_IOU: f32 = 0.5;

#[derive(Debug)]
struct Live {
    points: Vec<TrackPoint>,
    /// Centre x, centre y, width, height of the last matched detection.
    cx: f32,
    cy: f32,
    w: f32,
    h: f32,
    /// Centre velocity, pixels per second.
    vx: f32,
    vy: f32,
    has_velocity: bool,
    last_time: f64,
    hits: usize,
    confirmed: bool,
}

impl Live {
    fn new(time: f64, b: &BBox) -> Live {
        Live {
            points: vec![TrackPoint { time, bbox: b.clone() }],
            cx: b.x + b.w / 2.0,
            cy: b.y + b.h / 2.0,
            w: b.w,
            h: b.h,
            vx: 0.0,
            vy: 0.0,
            has_velocity: false,
            last_time: time,
            hits: 1,
            confirmed: false,
        }
    }

    fn predicted(&self, time: f64, max_age: f64) -> BBox {
        let dt = (time - self.last_time).clamp(0.0, max_age.max(0.0)) as f32;
        let (cx, cy) = (self.cx + self.vx * dt, self.cy + self.vy * dt);
        BBox { x: cx - self.w / 2.0, y: cy - self.h / 2.0, w: self.w, h: self.h, label: String::new(), score: 0.0 }
    }

    fn update(&mut self, time: f64, b: &BBox, min_hits: usize) {
        let (cx, cy) = (b.x + b.w / 2.0, b.y + b.h / 2.0);
        let dt = (time - self.last_time) as f32;
        if dt > 1e-6 {
            let (mvx, mvy) = ((cx - self.cx) / dt, (cy - self.cy) / dt);
            if self.has_velocity {
                self.vx = 0.5 * self.vx + 0.5 * mvx;
                self.vy = 0.5 * self.vy + 0.5 * mvy;
            } else {
                (self.vx, self.vy) = (mvx, mvy);
                self.has_velocity = true;
            }
        }
        (self.cx, self.cy, self.w, self.h) = (cx, cy, b.w, b.h);
        self.last_time = time;
        self.hits += 1;
        if self.hits >= min_hits {
            self.confirmed = true;
        }
        self.points.push(TrackPoint { time, bbox: b.clone() });
    }
}

/// Greedy IoU matching: all pairs with IoU ≥ `min_iou`, best first, each side used once.
fn greedy_match(tracks: &[(usize, BBox)], dets: &[(usize, &BBox)], min_iou: f32) -> Vec<(usize, usize)> {
    let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
    for (ti, (_, tb)) in tracks.iter().enumerate() {
        for (di, (_, db)) in dets.iter().enumerate() {
            let iou = tb.iou(db);
            if iou >= min_iou && iou > 0.0 {
                pairs.push((iou, ti, di));
            }
        }
    }
    // Best IoU first; ties by index for determinism.
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut used_t = vec![false; tracks.len()];
    let mut used_d = vec![false; dets.len()];
    let mut out = Vec::new();
    for (_, ti, di) in pairs {
        if !used_t[ti] && !used_d[di] {
            used_t[ti] = true;
            used_d[di] = true;
            out.push((tracks[ti].0, dets[di].0));
        }
    }
    out
}

/// Tracks the boxes of one label; returns the confirmed tracks' points.
fn track_label(frames: &[(f64, Vec<&BBox>)], p: &TrackParams) -> Vec<Vec<TrackPoint>> {
    let mut live: Vec<Live> = Vec::new();
    let mut done: Vec<Vec<TrackPoint>> = Vec::new();
    for (time, boxes) in frames {
        let time = *time;
        // End confirmed tracks lost too long (before matching, so they cannot revive).
        let mut i = 0;
        while i < live.len() {
            if time - live[i].last_time > p.max_age {
                let t = live.swap_remove(i);
                if t.confirmed {
                    done.push(t.points);
                }
            } else {
                i += 1;
            }
        }
        let high: Vec<(usize, &BBox)> = boxes.iter().enumerate().filter(|(_, b)| b.score >= p.high_score).map(|(i, b)| (i, *b)).collect();
        let low: Vec<(usize, &BBox)> = boxes.iter().enumerate().filter(|(_, b)| b.score < p.high_score).map(|(i, b)| (i, *b)).collect();
        let predicted: Vec<(usize, BBox)> = live.iter().enumerate().map(|(i, t)| (i, t.predicted(time, p.max_age))).collect();
        let mut matched_track = vec![false; live.len()];
        let mut matched_high = vec![false; boxes.len()];
        // Stage 1: high-score boxes against every live track.
        for (ti, di) in greedy_match(&predicted, &high, p.iou) {
            live[ti].update(time, boxes[di], p.min_hits);
            matched_track[ti] = true;
            matched_high[di] = true;
        }
        // Stage 2: low-score boxes against the remaining confirmed tracks.
        let remaining: Vec<(usize, BBox)> = predicted.into_iter().filter(|(i, _)| !matched_track[*i] && live[*i].confirmed).collect();
        for (ti, di) in greedy_match(&remaining, &low, p.iou.max(LOW_STAGE_MIN_IOU)) {
            live[ti].update(time, boxes[di], p.min_hits);
            matched_track[ti] = true;
        }
        // Stage 3 (OC-SORT's observation-centric recovery): strong boxes still
        // unmatched against the still-unmatched tracks' last observed boxes, for
        // objects that stopped or turned so the velocity prediction overshot.
        let last_seen: Vec<(usize, BBox)> = live
            .iter()
            .enumerate()
            .filter(|(i, _)| !matched_track[*i])
            .filter_map(|(i, t)| t.points.last().map(|p| (i, p.bbox.clone())))
            .collect();
        let rest: Vec<(usize, &BBox)> = high.iter().filter(|(di, _)| !matched_high[*di]).copied().collect();
        for (ti, di) in greedy_match(&last_seen, &rest, p.iou) {
            live[ti].update(time, boxes[di], p.min_hits);
            matched_track[ti] = true;
            matched_high[di] = true;
        }
        // Tentative tracks that missed this frame die.
        let mut keep = Vec::with_capacity(live.len());
        for (i, t) in live.into_iter().enumerate() {
            if matched_track[i] || t.confirmed {
                keep.push(t);
            }
        }
        live = keep;
        // Births.
        for (di, b) in &high {
            if !matched_high[*di] {
                let mut t = Live::new(time, b);
                t.confirmed = p.min_hits <= 1;
                live.push(t);
            }
        }
    }
    done.extend(live.into_iter().filter(|t| t.confirmed).map(|t| t.points));
    done
}

/// How far a track's box centre gets from where it started, in median box heights.
pub fn travel(points: &[TrackPoint]) -> f32 {
    let Some(first) = points.first() else { return 0.0 };
    let centre = |b: &BBox| (b.x + b.w / 2.0, b.y + b.h / 2.0);
    let (x0, y0) = centre(&first.bbox);
    let far = points
        .iter()
        .map(|p| {
            let (x, y) = centre(&p.bbox);
            ((x - x0).powi(2) + (y - y0).powi(2)).sqrt()
        })
        .fold(0.0f32, f32::max);
    let mut heights: Vec<f32> = points.iter().map(|p| p.bbox.h).collect();
    heights.sort_by(f32::total_cmp);
    let h = heights.get(heights.len() / 2).copied().unwrap_or(1.0).max(1.0);
    far / h
}

/// Tracks `detections` with `params` (see the module documentation).
///
/// # Errors
///
/// [`ModuleError::InvalidArgument`] when the detections' frames are not in time order.
pub fn track_detections(detections: &Detections, params: &TrackParams) -> Result<Tracks, ModuleError> {
    if let Some(w) = detections.frames.windows(2).find(|w| w[1].time < w[0].time) {
        return Err(ModuleError::invalid(
            "detections",
            format!("frames are not in time order ({:.3} s comes after {:.3} s)", w[1].time, w[0].time),
        ));
    }
    let mut by_label: BTreeMap<&str, Vec<(f64, Vec<&BBox>)>> = BTreeMap::new();
    for f in &detections.frames {
        for b in &f.boxes {
            let frames = by_label.entry(b.label.as_str()).or_default();
            match frames.last_mut() {
                Some((t, v)) if *t == f.time => v.push(b),
                _ => frames.push((f.time, vec![b])),
            }
        }
    }
    // A label's frames without boxes still age its tracks: add empty entries.
    for frames in by_label.values_mut() {
        let mut all: Vec<(f64, Vec<&BBox>)> = Vec::with_capacity(detections.frames.len());
        let mut it = std::mem::take(frames).into_iter().peekable();
        for f in &detections.frames {
            if all.last().is_some_and(|(t, _)| *t == f.time) {
                continue;
            }
            match it.peek() {
                Some((t, _)) if *t == f.time => all.extend(it.next()),
                _ => all.push((f.time, Vec::new())),
            }
        }
        *frames = all;
    }
    let mut tracks: Vec<TrackValue> = Vec::new();
    for (label, frames) in &by_label {
        for points in track_label(frames, params) {
            if params.min_travel <= 0.0 || travel(&points) >= params.min_travel {
                tracks.push(TrackValue { id: 0, label: (*label).to_string(), points });
            }
        }
    }
    tracks.sort_by(|a, b| {
        let key = |t: &TrackValue| t.points.first().map_or((f64::INFINITY, 0.0), |p| (p.time, f64::from(p.bbox.x)));
        let (ka, kb) = (key(a), key(b));
        ka.0.total_cmp(&kb.0).then(a.label.cmp(&b.label)).then(ka.1.total_cmp(&kb.1))
    });
    for (i, t) in tracks.iter_mut().enumerate() {
        t.id = u32::try_from(i + 1).unwrap_or(u32::MAX);
    }
    Ok(Tracks { tracks })
}

const DOC: &str = "Links per-frame detections into tracks of distinct objects (ByteTrack-style IoU association); count(track(d)) counts distinct objects.
Per label (different labels never merge), frame by frame: each live track's box is predicted with a constant velocity \
(smoothed centre motion, pixels per second); detections scoring ≥ `high_score` are matched greedily (best IoU first) to all \
live tracks with IoU ≥ `iou`; weaker detections are then matched to the still-unmatched confirmed tracks with IoU ≥ max(iou, \
0.5) (they keep occluded objects alive but never start tracks); strong detections still unmatched are matched to the \
remaining tracks by IoU with their last observed box (objects that stopped or turned). An unmatched strong detection starts a tentative track, \
confirmed after `min_hits` matched frames and dropped if it misses a frame before that; a confirmed track unmatched for more \
than `max_age` seconds ends (an object leaving and re-entering later is a new track). `min_travel` > 0 drops tracks whose \
box centre never gets farther than that many box heights from its start (static false positives such as a parked car, jitter \
fragments; use 1 to count objects that walk or drive through; 0 keeps all). Returns only confirmed tracks, points \
= the matched detections (real boxes, not predictions), ids dense 1..n in order of first appearance. Works best on frames \
sampled at ≥ 5 fps; at lower rates objects move too far between frames to overlap. Frames must be in time order; no \
detections → no tracks.";

/// `track(detections, iou = 0.3, max_age = 1.0, min_hits = 3, high_score = 0.5, min_travel = 0)`.
pub struct Track {
    sig: Signature,
}

impl Default for Track {
    fn default() -> Self {
        Track::new()
    }
}

impl Track {
    /// The module with its signature.
    pub fn new() -> Track {
        let d = TrackParams::default();
        let sig = Signature::new("track", "1.0.0", Returns::Is(Type::Tracks), DOC)
            .param(Param::of("detections", Type::Detections, "Per-frame boxes, e.g. from detect."))
            .param(
                Param::of("iou", Type::Number, "Smallest IoU of a predicted track box and a detection that may match.")
                    .default(Value::Number(f64::from(d.iou)))
                    .range(0.01, 1.0)
                    .searchable(0.1, 0.6),
            )
            .param(
                Param::of("max_age", Type::Number, "Seconds a confirmed track survives without a match.")
                    .default(Value::Number(d.max_age))
                    .range(0.0, 3600.0)
                    .searchable(0.3, 3.0),
            )
            .param(
                Param::of("min_hits", Type::Int, "Frames a new track must be matched in before it counts.")
                    .default(Value::Int(d.min_hits as i64))
                    .range(1.0, 1000.0)
                    .searchable(1.0, 6.0),
            )
            .param(
                Param::of("high_score", Type::Number, "Detections at or above this score start tracks; weaker ones only extend them.")
                    .default(Value::Number(f64::from(d.high_score)))
                    .range(0.0, 1.0)
                    .searchable(0.3, 0.8),
            )
            .param(
                Param::of("min_travel", Type::Number, "Drop tracks that never move this many box heights from their start; 0 keeps all.")
                    .default(Value::Number(f64::from(d.min_travel)))
                    .range(0.0, 100.0)
                    .searchable(0.0, 2.0),
            )
            .cache(CachePolicy::Memory);
        Track { sig }
    }
}

#[async_trait]
impl Module for Track {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    async fn call(&self, args: Args, ctx: &StepContext) -> Result<Value, ModuleError> {
        let detections = match args.get("detections") {
            Some(Value::Detections(d)) => d.clone(),
            Some(other) => return Err(ModuleError::invalid("detections", format!("expected Detections, got {}", other.type_of()))),
            None => return Err(ModuleError::invalid("detections", "missing")),
        };
        let iou = args.number("iou")?;
        let max_age = args.number("max_age")?;
        let min_hits = args.number("min_hits")?;
        let high_score = args.number("high_score")?;
        let min_travel = args.number("min_travel")?;
        if !(iou > 0.0 && iou <= 1.0) {
            return Err(ModuleError::invalid("iou", format!("must be in (0, 1], got {iou}")));
        }
        if !(max_age.is_finite() && max_age >= 0.0) {
            return Err(ModuleError::invalid("max_age", format!("must be a non-negative number of seconds, got {max_age}")));
        }
        if !(1.0..=1000.0).contains(&min_hits) || min_hits.fract() != 0.0 {
            return Err(ModuleError::invalid("min_hits", format!("must be a whole number from 1 to 1000, got {min_hits}")));
        }
        if !(0.0..=1.0).contains(&high_score) {
            return Err(ModuleError::invalid("high_score", format!("must be between 0 and 1, got {high_score}")));
        }
        if !(min_travel.is_finite() && min_travel >= 0.0) {
            return Err(ModuleError::invalid("min_travel", format!("must be a non-negative number of box heights, got {min_travel}")));
        }
        let params = TrackParams {
            iou: iou as f32,
            max_age,
            min_hits: min_hits as usize,
            high_score: high_score as f32,
            min_travel: min_travel as f32,
        };
        let tracks = ctx.blocking(move || track_detections(&detections, &params)).await?;
        let boxes: usize = tracks.tracks.iter().map(|t| t.points.len()).sum();
        ctx.note("track", serde_json::json!({ "tracks": tracks.tracks.len(), "boxes_in_tracks": boxes }));
        Ok(Value::Tracks(Arc::new(tracks)))
    }
}
