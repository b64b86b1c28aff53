//! Behaviour of the reasoning modules on small hand-built values, their error
//! cases, and `choose_by_text` on the real subtitles of the TED talk.

use std::sync::Arc;

use vprog_modules::symbolic;
use vprog_runtime::value::{
    BBox, Choice, Clip, Cue, Detections, Frame, FrameDetections, Mask, Masks, TimeRange, TimedText, Track, TrackPoint, Tracks, VideoInfo,
    VideoRef,
};
use vprog_runtime::{CachePolicy, ModuleError, Registry, StepContext, Type, Value};

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

fn registry() -> Registry {
    let mut r = Registry::new();
    symbolic::register(&mut r);
    r
}

/// Calls module `name` like the executor would: named arguments, defaults
/// filled in from the signature, variadic values apart.
async fn call_v(name: &str, named: Vec<(&str, Value)>, variadic: Vec<Value>) -> Result<Value, ModuleError> {
    let r = registry();
    let Some(module) = r.get(name) else {
        panic!("module `{name}` is not registered");
    };
    let args = vprog_runtime::Args::with_defaults(module.signature(), named, variadic);
    module.call(args, &StepContext::standalone("t")).await
}

async fn call(name: &str, named: Vec<(&str, Value)>) -> Result<Value, ModuleError> {
    call_v(name, named, Vec::new()).await
}

async fn ok(name: &str, named: Vec<(&str, Value)>) -> Value {
    match call(name, named).await {
        Ok(v) => v,
        Err(e) => panic!("{name} failed: {e}"),
    }
}

async fn err(name: &str, named: Vec<(&str, Value)>) -> String {
    match call(name, named).await {
        Ok(v) => panic!("{name} should have failed, got {}", v.summary()),
        Err(e) => e.to_string(),
    }
}

async fn boolean(name: &str, named: Vec<(&str, Value)>) -> bool {
    match ok(name, named).await {
        Value::Bool(b) => b,
        other => panic!("{name} returned {}", other.summary()),
    }
}

fn int(v: i64) -> Value {
    Value::Int(v)
}

fn num(v: f64) -> Value {
    Value::Number(v)
}

fn text(s: &str) -> Value {
    Value::text(s)
}

fn list(items: Vec<Value>) -> Value {
    Value::List(Arc::new(items))
}

fn cue(start: f64, end: f64, t: &str) -> Cue {
    Cue { start, end, text: t.into(), score: None, bbox: None, source: "test".into() }
}

fn tt(cues: Vec<Cue>) -> Value {
    Value::TimedText(Arc::new(TimedText { cues }))
}

fn cues_of(v: &Value) -> Vec<(f64, f64, String)> {
    match v {
        Value::TimedText(t) => t.cues.iter().map(|c| (c.start, c.end, c.text.clone())).collect(),
        other => panic!("expected TimedText, got {}", other.summary()),
    }
}

fn frame_at(t: f64) -> Frame {
    Frame { time: t, width: 2, height: 1, rgb: Arc::from(vec![0u8; 6]) }
}

fn frames(ts: &[f64]) -> Value {
    Value::Frames(Arc::new(ts.iter().map(|&t| frame_at(t)).collect()))
}

fn frame_times(v: &Value) -> Vec<f64> {
    match v {
        Value::Frames(fs) => fs.iter().map(|f| f.time).collect(),
        other => panic!("expected Frames, got {}", other.summary()),
    }
}

fn video(duration: f64) -> Arc<VideoRef> {
    Arc::new(VideoRef {
        path: "v.mp4".into(),
        hash: "abc".into(),
        info: VideoInfo {
            format: "mp4".into(),
            duration,
            fps: 25.0,
            width: 64,
            height: 48,
            frame_count: None,
            video_codec: "h264".into(),
            streams: vec![],
        },
        subtitles: None,
    })
}

fn clip(ranges: &[(f64, f64)]) -> Value {
    Value::Clip(Arc::new(Clip::new(video(100.0), ranges.iter().map(|&(start, end)| TimeRange { start, end }))))
}

fn segments(v: &Value) -> Vec<(f64, f64)> {
    match v {
        Value::Clip(c) => c.segments.iter().map(|r| (r.start, r.end)).collect(),
        other => panic!("expected Clip, got {}", other.summary()),
    }
}

fn bbox(label: &str, score: f32) -> BBox {
    BBox { x: 0.0, y: 0.0, w: 1.0, h: 1.0, label: label.into(), score }
}

fn dets(frames: Vec<(f64, Vec<BBox>)>) -> Value {
    Value::Detections(Arc::new(Detections {
        frames: frames.into_iter().map(|(time, boxes)| FrameDetections { time, width: 2, height: 1, boxes }).collect(),
    }))
}

fn det_times(v: &Value) -> Vec<(f64, usize)> {
    match v {
        Value::Detections(d) => d.frames.iter().map(|f| (f.time, f.boxes.len())).collect(),
        other => panic!("expected Detections, got {}", other.summary()),
    }
}

fn track(id: u32, label: &str, times: &[f64]) -> Track {
    Track { id, label: label.into(), points: times.iter().map(|&time| TrackPoint { time, bbox: bbox(label, 0.9) }).collect() }
}

fn tracks(ts: Vec<Track>) -> Value {
    Value::Tracks(Arc::new(Tracks { tracks: ts }))
}

fn track_ids(v: &Value) -> Vec<u32> {
    match v {
        Value::Tracks(t) => t.tracks.iter().map(|t| t.id).collect(),
        other => panic!("expected Tracks, got {}", other.summary()),
    }
}

fn choice(v: &Value) -> Choice {
    match v {
        Value::Choice(c) => (**c).clone(),
        other => panic!("expected Choice, got {}", other.summary()),
    }
}

// ---------------------------------------------------------------------------
// Registration and signatures
// ---------------------------------------------------------------------------

const ALL: &[&str] = &[
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "and",
    "or",
    "not",
    "add",
    "sub",
    "mul",
    "div",
    "neg",
    "count",
    "exists",
    "first",
    "last",
    "longest",
    "concat",
    "before",
    "after",
    "during",
    "contains",
    "describe",
    "duration",
    "start",
    "end",
    "choose_by_text",
];

#[test]
fn registers_every_module_once_and_survives_duplicates() {
    let mut r = registry();
    for name in ALL {
        assert!(r.get(name).is_some(), "`{name}` missing");
    }
    assert_eq!(r.len(), ALL.len());
    // A second registration logs the duplicates and keeps the first set.
    symbolic::register(&mut r);
    assert_eq!(r.len(), ALL.len());
}

#[test]
fn signatures_follow_conventions() {
    let r = registry();
    for m in r.iter() {
        let s = m.signature();
        assert_eq!(s.version, "1.0.0", "{}", s.name);
        assert!(!s.summary().trim().is_empty(), "{} has no summary", s.name);
        assert!(s.doc.lines().count() >= 2, "{} has no details after the summary", s.name);
        let operator = ["eq", "ne", "lt", "le", "gt", "ge", "and", "or", "not", "add", "sub", "mul", "div", "neg"].contains(&s.name);
        let expected = if operator { CachePolicy::Never } else { CachePolicy::Memory };
        assert_eq!(s.cache, expected, "{}", s.name);
    }
    let eq = r.get("eq").map(|m| m.signature().display());
    assert_eq!(eq.as_deref(), Some("eq(a: Any, b: T) -> Bool"));
    let lt = r.get("lt").map(|m| m.signature().display());
    assert_eq!(lt.as_deref(), Some("lt(a: Number | Duration | Timestamp | Text, b: T) -> Bool"));
    let add = r.get("add").map(|m| m.signature().display());
    assert_eq!(add.as_deref(), Some("add(a: Number, b: Number) -> Int | Number"));
    let div = r.get("div").map(|m| m.signature().display());
    assert_eq!(div.as_deref(), Some("div(a: Number, b: Number) -> Number"));
    let concat = r.get("concat").map(|m| m.signature().clone());
    let concat = concat.as_ref().and_then(|s| s.params.first()).map(|p| (p.variadic, p.generic));
    assert_eq!(concat, Some((true, true)));
    let choose = r.get("choose_by_text").map(|m| m.signature().display());
    assert_eq!(choose.as_deref(), Some("choose_by_text(question: Text, options: List<Text>, evidence: Any = []) -> Choice"));
    let first = r.get("first").map(|m| m.signature().display());
    assert_eq!(first.as_deref(), Some("first(items: Frames | TimedText | Detections | Tracks | Clip | List<T>) -> element of T"));
    let contains = r.get("contains").and_then(|m| m.signature().param_named("case_sensitive").and_then(|p| p.default.clone()));
    assert!(matches!(contains, Some(Value::Bool(false))));
}

// ---------------------------------------------------------------------------
// Operators
// ---------------------------------------------------------------------------

#[tokio::test]
async fn equality_is_deep_and_numeric() {
    assert!(boolean("eq", vec![("a", int(2)), ("b", num(2.0))]).await);
    assert!(!boolean("eq", vec![("a", int(2)), ("b", num(2.5))]).await);
    assert!(!boolean("ne", vec![("a", num(2.0)), ("b", int(2))]).await);
    assert!(boolean("eq", vec![("a", int(i64::MAX)), ("b", int(i64::MAX))]).await);
    // 2^63 as a float is not i64::MAX, even though `as f64` would round to it.
    assert!(!boolean("eq", vec![("a", int(i64::MAX)), ("b", num(9_223_372_036_854_775_808.0))]).await);
    assert!(boolean("eq", vec![("a", text("luck")), ("b", text("luck"))]).await);
    assert!(!boolean("eq", vec![("a", text("luck")), ("b", text("Luck"))]).await);
    assert!(boolean("eq", vec![("a", list(vec![int(1), text("x")])), ("b", list(vec![num(1.0), text("x")]))]).await);
    assert!(!boolean("eq", vec![("a", list(vec![int(1)])), ("b", list(vec![int(1), int(1)]))]).await);
    assert!(boolean("eq", vec![("a", tt(vec![cue(1.0, 2.0, "a")])), ("b", tt(vec![cue(1.0, 2.0, "a")]))]).await);
    assert!(!boolean("eq", vec![("a", tt(vec![cue(1.0, 2.0, "a")])), ("b", tt(vec![cue(1.0, 2.5, "a")]))]).await);
    assert!(boolean("eq", vec![("a", Value::Duration(1.5)), ("b", Value::Duration(1.5))]).await);
    assert!(!boolean("eq", vec![("a", Value::Duration(1.5)), ("b", Value::Timestamp(1.5))]).await);
    assert!(!boolean("eq", vec![("a", num(f64::NAN)), ("b", num(f64::NAN))]).await);
    // A video is its whole-video clip; a frame is a one-frame Frames.
    let v = video(100.0);
    assert!(boolean("eq", vec![("a", clip(&[(0.0, 100.0)])), ("b", Value::Video(v.clone()))]).await);
    assert!(!boolean("eq", vec![("a", clip(&[(0.0, 50.0)])), ("b", Value::Video(v))]).await);
    assert!(boolean("eq", vec![("a", frames(&[3.0])), ("b", Value::Frame(frame_at(3.0)))]).await);
    assert!(boolean("ne", vec![("a", text("1")), ("b", int(1))]).await);
}

#[tokio::test]
async fn ordering_of_numbers_times_and_text() {
    assert!(boolean("lt", vec![("a", int(1)), ("b", num(1.5))]).await);
    assert!(boolean("le", vec![("a", num(2.0)), ("b", int(2))]).await);
    assert!(!boolean("gt", vec![("a", num(2.0)), ("b", int(2))]).await);
    assert!(boolean("ge", vec![("a", int(-3)), ("b", num(-3.5))]).await);
    assert!(boolean("gt", vec![("a", Value::Duration(10.0)), ("b", Value::Duration(9.999))]).await);
    assert!(boolean("lt", vec![("a", Value::Timestamp(35.16)), ("b", Value::Timestamp(41.2))]).await);
    assert!(boolean("lt", vec![("a", text("apple")), ("b", text("banana"))]).await);
    assert!(boolean("lt", vec![("a", text("Zebra")), ("b", text("apple"))]).await, "code point order");
    assert!(!boolean("lt", vec![("a", num(f64::NAN)), ("b", num(1.0))]).await);
    assert!(!boolean("ge", vec![("a", num(f64::NAN)), ("b", num(1.0))]).await);
    let e = err("lt", vec![("a", Value::Duration(1.0)), ("b", Value::Timestamp(2.0))]).await;
    assert!(e.contains("cannot compare Duration with Timestamp"), "{e}");
    let e = err("gt", vec![("a", Value::Bool(true)), ("b", Value::Bool(false))]).await;
    assert!(e.contains("only numbers"), "{e}");
}

#[tokio::test]
async fn boolean_logic() {
    for a in [false, true] {
        assert_eq!(boolean("not", vec![("a", Value::Bool(a))]).await, !a);
        for b in [false, true] {
            assert_eq!(boolean("and", vec![("a", Value::Bool(a)), ("b", Value::Bool(b))]).await, a && b);
            assert_eq!(boolean("or", vec![("a", Value::Bool(a)), ("b", Value::Bool(b))]).await, a || b);
        }
    }
    let e = err("and", vec![("a", int(1)), ("b", Value::Bool(true))]).await;
    assert!(e.contains("expected Bool"), "{e}");
}

#[tokio::test]
async fn arithmetic_keeps_ints_and_checks_overflow() {
    assert!(matches!(ok("add", vec![("a", int(2)), ("b", int(3))]).await, Value::Int(5)));
    assert!(matches!(ok("sub", vec![("a", int(2)), ("b", int(3))]).await, Value::Int(-1)));
    assert!(matches!(ok("mul", vec![("a", int(-4)), ("b", int(3))]).await, Value::Int(-12)));
    assert!(matches!(ok("add", vec![("a", int(2)), ("b", num(0.5))]).await, Value::Number(v) if v == 2.5));
    assert!(matches!(ok("mul", vec![("a", num(1.5)), ("b", num(2.0))]).await, Value::Number(v) if v == 3.0));
    assert!(matches!(ok("div", vec![("a", int(7)), ("b", int(2))]).await, Value::Number(v) if v == 3.5));
    assert!(matches!(ok("div", vec![("a", int(6)), ("b", int(3))]).await, Value::Number(v) if v == 2.0));
    assert!(matches!(ok("neg", vec![("a", int(5))]).await, Value::Int(-5)));
    assert!(matches!(ok("neg", vec![("a", num(0.25))]).await, Value::Number(v) if v == -0.25));

    let e = err("add", vec![("a", int(i64::MAX)), ("b", int(1))]).await;
    assert!(e.contains("overflow"), "{e}");
    let e = err("sub", vec![("a", int(i64::MIN)), ("b", int(1))]).await;
    assert!(e.contains("overflow"), "{e}");
    let e = err("mul", vec![("a", int(i64::MAX / 2 + 1)), ("b", int(2))]).await;
    assert!(e.contains("overflow"), "{e}");
    let e = err("neg", vec![("a", int(i64::MIN))]).await;
    assert!(e.contains("overflow"), "{e}");
    let e = err("mul", vec![("a", num(1e308)), ("b", num(10.0))]).await;
    assert!(e.contains("not a finite number"), "{e}");

    for zero in [int(0), num(0.0), num(-0.0)] {
        let e = err("div", vec![("a", int(1)), ("b", zero)]).await;
        assert!(e.contains("division by zero") && e.contains("`b`"), "{e}");
    }
}

// ---------------------------------------------------------------------------
// Collections
// ---------------------------------------------------------------------------

fn sample_dets() -> Value {
    dets(vec![
        (1.0, vec![]),
        (2.0, vec![bbox("person", 0.9), bbox("person", 0.8), bbox("car", 0.7)]),
        (3.0, vec![bbox("car", 0.6)]),
        (4.0, vec![]),
    ])
}

fn sample_tracks() -> Value {
    tracks(vec![
        track(1, "person", &[2.0, 3.0, 9.0]), // 2–9 (7 s)
        track(2, "car", &[0.5, 1.0]),         // 0.5–1 (0.5 s)
        track(3, "dog", &[4.0, 10.0, 12.0]),  // 4–12 (8 s)
        track(3, "dog", &[13.0]),             // same id: one distinct track
    ])
}

#[tokio::test]
async fn count_and_exists_for_each_kind() {
    let cases: Vec<(Value, i64)> = vec![
        (frames(&[0.0, 1.0, 2.0]), 3),
        (sample_dets(), 4),
        (sample_tracks(), 3),
        (tt(vec![cue(0.0, 1.0, "a"), cue(1.0, 2.0, "b")]), 2),
        (
            Value::Masks(Arc::new(Masks {
                masks: vec![Mask { time: 0.0, width: 1, height: 1, label: "x".into(), score: 1.0, runs: vec![0, 1] }],
            })),
            1,
        ),
        (clip(&[(0.0, 5.0), (10.0, 20.0)]), 2),
        (list(vec![int(1), int(2), int(3), int(4), int(5)]), 5),
        (list(vec![]), 0),
        (dets(vec![(1.0, vec![]), (2.0, vec![])]), 0),
        (tt(vec![]), 0),
    ];
    for (v, n) in cases {
        let got = ok("count", vec![("items", v.clone())]).await;
        assert!(matches!(got, Value::Int(k) if k == n), "count({}) = {}, want {n}", v.summary(), got.summary());
        assert_eq!(boolean("exists", vec![("items", v.clone())]).await, n > 0, "exists({})", v.summary());
    }
    let e = err("count", vec![("items", int(3))]).await;
    assert!(e.contains("expected"), "{e}");
}

#[tokio::test]
async fn first_and_last_in_time_order() {
    // Frames out of order still pick by time.
    let f = ok("first", vec![("items", frames(&[5.0, 1.0, 3.0]))]).await;
    assert!(matches!(f, Value::Frame(ref fr) if fr.time == 1.0), "{}", f.summary());
    let l = ok("last", vec![("items", frames(&[5.0, 1.0, 3.0]))]).await;
    assert!(matches!(l, Value::Frame(ref fr) if fr.time == 5.0), "{}", l.summary());

    // Cues: first starts first, last ends last.
    let subs = tt(vec![cue(0.0, 10.0, "long"), cue(1.0, 2.0, "short"), cue(3.0, 4.0, "later")]);
    assert_eq!(cues_of(&ok("first", vec![("items", subs.clone())]).await), vec![(0.0, 10.0, "long".to_string())]);
    assert_eq!(cues_of(&ok("last", vec![("items", subs)]).await), vec![(0.0, 10.0, "long".to_string())]);
    let subs = tt(vec![cue(0.0, 1.0, "a"), cue(1.0, 2.0, "b"), cue(3.0, 4.0, "c")]);
    assert_eq!(cues_of(&ok("last", vec![("items", subs)]).await), vec![(3.0, 4.0, "c".to_string())]);

    // Detections: only frames with a box count.
    assert_eq!(det_times(&ok("first", vec![("items", sample_dets())]).await), vec![(2.0, 3)]);
    assert_eq!(det_times(&ok("last", vec![("items", sample_dets())]).await), vec![(3.0, 1)]);
    let e = err("first", vec![("items", dets(vec![(1.0, vec![])]))]).await;
    assert!(e.contains("no detections"), "{e}");

    // Tracks: starts first / ends last.
    assert_eq!(track_ids(&ok("first", vec![("items", sample_tracks())]).await), vec![2]);
    assert_eq!(track_ids(&ok("last", vec![("items", sample_tracks())]).await), vec![3]);

    // Clips: segments.
    let c = clip(&[(10.0, 20.0), (0.0, 5.0)]);
    assert_eq!(segments(&ok("first", vec![("items", c.clone())]).await), vec![(0.0, 5.0)]);
    assert_eq!(segments(&ok("last", vec![("items", c)]).await), vec![(10.0, 20.0)]);
    assert_eq!(segments(&ok("first", vec![("items", Value::Video(video(30.0)))]).await), vec![(0.0, 30.0)]);

    // Lists: list order.
    assert!(matches!(ok("first", vec![("items", list(vec![int(7), int(8)]))]).await, Value::Int(7)));
    assert!(matches!(ok("last", vec![("items", list(vec![int(7), int(8)]))]).await, Value::Int(8)));
}

#[tokio::test]
async fn first_and_last_of_nothing_is_an_error() {
    for name in ["first", "last"] {
        for v in [frames(&[]), tt(vec![]), dets(vec![]), tracks(vec![]), list(vec![]), clip(&[])] {
            let e = err(name, vec![("items", v.clone())]).await;
            assert!(
                e.contains(&format!("{name}: `items`")) && (e.contains("is empty") || e.contains("no detections")),
                "{name}({}): {e}",
                v.summary()
            );
        }
    }
}

#[tokio::test]
async fn longest_by_duration() {
    let subs = tt(vec![cue(0.0, 1.0, "a"), cue(2.0, 5.0, "b"), cue(6.0, 9.0, "c")]);
    assert_eq!(cues_of(&ok("longest", vec![("items", subs)]).await), vec![(2.0, 5.0, "b".to_string())], "ties go to the earliest");
    assert_eq!(track_ids(&ok("longest", vec![("items", sample_tracks())]).await), vec![3]);
    assert_eq!(segments(&ok("longest", vec![("items", clip(&[(0.0, 5.0), (10.0, 30.0), (40.0, 45.0)]))]).await), vec![(10.0, 30.0)]);
    // A list of clips: the clip covering the most time (gaps excluded).
    let clips = list(vec![clip(&[(0.0, 4.0), (50.0, 54.0)]), clip(&[(10.0, 17.0)]), clip(&[(20.0, 26.0)])]);
    assert_eq!(segments(&ok("longest", vec![("items", clips)]).await), vec![(0.0, 4.0), (50.0, 54.0)]);
    let e = err("longest", vec![("items", list(vec![int(1), int(2)]))]).await;
    assert!(e.contains("must be timed") && e.contains("Int"), "{e}");
    let e = err("longest", vec![("items", tt(vec![]))]).await;
    assert!(e.contains("is empty"), "{e}");
}

#[tokio::test]
async fn concat_merges_same_kind_values() {
    let a = tt(vec![cue(5.0, 6.0, "later"), cue(9.0, 10.0, "last")]);
    let b = tt(vec![cue(1.0, 2.0, "early")]);
    let v = call_v("concat", vec![], vec![a, b]).await.map_err(|e| e.to_string());
    let got: Vec<String> = cues_of(&v.clone().unwrap_or(Value::Int(0))).into_iter().map(|c| c.2).collect();
    assert_eq!(got, vec!["early", "later", "last"]);

    let v = call_v("concat", vec![], vec![frames(&[3.0, 4.0]), frames(&[1.0])]).await;
    assert_eq!(frame_times(&v.unwrap_or(Value::Int(0))), vec![1.0, 3.0, 4.0]);

    // Detections of the same frame are combined.
    let people = dets(vec![(1.0, vec![bbox("person", 0.9)]), (2.0, vec![])]);
    let cars = dets(vec![(1.0, vec![bbox("car", 0.8), bbox("car", 0.7)]), (3.0, vec![bbox("car", 0.5)])]);
    let v = call_v("concat", vec![], vec![people, cars]).await.unwrap_or(Value::Int(0));
    assert_eq!(det_times(&v), vec![(1.0, 3), (2.0, 0), (3.0, 1)]);
    assert!(matches!(ok("count", vec![("items", v)]).await, Value::Int(4)));

    // Track ids stay unique; tracks are ordered by start.
    let a = tracks(vec![track(1, "person", &[5.0, 6.0]), track(2, "car", &[1.0])]);
    let b = tracks(vec![track(1, "dog", &[0.0, 2.0])]);
    let v = call_v("concat", vec![], vec![a, b]).await.unwrap_or(Value::Int(0));
    assert_eq!(track_ids(&v), vec![3, 2, 1]);
    assert!(matches!(ok("count", vec![("items", v)]).await, Value::Int(3)));

    let v = call_v("concat", vec![], vec![text("one"), text("two"), text("three")]).await.unwrap_or(Value::Int(0));
    assert!(matches!(v, Value::Text(ref s) if &**s == "one\ntwo\nthree"), "{}", v.summary());

    let v = call_v("concat", vec![], vec![list(vec![int(1)]), list(vec![]), list(vec![int(2), int(3)])]).await.unwrap_or(Value::Int(0));
    assert!(matches!(ok("eq", vec![("a", v), ("b", list(vec![int(1), int(2), int(3)]))]).await, Value::Bool(true)));

    let e = call_v("concat", vec![], vec![text("a"), tt(vec![])]).await.map(|v| v.summary());
    assert!(matches!(&e, Err(e) if e.to_string().contains("one kind")), "{e:?}");
    let e = call_v("concat", vec![], vec![]).await.map(|v| v.summary());
    assert!(matches!(&e, Err(e) if e.to_string().contains("at least one")), "{e:?}");
}

// ---------------------------------------------------------------------------
// Temporal
// ---------------------------------------------------------------------------

fn timeline() -> Value {
    tt(vec![cue(0.0, 2.0, "a"), cue(2.0, 4.0, "b"), cue(5.0, 7.0, "c"), cue(8.0, 10.0, "d")])
}

fn texts(v: &Value) -> Vec<String> {
    cues_of(v).into_iter().map(|c| c.2).collect()
}

#[tokio::test]
async fn before_after_during_on_cues() {
    let anchor = tt(vec![cue(4.0, 5.0, "anchor")]);
    let before = ok("before", vec![("items", timeline()), ("anchor", anchor.clone())]).await;
    assert_eq!(texts(&before), vec!["a", "b"], "ends at or before the anchor's start");
    let after = ok("after", vec![("items", timeline()), ("anchor", anchor.clone())]).await;
    assert_eq!(texts(&after), vec!["c", "d"], "starts at or after the anchor's end");
    let during = ok("during", vec![("items", timeline()), ("anchor", anchor)]).await;
    assert!(texts(&during).is_empty(), "touching at an end is not overlapping: {:?}", texts(&during));

    let during = ok("during", vec![("items", timeline()), ("anchor", Value::Timestamp(6.0))]).await;
    assert_eq!(texts(&during), vec!["c"]);
    let during = ok("during", vec![("items", timeline()), ("anchor", Value::Timestamp(2.0))]).await;
    assert_eq!(texts(&during), vec!["a", "b"], "an instant at a boundary is in both");
    let during = ok("during", vec![("items", timeline()), ("anchor", clip(&[(1.0, 2.5)]))]).await;
    assert_eq!(texts(&during), vec!["a", "b"]);
    // A clip anchor counts only its segments, not the gap between them.
    let during = ok("during", vec![("items", timeline()), ("anchor", clip(&[(0.5, 1.0), (9.0, 9.5)]))]).await;
    assert_eq!(texts(&during), vec!["a", "d"]);
    // But before/after use the anchor's whole span.
    let after = ok("after", vec![("items", timeline()), ("anchor", clip(&[(0.0, 1.0), (4.0, 5.0)]))]).await;
    assert_eq!(texts(&after), vec!["c", "d"]);
}

#[tokio::test]
async fn before_after_during_on_frames_detections_and_tracks() {
    let fs = frames(&[0.0, 1.0, 2.0, 3.0, 4.0]);
    let anchor = Value::Frame(frame_at(2.0));
    assert_eq!(frame_times(&ok("before", vec![("items", fs.clone()), ("anchor", anchor.clone())]).await), vec![0.0, 1.0, 2.0]);
    assert_eq!(frame_times(&ok("after", vec![("items", fs.clone()), ("anchor", anchor)]).await), vec![2.0, 3.0, 4.0]);
    let cue_anchor = tt(vec![cue(0.5, 2.5, "x")]);
    assert_eq!(frame_times(&ok("during", vec![("items", fs), ("anchor", cue_anchor)]).await), vec![1.0, 2.0]);

    let d = ok("after", vec![("items", sample_dets()), ("anchor", Value::Timestamp(2.5))]).await;
    assert_eq!(det_times(&d), vec![(3.0, 1), (4.0, 0)]);
    let d = ok("during", vec![("items", sample_dets()), ("anchor", sample_tracks())]).await;
    // Track spans: 0.5–1, 2–9, 4–12, 13: frames 1..4 all lie in one.
    assert_eq!(det_times(&d).len(), 4);

    // Tracks by their span: person 2–9, car 0.5–1, dog 4–12 and dog 13.
    let t = ok("before", vec![("items", sample_tracks()), ("anchor", Value::Timestamp(9.0))]).await;
    assert_eq!(track_ids(&t), vec![1, 2]);
    let t = ok("after", vec![("items", sample_tracks()), ("anchor", Value::Timestamp(4.0))]).await;
    assert_eq!(track_ids(&t), vec![3, 3]);
    let t = ok("during", vec![("items", sample_tracks()), ("anchor", clip(&[(1.5, 3.0)]))]).await;
    assert_eq!(track_ids(&t), vec![1]);
}

#[tokio::test]
async fn before_after_during_cut_clips() {
    let c = clip(&[(0.0, 10.0), (20.0, 30.0)]);
    let anchor = tt(vec![cue(5.0, 25.0, "x")]);
    assert_eq!(segments(&ok("before", vec![("items", c.clone()), ("anchor", anchor.clone())]).await), vec![(0.0, 5.0)]);
    assert_eq!(segments(&ok("after", vec![("items", c.clone()), ("anchor", anchor.clone())]).await), vec![(25.0, 30.0)]);
    assert_eq!(segments(&ok("during", vec![("items", c.clone()), ("anchor", anchor)]).await), vec![(5.0, 10.0), (20.0, 25.0)]);
    assert_eq!(segments(&ok("before", vec![("items", c.clone()), ("anchor", Value::Timestamp(0.0))]).await), Vec::<(f64, f64)>::new());
    // An instant inside a segment gives an instant.
    assert_eq!(segments(&ok("during", vec![("items", c.clone()), ("anchor", Value::Timestamp(22.0))]).await), vec![(22.0, 22.0)]);
    assert_eq!(segments(&ok("during", vec![("items", c), ("anchor", Value::Timestamp(15.0))]).await), Vec::<(f64, f64)>::new());
    // A video is its whole clip.
    let v = Value::Video(video(60.0));
    assert_eq!(segments(&ok("after", vec![("items", v), ("anchor", Value::Timestamp(45.0))]).await), vec![(45.0, 60.0)]);
}

#[tokio::test]
async fn empty_anchor_is_an_error() {
    for name in ["before", "after", "during"] {
        for anchor in [tt(vec![]), frames(&[]), dets(vec![]), tracks(vec![]), clip(&[])] {
            let e = err(name, vec![("items", timeline()), ("anchor", anchor.clone())]).await;
            assert!(e.contains("anchor") && e.contains("is empty"), "{name} with {}: {e}", anchor.summary());
        }
    }
}

#[tokio::test]
async fn duration_start_and_end() {
    let d = |v: Value| async move {
        match ok("duration", vec![("x", v)]).await {
            Value::Duration(s) => s,
            other => panic!("duration returned {}", other.summary()),
        }
    };
    assert_eq!(d(clip(&[(0.0, 5.0), (10.0, 12.5)])).await, 7.5);
    assert_eq!(d(tt(vec![cue(0.0, 2.0, "a"), cue(1.0, 4.0, "b")])).await, 5.0, "sum of cue lengths");
    assert_eq!(d(sample_tracks()).await, 0.5 + 10.0, "union of track spans: 0.5–1 and 2–12 (13 is an instant)");
    assert_eq!(d(frames(&[1.0, 2.0, 4.5])).await, 3.5);
    assert_eq!(d(tt(vec![])).await, 0.0);

    let t = |name: &'static str, v: Value| async move {
        match ok(name, vec![("x", v)]).await {
            Value::Timestamp(s) => s,
            other => panic!("{name} returned {}", other.summary()),
        }
    };
    assert_eq!(t("start", timeline()).await, 0.0);
    assert_eq!(t("end", timeline()).await, 10.0);
    assert_eq!(t("start", sample_tracks()).await, 0.5);
    assert_eq!(t("end", sample_tracks()).await, 13.0);
    assert_eq!(t("start", clip(&[(3.0, 4.0), (8.0, 9.0)])).await, 3.0);
    assert_eq!(t("end", sample_dets()).await, 4.0);
    for name in ["start", "end"] {
        let e = err(name, vec![("x", tt(vec![]))]).await;
        assert!(e.contains("is empty"), "{e}");
    }
}

// ---------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------

#[tokio::test]
async fn contains_text_and_cues() {
    let c = |t: Value, p: &str, cs: Option<bool>| {
        let mut args = vec![("text", t), ("pattern", text(p))];
        if let Some(cs) = cs {
            args.push(("case_sensitive", Value::Bool(cs)));
        }
        boolean("contains", args)
    };
    assert!(c(text("Luck is defined"), "luck", None).await);
    assert!(!c(text("Luck is defined"), "luck", Some(true)).await);
    assert!(c(text("Luck is defined"), "Luck", Some(true)).await);
    assert!(!c(text("Luck is defined"), "lucky", None).await);
    let subs = tt(vec![cue(0.0, 1.0, "that luck is rarely\na lightning strike,"), cue(1.0, 2.0, "isolated and dramatic.")]);
    assert!(c(subs.clone(), "rarely a LIGHTNING", None).await, "line wraps inside a cue are spaces");
    assert!(c(subs.clone(), "dramatic", None).await);
    assert!(!c(subs.clone(), "strike, isolated", None).await, "no match across cues");
    let e = err("contains", vec![("text", subs), ("pattern", text("  "))]).await;
    assert!(e.contains("empty"), "{e}");
}

#[tokio::test]
async fn describe_renders_values_readably() {
    let s = |v: Value| async move {
        match ok("describe", vec![("value", v)]).await {
            Value::Text(t) => t.to_string(),
            other => panic!("describe returned {}", other.summary()),
        }
    };
    let mut scored = cue(72.44, 74.955, "I've spent\nnearly two decades");
    scored.score = Some(0.5);
    let out = s(tt(vec![cue(12.44, 14.955, "I've spent nearly two decades"), scored])).await;
    assert_eq!(
        out,
        "2 cues from test\n  [00:12.4–00:15.0] I've spent nearly two decades\n  [01:12.4–01:15.0] I've spent nearly two decades (score 0.500)"
    );

    let out = s(sample_dets()).await;
    assert!(out.starts_with("Detections: 4 boxes in 2 of 4 frames"), "{out}");
    assert!(out.contains("by label: car ×2 (best score 0.70), person ×2 (best score 0.90)"), "{out}");
    assert!(out.contains("[00:02.0] car ×1 (best score 0.70), person ×2 (best score 0.90)"), "{out}");
    // Per label: frames seen, most at once, time span (most frames first).
    assert!(out.contains("car: in 2 of 4 frames, up to 1 in one frame, [00:02.0–00:03.0]"), "{out}");
    assert!(out.contains("person: in 1 of 4 frames, up to 2 in one frame, [00:02.0–00:02.0]"), "{out}");
    assert!(out.find("car: in").unwrap_or(usize::MAX) < out.find("person: in").unwrap_or(0), "{out}");

    let out = s(sample_tracks()).await;
    assert!(out.starts_with("4 tracks\n"), "{out}");
    assert!(out.contains("track #1 person: [00:02.0–00:09.0] (7.0 s, 3 positions)"), "{out}");
    let car = out.find("track #2").unwrap_or(usize::MAX);
    let person = out.find("track #1").unwrap_or(0);
    assert!(car < person, "tracks listed by start: {out}");

    let out = s(Value::Choice(Arc::new(Choice {
        index: 1,
        option: "success or failure".into(),
        confidence: 0.875,
        scores: vec![1.0, 5.0],
        method: "m".into(),
    })))
    .await;
    assert_eq!(out, "Chose option 1: \"success or failure\" (confidence 0.875)\n  scores: [0] 1.000, [1] 5.000\n  method: m");

    let out = s(clip(&[(0.0, 5.0), (62.5, 70.0)])).await;
    assert_eq!(out, "Clip of v.mp4: 2 segments, 12.5 s in all\n  [00:00.0–00:05.0] 5.0 s\n  [01:02.5–01:10.0] 7.5 s");

    let out = s(list(vec![int(3), Value::Timestamp(62.5), text("hello")])).await;
    assert_eq!(out, "List of 3 items (List<Any>)\n  1. 3\n  2. 01:02.5 (62.500 s)\n  3. hello");

    let out = s(Value::Duration(2.0)).await;
    assert_eq!(out, "2.000 s");
    let out = s(text("as is\nkept")).await;
    assert_eq!(out, "as is\nkept");

    let many = tt((0..600).map(|i| cue(i as f64, i as f64 + 0.5, "x")).collect());
    let out = s(many).await;
    assert!(out.ends_with("… and 100 more"), "long collections are capped");
}

// ---------------------------------------------------------------------------
// choose_by_text
// ---------------------------------------------------------------------------

/// The first fifteen cues of media/ted/test.srt.
fn ted_cues() -> Value {
    let cues = [
        (12.440, 14.955, "I've spent nearly two decades"),
        (14.979, 18.532, "observing what makes people luckier than others"),
        (18.556, 22.119, "and trying to help people increase their luck."),
        (22.675, 25.567, "You see, I teach entrepreneurship,"),
        (25.591, 29.140, "and we all know that most new ventures fail,"),
        (29.164, 32.797, "and innovators and entrepreneurs need all the luck they can get."),
        (33.846, 35.136, "So what is luck?"),
        (35.160, 41.200, "Luck is defined as success or failure apparently caused by chance."),
        (42.295, 43.662, "Apparently."),
        (43.686, 45.321, "That's the operative word."),
        (46.353, 48.362, "It looks like it's chance"),
        (48.386, 53.544, "because we rarely see all the levers that come into play to make people lucky."),
        (53.568, 56.561, "But I've realized, by watching so long,"),
        (56.585, 59.918, "that luck is rarely a lightning strike,"),
        (59.942, 61.696, "isolated and dramatic."),
    ];
    tt(cues
        .iter()
        .map(|&(start, end, t)| Cue { start, end, text: t.into(), score: None, bbox: None, source: "subtitles:srt".into() })
        .collect())
}

const LUCK_OPTIONS: [&str; 5] = [
    "a lightning strike that is isolated and dramatic",
    "success or failure apparently caused by chance",
    "the result of hard work alone",
    "a skill you are born with",
    "something entrepreneurs never need",
];

async fn choose(question: &str, options: &[&str], evidence: Option<Value>) -> Result<Choice, String> {
    let mut args = vec![("question", text(question)), ("options", list(options.iter().map(|o| text(o)).collect()))];
    if let Some(e) = evidence {
        args.push(("evidence", e));
    }
    call("choose_by_text", args).await.map(|v| choice(&v)).map_err(|e| e.to_string())
}

fn softmax(scores: &[f64]) -> Vec<f64> {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = scores.iter().map(|s| ((s - max) / symbolic::choose::TEMPERATURE).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}

fn assert_well_formed(c: &Choice, n: usize) {
    assert_eq!(c.scores.len(), n);
    assert_eq!(c.method, "choose_by_text: lexical overlap baseline");
    assert!(c.confidence > 0.0 && c.confidence <= 1.0, "confidence {}", c.confidence);
    let p = softmax(&c.scores);
    assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    assert!((p[c.index] - c.confidence).abs() < 1e-12, "confidence is the chosen option's softmax share");
    let best = c.scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(c.scores.iter().position(|&s| s == best), Some(c.index), "argmax, ties to the lowest index");
}

#[tokio::test]
async fn choose_by_text_answers_what_luck_is_from_the_ted_talk() {
    let c = choose("What does the speaker say luck is?", &LUCK_OPTIONS, Some(ted_cues())).await;
    let c = c.unwrap_or_else(|e| panic!("{e}"));
    assert_well_formed(&c, 5);
    assert_eq!(c.index, 1, "scores {:?}", c.scores);
    assert_eq!(c.option, LUCK_OPTIONS[1]);
    // The definition cue matches all five content words of option 1; option 0
    // only matches words of a sentence saying luck is *rarely* that.
    assert!(c.scores[1] > 1.5 * c.scores[0], "scores {:?}", c.scores);
    assert!(c.scores[0] > 0.0 && c.scores[4] > 0.0, "partial overlaps score something: {:?}", c.scores);
    assert_eq!((c.scores[2], c.scores[3]), (0.0, 0.0), "no overlap, no score: {:?}", c.scores);
    assert!(c.confidence > 0.9, "a clear winner: {}", c.confidence);
}

#[tokio::test]
async fn choose_by_text_on_cues_filtered_like_examples_luck_vp() {
    // examples/luck.vp: evidence = [cue for cue in subs if contains(cue, "luck")],
    // i.e. a list of one-cue TimedTexts.
    let Value::TimedText(all) = ted_cues() else { panic!("fixture is TimedText") };
    let about_luck: Vec<Value> = all.cues.iter().filter(|c| c.text.to_lowercase().contains("luck")).map(|c| tt(vec![c.clone()])).collect();
    assert_eq!(about_luck.len(), 7, "substring match: luckier, lucky too");
    let c = choose("What does the speaker say luck is?", &LUCK_OPTIONS, Some(list(about_luck))).await.unwrap_or_else(|e| panic!("{e}"));
    assert_well_formed(&c, 5);
    assert_eq!(c.index, 1, "scores {:?}", c.scores);
}

#[tokio::test]
async fn choose_by_text_follows_negation_in_the_question() {
    // Asked what luck is *rarely*, the negated sentence becomes the support.
    let c = choose("According to the speaker, what is luck rarely?", &LUCK_OPTIONS, Some(ted_cues())).await;
    let c = c.unwrap_or_else(|e| panic!("{e}"));
    assert_well_formed(&c, 5);
    assert_eq!(c.index, 0, "scores {:?}", c.scores);
}

#[tokio::test]
async fn choose_by_text_other_questions_on_the_ted_talk() {
    let c = choose("What does the speaker teach?", &["physics", "entrepreneurship", "dramatic arts", "lightning safety"], Some(ted_cues()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_well_formed(&c, 4);
    assert_eq!(c.index, 1, "scores {:?}", c.scores);

    let c = choose(
        "How long has the speaker spent observing luck?",
        &["a few weeks", "nearly two decades", "one year", "all the luck they can get"],
        Some(ted_cues()),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_well_formed(&c, 4);
    assert_eq!(c.index, 1, "scores {:?}", c.scores);
}

#[tokio::test]
async fn choose_by_text_edge_cases() {
    let e = choose("anything?", &[], Some(ted_cues())).await;
    assert!(matches!(&e, Err(e) if e.contains("no options")), "{e:?}");

    // No evidence: uniform confidence, first option.
    let c = choose("What is luck?", &["chance", "work", "skill", "fate"], None).await.unwrap_or_else(|e| panic!("{e}"));
    assert_well_formed(&c, 4);
    assert_eq!((c.index, c.scores.clone()), (0, vec![0.0; 4]));
    assert!(c.scores.iter().all(|s| s.is_sign_positive()), "no -0.0 in scores: {:?}", c.scores);
    assert!((c.confidence - 0.25).abs() < 1e-12);

    // Identical options tie: the lowest index wins with equal confidence.
    let c = choose("What is luck?", &["work", "chance", "chance"], Some(ted_cues())).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.index, 1);
    assert_eq!(c.scores[1], c.scores[2]);
    assert!(c.confidence < 0.5);

    // Cue scores weight the evidence.
    let mut strong = cue(0.0, 1.0, "the answer is red");
    strong.score = Some(1.0);
    let mut weak = cue(2.0, 3.0, "the answer is blue");
    weak.score = Some(0.1);
    let ev = tt(vec![strong.clone(), weak.clone()]);
    let c = choose("Which colour?", &["blue", "red"], Some(ev)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.index, 1, "scores {:?}", c.scores);
    strong.score = Some(0.1);
    weak.score = Some(1.0);
    let c = choose("Which colour?", &["blue", "red"], Some(tt(vec![strong, weak]))).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.index, 0, "scores {:?}", c.scores);

    // Text and mixed-list evidence.
    let ev = list(vec![text("The bike is green. The car is yellow."), int(3)]);
    let c = choose("What colour is the car?", &["green", "yellow"], Some(ev)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.index, 1, "question words pick the right sentence: {:?}", c.scores);

    // Non-text options are rejected.
    let e = call("choose_by_text", vec![("question", text("q")), ("options", list(vec![int(1)]))]).await.map(|v| v.summary());
    assert!(matches!(&e, Err(e) if e.to_string().contains("not Text")), "{e:?}");

    // Options without a word still get a share.
    let c = choose("What is luck?", &["", "?!", "chance"], Some(ted_cues())).await.unwrap_or_else(|e| panic!("{e}"));
    assert_well_formed(&c, 3);
    assert_eq!(c.index, 2);
    let _ = Type::Choice; // the declared return type
}

// ---------------------------------------------------------------------------
// Robustness
// ---------------------------------------------------------------------------

/// One value of every kind, including empty and degenerate ones.
fn zoo() -> Vec<Value> {
    let v = video(10.0);
    vec![
        Value::Video(v.clone()),
        Value::Video(video(f64::NAN)),
        clip(&[(1.0, 2.0), (4.0, 8.0)]),
        clip(&[]),
        Value::Clip(Arc::new(Clip { video: video(-1.0), segments: vec![TimeRange { start: f64::NAN, end: 3.0 }] })),
        Value::Frame(frame_at(1.0)),
        frames(&[0.0, 1.0]),
        frames(&[]),
        sample_dets(),
        dets(vec![]),
        sample_tracks(),
        tracks(vec![track(1, "x", &[])]),
        Value::Masks(Arc::new(Masks::default())),
        // Runs that do not cover the mask, a NaN time, no width.
        Value::Masks(Arc::new(Masks {
            masks: vec![Mask { time: f64::NAN, width: 0, height: 5, label: "person".into(), score: f32::NAN, runs: vec![7, 3] }],
        })),
        timeline(),
        tt(vec![]),
        tt(vec![cue(f64::NAN, f64::INFINITY, "")]),
        text(""),
        text("luck is chance"),
        int(0),
        int(i64::MIN),
        num(f64::NAN),
        num(-0.0),
        Value::Bool(true),
        Value::Duration(f64::INFINITY),
        Value::Timestamp(-1.0),
        Value::Choice(Arc::new(Choice { index: 0, option: "o".into(), confidence: 1.0, scores: vec![], method: String::new() })),
        list(vec![]),
        list(vec![text("a"), int(1), list(vec![tt(vec![])])]),
        list(vec![clip(&[(0.0, 1.0)]), clip(&[])]),
    ]
}

#[tokio::test]
async fn no_module_panics_on_any_argument() {
    let r = registry();
    let values = zoo();
    let mut calls = 0;
    for m in r.iter() {
        let sig = m.signature();
        let fixed: Vec<&str> = sig.params.iter().filter(|p| !p.variadic).map(|p| p.name).take(2).collect();
        let variadic = sig.params.iter().any(|p| p.variadic);
        let firsts: Vec<Option<&Value>> = if fixed.is_empty() { vec![None] } else { values.iter().map(Some).collect() };
        for a in &firsts {
            let seconds: Vec<Option<&Value>> = if fixed.len() < 2 { vec![None] } else { values.iter().map(Some).collect() };
            for b in &seconds {
                let mut named: Vec<(&str, Value)> = Vec::new();
                if let (Some(name), Some(v)) = (fixed.first(), a) {
                    named.push((name, (*v).clone()));
                }
                if let (Some(name), Some(v)) = (fixed.get(1), b) {
                    named.push((name, (*v).clone()));
                }
                let var = if variadic { values.iter().take(3).cloned().chain(a.cloned()).collect() } else { Vec::new() };
                // Ok or Err are both fine; a panic fails the test.
                let _ = call_v(sig.name, named, var).await;
                calls += 1;
            }
        }
        if variadic {
            for v in &values {
                let _ = call_v(sig.name, vec![], vec![v.clone(), v.clone()]).await;
            }
        }
    }
    assert!(calls > 10_000, "{calls} calls");
}
