//! End-to-end tests of the `vprog` binary on real media.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

mod common;
use common::{media, vprog};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(name)
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn run_answers_from_real_subtitles_and_writes_a_trace() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let trace = tmp.path().join("trace");
    let video = media("ted/test.mp4");
    let out = vprog(
        &[
            "run",
            example("luck_lexical.vp").to_str().expect("utf8"),
            video.to_str().expect("utf8"),
            "--question",
            "What does the speaker say luck is?",
            "--options",
            "a lightning strike",
            "success or failure apparently caused by chance",
            "the result of hard work alone",
            "--trace",
            trace.to_str().expect("utf8"),
            "--json",
        ],
        &tmp.path().join("cache"),
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json output");
    assert_eq!(json["status"], "ok");
    assert_eq!(json["answer"]["value"]["index"], 1, "{stdout}");
    let t = vprog_runtime::trace::read_trace(&trace).expect("trace");
    assert_eq!(t.status, "ok");
    let subtitles = t.steps.iter().find(|s| s.op == "subtitles").expect("subtitles step");
    assert!(subtitles.output.as_ref().expect("output").summary.starts_with("17 cues"));
    for s in t.all_steps() {
        if let Some(o) = &s.output {
            assert!(trace.join(&o.file).exists(), "sidecar {}", o.file);
        }
    }

    // trace show and report work on it.
    let show = vprog(&["trace", "show", trace.to_str().expect("utf8")], tmp.path());
    let (stdout, _) = text(&show);
    assert!(show.status.success());
    assert!(stdout.contains("choose_by_text") && stdout.contains("answer (Choice)"), "{stdout}");
    let html = tmp.path().join("r.html");
    let rep = vprog(&["report", trace.to_str().expect("utf8"), "-o", html.to_str().expect("utf8")], tmp.path());
    assert!(rep.status.success(), "{}", text(&rep).1);
    let page = std::fs::read_to_string(&html).expect("report");
    assert!(page.contains("Luck is defined as success or failure apparently caused by chance."));
}

#[test]
fn segment_masks_people_and_the_report_tints_them() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let trace = tmp.path().join("trace");
    let video = media("ted/test.mp4");
    let out = vprog(
        &[
            "run",
            example("speaker_on_screen.vp").to_str().expect("utf8"),
            video.to_str().expect("utf8"),
            "--trace",
            trace.to_str().expect("utf8"),
            "--json",
        ],
        &tmp.path().join("cache"),
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json output");
    let n = json["answer"]["value"]["value"].as_i64().unwrap_or_else(|| panic!("an Int answer: {stdout}"));
    let t = vprog_runtime::trace::read_trace(&trace).expect("trace");
    let seg = t.all_steps().into_iter().find(|s| s.op == "segment").expect("segment step");
    let sidecar: serde_json::Value =
        serde_json::from_slice(&std::fs::read(trace.join(&seg.output.as_ref().expect("output").file)).expect("sidecar")).expect("json");
    let times: Vec<f64> = sidecar["masks"].as_array().expect("masks").iter().filter_map(|m| m["time"].as_f64()).collect();
    assert_eq!(times.len() as i64, n, "count(masks) is the number of masks");
    // The frames (of 8 spread over the talk) where the speaker stands alone
    // on stage, near 19, 42 and 50 s, are masked. (The title animation at
    // 3.9 s is masked too: a false alarm; audience shots are not.)
    for want in [19.3, 42.4, 50.1] {
        assert!(times.iter().any(|t| (t - want).abs() < 0.5), "no mask near {want} s: {times:?}");
    }
    assert!(n <= 6, "{n} of 8 frames masked: {times:?}");
    assert_eq!(seg.artifacts.len() as i64, n, "one evidence image per mask");
    for a in &seg.artifacts {
        let bytes = std::fs::read(trace.join(a)).expect("the evidence image");
        assert!(bytes.starts_with(&[0xFF, 0xD8, 0xFF]), "{a} is a JPEG");
    }
    assert!(seg.notes.iter().any(|n| n.key == "segment" && n.value["model"] == "tfjs-candle:mediapipe-meet"), "{:?}", seg.notes);
    let html = tmp.path().join("r.html");
    let rep = vprog(&["report", trace.to_str().expect("utf8"), "-o", html.to_str().expect("utf8")], tmp.path());
    assert!(rep.status.success(), "{}", text(&rep).1);
    let page = std::fs::read_to_string(&html).expect("report");
    assert!(page.contains("<th class=\"num\">covers</th>") && page.contains("person mask"), "the masks table and captions");
}

#[test]
fn check_reports_errors_with_exit_1_and_json() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bad = tmp.path().join("bad.vp");
    std::fs::write(&bad, "frames = smaple(video, fps: 2)\nanswer count(frames)\n").expect("write");
    let out = vprog(&["check", bad.to_str().expect("utf8")], tmp.path());
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("unknown module `smaple`") && stderr.contains("did you mean `sample`?"), "{stderr}");
    assert!(stderr.contains("bad.vp:1:10"), "{stderr}");
    let out = vprog(&["check", "--json", bad.to_str().expect("utf8")], tmp.path());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json[0]["code"], "vprog::unknown_module");
    assert_eq!((json[0]["line"].as_u64(), json[0]["column"].as_u64()), (Some(1), Some(10)));
}

#[test]
fn bad_videos_exit_2_naming_the_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let empty = tmp.path().join("empty.mp4");
    std::fs::write(&empty, b"").expect("write");
    let out = vprog(&["run", example("luck.vp").to_str().expect("utf8"), empty.to_str().expect("utf8")], tmp.path());
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("empty.mp4"), "{stderr}");
}

#[test]
fn a_failing_step_is_named_with_its_source_position() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let prog = tmp.path().join("late.vp");
    // The TED talk is 61.7 s long: a frame at 10 minutes does not exist.
    std::fs::write(&prog, "early = sample(video, count: 2)\nlate = sample(video, at: [10:00])\nanswer count(late) + count(early)\n")
        .expect("write");
    let trace = tmp.path().join("t");
    let out = vprog(
        &["run", prog.to_str().expect("utf8"), media("ted/test.mp4").to_str().expect("utf8"), "--trace", trace.to_str().expect("utf8")],
        &tmp.path().join("cache"),
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("late.vp:2:8"), "{stderr}");
    let t = vprog_runtime::trace::read_trace(&trace).expect("a trace is written for failed runs too");
    assert_eq!(t.status, "failed");
    let err = t.error.expect("error recorded");
    assert_eq!(err.line, Some(2));
    let failed = t.steps.iter().find(|s| Some(&s.id) == err.step.as_ref()).expect("failing step in trace");
    assert_eq!(failed.status, "failed");
    assert!(failed.text.contains("10:00"));
}

#[test]
fn killing_a_run_never_leaves_a_broken_trace() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let trace = tmp.path().join("t");
    let video = media("ted/test.mp4");
    let args = |t: &Path| {
        vec![
            "run".to_string(),
            example("frames_around_quote.vp").display().to_string(),
            video.display().to_string(),
            "--trace".into(),
            t.display().to_string(),
            "--no-cache".into(),
        ]
    };
    let first = Command::new(env!("CARGO_BIN_EXE_vprog")).args(args(&trace)).output().expect("runs");
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let original = vprog_runtime::trace::read_trace(&trace).expect("first trace");
    let mut survived_old = 0;
    for i in 0..16u64 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vprog")).args(args(&trace)).spawn().expect("spawns");
        std::thread::sleep(Duration::from_millis(20 + i * 25));
        let _ = child.kill();
        let _ = child.wait();
        // Whatever moment the kill hit, the trace is complete: old or new.
        let t = vprog_runtime::trace::read_trace(&trace).expect("trace.json always parses");
        for s in t.all_steps() {
            if let Some(o) = &s.output {
                assert!(trace.join(&o.file).exists(), "kill {i}: {} missing", o.file);
            }
            for a in &s.artifacts {
                assert!(trace.join(a).exists(), "kill {i}: {a} missing");
            }
        }
        survived_old += usize::from(t.run_id == original.run_id);
    }
    assert!(survived_old > 0, "no kill landed before the trace switch; the test proves nothing");
}

/// The installed model store the tests use (`$VPROG_MODELS`, filled by `scripts/fetch-models.sh`).
fn installed_model_dir(id: &str) -> PathBuf {
    let store = vprog_models::ModelStore::from_env();
    let dir = store.dir_of(id);
    assert!(
        store.locate(id).is_ok(),
        "model `{id}` is not installed in {}: run `bash scripts/fetch-models.sh` (or `vprog models fetch {id}`)",
        store.root().display()
    );
    dir
}

#[test]
fn models_list_verify_and_a_tampered_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = tmp.path().join("models");
    let models = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_vprog")).args(args).env("VPROG_MODELS", &store).env("NO_COLOR", "1").output().expect("vprog runs")
    };

    // An empty store: everything listed as not installed, nothing to verify.
    let out = models(&["models", "list", "--json"]);
    assert!(out.status.success(), "{:?}", text(&out));
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let rows = listed["models"].as_array().expect("models");
    assert!(rows.len() >= 4);
    assert!(rows.iter().all(|m| m["status"] == "not installed"), "{listed}");

    // A copy of a real installed model verifies.
    let id = "smollm2-135m-instruct";
    let src = installed_model_dir(id);
    let dst = store.join(id);
    std::fs::create_dir_all(&dst).expect("mkdir");
    for entry in std::fs::read_dir(&src).expect("read model dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dst.join(entry.file_name())).expect("copy");
    }
    let out = models(&["models", "verify", id]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("smollm2-135m-instruct/model.gguf: ok"), "{stdout}");

    // One flipped byte: verify fails naming the file, and loading refuses it
    // (the copy's mtime differs from the manifest, so it is re-hashed).
    let gguf = dst.join("model.gguf");
    let mut bytes = std::fs::read(&gguf).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    std::fs::write(&gguf, &bytes).expect("write");
    let out = models(&["models", "verify", id]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("model.gguf: MISMATCH"), "{stdout}");
    assert!(stderr.contains("vprog models fetch ID --force"), "{stderr}");
    let err = vprog_models::ModelStore::at(&store).locate(id).expect_err("tampered model must not load");
    assert!(err.to_string().contains("modified after it was installed"), "{err}");
    assert_eq!(err.fix().as_deref(), Some("vprog models fetch smollm2-135m-instruct"));

    // Unknown ids are usage errors that list the known ones.
    let out = models(&["models", "fetch", "gpt-9"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown model `gpt-9`") && stderr.contains("qwen2.5-coder-0.5b-instruct"), "{stderr}");
}

/// Hostile control sequences in a real subtitle file (clear screen, set the
/// window title, bell, NUL, a right-to-left override) reach the answer, the
/// trace and a diagnostic, and are printed escaped everywhere.
#[test]
fn control_sequences_from_subtitles_and_programs_never_reach_the_terminal_raw() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let real = std::fs::read_to_string(media("ted/test.srt")).expect("real subtitles");
    let hostile = real.replacen("I've spent nearly two decades", "\x1b[2J\x1b]0;pwned\x07I've spent\0 nearly \u{202e}two decades", 1);
    assert_ne!(hostile, real, "the first cue of test.srt changed");
    let srt = tmp.path().join("hostile.srt");
    std::fs::write(&srt, hostile).expect("write srt");
    let program = tmp.path().join("first_cue.vp");
    std::fs::write(&program, "answer first(subtitles(video))\n").expect("write program");
    let trace = tmp.path().join("trace");
    let video = media("ted/test.mp4");
    let raw = |s: &str| s.chars().any(|c| matches!(c, '\x1b' | '\x07' | '\0' | '\u{202e}'));
    let out = vprog(
        &[
            "run",
            program.to_str().expect("utf8"),
            video.to_str().expect("utf8"),
            "--subtitles",
            srt.to_str().expect("utf8"),
            "--trace",
            trace.to_str().expect("utf8"),
        ],
        &tmp.path().join("cache"),
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(!raw(&stdout) && !raw(&stderr), "{stdout:?} {stderr:?}");
    assert!(stdout.contains("\\u{1b}[2J\\u{1b}]0;pwned\\u{7}I've spent\\u{0} nearly \\u{202e}two"), "{stdout}");

    // --json stays valid JSON, with the text intact once parsed.
    let json = vprog(
        &[
            "run",
            program.to_str().expect("utf8"),
            video.to_str().expect("utf8"),
            "--subtitles",
            srt.to_str().expect("utf8"),
            "--json",
            "--trace",
            tmp.path().join("trace-json").to_str().expect("utf8"),
        ],
        &tmp.path().join("cache"),
    );
    let stdout = String::from_utf8_lossy(&json.stdout);
    assert!(!raw(&stdout), "{stdout:?}");
    let parsed: serde_json::Value = serde_json::from_str(&stdout).expect("valid JSON");
    let summary = parsed["answer"]["summary"].as_str().unwrap_or_default();
    assert!(summary.contains("\x1b[2J\x1b]0;pwned\x07I've spent\0 nearly \u{202e}two"), "{summary:?}");

    for args in [vec!["trace", "show", trace.to_str().expect("utf8")], vec!["trace", "show", trace.to_str().expect("utf8"), "--step", "s1"]]
    {
        let show = vprog(&args, tmp.path());
        let (stdout, stderr) = text(&show);
        assert!(show.status.success(), "{stderr}");
        assert!(!raw(&stdout) && !raw(&stderr), "{args:?}: {stdout:?}");
        assert!(stdout.contains("\\u{1b}"), "{args:?}: {stdout}");
    }

    // A diagnostic quoting a program with a raw NUL and escape in a string.
    std::fs::write(&program, "x = \"\x1b]0;pwned\x07\0\"\nanswer count(x)\n").expect("write program");
    let check = vprog(&["check", program.to_str().expect("utf8")], tmp.path());
    let (stdout, stderr) = text(&check);
    assert!(!check.status.success());
    assert!(!raw(&stdout) && !raw(&stderr), "{stderr:?}");
    assert!(stderr.contains("x = \"\\u{1b}]0;pwned\\u{7}\\u{0}\""), "{stderr}");
}

/// Log lines written to a pipe carry no colour codes, even without
/// `NO_COLOR`, and a one-step run says "1 step".
#[test]
fn warnings_to_a_pipe_have_no_colour_codes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let program = tmp.path().join("warn.vp");
    std::fs::write(&program, "answer choose_by_text(\"which?\", [\"red\", \"blue\"], evidence: [\"\", \"\"])\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_vprog"))
        .args(["run", program.to_str().expect("utf8"), media("vtest.avi").to_str().expect("utf8"), "--no-cache"])
        .args(["--trace", tmp.path().join("trace").to_str().expect("utf8")])
        .env_remove("NO_COLOR")
        .env_remove("RUST_LOG")
        .output()
        .expect("vprog runs");
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("WARN choose_by_text: the evidence has no words"), "{stderr}");
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
    assert!(stderr.contains("1 step (1 computed, 0 from cache)"), "{stderr}");
}

/// Tens of thousands of diagnostics: the first 50 are printed, then a count
/// of the rest; `--json` still lists every one. An oversized one-line program
/// is not echoed back whole. (Check time against size: benches/check.rs.)
#[test]
fn many_diagnostics_are_capped_and_huge_lines_are_not_echoed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let program = tmp.path().join("undefined.vp");
    let src: String = (0..20_000).map(|i| format!("w{i} = u{i}\n")).chain(["answer w0\n".to_string()]).collect();
    std::fs::write(&program, &src).expect("write");
    let file = program.to_str().expect("utf8");
    let out = vprog(&["check", file], tmp.path());
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.matches("vprog::undefined").count(), 50, "{}", &stderr[..2000.min(stderr.len())]);
    assert!(stderr.contains("19950 more diagnostics not shown (20000 errors, 0 warnings in all; `vprog check --json"), "{stderr}");
    assert!(stderr.len() < 40_000, "{} bytes of diagnostics", stderr.len());
    let json = vprog(&["check", "--json", file], tmp.path());
    let all: Vec<serde_json::Value> = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(all.len(), 20_000);
    assert_eq!((all[19_999]["line"].as_u64(), all[19_999]["column"].as_u64()), (Some(20_000), Some(10)));

    let line = format!("x = [{}]\nanswer x\n", "1, ".repeat(400_000));
    std::fs::write(&program, &line).expect("write");
    let out = vprog(&["check", file], tmp.path());
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("vprog::too_large") && stderr.contains('…'), "{}", &stderr[..2000.min(stderr.len())]);
    assert!(stderr.len() < 4_000, "{} bytes echoed", stderr.len());
}

/// Small messages that used to mislead: each names the actual problem.
#[test]
fn messages_name_the_actual_problem() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cache = tmp.path().join("cache");
    let program = tmp.path().join("d.vp");
    let path = |p: &Path| p.to_str().expect("utf8").to_string();
    let stderr_of = |args: &[&str]| {
        let out = vprog(args, &cache);
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };

    // A leading byte-order mark is accepted; a no-break space is named.
    std::fs::write(&program, "\u{feff}answer duration(video)\n").expect("write");
    assert_eq!(stderr_of(&["check", &path(&program)]).0, Some(0));
    std::fs::write(&program, "answer\u{a0}duration(video)\n").expect("write");
    let (code, stderr) = stderr_of(&["check", &path(&program)]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("unexpected U+00A0 (no-break space)"), "{stderr}");
    // An escape past the last code point says so.
    std::fs::write(&program, "x = \"\\u{110000}\"\nanswer count(x)\n").expect("write");
    let (_, stderr) = stderr_of(&["check", &path(&program)]);
    assert!(stderr.contains("U+110000 is past the last code point"), "{stderr}");

    // 0.0 / 0.0 is quoted as written.
    std::fs::write(&program, "x = 0.0\nanswer x / 0.0\n").expect("write");
    let trace = tmp.path().join("trace");
    let (code, stderr) = stderr_of(&["run", &path(&program), &path(&media("vtest.avi")), "--trace", &path(&trace), "--json"]);
    assert_eq!(code, Some(1));
    let t = vprog_runtime::trace::read_trace(&trace).expect("trace");
    let error = t.error.map(|e| e.message).unwrap_or_default();
    assert!(error.contains("division by zero in 0.0 / 0.0"), "{error} {stderr}");

    // A still image named .mp4, from a real frame (a trace's evidence JPEG).
    std::fs::write(&program, "answer count(sample(video, count: 2))\n").expect("write");
    let (code, stderr) = stderr_of(&["run", &path(&program), &path(&media("vtest.avi")), "--trace", &path(&trace)]);
    assert_eq!(code, Some(0), "{stderr}");
    let jpeg = std::fs::read_dir(trace.join("artifacts")).expect("artifacts").flatten().map(|e| e.path()).next().expect("an evidence JPEG");
    let still = tmp.path().join("still.mp4");
    std::fs::copy(&jpeg, &still).expect("copy");
    let (code, stderr) = stderr_of(&["run", &path(&program), &path(&still)]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("a still image (JPEG") && !stderr.contains("truncated"), "{stderr}");

    // A named pipe is not reported as an empty file (and nothing blocks on it).
    let fifo = tmp.path().join("fifo.mp4");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
    assert!(made.success());
    let (code, stderr) = stderr_of(&["run", &path(&program), &path(&fifo)]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("is a named pipe (FIFO), not a regular file"), "{stderr}");

    // An OS error is printed once; `report -o DIR/` writes DIR/report.html.
    let file = tmp.path().join("file");
    std::fs::write(&file, "x").expect("write");
    let (code, stderr) = stderr_of(&["report", &path(&trace), "-o", &path(&file.join("r.html"))]);
    assert_eq!(code, Some(2));
    assert_eq!(stderr.matches("Not a directory").count(), 1, "{stderr}");
    let dir = format!("{}/", path(&tmp.path().join("reports")));
    let (code, stderr) = stderr_of(&["report", &path(&trace), "-o", &dir]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(tmp.path().join("reports").join("report.html").is_file());
}

/// A map over 800 elements that all show the same cached frame: the frame is
/// written once (content-addressed), the report inlines it once and shows an
/// even sample of the elements. (Was: 796 identical JPEGs, a 54 MB trace
/// written in 46 s, and a 67 MB report.)
#[test]
fn identical_map_elements_share_one_artifact_and_the_report_samples_them() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let program = tmp.path().join("map.vp");
    std::fs::write(
        &program,
        "f = sample(video, count: 1)\nparts = split(video, every: 0.1s)\nxs = [first(f) for p in parts]\nanswer count(xs)\n",
    )
    .expect("write");
    let trace = tmp.path().join("trace");
    let run = |trace: &Path| {
        let out = vprog(
            &["run", program.to_str().expect("utf8"), media("vtest.avi").to_str().expect("utf8"), "--trace", trace.to_str().expect("utf8")],
            &tmp.path().join("cache"),
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    run(&trace);
    let t = vprog_runtime::trace::read_trace(&trace).expect("trace");
    let map = t.steps.iter().find(|s| s.elements.is_some()).expect("the map step");
    let (elements, _) = map.elements.expect("elements");
    assert!(elements >= 790, "{elements} elements");
    let files = |sub: &str| std::fs::read_dir(trace.join(sub)).expect(sub).count();
    assert_eq!(files("artifacts"), 1, "one distinct frame, one image");
    assert!(files("outputs") < 10, "{} output files", files("outputs"));
    let with_images: Vec<_> = map.children.iter().filter(|c| !c.artifacts.is_empty()).collect();
    assert_eq!(with_images.len(), vprog_runtime::trace::MAP_ELEMENTS_WITH_EVIDENCE);
    assert!(with_images.iter().all(|c| c.artifacts == with_images[0].artifacts));

    let html = tmp.path().join("r.html");
    let out = vprog(&["report", trace.to_str().expect("utf8"), "-o", html.to_str().expect("utf8")], tmp.path());
    assert!(out.status.success());
    let page = std::fs::read_to_string(&html).expect("report");
    assert!(page.len() < 2 << 20, "{} bytes", page.len());
    assert_eq!(page.matches("data:image/jpeg;base64,").count(), 1, "inlined once, under `f`");
    assert!(page.contains("(the same image as step s1 shows)"));
    assert!(page.contains("more per-element steps not shown"));

    // A second run into the same directory keeps only what it references.
    run(&trace);
    assert_eq!(files("artifacts"), 1);
}

/// A trace written before the planner's record was typed and versioned
/// (`vprog.trace/1`, the record in a top-level `planner` field; `vprog ask
/// --mode slow` on the TED talk, committed) still loads: `trace show` and
/// the report show its reasoning and search tree.
#[test]
fn a_version_1_trace_with_a_planner_record_still_loads() {
    let trace = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/traces/ask-slow-v1");
    let raw: serde_json::Value = serde_json::from_slice(&std::fs::read(trace.join("trace.json")).expect("committed trace")).expect("JSON");
    assert_eq!(raw["schema"], "vprog.trace/1");
    let t = vprog_runtime::trace::read_trace(&trace).expect("a version 1 trace reads");
    assert!(t.legacy_planner.is_none() && t.extensions.contains_key("planner"), "moved into the extensions");
    let dir = tempfile::tempdir().expect("tempdir");
    let show = vprog(&["trace", "show", trace.to_str().expect("utf-8 path")], dir.path());
    let (shown, err) = text(&show);
    assert!(show.status.success(), "{err}");
    assert!(shown.contains("reasoning:") && shown.contains("mode slow"), "{shown}");
    assert!(shown.contains("mcts search: 3 iterations") && shown.contains("[0] (empty program)"), "{shown}");
    assert!(shown.contains("101.0 s of reasoning"), "{shown}");
    assert_eq!(shown.matches("↳ rollout").count(), 3, "{shown}");
    let html = dir.path().join("r.html");
    let r = vprog(&["report", trace.to_str().expect("utf-8 path"), "-o", html.to_str().expect("utf-8 path")], dir.path());
    assert!(r.status.success(), "{}", text(&r).1);
    let page = std::fs::read_to_string(&html).expect("report written");
    assert!(page.contains("Search tree") && page.contains("Fast–slow reasoning"), "the planner's section");
    assert!(page.contains("of reasoning; the final run of the chosen program"), "the reasoning's time");
}
