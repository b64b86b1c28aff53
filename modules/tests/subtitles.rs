//! Subtitles on real media: the same talk's cues from a SubRip sidecar,
//! WebVTT, ASS and SSA files, an embedded SubRip stream (Matroska) and an
//! embedded `mov_text` stream (MP4, made with the `ffmpeg` CLI), plus sidecar
//! detection, clip filtering and clear errors for malformed files.
//!
//! Media comes from `VPROG_MEDIA_DIR` or `<workspace>/media`
//! (`bash scripts/fetch-media.sh`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use vprog_modules::subtitles::{self, load_subtitles, parse_subtitle_file};
use vprog_modules::video::open_video;
use vprog_runtime::value::{Clip, TimeRange, TimedText, VideoRef};
use vprog_runtime::{ModuleError, Registry, StepContext, Value};

fn media_dir() -> PathBuf {
    let dir = std::env::var_os("VPROG_MEDIA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("media"));
    assert!(
        dir.join("ted").join("test.srt").is_file(),
        "test media not found in {}: run `bash scripts/fetch-media.sh` from the workspace root \
         (or point VPROG_MEDIA_DIR at a directory holding it)",
        dir.display()
    );
    dir
}

fn ted(ext: &str) -> PathBuf {
    let p = media_dir().join("ted").join(format!("test.{ext}"));
    assert!(p.is_file(), "{} is missing: run `bash scripts/fetch-media.sh`", p.display());
    p
}

fn open(path: &Path, subs: Option<&Path>) -> Arc<VideoRef> {
    open_video(path, subs).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()))
}

async fn call(name: &str, named: Vec<(&str, Value)>) -> Result<Value, ModuleError> {
    let mut r = Registry::new();
    subtitles::register(&mut r);
    let Some(module) = r.get(name) else { panic!("module `{name}` is not registered") };
    let args = vprog_runtime::Args::with_defaults(module.signature(), named, vec![]);
    module.call(args, &StepContext::standalone("test")).await
}

async fn subtitles_of(v: Value) -> Arc<TimedText> {
    match call("subtitles", vec![("video", v)]).await {
        Ok(Value::TimedText(t)) => t,
        Ok(other) => panic!("expected TimedText, got {}", other.summary()),
        Err(e) => panic!("subtitles failed: {e}"),
    }
}

fn parse(path: &Path) -> TimedText {
    parse_subtitle_file(path).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

fn run(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("cannot run {cmd} (it is needed by this test): {e}"));
    assert!(out.status.success(), "{cmd} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// Asserts the same texts in the same order, times within `tol` seconds.
fn assert_same_cues(label: &str, got: &TimedText, want: &TimedText, tol: f64) {
    let show = |t: &TimedText| t.cues.iter().map(|c| format!("{:.3}-{:.3} {:?}", c.start, c.end, c.text)).collect::<Vec<_>>().join("\n");
    assert_eq!(got.cues.len(), want.cues.len(), "{label}: cue counts differ\n-- got\n{}\n-- want\n{}", show(got), show(want));
    for (g, w) in got.cues.iter().zip(&want.cues) {
        assert_eq!(g.text, w.text, "{label}");
        assert!((g.start - w.start).abs() <= tol && (g.end - w.end).abs() <= tol, "{label}: {g:?} vs {w:?}");
    }
}

fn srt_cues() -> TimedText {
    parse(&ted("srt"))
}

#[test]
fn srt_sidecar_parses_to_plain_cues() {
    let t = srt_cues();
    assert_eq!(t.cues.len(), 17);
    let first = &t.cues[0];
    assert_eq!(first.text, "I've spent nearly two decades");
    assert!((first.start - 12.44).abs() < 1e-9 && (first.end - 14.955).abs() < 1e-9, "{first:?}");
    assert_eq!(first.source, "subtitles:srt");
    assert!(t.cues.iter().any(|c| c.text == "So what is luck?"));
    assert!(t.cues.windows(2).all(|w| w[0].start <= w[1].start));
    let last = &t.cues[16];
    assert_eq!((last.text.as_str(), last.start, last.end), ("(SOUND EFFECT)", 61.697, 61.698));
}

#[test]
fn vtt_ass_and_ssa_give_the_same_cues_as_srt() {
    let srt = srt_cues();
    let vtt = parse(&ted("vtt"));
    assert_same_cues("vtt", &vtt, &srt, 1e-6);
    assert!(vtt.cues.iter().all(|c| c.source == "subtitles:vtt"));
    // ASS and SSA store centiseconds: 14.955 becomes 14.96.
    let ass = parse(&ted("ass"));
    assert_same_cues("ass", &ass, &srt, 0.010);
    assert!(ass.cues.iter().all(|c| c.source == "subtitles:ass"));
    let ssa = parse(&ted("ssa"));
    assert_same_cues("ssa", &ssa, &srt, 0.010);
    assert!(ssa.cues.iter().all(|c| c.source == "subtitles:ssa"));
}

#[tokio::test]
async fn embedded_subrip_in_matroska_matches_the_srt() {
    // Beside the media, test.srt is test.mkv's sidecar and wins.
    assert_eq!(open(&ted("mkv"), None).subtitles, Some(ted("srt")));
    // Alone, the embedded SubRip stream (#2) is read.
    let dir = tempfile::tempdir().expect("tempdir");
    let mkv = dir.path().join("talk.mkv");
    std::fs::copy(ted("mkv"), &mkv).expect("copy mkv");
    let v = open(&mkv, None);
    assert_eq!(v.subtitles, None);
    let embedded = subtitles_of(Value::Video(v)).await;
    assert!(embedded.cues.iter().all(|c| c.source == "subtitles:stream#2"), "{:?}", embedded.cues.first());
    assert_same_cues("mkv", &embedded, &srt_cues(), 0.001);
}

#[test]
fn embedded_mov_text_in_mp4_matches_the_srt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("with_subs.mp4");
    let (mp4, srt) = (ted("mp4"), ted("srt"));
    run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-i",
            &mp4.to_string_lossy(),
            "-i",
            &srt.to_string_lossy(),
            "-map",
            "0:v",
            "-map",
            "0:a",
            "-map",
            "1:s",
            "-c",
            "copy",
            "-c:s",
            "mov_text",
            &out.to_string_lossy(),
        ],
    );
    let v = open(&out, None);
    assert_eq!(v.subtitles, None);
    assert!(v.info.streams.iter().any(|s| s.kind == "subtitle" && s.codec == "mov_text"), "{:?}", v.info.streams);
    let t = load_subtitles(&v).expect("loading mov_text subtitles");
    assert!(t.cues.iter().all(|c| c.source == "subtitles:stream#2"));
    let want = srt_cues();
    assert_same_cues("mov_text", &t, &want, 0.001);
}

#[tokio::test]
async fn sidecars_are_found_by_stem_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let video = dir.path().join("talk.mp4");
    std::fs::copy(ted("mp4"), &video).expect("copy mp4");

    // No sidecar and no embedded stream: empty, not an error.
    let v = open(&video, None);
    assert_eq!(v.subtitles, None);
    assert!(subtitles_of(Value::Video(v)).await.cues.is_empty());

    std::fs::copy(ted("vtt"), dir.path().join("talk.vtt")).expect("copy vtt");
    assert_eq!(open(&video, None).subtitles, Some(dir.path().join("talk.vtt")));
    std::fs::copy(ted("srt"), dir.path().join("talk.srt")).expect("copy srt");
    std::fs::copy(ted("srt"), dir.path().join("other.srt")).expect("copy srt");
    let v = open(&video, None);
    assert_eq!(v.subtitles, Some(dir.path().join("talk.srt")), ".srt comes before .vtt");
    let t = subtitles_of(Value::Video(v.clone())).await;
    assert_same_cues("sidecar", &t, &srt_cues(), 1e-9);

    // An explicit file wins over the sidecar.
    let v = open(&video, Some(&ted("ass")));
    assert_eq!(v.subtitles, Some(ted("ass")));
    assert!(subtitles_of(Value::Video(v)).await.cues.iter().all(|c| c.source == "subtitles:ass"));
}

#[tokio::test]
async fn only_cues_overlapping_the_clip_are_kept() {
    let v = open(&ted("mp4"), Some(&ted("srt")));
    let clip = Clip::new(v.clone(), [TimeRange { start: 20.0, end: 30.0 }, TimeRange { start: 44.0, end: 47.0 }]);
    let t = subtitles_of(Value::Clip(Arc::new(clip))).await;
    let texts: Vec<&str> = t.cues.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(
        texts,
        vec![
            "and trying to help people increase their luck.",
            "You see, I teach entrepreneurship,",
            "and we all know that most new ventures fail,",
            "and innovators and entrepreneurs need all the luck they can get.",
            "That's the operative word.",
            "It looks like it's chance",
        ]
    );
}

#[test]
fn markup_is_removed_from_cue_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("styled.srt");
    std::fs::write(
        &p,
        "1\n00:00:01,000 --> 00:00:02,500\n<i>Hello</i> <font color=\"#ff0000\">there</font>\n  second line  \n\n\
         2\n00:00:03.000 --> 00:00:04.000\n{\\an8}Top &amp; center\n\n",
    )
    .expect("write");
    let t = parse(&p);
    assert_eq!(t.cues.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(), vec!["Hello there\nsecond line", "Top & center"]);
    assert!((t.cues[1].start - 3.0).abs() < 1e-9, "a '.' before the milliseconds is accepted");
}

#[test]
fn malformed_subtitle_files_give_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.srt");
    std::fs::write(&bad, "1\nthis is not a time line\nHello\n").expect("write");
    let e = parse_subtitle_file(&bad).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("bad.srt") && e.contains("malformed SubRip (.srt) subtitles"), "{e}");

    let bad_ass = dir.path().join("bad.ass");
    std::fs::write(&bad_ass, "[Script Info]\n[Events]\nFormat: Layer, Start, End, Text\nDialogue: 0,not-a-time,0:00:02.00,Hi\n")
        .expect("write");
    let e = parse_subtitle_file(&bad_ass).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("bad.ass") && e.contains("malformed ASS"), "{e}");

    let binary = dir.path().join("noise.vtt");
    std::fs::write(&binary, [0u8, 159, 146, 150, 1, 2, 3]).expect("write");
    let e = parse_subtitle_file(&binary).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("noise.vtt") && e.contains("malformed WebVTT"), "{e}");

    let unknown = dir.path().join("notes.txt");
    std::fs::write(&unknown, "just some notes\n").expect("write");
    let e = parse_subtitle_file(&unknown).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("notes.txt") && e.contains("not a subtitle file"), "{e}");

    // Empty files have no cues; they are not errors (and must not panic the parser).
    let empty = dir.path().join("empty.vtt");
    std::fs::write(&empty, "").expect("write");
    assert!(parse(&empty).cues.is_empty());

    // A WebVTT file misnamed .srt is still read.
    let misnamed = dir.path().join("really_vtt.srt");
    std::fs::copy(ted("vtt"), &misnamed).expect("copy");
    assert_same_cues("misnamed", &parse(&misnamed), &srt_cues(), 1e-6);
}

#[tokio::test]
async fn the_module_reports_a_broken_sidecar_as_a_media_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let video = dir.path().join("clip.mp4");
    std::fs::copy(ted("mp4"), &video).expect("copy mp4");
    std::fs::write(dir.path().join("clip.srt"), "1\n00:00:01,000 --> soon\nHello\n").expect("write");
    let v = open(&video, None);
    match call("subtitles", vec![("video", Value::Video(v))]).await {
        Err(ModuleError::Media { path, reason }) => {
            assert_eq!(path, dir.path().join("clip.srt"));
            assert!(reason.contains("malformed SubRip"), "{reason}");
        }
        other => panic!("expected a media error, got {other:?}"),
    }
}
