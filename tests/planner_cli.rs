//! `vprog plan`, `vprog ask` and `vprog plan-eval` end to end: a real search
//! on the TED talk with the small local model writes a trace holding the
//! whole tree, and bad backends, bad questions and bad files are clear errors.
//!
//! Models from `$VPROG_MODELS` (`vprog models fetch ID`), media from
//! `VPROG_MEDIA_DIR` or `media/` (`bash scripts/fetch-media.sh`).

mod common;

use std::process::Output;

use common::{media, vprog};

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn ask_searches_runs_and_traces_the_tree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("trace");
    let video = media("ted/test.mp4");
    let o = vprog(
        &[
            "ask",
            video.to_str().expect("utf-8 path"),
            "What does the speaker say luck is?",
            "--options",
            "hard work",
            "success or failure apparently caused by chance",
            "a gift",
            "--llm",
            "local:smollm2-135m-instruct",
            "--mode",
            "slow",
            "--iterations",
            "3",
            "--max-tokens",
            "96",
            "--seed",
            "1",
            "--trace",
            trace.to_str().expect("utf-8 path"),
        ],
        dir.path(),
    );
    let (out, err) = text(&o);
    // The small model may or may not find a program that answers; either
    // way the search is traced and the exit status says which.
    assert!(o.status.code() == Some(0) || o.status.code() == Some(1), "{out}\n{err}");
    assert!(err.contains("mcts search"), "{err}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(trace.join("trace.json")).expect("trace.json written")).expect("JSON");
    // The planner's typed record, stored by the runtime as an extension it does not read.
    assert_eq!(json["schema"], "vprog.trace/2");
    let planner = &json["extensions"]["planner"];
    assert_eq!(planner["schema"], "vprog.planner/1");
    let search = &planner["search"];
    assert_eq!(search["strategy"], "mcts");
    assert_eq!(planner["backend"], "local:smollm2-135m-instruct");
    assert_eq!(planner["constrained"], true);
    let nodes = search["tree"]["nodes"].as_array().expect("nodes");
    assert!(nodes.len() >= 2, "the root and at least one step: {nodes:?}");
    let rollouts = search["tree"]["rollouts"].as_array().expect("rollouts");
    assert!(!rollouts.is_empty());
    for r in rollouts {
        assert!(r["program"].is_string() && r["reward"].is_number());
        assert!(r["answer"].is_string() || r["error"].is_string(), "{r}");
    }
    if o.status.success() {
        assert_eq!(json["status"], "ok");
        assert!(!out.trim().is_empty());
    } else {
        assert!(json["error"]["message"].is_string());
    }

    let show = vprog(&["trace", "show", trace.to_str().expect("utf-8 path")], dir.path());
    let (shown, _) = text(&show);
    assert!(show.status.success());
    assert!(shown.contains("search tree") && shown.contains("[0] (empty program)"), "{shown}");
    assert!(shown.contains("reasoning:") && shown.contains("mode slow"), "{shown}");
    // The trace tells the reasoning's time, not only the final re-run's.
    assert!(shown.contains("s of reasoning; this final run of the chosen program took"), "{shown}");
    // Each path's answer is quoted once (it was debug-quoted inside quotes);
    // a diagnostic's help may quote `\"` itself, so only answer lines count.
    for line in shown.lines().filter(|l| l.contains("path: answer")) {
        assert!(!line.contains("\\\""), "{line}");
    }
    if o.status.success() {
        // Steps the final run found in memory say how long they took when
        // a rollout computed them.
        let t = vprog_runtime::trace::read_trace(&trace).expect("trace");
        let from_memory: Vec<_> = t.all_steps().into_iter().filter(|s| s.cache == "memory").collect();
        assert!(!from_memory.is_empty(), "the final run reuses the rollouts' steps");
        assert!(from_memory.iter().all(|s| s.computed_ms.is_some() && s.computed_unix_ms.is_some()), "{shown}");
        assert!(shown.contains("when computed"), "{shown}");
    }
    assert_eq!(planner["reasoning"]["mode"], "slow");
    assert!(planner["reasoning"]["fast"].is_null(), "--mode slow runs no fast path");
    let html = dir.path().join("r.html");
    let r = vprog(&["report", trace.to_str().expect("utf-8 path"), "-o", html.to_str().expect("utf-8 path")], dir.path());
    assert!(r.status.success());
    let page = std::fs::read_to_string(&html).expect("report written");
    assert!(page.contains("Search tree"));
}

#[test]
fn plan_prints_a_checked_program_and_runs_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let video = media("vtest.avi");
    let o = vprog(
        &[
            "plan",
            video.to_str().expect("utf-8 path"),
            "How many people walk through the scene?",
            "--llm",
            "local:smollm2-135m-instruct",
            "--max-tokens",
            "96",
            "--json",
        ],
        dir.path(),
    );
    let (out, err) = text(&o);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    let first = &json[0];
    assert!(first["attempts"].as_array().is_some_and(|a| !a.is_empty()));
    // A program always comes out: the model's (no fallback reason) or the
    // fallback; either is checked and ends with an answer.
    assert_eq!(first["valid"], true, "{out}\n{err}");
    assert!(first["program"].as_str().is_some_and(|p| p.contains("answer")), "{out}");
    assert_eq!(o.status.code(), Some(0));
    // Nothing ran: no trace, no step cache entries.
    assert!(!dir.path().join("runs").exists());

    // Four tokens cannot hold a program: every attempt is cut off, and the
    // fallback (the fast path's tracked count for "how many") stands in,
    // marked as such; with --no-fallback the command fails instead.
    let args = |extra: &[&'static str]| {
        let mut a = vec!["plan", video.to_str().expect("utf-8 path"), "How many people walk through the scene?"];
        a.extend(["--llm", "local:smollm2-135m-instruct", "--max-tokens", "4"]);
        a.extend_from_slice(extra);
        a
    };
    let o = vprog(&args(&["--json"]), dir.path());
    let (out, err) = text(&o);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(json[0]["attempts"].as_array().map(Vec::len), Some(3), "{out}");
    assert!(json[0]["fallback"].as_str().is_some_and(|f| f.contains("no valid program after 3 attempts")), "{out}");
    assert!(json[0]["program"].as_str().is_some_and(|p| p.contains("track(") && p.contains("answer count(")), "{out}");
    let o = vprog(&args(&[]), dir.path());
    let (out, err) = text(&o);
    assert!(out.starts_with("# program 1: fallback (no valid program after 3 attempts"), "{out}");
    assert!(err.contains("still invalid after 2 repair rounds"), "{err}");
    let o = vprog(&args(&["--no-fallback"]), dir.path());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o).1);
}

#[test]
fn bad_backends_and_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let video = media("ted/test.mp4");
    let v = video.to_str().expect("utf-8 path");
    let long = "why ".repeat(2_500);
    let letters: Vec<String> = ('a'..='z').map(String::from).chain(["zz".to_string()]).collect();
    let mut too_many_options = vec!["plan", v, "why?", "--llm", "local:smollm2-135m-instruct", "-o"];
    too_many_options.extend(letters.iter().map(String::as_str));
    let cases: [(&[&str], &str); 8] = [
        (&["plan", v, "why?", "--llm", "gpt9"], "unknown --llm `gpt9`"),
        (&["plan", v, "why?", "--llm", "openai:http://127.0.0.1:9/v1"], "needs --model"),
        (
            &["plan", v, "why?", "--llm", "openai:http://127.0.0.1:9/v1", "--model", "m", "--llm-retries", "0"],
            "cannot reach the language-model server",
        ),
        (&["plan", v, "  ", "--llm", "local:smollm2-135m-instruct"], "the question is empty"),
        (&["plan", v, &long, "--llm", "local:smollm2-135m-instruct"], "at most 2000 are planned for"),
        (&["plan", v, "why?", "-o", "only", "--llm", "local:smollm2-135m-instruct"], "one answer option is no choice"),
        (&too_many_options, "27 answer options"),
        (&["plan", v, "why?", "--llm", "local:no-such-model"], "no-such-model"),
    ];
    for (args, expected) in cases {
        let o = vprog(args, dir.path());
        let (_, err) = text(&o);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let csv = dir.path().join("bad.csv");
    std::fs::write(&csv, "video,question\n1,what\n").expect("write");
    let o = vprog(&["plan-eval", csv.to_str().expect("utf-8 path"), "--llm", "gpt9"], dir.path());
    assert!(!o.status.success());
    let o = vprog(&["plan-eval", csv.to_str().expect("utf-8 path"), "--llm", "local:smollm2-135m-instruct"], dir.path());
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(err.contains("not a NExT-QA row"), "{err}");
}
