//! The video modules on real media: probing, sampling accuracy (against
//! ffprobe's frame list and ffmpeg's own decode), sparse seeking, scenes,
//! trims, and clear errors for damaged or wrong inputs.
//!
//! Media comes from `VPROG_MEDIA_DIR` or `<workspace>/media`
//! (`bash scripts/fetch-media.sh`); synthetic clips are made with the
//! `ffmpeg` CLI in a temporary directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use vprog_modules::video::{self, open_video, sample_clip, SampleMode};
use vprog_runtime::module::{Progress, StopSignal};
use vprog_runtime::value::{
    BBox, Clip, Cue, Detections, Frame, FrameDetections, TimeRange, TimedText, Track, TrackPoint, Tracks, VideoRef,
};
use vprog_runtime::{ModuleError, Registry, StepContext, Value};

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

fn media_dir() -> PathBuf {
    let dir = std::env::var_os("VPROG_MEDIA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("media"));
    assert!(
        dir.join("vtest.avi").is_file(),
        "test media not found in {}: run `bash scripts/fetch-media.sh` from the workspace root \
         (or point VPROG_MEDIA_DIR at a directory holding it)",
        dir.display()
    );
    dir
}

fn media(name: &str) -> PathBuf {
    let p = media_dir().join(name);
    assert!(p.is_file(), "{} is missing: run `bash scripts/fetch-media.sh`", p.display());
    p
}

fn open(name: &str) -> Arc<VideoRef> {
    let p = media(name);
    open_video(&p, None).unwrap_or_else(|e| panic!("opening {}: {e}", p.display()))
}

fn registry() -> Registry {
    let mut r = Registry::new();
    video::register(&mut r);
    r
}

/// Calls module `name` like the executor: named arguments, defaults filled in.
async fn call(name: &str, named: Vec<(&str, Value)>) -> Result<Value, ModuleError> {
    let r = registry();
    let Some(module) = r.get(name) else { panic!("module `{name}` is not registered") };
    let args = vprog_runtime::Args::with_defaults(module.signature(), named, vec![]);
    module.call(args, &StepContext::standalone("test")).await
}

async fn ok(name: &str, named: Vec<(&str, Value)>) -> Value {
    call(name, named).await.unwrap_or_else(|e| panic!("{name} failed: {e}"))
}

async fn err(name: &str, named: Vec<(&str, Value)>) -> String {
    match call(name, named).await {
        Ok(v) => panic!("{name} should have failed, gave {}", v.summary()),
        Err(e) => e.to_string(),
    }
}

fn frames(v: Value) -> Arc<Vec<Frame>> {
    match v {
        Value::Frames(f) => f,
        other => panic!("expected Frames, got {}", other.summary()),
    }
}

fn clip(v: Value) -> Arc<Clip> {
    match v {
        Value::Clip(c) => c,
        other => panic!("expected a Clip, got {}", other.summary()),
    }
}

fn segments(v: Value) -> Vec<(f64, f64)> {
    clip(v).segments.iter().map(|s| (s.start, s.end)).collect()
}

fn ts(t: f64) -> Value {
    Value::Timestamp(t)
}

fn run(cmd: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("cannot run {cmd} (it is needed by this test): {e}"));
    assert!(out.status.success(), "{cmd} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// Every video frame's presentation time according to ffprobe.
fn frame_times(path: &Path) -> Vec<f64> {
    let p = path.to_string_lossy();
    let out = run(
        "ffprobe",
        &["-v", "error", "-select_streams", "V:0", "-show_entries", "frame=best_effort_timestamp_time", "-of", "csv=p=0", &p],
    );
    let mut times: Vec<f64> = String::from_utf8_lossy(&out).lines().filter_map(|l| l.trim().trim_end_matches(',').parse().ok()).collect();
    times.sort_by(f64::total_cmp);
    assert!(!times.is_empty(), "ffprobe listed no frames of {p}");
    times
}

/// The distance from `t` to the nearest frame ffprobe knows.
fn nearest_distance(times: &[f64], t: f64) -> f64 {
    times.iter().map(|x| (x - t).abs()).fold(f64::INFINITY, f64::min)
}

/// Asserts that each frame's time is a real frame time, that frames are
/// sorted and distinct, and that every requested time got the nearest frame
/// (within one frame interval).
fn assert_nearest(label: &str, got: &[Frame], requested: &[f64], all: &[f64], interval: f64) {
    for w in got.windows(2) {
        assert!(w[0].time < w[1].time, "{label}: frames not sorted/distinct: {} then {}", w[0].time, w[1].time);
    }
    for f in got {
        assert!(nearest_distance(all, f.time) < 1e-4, "{label}: {} s is not the time of any frame", f.time);
    }
    for &t in requested {
        let best = got.iter().map(|f| (f.time - t).abs()).fold(f64::INFINITY, f64::min);
        let ideal = nearest_distance(all, t);
        // Within one frame interval, unless the stream itself has a gap there.
        assert!(
            best <= interval.max(ideal) + 1e-6,
            "{label}: nothing within one frame interval ({interval:.4} s) of {t} s (closest {best:.4} s)"
        );
        assert!(best <= ideal + 1e-4, "{label}: for {t} s got a frame {best:.4} s away but one {ideal:.4} s away exists");
    }
}

fn times(f: &[Frame]) -> Vec<f64> {
    f.iter().map(|f| f.time).collect()
}

/// ffmpeg's own RGB decode of the frame at `t` (same swscale flags as ours).
fn reference_rgb(path: &Path, t: f64) -> Vec<u8> {
    let ss = format!("{:.4}", (t - 0.001).max(0.0));
    let p = path.to_string_lossy();
    run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-ss",
            &ss,
            "-i",
            &p,
            "-map",
            "0:V:0",
            "-frames:v",
            "1",
            "-sws_flags",
            "bilinear+accurate_rnd+full_chroma_int",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
    )
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "picture sizes differ");
    a.iter().zip(b).map(|(x, y)| f64::from(x.abs_diff(*y))).sum::<f64>() / a.len() as f64
}

fn distinct_bytes(f: &Frame) -> usize {
    let mut seen = [false; 256];
    f.rgb.iter().for_each(|b| seen[usize::from(*b)] = true);
    seen.iter().filter(|s| **s).count()
}

// ---------------------------------------------------------------------------
// Probing
// ---------------------------------------------------------------------------

#[test]
fn probe_reports_format_size_rate_and_streams() {
    let v = open("vtest.avi");
    assert_eq!(v.info.format, "avi");
    assert!((v.info.duration - 79.5).abs() < 1e-3, "duration {}", v.info.duration);
    assert!((v.info.fps - 10.0).abs() < 1e-9);
    assert_eq!((v.info.width, v.info.height), (768, 576));
    assert_eq!(v.info.frame_count, Some(795));
    assert_eq!(v.info.video_codec, "msmpeg4v3");
    assert_eq!(v.subtitles, None);
    let bytes = std::fs::read(media("vtest.avi")).expect("read vtest.avi");
    assert_eq!(v.hash, blake3::hash(&bytes).to_hex().to_string(), "hash is BLAKE3 of the bytes");

    let b = open("box.mp4");
    assert_eq!(b.info.video_codec, "h264");
    assert_eq!((b.info.width, b.info.height), (640, 480));
    let kinds: Vec<(usize, &str, &str)> = b.info.streams.iter().map(|s| (s.index, s.kind.as_str(), s.codec.as_str())).collect();
    assert_eq!(kinds, vec![(0, "audio", "mp3"), (1, "video", "h264")]);
    assert_eq!(b.info.streams[0].language.as_deref(), Some("eng"));

    let started = Instant::now();
    let bbb = open("bbb.mp4");
    eprintln!("open_video(bbb.mp4, 50 MB): {:.2?} (hash, probe, first frame, tail check)", started.elapsed());
    assert!((bbb.info.fps - 24.0).abs() < 1e-9 && (bbb.info.duration - 596.458).abs() < 0.01, "{:?}", bbb.info);
    assert_ne!(bbb.hash, v.hash);

    let mkv = open("ted/test.mkv");
    assert!(mkv.info.format.contains("matroska"));
    assert_eq!(mkv.info.streams.iter().map(|s| s.kind.as_str()).collect::<Vec<_>>(), vec!["video", "audio", "subtitle"]);
    assert_eq!(mkv.info.frame_count, None, "Matroska does not store a frame count");
}

// ---------------------------------------------------------------------------
// Sampling accuracy
// ---------------------------------------------------------------------------

#[tokio::test]
async fn fps_count_and_at_land_on_the_nearest_frame() {
    for (name, fps, count, at) in [
        ("vtest.avi", 0.25, 10usize, vec![0.0, 24.97, 25.0, 37.33, 50.05, 79.4]),
        ("ted/test.mp4", 0.5, 16usize, vec![0.0, 1.02, 12.44, 30.0, 45.51, 61.6]),
    ] {
        let v = open(name);
        let all = frame_times(&media(name));
        let interval = 1.0 / v.info.fps;
        let d = v.info.duration;

        let got = frames(ok("sample", vec![("clip", Value::Video(v.clone())), ("fps", Value::Number(fps))]).await);
        let want: Vec<f64> = (0..).map(|k| k as f64 / fps).take_while(|t| *t < d).collect();
        assert_eq!(got.len(), want.len(), "{name} fps: one frame per request");
        assert_nearest(&format!("{name} fps"), &got, &want, &all, interval);

        let got = frames(ok("sample", vec![("clip", Value::Video(v.clone())), ("count", Value::Int(count as i64))]).await);
        let want: Vec<f64> = (0..count).map(|i| (i as f64 + 0.5) * d / count as f64).collect();
        assert_eq!(got.len(), count, "{name} count");
        assert_nearest(&format!("{name} count"), &got, &want, &all, interval);

        let list = Value::List(Arc::new(at.iter().map(|t| ts(*t)).collect()));
        let got = frames(ok("sample", vec![("clip", Value::Video(v.clone())), ("at", list)]).await);
        assert_nearest(&format!("{name} at"), &got, &at, &all, interval);
        // 24.97 and 25.0 in vtest (10 fps) are the same frame.
        let distinct: std::collections::BTreeSet<u64> = at
            .iter()
            .map(|t| all.iter().copied().min_by(|a, b| (a - t).abs().total_cmp(&(b - t).abs())).unwrap_or(0.0).to_bits())
            .collect();
        assert_eq!(got.len(), distinct.len(), "{name} at: duplicates merged, {:?}", times(&got));

        // Default: 8 frames.
        let got = frames(ok("sample", vec![("clip", Value::Video(v.clone()))]).await);
        assert_eq!(got.len(), 8, "{name}: default count");
        assert!(got.iter().all(|f| (f.width, f.height) == (v.info.width, v.info.height)));
    }
}

#[tokio::test]
async fn sampled_pixels_are_those_ffmpeg_decodes_at_that_time() {
    for (name, at) in [("vtest.avi", vec![3.0, 37.3, 62.1]), ("ted/test.mp4", vec![12.44, 40.0]), ("bbb.mp4", vec![61.0, 300.0])] {
        let v = open(name);
        let list = Value::List(Arc::new(at.iter().map(|t| ts(*t)).collect()));
        let got = frames(ok("sample", vec![("clip", Value::Video(v.clone())), ("at", list)]).await);
        assert_eq!(got.len(), at.len());
        for f in got.iter() {
            let reference = reference_rgb(&v.path, f.time);
            let diff = mean_abs_diff(&f.rgb, &reference);
            eprintln!("{name} @ {:.3}s: mean abs diff to ffmpeg's decode {diff:.3}", f.time);
            assert!(diff < 0.5, "{name} @ {} s differs from ffmpeg's frame at that time (mean abs diff {diff:.2})", f.time);
        }
    }
}

#[test]
fn bbb_count_32_seeks_instead_of_decoding_everything() {
    let v = open("bbb.mp4");
    let clip = Clip::whole(v.clone());
    let started = Instant::now();
    let sampled = sample_clip(&clip, &SampleMode::Count(32), 0, &Progress::hidden(), &StopSignal::never()).expect("sampling bbb.mp4");
    let elapsed = started.elapsed();
    let total = v.info.frame_count.unwrap_or(14_315);
    eprintln!(
        "bbb.mp4 count 32: {:.2?}, {} frames decoded of {total}, {} seeks, {} packets read",
        elapsed, sampled.stats.decoded_frames, sampled.stats.seeks, sampled.stats.packets_read
    );
    assert_eq!(sampled.frames.len(), 32);
    let d = v.info.duration;
    for (i, f) in sampled.frames.iter().enumerate() {
        let want = (i as f64 + 0.5) * d / 32.0;
        assert!((f.time - want).abs() <= 1.0 / 24.0 + 1e-6, "frame {i}: {} s for {want} s", f.time);
        assert_eq!((f.width, f.height), (1280, 720));
    }
    // Keyframes every 3.2 s on average (5.5 s at most): decoding from the
    // keyframe before each target is ~1780 frames; everything would be 14315.
    assert!(sampled.stats.decoded_frames < total / 4, "decoded {} frames: seeking is not working", sampled.stats.decoded_frames);
    assert!(sampled.stats.seeks >= 32);
}

#[test]
fn dense_targets_decode_on_instead_of_seeking() {
    let v = open("ted/test.mp4");
    let clip = Clip::new(v.clone(), [TimeRange { start: 20.0, end: 30.0 }]);
    let sampled = sample_clip(&clip, &SampleMode::Fps(4.0), 0, &Progress::hidden(), &StopSignal::never()).expect("sampling");
    assert_eq!(sampled.frames.len(), 40);
    assert!(sampled.stats.seeks <= 2, "{} seeks for targets 0.25 s apart", sampled.stats.seeks);
    assert!(sampled.stats.decoded_frames <= 10 * 24 + 5 * 24, "decoded {}", sampled.stats.decoded_frames);
}

#[tokio::test]
async fn box_mp4_with_video_as_second_stream_samples_real_pictures() {
    let v = open("box.mp4");
    let all = frame_times(&v.path);
    let got = frames(ok("sample", vec![("clip", Value::Video(v.clone())), ("count", Value::Int(6))]).await);
    assert_eq!(got.len(), 6);
    let want: Vec<f64> = (0..6).map(|i| (i as f64 + 0.5) * v.info.duration / 6.0).collect();
    // Variable frame rate: compare with the real frame list.
    assert_nearest("box.mp4", &got, &want, &all, 0.2);
    for f in got.iter() {
        assert_eq!((f.width, f.height), (640, 480));
        assert_eq!(f.rgb.len(), 640 * 480 * 3);
        assert!(distinct_bytes(f) > 50, "frame at {} s is (nearly) flat", f.time);
    }
    assert_ne!(got[0].rgb, got[5].rgb, "first and last sampled frames are identical");
}

#[tokio::test]
async fn size_scales_the_longest_side() {
    let v = open("vtest.avi");
    let got = frames(ok("sample", vec![("clip", Value::Video(v.clone())), ("count", Value::Int(2)), ("size", Value::Int(160))]).await);
    assert!(got.iter().all(|f| (f.width, f.height) == (160, 120) && f.rgb.len() == 160 * 120 * 3), "{got:?}");
    let t = open("ted/test.mp4");
    let got = frames(ok("sample", vec![("clip", Value::Video(t)), ("count", Value::Int(1)), ("size", Value::Int(320))]).await);
    assert_eq!((got[0].width, got[0].height), (320, 180));
    let e = err("sample", vec![("clip", Value::Video(v)), ("size", Value::Int(-1))]).await;
    assert!(e.contains("size"), "{e}");
}

#[tokio::test]
async fn bad_sampling_arguments_are_rejected_clearly() {
    let v = open("ted/test.mp4");
    let video = || Value::Video(v.clone());
    let e = err("sample", vec![("clip", video()), ("at", Value::List(Arc::new(vec![ts(70.0)])))]).await;
    assert!(e.contains("01:10.0") && e.contains("outside the clip") && e.contains("00:00.0–01:01.7"), "{e}");
    let e = err("sample", vec![("clip", video()), ("fps", Value::Number(1.0)), ("count", Value::Int(3))]).await;
    assert!(e.contains("at most one of"), "{e}");
    let e = err("sample", vec![("clip", video()), ("fps", Value::Number(500.0))]).await;
    assert!(e.contains("fps") && e.contains("120"), "{e}");
    let e = err("sample", vec![("clip", video()), ("count", Value::Int(0))]).await;
    assert!(e.contains("count"), "{e}");
    let e = err("sample", vec![("clip", video()), ("scenes", Value::Number(1.5))]).await;
    assert!(e.contains("scenes"), "{e}");
}

// ---------------------------------------------------------------------------
// Multi-segment clips
// ---------------------------------------------------------------------------

#[tokio::test]
async fn multi_segment_clip_from_subtitle_cues_samples_inside_the_segments() {
    let v = open("ted/test.mp4");
    let cue = |start: f64, end: f64, text: &str| Cue { start, end, text: text.into(), score: None, bbox: None, source: "test".into() };
    // Three cues of the talk (times from ted/test.srt); padded by 1 s they stay apart.
    let cues = TimedText {
        cues: vec![
            cue(12.44, 14.955, "I've spent nearly two decades"),
            cue(33.853, 35.139, "So what is luck?"),
            cue(42.302, 43.66, "Apparently."),
        ],
    };
    let c = clip(
        ok(
            "trim_around",
            vec![("video", Value::Video(v.clone())), ("anchor", Value::TimedText(Arc::new(cues))), ("pad", Value::Duration(1.0))],
        )
        .await,
    );
    let segs: Vec<(f64, f64)> = c.segments.iter().map(|s| (s.start, s.end)).collect();
    let expect = [(11.44, 15.955), (32.853, 36.139), (41.302, 44.66)];
    assert_eq!(segs.len(), 3, "{segs:?}");
    for (s, e) in segs.iter().zip(expect) {
        assert!((s.0 - e.0).abs() < 1e-9 && (s.1 - e.1).abs() < 1e-9, "{segs:?}");
    }
    let half = 0.5 / v.info.fps + 1e-6;
    let inside = |t: f64| c.segments.iter().any(|s| t >= s.start - half && t <= s.end + half);

    let got = frames(ok("sample", vec![("clip", Value::Clip(c.clone())), ("count", Value::Int(9))]).await);
    assert_eq!(got.len(), 9);
    assert!(got.iter().all(|f| inside(f.time)), "{:?}", times(&got));
    // Spread by covered time: 4.515 + 3.286 + 3.358 s, so 4, 3 and 2 frames... at least 2 per segment.
    for s in &c.segments {
        assert!(got.iter().filter(|f| f.time >= s.start - half && f.time <= s.end + half).count() >= 2, "{:?}", times(&got));
    }

    let got = frames(ok("sample", vec![("clip", Value::Clip(c.clone())), ("fps", Value::Number(1.0))]).await);
    let firsts: Vec<f64> = c.segments.iter().map(|s| s.start).collect();
    for s in firsts {
        assert!(got.iter().any(|f| (f.time - s).abs() <= 1.0 / 24.0), "no frame at segment start {s}: {:?}", times(&got));
    }
    assert!(got.iter().all(|f| inside(f.time)));
    assert_eq!(got.len(), 5 + 4 + 4, "{:?}", times(&got));
}

// ---------------------------------------------------------------------------
// Scenes
// ---------------------------------------------------------------------------

#[tokio::test]
async fn scenes_finds_cuts_in_bbb() {
    let v = open("bbb.mp4");
    let c = ok("trim", vec![("video", Value::Video(v)), ("start", ts(60.0)), ("end", ts(120.0))]).await;
    let started = Instant::now();
    let got = frames(ok("sample", vec![("clip", c), ("scenes", Value::Number(0.3)), ("size", Value::Int(320))]).await);
    eprintln!("bbb.mp4 scenes over 60 s: {:.2?}, frames at {:?}", started.elapsed(), times(&got));
    assert!((got[0].time - 60.0).abs() < 1.0 / 24.0, "first frame of the clip first: {:?}", times(&got));
    assert!(got.len() >= 2, "no cut found: {:?}", times(&got));
    assert!(got.iter().all(|f| f.time >= 60.0 - 0.05 && f.time < 120.0 && f.width == 320));
    // Cuts ffmpeg's own scene score (> 0.2) finds in this stretch.
    let ffmpeg_cuts = [60.667, 63.792, 69.417, 71.292, 73.458, 75.542, 79.958, 89.75, 91.417, 99.75, 103.917, 112.667, 117.958];
    let matched = got[1..].iter().filter(|f| ffmpeg_cuts.iter().any(|c| (f.time - c).abs() < 0.1)).count();
    assert!(matched >= 1 && matched * 2 >= got.len() - 1, "cuts {:?} mostly not where ffmpeg sees cuts", times(&got));
}

#[tokio::test]
async fn scenes_on_a_static_video_gives_only_the_first_frame() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("red.mp4");
    let p = path.to_string_lossy();
    run("ffmpeg", &["-v", "error", "-f", "lavfi", "-i", "color=c=red:s=64x48:d=3:r=25", "-pix_fmt", "yuv420p", &p]);
    let v = open_video(&path, None).expect("open red.mp4");
    assert!((v.info.duration - 3.0).abs() < 0.1 && (v.info.fps - 25.0).abs() < 1e-9, "{:?}", v.info);
    let got = frames(ok("sample", vec![("clip", Value::Video(v)), ("scenes", Value::Number(0.1))]).await);
    assert_eq!(times(&got), vec![0.0]);
    let (r, g, b) = (got[0].rgb[0], got[0].rgb[1], got[0].rgb[2]);
    assert!(r > 200 && g < 60 && b < 60, "not red: {r},{g},{b}");
}

// ---------------------------------------------------------------------------
// Trims and split
// ---------------------------------------------------------------------------

#[tokio::test]
async fn trims_intersect_the_clip() {
    let v = open("ted/test.mp4");
    let d = v.info.duration;
    let video = || Value::Video(v.clone());
    assert_eq!(segments(ok("trim", vec![("video", video()), ("start", ts(10.0)), ("end", ts(20.0))]).await), vec![(10.0, 20.0)]);
    assert_eq!(segments(ok("trim", vec![("video", video()), ("start", ts(50.0)), ("end", ts(90.0))]).await), vec![(50.0, d)]);
    assert_eq!(segments(ok("trim_before", vec![("video", video()), ("time", ts(5.0))]).await), vec![(0.0, 5.0)]);
    assert_eq!(segments(ok("trim_after", vec![("video", video()), ("time", ts(60.0))]).await), vec![(60.0, d)]);

    let e = err("trim", vec![("video", video()), ("start", ts(20.0)), ("end", ts(10.0))]).await;
    assert!(e.contains("end 00:10.0 is before start 00:20.0"), "{e}");
    let e = err("trim", vec![("video", video()), ("start", ts(70.0)), ("end", ts(80.0))]).await;
    assert!(e.contains("after the end of the video"), "{e}");
    let e = err("trim_after", vec![("video", video()), ("time", ts(99.0))]).await;
    assert!(e.contains("after the end of the video"), "{e}");

    // On a two-segment clip, trims keep each segment's part.
    let two = Value::Clip(Arc::new(Clip::new(v.clone(), [TimeRange { start: 0.0, end: 10.0 }, TimeRange { start: 20.0, end: 30.0 }])));
    assert_eq!(
        segments(ok("trim", vec![("video", two.clone()), ("start", ts(5.0)), ("end", ts(25.0))]).await),
        vec![(5.0, 10.0), (20.0, 25.0)]
    );
    assert_eq!(segments(ok("trim_after", vec![("video", two.clone()), ("time", ts(8.0))]).await), vec![(8.0, 10.0), (20.0, 30.0)]);
    assert!(segments(ok("trim", vec![("video", two), ("start", ts(12.0)), ("end", ts(18.0))]).await).is_empty());
}

#[tokio::test]
async fn trim_around_accepts_every_anchor_kind() {
    let v = open("ted/test.mp4");
    let video = || Value::Video(v.clone());
    let around = |anchor: Value, pad: f64| {
        let video = video();
        async move { segments(ok("trim_around", vec![("video", video), ("anchor", anchor), ("pad", Value::Duration(pad))]).await) }
    };
    assert_eq!(around(ts(30.0), 2.0).await, vec![(28.0, 32.0)]);
    assert_eq!(around(ts(1.0), 5.0).await, vec![(0.0, 6.0)], "clamped at 0");
    let frame = |t: f64| Frame { time: t, width: 1, height: 1, rgb: Arc::from(vec![0u8; 3]) };
    assert_eq!(around(Value::Frame(frame(10.0)), 1.0).await, vec![(9.0, 11.0)]);
    assert_eq!(around(Value::Frames(Arc::new(vec![frame(10.0), frame(11.5), frame(40.0)])), 1.0).await, vec![(9.0, 12.5), (39.0, 41.0)]);

    let bbox = BBox { x: 0.0, y: 0.0, w: 1.0, h: 1.0, label: "person".into(), score: 0.9 };
    let fd = |t: f64, boxes: Vec<BBox>| FrameDetections { time: t, width: 1, height: 1, boxes };
    let dets = Detections { frames: vec![fd(5.0, vec![bbox.clone()]), fd(20.0, vec![]), fd(50.0, vec![bbox.clone()])] };
    assert_eq!(around(Value::Detections(Arc::new(dets)), 1.0).await, vec![(4.0, 6.0), (49.0, 51.0)], "frames without boxes ignored");

    let point = |t: f64| TrackPoint { time: t, bbox: bbox.clone() };
    let tracks = Tracks { tracks: vec![Track { id: 1, label: "person".into(), points: vec![point(12.0), point(15.0)] }] };
    assert_eq!(around(Value::Tracks(Arc::new(tracks)), 0.5).await, vec![(11.5, 15.5)]);

    let c = Value::Clip(Arc::new(Clip::new(v.clone(), [TimeRange { start: 10.0, end: 12.0 }])));
    assert_eq!(around(c, 0.0).await, vec![(10.0, 12.0)]);
    assert!(around(Value::TimedText(Arc::new(TimedText::default())), 5.0).await.is_empty());

    // The result stays inside the input clip.
    let part = Value::Clip(Arc::new(Clip::new(v.clone(), [TimeRange { start: 0.0, end: 29.0 }])));
    let s = segments(ok("trim_around", vec![("video", part), ("anchor", ts(30.0)), ("pad", Value::Duration(2.0))]).await);
    assert_eq!(s, vec![(28.0, 29.0)]);

    let other = open("vtest.avi");
    let e = err("trim_around", vec![("video", video()), ("anchor", Value::Video(other))]).await;
    assert!(e.contains("another video"), "{e}");
}

#[tokio::test]
async fn split_makes_consecutive_windows() {
    let v = open("ted/test.mp4");
    let d = v.info.duration;
    let parts = match ok("split", vec![("video", Value::Video(v.clone())), ("every", Value::Duration(10.0))]).await {
        Value::List(items) => items,
        other => panic!("expected a list, got {}", other.summary()),
    };
    let spans: Vec<Vec<(f64, f64)>> = parts.iter().map(|p| segments(p.clone())).collect();
    let mut want: Vec<Vec<(f64, f64)>> = (0..6).map(|k| vec![(k as f64 * 10.0, k as f64 * 10.0 + 10.0)]).collect();
    want.push(vec![(60.0, d)]);
    assert_eq!(spans, want);
    let e = err("split", vec![("video", Value::Video(v)), ("every", Value::Duration(0.0))]).await;
    assert!(e.contains("every"), "{e}");
}

// ---------------------------------------------------------------------------
// Bad inputs
// ---------------------------------------------------------------------------

fn open_err(path: &Path) -> String {
    match open_video(path, None) {
        Ok(v) => panic!("{} opened as {:?}", path.display(), v.info),
        Err(e) => {
            assert!(matches!(e, ModuleError::Media { .. }), "not a media error: {e:?}");
            let msg = e.to_string();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            assert!(msg.contains(&name), "error does not name the file: {msg}");
            msg
        }
    }
}

#[test]
fn broken_inputs_each_get_their_own_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let at = |n: &str| dir.path().join(n);

    let missing = open_err(&at("nope.mp4"));
    assert!(missing.contains("file not found"), "{missing}");

    std::fs::write(at("empty.mp4"), b"").expect("write");
    let empty = open_err(&at("empty.mp4"));
    assert!(empty.contains("empty (0 bytes)"), "{empty}");

    std::fs::write(at("notes.mp4"), b"hello, this is just text\nnot a video\n").expect("write");
    let text = open_err(&at("notes.mp4"));
    assert!(text.contains("not a media file") && text.contains("plain text"), "{text}");

    let head = std::fs::read(media("ted/test.mp4")).expect("read test.mp4");
    std::fs::write(at("cut.mp4"), &head[..100_000]).expect("write");
    let truncated = open_err(&at("cut.mp4"));
    assert!(truncated.contains("truncated or corrupt MP4") && truncated.contains("'moov'"), "{truncated}");

    let a = at("tone.m4a");
    run("ffmpeg", &["-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "aac", &a.to_string_lossy()]);
    let audio = open_err(&a);
    assert!(audio.contains("no video stream") && audio.contains("audio-only") && audio.contains("aac"), "{audio}");

    // vtest.avi with its codec FourCC (div3) overwritten.
    let mut avi = std::fs::read(media("vtest.avi")).expect("read vtest.avi");
    for i in 0..8192.min(avi.len() - 4) {
        if avi[i..i + 4].eq_ignore_ascii_case(b"div3") || avi[i..i + 4].eq_ignore_ascii_case(b"mp43") {
            avi[i..i + 4].copy_from_slice(b"QQQQ");
        }
    }
    std::fs::write(at("alien.avi"), &avi).expect("write");
    let codec = open_err(&at("alien.avi"));
    assert!(codec.contains("unsupported video codec"), "{codec}");

    std::fs::create_dir(at("folder.mp4")).expect("mkdir");
    let folder = open_err(&at("folder.mp4"));
    assert!(folder.contains("directory"), "{folder}");

    // Each failure says something different.
    let reasons = [&missing, &empty, &text, &truncated, &audio, &codec, &folder];
    for (i, a) in reasons.iter().enumerate() {
        for b in &reasons[i + 1..] {
            assert_ne!(a, b);
        }
    }
    eprintln!("errors:\n  {}", reasons.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n  "));

    let sub = open_video(&media("ted/test.mp4"), Some(&at("missing.srt"))).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(sub.contains("missing.srt") && sub.contains("subtitle file not found"), "{sub}");
}

#[test]
fn truncated_avi_is_reported_from_its_riff_header() {
    // FFmpeg itself opens this as a 39.8 s video (it has no index to
    // contradict it); the RIFF header says the file should be twice as long.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("half.avi");
    let bytes = std::fs::read(media("vtest.avi")).expect("read vtest.avi");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("write");
    let msg = open_err(&path);
    assert!(msg.contains("truncated or corrupt AVI file") && msg.contains("RIFF header declares"), "{msg}");
}

#[tokio::test]
async fn video_ending_before_its_audio_is_not_mistaken_for_truncation() {
    // Matroska stores no per-stream duration: the container says 6 s (the
    // audio), the video stops at 3 s.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("short_video.mkv");
    run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=d=3:s=64x48:r=10",
            "-f",
            "lavfi",
            "-i",
            "sine=d=6",
            "-c:v",
            "mpeg4",
            "-c:a",
            "aac",
            &path.to_string_lossy(),
        ],
    );
    let v = open_video(&path, None).expect("open short_video.mkv");
    assert!((v.info.duration - 3.0).abs() < 0.15, "duration {} should be the video's", v.info.duration);
    let got = frames(ok("sample", vec![("clip", Value::Video(v)), ("count", Value::Int(4))]).await);
    assert_eq!(times(&got).len(), 4);
    assert!(got.iter().all(|f| f.time < 3.0));
}

#[tokio::test]
async fn damage_in_the_middle_is_reported_where_it_is_sampled() {
    // ted/test.mp4 with pseudo-random bytes over 30-80 % of the file: FFmpeg
    // rejects ~750 of its 1481 video packets (its own CLI logs "Error
    // splitting the input into NAL units" and decodes 726 frames).
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("noise.mp4");
    let mut bytes = std::fs::read(media("ted/test.mp4")).expect("read test.mp4");
    let n = bytes.len();
    let mut x: u32 = 0x2545_f491;
    for b in &mut bytes[n * 3 / 10..n * 8 / 10] {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    std::fs::write(&path, &bytes).expect("write");
    let v = open_video(&path, None).expect("the header and both ends are intact");
    let at = |ts: &[f64]| Value::List(Arc::new(ts.iter().map(|t| Value::Timestamp(*t)).collect()));
    let good = frames(ok("sample", vec![("clip", Value::Video(v.clone())), ("at", at(&[1.0, 5.0, 58.0]))]).await);
    assert_eq!(times(&good).len(), 3);
    let e = err("sample", vec![("clip", Value::Video(v)), ("at", at(&[1.0, 30.0]))]).await;
    eprintln!("noise.mp4 at 30 s: {e}");
    assert!(
        e.contains("noise.mp4") && e.contains("corrupt video data") && e.contains("frame at 00:30.0") && e.contains("Invalid data"),
        "{e}"
    );
}

#[tokio::test]
async fn damaged_megamind_never_panics() {
    // Megamind_bugy.avi has broken packets (no timestamps, 6-byte N-VOPs):
    // FFmpeg conceals the damage, so it opens and samples; what matters is a
    // clean result either way.
    let path = media("Megamind_bugy.avi");
    match open_video(&path, None) {
        Err(e) => {
            assert!(matches!(e, ModuleError::Media { .. }), "{e:?}");
            eprintln!("Megamind_bugy.avi at open: {e}");
        }
        Ok(v) => {
            for mode in [vec![("count", Value::Int(8))], vec![("fps", Value::Number(2.0))], vec![("scenes", Value::Number(0.3))]] {
                let mut args = vec![("clip", Value::Video(v.clone()))];
                args.extend(mode);
                match call("sample", args).await {
                    Ok(Value::Frames(f)) => {
                        eprintln!("Megamind_bugy.avi: {} frames at {:?}", f.len(), times(&f));
                        assert!(!f.is_empty() && f.iter().all(|f| f.rgb.len() == 720 * 528 * 3));
                    }
                    Ok(other) => panic!("unexpected {}", other.summary()),
                    Err(e) => {
                        assert!(matches!(e, ModuleError::Media { .. }), "{e:?}");
                        eprintln!("Megamind_bugy.avi when sampling: {e}");
                    }
                }
            }
        }
    }
}

#[tokio::test]
async fn other_real_codecs_decode() {
    // Cinepak (tree.avi) and MPEG-4 part 2 with B-frames (Megamind.avi), h264 (bikes.mp4).
    for (name, size) in [("tree.avi", (320, 240)), ("Megamind.avi", (720, 528)), ("bikes.mp4", (640, 272))] {
        let v = open(name);
        let all = frame_times(&v.path);
        let got = frames(ok("sample", vec![("clip", Value::Video(v.clone())), ("count", Value::Int(5))]).await);
        let want: Vec<f64> = (0..5).map(|i| (i as f64 + 0.5) * v.info.duration / 5.0).collect();
        assert_nearest(name, &got, &want, &all, 1.0 / v.info.fps);
        assert!(got.iter().all(|f| (f.width, f.height) == size && distinct_bytes(f) > 20), "{name}");
    }
}
