//! `vprog eval` end to end on real questions about the TED talk (the first
//! items of `examples/bench/dev.jsonl`), answered by the fast path with
//! the small local model: killed with SIGKILL mid-run and resumed, every
//! item is answered exactly once; shards split the set and merge back; a
//! directory holding another run is refused.
//!
//! Models from `$VPROG_MODELS`, media from `VPROG_MEDIA_DIR` or `media/`.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{media, vprog};

const SMALL: &str = "local:smollm2-135m-instruct";

/// The first `n` TED items of the repository's labelled set, in a file.
fn bench(dir: &Path, n: usize) -> std::path::PathBuf {
    let all = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/bench/dev.jsonl")).expect("the labelled set");
    let lines: Vec<&str> = all.lines().filter(|l| l.contains("\"ted/test.mp4\"")).take(n).collect();
    assert_eq!(lines.len(), n);
    let p = dir.join("bench.jsonl");
    std::fs::write(&p, lines.join("\n") + "\n").expect("write the set");
    p
}

fn eval_args<'a>(bench: &'a str, videos: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "eval",
        bench,
        "--videos",
        videos,
        "--out",
        out,
        "--mode",
        "fast",
        "--llm",
        SMALL,
        "--answer-model",
        "smollm2-135m-instruct",
        "--fast-frames",
        "2",
        // A short text scan (about 8 frames): these tests are about resuming and sharding.
        "--scan-frames",
        "6",
    ]
}

fn result_ids(out: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(out.join("results.jsonl")).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a result line")["id"].as_str().expect("id").to_string())
        .collect()
}

#[test]
fn an_eval_killed_mid_run_resumes_and_answers_every_item_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bench = bench(dir.path(), 6);
    let out = dir.path().join("eval");
    let videos = media("ted/test.mp4").parent().and_then(Path::parent).expect("media dir").to_path_buf();
    let args = eval_args(bench.to_str().expect("utf-8"), videos.to_str().expect("utf-8"), out.to_str().expect("utf-8"));

    let mut child = Command::new(env!("CARGO_BIN_EXE_vprog"))
        .args(&args)
        .env("VPROG_CACHE_DIR", dir.path().join("cache"))
        .env("VPROG_LLM_CACHE_DIR", common::llm_cache())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("vprog starts");
    let t0 = Instant::now();
    while result_ids(&out).is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(600), "no item finished in 10 minutes");
        assert!(child.try_wait().expect("wait").is_none(), "eval ended before it could be killed");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let before = result_ids(&out);
    assert!(!before.is_empty() && before.len() < 6, "killed after {} of 6 items", before.len());
    let first_lines: Vec<String> = std::fs::read_to_string(out.join("results.jsonl")).expect("results").lines().map(String::from).collect();

    let o = vprog(&args, &dir.path().join("cache"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains(&format!("{} of 6 items already done", before.len())), "{err}");
    let after = result_ids(&out);
    assert_eq!(after.len(), 6, "{after:?}");
    assert_eq!(after.iter().collect::<BTreeSet<_>>().len(), 6, "an item ran twice: {after:?}");
    // The items finished before the kill were kept as they were, not rerun.
    let now = std::fs::read_to_string(out.join("results.jsonl")).expect("results");
    assert!(now.lines().take(first_lines.len()).eq(first_lines.iter().map(String::as_str)));
    for id in &after {
        assert!(out.join("items").join(id).join("trace.json").is_file(), "trace of {id}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary")).expect("JSON");
    assert_eq!(summary["overall"]["items"], 6);
    assert_eq!(summary["by_path"]["fast"]["items"], 6);
    let md = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    assert!(md.contains("| said | 6 |"), "{md}");

    // A third run has nothing left to do and answers nothing again.
    let o = vprog(&args, &dir.path().join("cache"));
    assert!(o.status.success());
    assert_eq!(result_ids(&out).len(), 6);

    // The same directory with another mode is refused, naming the difference.
    let mut other = args.clone();
    let i = other.iter().position(|a| *a == "fast").expect("mode");
    other[i] = "auto";
    let o = vprog(&other, &dir.path().join("cache"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("mode: fast before, auto now"), "{err}");
}

#[test]
fn shards_split_the_set_and_merge_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bench = bench(dir.path(), 3);
    let videos = media("ted/test.mp4").parent().and_then(Path::parent).expect("media dir").to_path_buf();
    let mut dirs = Vec::new();
    for k in ["1/2", "2/2"] {
        let out = dir.path().join(format!("shard{}", &k[..1]));
        let mut args = eval_args(bench.to_str().expect("utf-8"), videos.to_str().expect("utf-8"), out.to_str().expect("utf-8"));
        args.extend(["--shard", k]);
        let o = vprog(&args, &dir.path().join("cache"));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        dirs.push(out);
    }
    let (a, b) = (result_ids(&dirs[0]), result_ids(&dirs[1]));
    assert_eq!((a.len(), b.len()), (2, 1), "items 0 and 2, then item 1");
    assert!(a.iter().all(|id| !b.contains(id)));
    let merged = dir.path().join("merged");
    let o = vprog(
        &["eval-summary", dirs[0].to_str().expect("utf-8"), dirs[1].to_str().expect("utf-8"), "--out", merged.to_str().expect("utf-8")],
        dir.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(merged.join("summary.json")).expect("summary")).expect("JSON");
    assert_eq!(summary["overall"]["items"], 3);
    // The same shard twice is an overlap, not a bigger set.
    let o = vprog(&["eval-summary", dirs[0].to_str().expect("utf-8"), dirs[0].to_str().expect("utf-8")], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("more than one directory"));

    // A bad labelled set is a clear error naming the line.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"id\": \"x\", \"video\": \"ted/test.mp4\", \"question\": \"q\", \"options\": [\"a\", \"b\"], \"answer\": 7}\n")
        .expect("write");
    let o = vprog(&["eval", bad.to_str().expect("utf-8"), "--out", dir.path().join("bad").to_str().expect("utf-8")], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.jsonl:1: answer 7"), "{}", String::from_utf8_lossy(&o.stderr));
}
