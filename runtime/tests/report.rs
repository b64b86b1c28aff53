//! The HTML report: escaping, self-containment, evidence and robustness.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use serde_json::json;
use vprog_runtime::trace::report::render_report;
use vprog_runtime::trace::{
    read_trace, AnswerInfo, ErrorInfo, InputsInfo, OutputInfo, Position, ProgramInfo, StepInput, StepNote, Trace, TraceStep, SCHEMA,
};

const XSS: &str = "<script>alert(1)</script>";
const QUOTES: &str = "\"quotes\" & ampersands";
const RUN: &str = "r1-abcd";

fn step(id: &str, op: &str, started_ms: f64, duration_ms: f64) -> TraceStep {
    TraceStep {
        id: id.into(),
        op: op.into(),
        version: Some("1.0.0".into()),
        text: format!("{op}(video)"),
        bindings: vec![],
        position: Some(Position { line: 1, column: 1 }),
        merged: vec![],
        ty: "TimedText".into(),
        params: BTreeMap::new(),
        inputs: vec![],
        key: "0123456789abcdef0123456789abcdef".into(),
        status: "ok".into(),
        cache: "miss".into(),
        started_ms,
        duration_ms,
        computed_ms: None,
        computed_unix_ms: None,
        error: None,
        notes: vec![],
        output: None,
        artifacts: vec![],
        elements: None,
        children: vec![],
    }
}

fn output(dir: &Path, id: &str, ty: &str, value: Option<serde_json::Value>) -> OutputInfo {
    let file = format!("outputs/{RUN}-{id}.json");
    if let Some(v) = value {
        std::fs::create_dir_all(dir.join("outputs")).expect("outputs dir");
        std::fs::write(dir.join(&file), serde_json::to_vec(&v).expect("json")).expect("sidecar");
    }
    OutputInfo { ty: ty.into(), summary: format!("{ty} of {id}"), file }
}

/// A small real JPEG; returns its path relative to the trace directory and its bytes.
fn jpeg(dir: &Path, name: &str) -> (String, Vec<u8>) {
    std::fs::create_dir_all(dir.join("artifacts")).expect("artifacts dir");
    let img = image::RgbImage::from_fn(32, 24, |x, y| image::Rgb([(x * 8) as u8, (y * 10) as u8, 128]));
    let rel = format!("artifacts/{RUN}-{name}.jpg");
    img.save(dir.join(&rel)).expect("jpeg");
    let bytes = std::fs::read(dir.join(&rel)).expect("read jpeg");
    (rel, bytes)
}

fn trace(steps: Vec<TraceStep>) -> Trace {
    Trace {
        schema: SCHEMA.into(),
        run_id: RUN.into(),
        vprog_version: "0.1.0".into(),
        created_unix_ms: 1_700_000_000_000,
        status: "ok".into(),
        wall_ms: 1000.0,
        program: ProgramInfo {
            file: Some("q<1>.vp".into()),
            source: format!("subs = subtitles(video)\nanswer = choose(subs, \"{}\")", XSS.replace('"', "'")),
            canonical: "choose(subtitles(video))".into(),
        },
        inputs: InputsInfo {
            video: Some(
                json!({"type": "Video", "path": "/media/<b>clip</b>.mp4", "hash": "deadbeefcafe0123456789", "info": {"format": "mp4", "duration": 12.5, "fps": 25.0, "width": 640, "height": 360, "frame_count": 312, "video_codec": "h264", "streams": []}, "subtitles": null}),
            ),
            question: Some(format!("What is said? {XSS}")),
            options: Some(vec!["first".into(), QUOTES.into(), "third".into()]),
        },
        answer: Some(AnswerInfo {
            ty: "Choice".into(),
            summary: "option 1 \"quotes\" (confidence 0.700)".into(),
            value: json!({"type": "Choice", "index": 1, "option": QUOTES, "confidence": 0.7, "scores": [0.2, 0.7, 0.1], "method": "choose/nli"}),
            step: Some("s2".into()),
            supporting_steps: vec!["s1".into(), "s2".into()],
        }),
        error: None,
        optimizer: vec![("merge-identical".into(), 2), ("fuse-sampling".into(), 1)],
        steps,
        extensions: Default::default(),
        legacy_planner: None,
    }
}

fn write(dir: &Path, t: &Trace) {
    std::fs::write(dir.join("trace.json"), serde_json::to_vec_pretty(t).expect("trace json")).expect("trace.json");
}

/// A full trace with hostile text everywhere, an evidence JPEG and a map step.
fn hostile(dir: &Path) -> (Trace, Vec<u8>) {
    let cues = json!({"type": "TimedText", "cues": [
        {"start": 1.0, "end": 2.5, "text": XSS, "score": 0.9, "bbox": null, "source": "subtitles:srt"},
        {"start": 3.0, "end": 4.0, "text": QUOTES, "score": null, "bbox": null, "source": "<i>ocr</i>"}
    ]});
    let mut s1 = step("s1", "subtitles", 0.0, 500.0);
    s1.bindings = vec!["subs".into()];
    s1.output = Some(output(dir, "s1", "TimedText", Some(cues)));
    s1.params.insert("lang".into(), json!(XSS));
    s1.notes.push(StepNote { key: "context".into(), value: json!(format!("rendered for the model: {XSS}")) });

    let (rel, bytes) = jpeg(dir, "s3-000");
    let mut s3 = step("s3", "detect", 250.0, 500.0);
    s3.ty = "Detections".into();
    s3.cache = "disk".into();
    s3.output = Some(output(
        dir,
        "s3",
        "Detections",
        Some(json!({"type": "Detections", "frames": [
            {"time": 2.0, "width": 32, "height": 24, "boxes": [{"x": 1, "y": 1, "w": 5, "h": 5, "label": "<img src=x onerror=alert(2)>", "score": 0.8}]},
            {"time": 3.0, "width": 32, "height": 24, "boxes": []}
        ]})),
    ));
    s3.artifacts = vec![rel];

    let mut s2 = step("s2", "choose", 750.0, 250.0);
    s2.ty = "Choice".into();
    s2.position = Some(Position { line: 2, column: 10 });
    s2.merged = vec![Position { line: 3, column: 4 }];
    s2.inputs = vec![StepInput { slot: "text".into(), step: "s1".into() }, StepInput { slot: "boxes".into(), step: "s3".into() }];
    s2.output = Some(output(
        dir,
        "s2",
        "Choice",
        Some(json!({"type": "Choice", "index": 1, "option": QUOTES, "confidence": 0.7, "scores": [0.2, 0.7, 0.1], "method": "choose/nli"})),
    ));

    let mut m = step("s4", "map", 0.0, 900.0);
    m.elements = Some((3, 2));
    m.cache = "memory".into();
    let mut child = step("s4[0].s1", "ocr", 10.0, 20.0);
    child.output = Some(output(dir, "s4_0__s1", "Text", Some(json!({"type": "Text", "value": XSS}))));
    m.children = vec![child];

    let t = trace(vec![s1, s3, s2, m]);
    write(dir, &t);
    (t, bytes)
}

#[test]
fn hostile_strings_are_escaped() {
    let dir = tempfile::tempdir().expect("tempdir");
    hostile(dir.path());
    let html = render_report(dir.path()).expect("report");
    assert!(!html.contains("<script>alert(1)"), "raw script tag in the page");
    assert!(html.contains("&lt;script&gt;alert(1)"), "escaped script text missing");
    assert!(!html.contains("<img src=x"), "raw label markup in the page");
    assert!(!html.contains("<b>clip</b>") && !html.contains("<i>ocr</i>"));
    assert!(html.contains("&quot;quotes&quot; &amp; ampersands"), "escaped quotes and ampersand missing");
    assert!(!html.contains("\"quotes\" & ampersands"));
    // The page's own script is the only one.
    assert_eq!(html.matches("<script").count(), 1);
}

#[test]
fn page_is_self_contained_with_inline_evidence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, jpeg_bytes) = hostile(dir.path());
    let html = render_report(dir.path()).expect("report");
    let lower = html.to_lowercase();
    for bad in ["src=\"http", "href=\"http", "url(http", "url(", "@import", "src=\"//", "href=\"//"] {
        assert!(!lower.contains(bad), "external reference `{bad}` in the page");
    }
    let prefix = "src=\"data:image/jpeg;base64,";
    let start = html.find(prefix).expect("an inlined jpeg") + prefix.len();
    let end = start + html[start..].find('"').expect("closing quote");
    let decoded = base64::engine::general_purpose::STANDARD.decode(&html[start..end]).expect("valid base64");
    assert_eq!(decoded, jpeg_bytes, "inlined image is not the artifact");
    // The artifact is captioned with its frame time and labels from the sidecar.
    assert!(html.contains("00:02.0 · &lt;img"), "artifact caption missing");
}

#[test]
fn header_steps_and_sections_are_rendered() {
    let dir = tempfile::tempdir().expect("tempdir");
    hostile(dir.path());
    let html = render_report(dir.path()).expect("report");
    assert!(html.contains("option 1 &quot;quotes&quot; (confidence 0.700)"), "answer summary missing");
    for id in ["s1", "s2", "s3", "s4", "s4[0].s1"] {
        assert!(html.contains(&format!("id=\"step-{id}\"")), "anchor for {id} missing");
    }
    assert!(html.contains("href=\"#step-s1\""), "input link missing");
    // The chosen option is highlighted, with its score.
    let chosen = html.find("<tr class=\"chosen\">").expect("chosen row");
    assert!(html[chosen..chosen + 300].contains("ampersands") && html[chosen..chosen + 300].contains("0.700"));
    assert!(html.contains("★ supports the answer"));
    assert!(html.contains("identical to <a href=\"#L3\">line 3:4</a>"), "merged note missing");
    assert!(html.contains("elements: 3, kept: 2"), "map counts missing");
    assert!(html.contains("merge-identical"), "optimizer report missing");
    assert!(html.contains("id=\"L2\""), "numbered source lines missing");
    assert!(html.contains("deadbeefcafe…"), "video hash prefix missing");
    // Subtitle cues as a table with times.
    assert!(html.contains("00:01.0–00:02.5"), "cue times missing");
    // Overlapping steps: s3 starts at 25% and spans 50% of the wall time.
    assert!(html.contains("margin-left:25.000%;width:50.000%"), "timeline bar for s3 missing");
    assert!(html.contains("tl-bar c-disk"), "timeline cache colour missing");
}

#[test]
fn missing_and_corrupt_evidence_render_notes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    for sub in ["artifacts", "outputs"] {
        std::fs::create_dir_all(d.join(sub)).expect("trace subdir");
    }
    std::fs::write(d.join("artifacts/not-a.jpg"), b"GIF89a....").expect("fake image");
    let mut a = step("s1", "subtitles", 0.0, 10.0);
    a.output = Some(output(d, "s1", "TimedText", None));
    a.artifacts = vec!["artifacts/gone.jpg".into(), "artifacts/not-a.jpg".into(), "../../etc/passwd".into()];
    let mut b = step("s2", "ocr", 0.0, 10.0);
    b.output = Some(output(d, "s2", "TimedText", None));
    std::fs::write(d.join(&b.output.as_ref().expect("output").file), b"{not json").expect("corrupt sidecar");
    let mut t = trace(vec![a, b]);
    t.answer = None;
    write(d, &t);
    let html = render_report(d).expect("report despite missing files");
    assert!(html.contains(&format!("(missing: outputs&#x2f;{RUN}-s1.json)")), "missing sidecar note");
    assert!(html.contains("(missing: artifacts&#x2f;gone.jpg)"), "missing artifact note");
    assert!(html.contains("(not a JPEG: artifacts&#x2f;not-a.jpg)"));
    assert!(html.contains("outside the trace directory"));
    assert!(html.contains(&format!("(unreadable: outputs&#x2f;{RUN}-s2.json")), "corrupt sidecar note");
    assert!(!html.contains("data:image/jpeg"));
    assert!(html.contains("no answer recorded"));
}

#[test]
fn failed_run_shows_error_and_links_failing_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bad = step("s2", "detect", 5.0, 10.0);
    bad.status = "failed".into();
    bad.error = Some(format!("model crashed: {XSS}"));
    let mut cancelled = step("s3", "ocr", 5.0, 10.0);
    cancelled.status = "cancelled".into();
    let mut t = trace(vec![step("s1", "subtitles", 0.0, 5.0), bad, cancelled]);
    t.status = "failed".into();
    t.answer = None;
    t.error = Some(ErrorInfo { message: format!("step s2 failed: {XSS}"), step: Some("s2".into()), line: Some(2), column: Some(10) });
    write(dir.path(), &t);
    let html = render_report(dir.path()).expect("report");
    assert!(html.contains("class=\"banner failed\""));
    assert!(html.contains("in step <a href=\"#step-s2\">s2</a> at line 2:10"), "failure link missing");
    assert!(html.contains("step s2 failed: &lt;script&gt;"), "error message missing");
    assert!(!html.contains("<script>alert(1)"));
    assert!(html.contains("class=\"l err\" id=\"L2\""), "failing line not highlighted");
    assert!(html.contains("tl-bar st-failed") && html.contains("tl-bar st-cancelled"));
}

#[test]
fn giant_sidecars_are_truncated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = step("s1", "caption", 0.0, 10.0);
    let big: Vec<String> = (0..40_000).map(|i| format!("item {i}")).collect();
    s.output = Some(output(dir.path(), "s1", "[Text]", Some(json!({"type": "[Text]", "items": big}))));
    let mut c = step("s2", "subtitles", 0.0, 10.0);
    let cues: Vec<_> = (0..5000)
        .map(|i| json!({"start": i, "end": i + 1, "text": format!("cue number {i}"), "score": null, "bbox": null, "source": "srt"}))
        .collect();
    c.output = Some(output(dir.path(), "s2", "TimedText", Some(json!({"type": "TimedText", "cues": cues}))));
    write(dir.path(), &trace(vec![s, c]));
    let html = render_report(dir.path()).expect("report");
    assert!(html.contains("truncated: showing the first 200 KB"), "json not truncated");
    assert!(!html.contains("item 39999"));
    assert!(html.contains("showing first 500 of 5000 cues"));
    assert!(html.contains("cue number 499") && !html.contains("cue number 500<"));
    assert!(html.len() < 1_000_000, "page is {} bytes", html.len());
}

#[test]
fn unreadable_traces_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("trace.json"), b"\x00garbage{").expect("garbage");
    let e = read_trace(dir.path()).expect_err("garbage is not a trace").to_string();
    assert!(e.contains("not a vprog trace"), "{e}");
    let e = render_report(dir.path()).expect_err("no report of garbage").to_string();
    assert!(e.contains("not a vprog trace"), "{e}");

    let mut other = serde_json::to_value(trace(vec![])).expect("json");
    other["schema"] = json!("vprog.trace/99");
    std::fs::write(dir.path().join("trace.json"), other.to_string()).expect("write");
    let e = render_report(dir.path()).expect_err("foreign schema").to_string();
    assert!(e.contains("not a vprog trace") && e.contains("vprog.trace/99"), "{e}");

    let missing = dir.path().join("no-such-trace");
    let e = render_report(&missing).expect_err("missing dir").to_string();
    assert!(e.contains("no-such-trace"), "{e}");
}

#[test]
fn template_never_marks_strings_safe() {
    let template = include_str!("../src/trace/report.html");
    let squashed: String = template.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(!squashed.contains("|safe") && !squashed.contains("autoescapefalse"), "the template must not bypass escaping");
}

/// Writes a sample report when `VPROG_REPORT_SAMPLE` names a file (for looking at it).
#[test]
fn sample_report() {
    let Some(out) = std::env::var_os("VPROG_REPORT_SAMPLE") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut t, _) = hostile(dir.path());
    std::fs::write(&out, render_report(dir.path()).expect("report")).expect("write sample");
    t.status = "failed".into();
    t.answer = None;
    t.error = Some(ErrorInfo { message: format!("step s2 failed: {XSS}"), step: Some("s2".into()), line: Some(2), column: Some(10) });
    t.steps[2].status = "failed".into();
    t.steps[2].error = Some("model crashed".into());
    t.steps[3].status = "cancelled".into();
    write(dir.path(), &t);
    let mut failed = out;
    failed.push(".failed.html");
    std::fs::write(failed, render_report(dir.path()).expect("report")).expect("write sample");
}

#[test]
fn every_value_type_renders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let values = [
        json!({"type": "Frames", "frames": [{"time": 0.5, "width": 32, "height": 24}, {"time": 1.5, "width": 32, "height": 24}]}),
        json!({"type": "Frame", "time": 2.0, "width": 32, "height": 24}),
        json!({"type": "Clip", "video": "v.mp4", "segments": [{"start": 1.0, "end": 4.0}]}),
        json!({"type": "Tracks", "tracks": [{"id": 7, "label": "car<", "points": [{"time": 1.0, "bbox": {"x": 0, "y": 0, "w": 1, "h": 1, "label": "car", "score": 0.5}}]}]}),
        json!({"type": "Int", "value": 42}),
        json!({"type": "Duration", "seconds": 1.25}),
        json!({"type": "Timestamp", "seconds": 61.0, "clock": "01:01.0"}),
        json!({"type": "Masks", "masks": [{"time": 3.0, "width": 4, "height": 2, "label": "person", "score": 0.87, "runs": [7, 1]}]}),
        // Hostile sizes and runs: rendered, never an overflow.
        json!({"type": "Masks", "masks": [{"time": 1.0, "width": u64::MAX, "height": 2, "label": "x", "score": 1.0, "runs": [u64::MAX, 5]}]}),
        json!({"type": "[Int]", "items": [{"type": "Int", "value": 1}]}),
    ];
    let steps = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let id = format!("s{i}");
            let mut s = step(&id, "op", i as f64, 1.0);
            s.output = Some(output(d, &id, v["type"].as_str().expect("type"), Some(v.clone())));
            s
        })
        .collect();
    write(d, &trace(steps));
    let html = render_report(d).expect("report");
    for want in
        ["00:00.5", "00:01.5", "frame at 00:02.0 (32x24)", "00:01.0–00:04.0", "car&lt;", ">42<", "1.250 s", "01:01.0", "12.5%", "0.87"]
    {
        assert!(html.contains(want), "missing {want}");
    }
}

#[test]
fn retrieved_frames_show_their_scores() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let frames = json!({"type": "Frames", "frames": [{"time": 4.0, "width": 32, "height": 24}, {"time": 9.0, "width": 32, "height": 24}]});
    let mut s = step("s1", "retrieve_frames", 0.0, 10.0);
    s.ty = "Frames".into();
    s.output = Some(output(d, "s1", "Frames", Some(frames)));
    s.artifacts = vec![jpeg(d, "a").0, jpeg(d, "b").0];
    // Best first, as the module notes them; one more scored frame was not returned.
    s.notes.push(StepNote {
        key: "retrieve_frames".into(),
        value: json!({"query": "a rabbit", "best": [{"time": 9.0, "score": 0.3125}, {"time": 4.0, "score": 0.25}]}),
    });
    write(d, &trace(vec![s]));
    let html = render_report(d).expect("report");
    assert!(html.contains("00:04.0 · score 0.250"), "first frame's score missing");
    assert!(html.contains("00:09.0 · score 0.312"), "second frame's score missing");
    // Without the note, frames keep plain time captions.
    let dir2 = tempfile::tempdir().expect("tempdir");
    let d2 = dir2.path();
    let mut s = step("s1", "sample", 0.0, 10.0);
    s.output = Some(output(d2, "s1", "Frames", Some(json!({"type": "Frames", "frames": [{"time": 4.0, "width": 32, "height": 24}]}))));
    s.artifacts = vec![jpeg(d2, "a").0];
    write(d2, &trace(vec![s]));
    let html = render_report(d2).expect("report");
    assert!(html.contains(">00:04.0<") && !html.contains("score 0."), "plain caption expected");
}
