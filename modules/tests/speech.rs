//! Speech recognition on real media: Whisper tiny.en's word error rate on the
//! TED talk against its subtitles, segment times for videos and clips, a video
//! without audio, a missing model, and the log-mel spectrogram against
//! librosa (`tests/data/speech/mel_golden.json`, written by `make_golden.py`).
//!
//! Needs `VPROG_MODELS` pointing at a store holding `whisper-tiny.en`
//! (`vprog models fetch whisper-tiny.en`) and the media of
//! `bash scripts/fetch-media.sh`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use vprog_modules::speech::mel::{mel_filters, LogMel, N_FREQS, N_MELS};
use vprog_modules::subtitles::parse_subtitle_file;
use vprog_modules::video::open_video;
use vprog_modules::ModelStore;
use vprog_runtime::value::{Clip, Cue, TimeRange, TimedText, VideoRef};
use vprog_runtime::{Args, ModuleError, Registry, StepContext, Value};

fn media(name: &str) -> PathBuf {
    let dir = std::env::var_os("VPROG_MEDIA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("media"));
    let p = dir.join(name);
    assert!(p.is_file(), "{} is missing: run `bash scripts/fetch-media.sh`", p.display());
    p
}

fn open(name: &str) -> Arc<VideoRef> {
    let p = media(name);
    open_video(&p, None).unwrap_or_else(|e| panic!("opening {}: {e}", p.display()))
}

fn registry(store: ModelStore) -> Registry {
    let mut r = Registry::new();
    vprog_modules::speech::register(&mut r, &Arc::new(store));
    r
}

async fn transcribe_with(store: ModelStore, source: Value) -> (Result<Value, ModuleError>, StepContext) {
    let r = registry(store);
    let module = r.get("transcribe").expect("transcribe is registered");
    let args = Args::with_defaults(module.signature(), [("source", source)], vec![]);
    let ctx = StepContext::standalone("test");
    (module.call(args, &ctx).await, ctx)
}

/// Transcribes with the installed model; a missing model fails the test
/// with the install command.
async fn transcribe(source: Value) -> (TimedText, StepContext) {
    let (result, ctx) = transcribe_with(ModelStore::from_env(), source).await;
    match result {
        Ok(Value::TimedText(t)) => ((*t).clone(), ctx),
        Ok(other) => panic!("transcribe returned {}", other.type_of()),
        Err(e) => panic!("transcribe failed: {e}"),
    }
}

fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c.is_whitespace() {
                c
            } else if c == '\'' {
                '\0'
            } else {
                ' '
            }
        })
        .filter(|&c| c != '\0')
        .collect::<String>()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Word-level Levenshtein distance over the reference length.
fn wer(reference: &[String], hypothesis: &[String]) -> f64 {
    let mut prev: Vec<usize> = (0..=hypothesis.len()).collect();
    for (i, r) in reference.iter().enumerate() {
        let mut cur = vec![i + 1; hypothesis.len() + 1];
        for (j, h) in hypothesis.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(r != h)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[hypothesis.len()] as f64 / reference.len().max(1) as f64
}

fn check_cues(cues: &[Cue], ranges: &[TimeRange]) {
    let mut last_start = f64::NEG_INFINITY;
    for c in cues {
        assert!(c.start >= last_start, "cue starts go back in time: {c:?}");
        assert!(c.end >= c.start, "cue ends before it starts: {c:?}");
        assert!(
            ranges.iter().any(|r| c.start >= r.start - 1e-9 && c.end <= r.end + 1e-9),
            "cue {:.2}-{:.2} lies outside the ranges {ranges:?}",
            c.start,
            c.end
        );
        assert!(!c.text.is_empty() && c.text == c.text.trim(), "untrimmed or empty text: {c:?}");
        let score = c.score.expect("every cue has a score");
        assert!(score > 0.0 && score <= 1.0, "score out of range: {c:?}");
        assert_eq!(c.source, "whisper:tiny.en");
        last_start = c.start;
    }
}

#[test]
fn wer_helper_counts_edits() {
    let w = |s: &str| words(s);
    assert_eq!(wer(&w("a b c d"), &w("a b c d")), 0.0);
    assert_eq!(wer(&w("a b c d"), &w("a x c")), 0.5);
    assert_eq!(words("Don't STOP, now!"), vec!["dont", "stop", "now"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ted_talk_word_error_rate_is_at_most_25_percent() {
    let video = open("ted/test.mp4");
    let duration = video.info.duration;
    let (text, ctx) = transcribe(Value::Video(video.clone())).await;
    assert!(text.cues.len() >= 5, "too few cues: {:?}", text.cues);
    check_cues(&text.cues, &[TimeRange { start: 0.0, end: duration }]);

    let subs = parse_subtitle_file(&media("ted/test.srt")).expect("test.srt parses");
    let (first, last) = (subs.cues.first().expect("subtitles").start, subs.cues.iter().map(|c| c.end).fold(0.0, f64::max));
    let reference: Vec<String> = subs.cues.iter().flat_map(|c| words(&c.text)).collect();
    let hypothesis: Vec<String> = text.cues.iter().filter(|c| c.end > first && c.start < last).flat_map(|c| words(&c.text)).collect();
    let rate = wer(&reference, &hypothesis);
    let timing = ctx.notes.get("timing").expect("a timing note");
    println!("transcript:");
    for c in &text.cues {
        println!("  [{:6.2} - {:6.2}] ({:.2}) {}", c.start, c.end, c.score.unwrap_or(0.0), c.text);
    }
    println!(
        "WER {:.2}% ({} reference words, {} hypothesis words), subtitles {first:.1}-{last:.1} s",
        rate * 100.0,
        reference.len(),
        hypothesis.len()
    );
    println!("timing: {timing}");
    println!("decoding: {}", ctx.notes.get("decoding").expect("a decoding note"));
    assert!(rate <= 0.25, "WER {:.1}% is above 25%", rate * 100.0);
    assert!(timing["audio_seconds"].as_f64().expect("seconds") > duration - 1.0, "{timing}");

    // The same model again comes from the process cache.
    let (_, ctx2) = transcribe(Value::Clip(Arc::new(Clip::new(video, [TimeRange { start: 10.0, end: 12.0 }])))).await;
    let load = ctx2.notes.get("timing").expect("timing")["load_model_s"].as_f64().expect("load time");
    assert!(load < 0.05, "the model was loaded again ({load} s)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clips_give_times_inside_their_segments() {
    let video = open("ted/test.mp4");
    let ranges = [TimeRange { start: 8.0, end: 21.0 }, TimeRange { start: 40.0, end: 52.5 }];
    let clip = Clip::new(video.clone(), ranges);
    let (text, ctx) = transcribe(Value::Clip(Arc::new(clip))).await;
    for c in &text.cues {
        println!("  [{:6.2} - {:6.2}] {}", c.start, c.end, c.text);
    }
    check_cues(&text.cues, &ranges);
    for r in ranges {
        assert!(text.cues.iter().any(|c| c.start >= r.start && c.end <= r.end), "no speech found in {r:?}");
    }
    let audio = ctx.notes.get("audio").expect("an audio note");
    assert_eq!(audio["ranges"], 2);
    assert!((audio["seconds"].as_f64().expect("seconds") - 25.5).abs() < 0.1, "{audio}");

    // The words of a clip are the words the subtitles have there.
    let subs = parse_subtitle_file(&media("ted/test.srt")).expect("test.srt parses");
    let reference: Vec<String> = subs.cues.iter().filter(|c| c.start >= 8.0 && c.end <= 21.0).flat_map(|c| words(&c.text)).collect();
    let hypothesis: Vec<String> = text.cues.iter().filter(|c| c.end <= 21.0).flat_map(|c| words(&c.text)).collect();
    let covered = reference.iter().filter(|w| hypothesis.contains(w)).count() as f64 / reference.len().max(1) as f64;
    assert!(covered >= 0.7, "only {:.0}% of the subtitle words of 8-21 s were recognised: {hypothesis:?}", covered * 100.0);
}

#[tokio::test]
async fn a_video_without_audio_gives_an_empty_result_and_a_note() {
    let video = open("vtest.avi");
    assert!(video.info.streams.iter().all(|s| s.kind != "audio"), "vtest.avi was expected to have no audio");
    let (text, ctx) = transcribe(Value::Video(video)).await;
    assert!(text.cues.is_empty());
    let note = ctx.notes.get("no_audio").expect("a no_audio note");
    assert!(note.as_str().is_some_and(|s| s.contains("no audio stream")), "{note}");
}

#[tokio::test]
async fn a_missing_model_names_the_fetch_command() {
    let empty = tempfile::tempdir().expect("tempdir");
    let (result, _) = transcribe_with(ModelStore::at(empty.path()), Value::Video(open("ted/test.mp4"))).await;
    match result {
        Err(e @ ModuleError::MissingModel { .. }) => {
            assert!(e.to_string().contains("vprog models fetch whisper-tiny.en"), "{e}");
        }
        other => panic!("expected MissingModel, got {other:?}"),
    }
    let r = registry(ModelStore::at(empty.path()));
    let module = r.get("transcribe").expect("registered");
    let args = Args::with_defaults(
        module.signature(),
        [("source", Value::Video(open("ted/test.mp4"))), ("model", Value::text("all-minilm-l6-v2"))],
        vec![],
    );
    let err = module.call(args, &StepContext::standalone("t")).await.expect_err("not a speech model");
    assert!(matches!(err, ModuleError::InvalidArgument { .. }) && err.to_string().contains("not a speech recognition model"), "{err}");
}

#[test]
fn mel_matches_librosa() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/speech/mel_golden.json");
    let golden: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("golden file")).expect("golden JSON");
    let filters = mel_filters(16_000, 400, 80);
    assert_eq!(filters.len(), N_MELS * N_FREQS);
    let nums = |v: &serde_json::Value| -> Vec<f64> { v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number")).collect() };
    let sums = nums(&golden["filter_row_sums"]);
    for (m, want) in sums.iter().enumerate() {
        let got: f64 = filters[m * N_FREQS..(m + 1) * N_FREQS].iter().sum();
        assert!((got - want).abs() <= 1e-9 * want.abs().max(1e-3), "row {m}: sum {got} vs librosa {want}");
        let row = &filters[m * N_FREQS..(m + 1) * N_FREQS];
        let argmax = row.iter().enumerate().fold(0, |b, (i, &v)| if v > row[b] { i } else { b });
        assert_eq!(argmax as u64, golden["filter_row_argmax"][m].as_u64().expect("argmax"), "row {m}");
    }
    for (row, values) in golden["filter_rows"].as_object().expect("rows") {
        let m: usize = row.parse().expect("row index");
        for (k, want) in nums(values).iter().enumerate() {
            assert!((filters[m * N_FREQS + k] - want).abs() <= 1e-12, "filter[{m}][{k}] = {} vs {want}", filters[m * N_FREQS + k]);
        }
    }
    let signal: Vec<f32> = nums(&golden["signal"]).iter().map(|&v| v as f32).collect();
    let (log_mel, frames) = LogMel::new().log_mel(&signal);
    assert_eq!(frames as u64, golden["frames"].as_u64().expect("frames"));
    let mut worst = 0f64;
    for (m, row) in golden["log_mel"].as_array().expect("log_mel").iter().enumerate() {
        for (f, want) in nums(row).iter().enumerate() {
            worst = worst.max((f64::from(log_mel[m * frames + f]) - want).abs());
        }
    }
    println!("largest log-mel difference from librosa: {worst:e}");
    assert!(worst < 1e-4, "log-mel differs from librosa by {worst}");
}
