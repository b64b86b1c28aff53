//! Speech recognition on real media: Whisper tiny.en's word error rate on the
//! TED talk against its subtitles, segment times for videos and clips, a video
//! without audio, a missing model, and the log-mel spectrogram against
//! librosa (`tests/data/speech/mel_golden.json`, written by `make_golden.py`).
//!
//! Voice activity detection: Silero VAD on candle against the `silero-vad`
//! package's own model on real audio (`scripts/goldens/silero_vad.json`,
//! written by `scripts/goldens/silero_vad.py`), its segment post-processing
//! against the package's, music and silence giving no transcript, the
//! fallback without the model, and a damaged model file.
//!
//! Needs `VPROG_MODELS` pointing at a store holding `whisper-tiny.en` and
//! `silero-vad` (`vprog models fetch whisper-tiny.en silero-vad`), the media
//! of `bash scripts/fetch-media.sh`, and the `ffmpeg` command (clips are cut
//! at test time).

use std::path::{Path, PathBuf};
use std::sync::Arc;

mod common;

use sha2::Digest;
use vprog_modules::speech::mel::{mel_filters, LogMel, N_FREQS, N_MELS};
use vprog_modules::speech::vad::{self, VadParams};
use vprog_modules::speech::whisper::compression_ratio;
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
    transcribe_args(store, vec![("source", source)]).await
}

async fn transcribe_args(store: ModelStore, named: Vec<(&str, Value)>) -> (Result<Value, ModuleError>, StepContext) {
    let r = registry(store);
    let module = r.get("transcribe").expect("transcribe is registered");
    let args = Args::with_defaults(module.signature(), named, vec![]);
    let ctx = StepContext::standalone("test");
    (module.call(args, &ctx).await, ctx)
}

/// Transcribes with the installed model; a missing model fails the test
/// with the install command.
async fn transcribe(source: Value) -> (TimedText, StepContext) {
    transcribe_named(vec![("source", source)]).await
}

/// [`transcribe`] with more arguments (`vad`).
async fn transcribe_named(named: Vec<(&str, Value)>) -> (TimedText, StepContext) {
    let (result, ctx) = transcribe_args(ModelStore::from_env(), named).await;
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
    common::levenshtein(reference, hypothesis) as f64 / reference.len().max(1) as f64
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
    println!("vad: {}", ctx.notes.get("vad").expect("a vad note"));
    println!("rejected: {:?}", ctx.notes.get("rejected"));
    assert!(rate <= 0.25, "WER {:.1}% is above 25%", rate * 100.0);
    // Voice activity detection must not cost words: within 1 point of the 6.6% measured without it.
    assert!(rate <= 0.076, "WER {:.2}% is more than 1 point above the 6.6% of Whisper alone", rate * 100.0);
    assert!(ctx.notes.get("vad").is_some_and(|v| v["model"] == "silero-vad"), "the VAD did not run");

    // The same without VAD, for comparison.
    let (plain, ctx_plain) = transcribe_named(vec![("source", Value::Video(video.clone())), ("vad", Value::Bool(false))]).await;
    let plain_words: Vec<String> = plain.cues.iter().filter(|c| c.end > first && c.start < last).flat_map(|c| words(&c.text)).collect();
    let plain_timing = ctx_plain.notes.get("timing").expect("timing");
    println!(
        "without VAD: WER {:.2}%, {} cues, recognise {:.2} s; with VAD: recognise {:.2} s + VAD {:.3} s",
        wer(&reference, &plain_words) * 100.0,
        plain.cues.len(),
        plain_timing["recognise_s"].as_f64().unwrap_or(0.0),
        timing["recognise_s"].as_f64().unwrap_or(0.0),
        timing["vad_s"].as_f64().unwrap_or(0.0),
    );
    assert!(ctx_plain.notes.get("vad").is_some_and(|v| v.as_str().is_some_and(|s| s.starts_with("off"))));
    assert!(timing["audio_seconds"].as_f64().expect("seconds") > duration - 1.0, "{timing}");

    // The same model again comes from the process cache (a clip with speech: Whisper runs).
    let (_, ctx2) = transcribe(Value::Clip(Arc::new(Clip::new(video, [TimeRange { start: 20.0, end: 22.0 }])))).await;
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

/// Cuts `media` with the ffmpeg command (`args` between the input and the
/// output) into `out`.
fn ffmpeg(args: &[&str], out: &Path) {
    let status = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .arg(out)
        .status()
        .expect("the ffmpeg command runs (install FFmpeg)");
    assert!(status.success(), "ffmpeg {args:?} failed");
}

fn vad_dir() -> PathBuf {
    match ModelStore::from_env().locate("silero-vad") {
        Ok(m) => m.dir,
        Err(e) => panic!("{e}: run `vprog models fetch silero-vad`"),
    }
}

fn golden() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/goldens/silero_vad.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("the VAD golden file")).expect("golden JSON")
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number") as f32).collect()
}

fn ranges(v: &serde_json::Value) -> Vec<std::ops::Range<usize>> {
    v.as_array().expect("segments").iter().map(|p| p[0].as_u64().expect("start") as usize..p[1].as_u64().expect("end") as usize).collect()
}

/// Largest difference allowed between a window's speech probability here and
/// in the package's own model (float32 in both; sums in another order).
const VAD_TOLERANCE: f32 = 1e-4;

#[test]
fn vad_matches_the_silero_package() {
    let golden = golden();
    let model = vad::load_file(&vad_dir().join("model.safetensors"), "silero-vad").expect("the installed model loads");
    for clip in golden["clips"].as_array().expect("clips") {
        let name = clip["name"].as_str().expect("name");
        let media_path = media(clip["media"].as_str().expect("media"));
        let args: Vec<String> = clip["ffmpeg_args"]
            .as_array()
            .expect("args")
            .iter()
            .map(|a| match a.as_str().expect("arg") {
                "MEDIA" => media_path.display().to_string(),
                other => other.to_string(),
            })
            .collect();
        let out = std::process::Command::new("ffmpeg").args(&args).output().expect("the ffmpeg command runs (install FFmpeg)");
        assert!(out.status.success(), "ffmpeg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let pcm = out.stdout;
        assert_eq!(
            hex::encode(sha2::Sha256::digest(&pcm)),
            clip["pcm_sha256"].as_str().expect("sha"),
            "{name}: ffmpeg gave other samples than the golden's; regenerate it with scripts/goldens/silero_vad.py"
        );
        let samples: Vec<f32> = pcm.chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0).collect();
        assert_eq!(samples.len() as u64, clip["samples"].as_u64().expect("samples"));
        let started = std::time::Instant::now();
        let probs = model.speech_probs(&samples).expect("inference");
        let took = started.elapsed().as_secs_f64();
        let want = floats(&clip["probs"]);
        assert_eq!(probs.len(), want.len(), "{name}: window count");
        let (mut worst, mut at) = (0f32, 0);
        for (i, (a, b)) in probs.iter().zip(&want).enumerate() {
            if (a - b).abs() > worst {
                (worst, at) = ((a - b).abs(), i);
            }
        }
        let onnx = floats(&clip["onnx_probs"]);
        let agree = probs.iter().zip(&onnx).filter(|(a, b)| (**a >= 0.5) == (**b >= 0.5)).count() as f64 / onnx.len() as f64;
        println!(
            "{name}: {} windows in {took:.3} s; largest difference from the package's model {worst:e} (window {at}); \
             same speech decision as the package's ONNX model (another checkpoint) in {:.1}% of windows",
            probs.len(),
            agree * 100.0
        );
        assert!(worst <= VAD_TOLERANCE, "{name}: window {at}: {} vs the package's {}", probs[at], want[at]);
        assert!(agree >= 0.97, "{name}: only {:.1}% of windows agree with the ONNX model", agree * 100.0);
        let segments = vad::speech_segments(&probs, samples.len(), &VadParams::default());
        assert_eq!(segments, ranges(&clip["segments"]), "{name}: speech segments differ from the package's");
    }
}

#[test]
fn vad_segments_match_the_silero_package() {
    for (i, case) in golden()["synthetic"].as_array().expect("synthetic").iter().enumerate() {
        let probs = floats(&case["probs"]);
        let n = case["samples"].as_u64().expect("samples") as usize;
        assert_eq!(vad::speech_segments(&probs, n, &VadParams::default()), ranges(&case["segments"]), "case {i}: {probs:?}");
    }
}

#[test]
fn compression_ratio_is_whispers() {
    // Python: len(b) / len(zlib.compress(b)).
    let hospital = "I'm going to go to the hospital. ".repeat(4);
    for (text, python) in [
        ("hello", 5.0 / 13.0),
        (hospital.as_str(), 132.0 / 41.0),
        ("The quick brown fox jumps over the lazy dog, and then it runs away into the forest.", 83.0 / 80.0),
    ] {
        // zlib-rs's stream may be a byte or two off CPython's zlib at the same level.
        let got = compression_ratio(text);
        assert!((got - python).abs() <= 0.03 * python, "{text:?}: {got} vs Python's {python}");
    }
    assert_eq!(compression_ratio(""), 0.0);
    assert!(compression_ratio(&hospital) > 2.4, "the looping hallucination is over Whisper's threshold");
    assert!(compression_ratio("The quick brown fox jumps over the lazy dog.") < 2.4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn music_only_audio_gives_no_transcript() {
    // Big Buck Bunny has no dialogue; 250-280 s is the full score (loud, no animal voices).
    let dir = tempfile::tempdir().expect("tempdir");
    let cut = dir.path().join("bbb_score.mp4");
    ffmpeg(&["-ss", "250", "-t", "30", "-i", &media("bbb.mp4").display().to_string(), "-c", "copy"], &cut);
    let video = open_video(&cut, None).expect("the cut opens");
    let (text, ctx) = transcribe(Value::Video(video.clone())).await;
    println!("vad: {:?}", ctx.notes.get("vad"));
    assert!(text.cues.is_empty(), "music was transcribed: {:?}", text.cues);
    let note = ctx.notes.get("no_speech").expect("a no_speech note");
    assert!(note.as_str().is_some_and(|s| s.contains("voice activity detection found no speech")), "{note}");
    let vad_note = ctx.notes.get("vad").expect("a vad note");
    assert_eq!(vad_note["speech_seconds"], 0.0, "{vad_note}");

    // What Whisper alone makes of it (for the record; tiny.en may or may not invent text here).
    let (plain, ctx_plain) = transcribe_named(vec![("source", Value::Video(video)), ("vad", Value::Bool(false))]).await;
    println!("without VAD: {:?}", plain.cues.iter().map(|c| c.text.as_str()).collect::<Vec<_>>());
    println!("without VAD, rejected: {:?}", ctx_plain.notes.get("rejected"));
}

#[tokio::test]
async fn silence_gives_no_transcript() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("silence.mp4");
    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=black:s=64x64:r=10:d=8",
            "-f",
            "lavfi",
            "-i",
            "anullsrc=r=16000:cl=mono",
            "-t",
            "8",
            "-c:v",
            "mpeg4",
            "-c:a",
            "aac",
        ],
        &file,
    );
    let (text, ctx) = transcribe(Value::Video(open_video(&file, None).expect("opens"))).await;
    assert!(text.cues.is_empty(), "silence was transcribed: {:?}", text.cues);
    let note = ctx.notes.get("no_speech").expect("a no_speech note");
    assert!(note.as_str().is_some_and(|s| s.contains("voice activity detection found no speech")), "{note}");
    assert!(ctx.notes.get("timing").is_some_and(|t| t.get("recognise_s").is_none()), "Whisper ran on silence");
}

/// A store with the installed Whisper (linked) and `silero` as given.
fn store_with_whisper(silero: Option<&Path>) -> tempfile::TempDir {
    let real = ModelStore::from_env().locate("whisper-tiny.en").expect("whisper-tiny.en is installed");
    let dir = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(&real.dir, dir.path().join("whisper-tiny.en")).expect("symlink");
    if let Some(src) = silero {
        let dst = dir.path().join("silero-vad");
        std::fs::create_dir(&dst).expect("mkdir");
        for entry in std::fs::read_dir(src).expect("read the install") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), dst.join(entry.file_name())).expect("copy");
        }
    }
    dir
}

#[tokio::test]
async fn without_the_vad_model_all_audio_is_decoded_and_the_trace_says_so() {
    let store = store_with_whisper(None);
    let clip = Clip::new(open("ted/test.mp4"), [TimeRange { start: 10.0, end: 14.0 }]);
    let (result, ctx) = transcribe_with(ModelStore::at(store.path()), Value::Clip(Arc::new(clip))).await;
    let Ok(Value::TimedText(text)) = result else { panic!("transcribe failed: {result:?}") };
    assert!(!text.cues.is_empty(), "the speech at 10-14 s was not transcribed");
    assert_eq!(ctx.notes.get("vad").expect("a vad note"), serde_json::json!("not installed (vprog models fetch silero-vad)"));
}

#[tokio::test]
async fn a_damaged_vad_model_is_a_clear_error() {
    let installed = vad_dir().join("model.safetensors");
    let bytes = std::fs::read(&installed).expect("read the model");
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, content) in [
        ("truncated", bytes[..bytes.len() / 2].to_vec()),
        ("header only", bytes[..64].to_vec()),
        ("garbage", b"not a model at all".to_vec()),
        ("empty", Vec::new()),
    ] {
        let path = dir.path().join(format!("{}.safetensors", name.replace(' ', "_")));
        std::fs::write(&path, content).expect("write");
        let err = vad::load_file(&path, "silero-vad").err().unwrap_or_else(|| panic!("{name}: a damaged file loaded"));
        assert!(matches!(err, ModuleError::BadModel { .. }), "{name}: {err:?}");
        let msg = err.to_string();
        assert!(msg.contains("vprog models fetch silero-vad --force"), "{name}: {msg}");
        println!("{name}: {msg}");
    }
    // Installed, then truncated: transcribe stops with the reinstall command (no fallback, no panic).
    let store = store_with_whisper(Some(&vad_dir()));
    let model = store.path().join("silero-vad/model.safetensors");
    std::fs::write(&model, &bytes[..bytes.len() - 1000]).expect("truncate");
    let (result, _) = transcribe_with(ModelStore::at(store.path()), Value::Video(open("ted/test.mp4"))).await;
    match result {
        Err(e @ ModuleError::BadModel { .. }) => {
            assert!(e.to_string().contains("vprog models fetch silero-vad --force"), "{e}");
        }
        other => panic!("expected BadModel, got {other:?}"),
    }
}
