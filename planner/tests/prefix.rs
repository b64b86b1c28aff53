//! The prefix checker with the real module registry: every prefix of every
//! example program is viable, rejections land on the first impossible
//! character, and a check of a 400-byte prefix is fast.

use std::path::PathBuf;
use std::time::Instant;

use vprog_runtime::check::prefix::PrefixChecker;

fn checker() -> PrefixChecker {
    PrefixChecker::new(&vprog_modules::registry())
}

fn examples() -> Vec<(PathBuf, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "vp"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no examples in {}", dir.display());
    files.into_iter().map(|p| (p.clone(), std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))).collect()
}

fn char_boundaries(text: &str) -> impl Iterator<Item = usize> + '_ {
    (0..=text.len()).filter(|i| text.is_char_boundary(*i))
}

#[test]
fn every_prefix_of_every_example_is_viable() {
    let ck = checker();
    let registry = vprog_modules::registry();
    for (path, text) in examples() {
        let program = vprog_grammar::parse(&text).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
        assert!(!vprog_runtime::check::check(&program, &registry).has_errors(), "{} does not check", path.display());
        let answer = text.find("\nanswer").map(|i| i + 1).unwrap_or_else(|| panic!("{}: no answer", path.display()));
        for i in char_boundaries(&text) {
            let v = ck.check(&text[..i]);
            assert!(v.viable, "{}: prefix {:?} rejected: {:?}", path.display(), &text[..i], v.error);
            if i <= answer + "answer ".len() {
                assert!(!v.complete, "{}: prefix {:?} is not a whole program", path.display(), &text[..i]);
            }
        }
        let v = ck.check(&text);
        assert!(v.complete, "{}: {v:?}", path.display());
        assert_eq!(v.statements, program.statements.len(), "{}", path.display());
    }
}

#[track_caller]
fn rejected_at(ck: &PrefixChecker, text: &str, offset: usize) -> String {
    let v = ck.check(text);
    let e = v.error.clone().unwrap_or_else(|| panic!("{text:?} should be rejected, got {v:?}"));
    assert_eq!(e.offset, offset, "{text:?} rejected at {} ({:?}) instead of {offset}: {}", e.offset, &text[e.offset..], e.reason);
    assert!(ck.check(&text[..offset]).viable, "{:?} should be viable", &text[..offset]);
    e.reason
}

#[track_caller]
fn at(text: &str, needle: &str) -> usize {
    text.find(needle).unwrap_or_else(|| panic!("{needle:?} not in {text:?}"))
}

#[test]
fn rejections_with_the_real_modules() {
    let ck = checker();
    // No module or name starts with `sm`.
    let t = "x = smaple(video, fps: 1)";
    let reason = rejected_at(&ck, t, at(t, "maple"));
    assert!(reason.contains("smaple"), "{reason}");
    // No parameter starts with `t`, and no module starting with `t` returns
    // the Text a positional `label` needs (`track` returns Tracks).
    let t = "frames = sample(video, fps: 1)\npeople = detect(frames, thresh: 0.5)";
    rejected_at(&ck, t, at(t, "thresh"));
    let t = "frames = sample(video, fps: 1)\npeople = detect(frames, \"person\", min_score: 0.4, upscale: 2, thresh: 0.5)";
    let reason = rejected_at(&ck, t, at(t, "thresh"));
    assert_eq!(reason, "`detect` has no parameter starting with `thresh`");
    let t = "frames = sample(video, fps: 1)\npeople = detect(frames, min_score: 0.4, min_score: 0.5)";
    // `m` could still start `max_boxes`; `mi` can only be the repeated `min_score`.
    rejected_at(&ck, t, at(t, "in_score: 0.5"));
    // `sample` takes at most one of fps, count, at and scenes.
    let t = "frames = sample(video, fps: 1, scenes: 0.4)";
    rejected_at(&ck, t, at(t, "cenes"));
    let t = "frames = sample(video, fps: \"five\")";
    rejected_at(&ck, t, at(t, "\"five"));
    let t = "clip = trim(video, 00:15, 25)";
    rejected_at(&ck, t, at(t, ")"));
    let t = "clip = trim(video, 00:15, \"00:25\")";
    rejected_at(&ck, t, at(t, "\"00:25"));
    // `subs` is TimedText, `split` wants a Clip; `sub` may still become
    // `subtitles(` (or the module `sub`), `subs` not.
    let t = "subs = subtitles(video)\nparts = split(subs, every: 20s)";
    rejected_at(&ck, t, at(t, "s, every"));
    let t = "frames = sample(video, fps: 1)\nparts = split(frames, every: 20s)";
    let reason = rejected_at(&ck, t, at(t, "rames, every"));
    assert!(reason.contains("`video` of `split` (Clip)"), "{reason}");
    let t = "subs = subtitles(video)\nsubs = subtitles(video)";
    rejected_at(&ck, t, t.rfind(" = ").unwrap_or(0));
    let t = "frames = sample(video, fps: 1)\npeople = detect(frames)\nanswer count(peple)";
    let reason = rejected_at(&ck, t, at(t, "ple)"));
    assert!(reason.contains("peple"), "{reason}");
    let t = "answer count(video)\nanswer count(video)";
    rejected_at(&ck, t, t.rfind("swer").unwrap_or(0));
    let t = "answer count(video) x";
    rejected_at(&ck, t, at(t, "x"));
    let t = "answer count(video))";
    rejected_at(&ck, t, t.len() - 1);
}

#[test]
fn a_label_must_be_one_detect_knows() {
    let ck = checker();
    let head = "frames = sample(video, fps: 1)\npeople = detect(frames, ";
    for ok in ["\"person\")", "\"dogs\")", "\"dining table\")", "\"\")", "\"man\")", "\"face\")", "label: \"cup\")"] {
        let v = ck.check(&format!("{head}{ok}"));
        assert!(v.viable, "{ok}: {v:?}");
    }
    // `wh` starts no label (`whi`te, `wh`eel); `do` may still become `dog`.
    let t = format!("{head}\"white\")");
    let reason = rejected_at(&ck, &t, at(&t, "hite"));
    assert!(reason.contains("no value of `label` of `detect` starts with \"wh\""), "{reason}");
    let t = format!("{head}\"do\")");
    let reason = rejected_at(&ck, &t, t.rfind('"').unwrap_or(0));
    assert!(reason.contains("accepts no value \"do\""), "{reason}");
    // Written as listed: lowercase, one space between words. (The full
    // check also takes "Dining_Table"; a decoder free to mix case and
    // separators wandered among them, `"stoP_\t_\t_`, until its budget ran out.)
    for (t, bad) in [("\"Dogs\")", "Dogs"), ("\"dining_table\")", "_table"), ("\"stop  sign\")", " sign"), ("\"stop\tsign\")", "\tsign")] {
        let t = format!("{head}{t}");
        rejected_at(&ck, &t, at(&t, bad));
    }
    // Inside the literal, the verdict carries the values, so a decoder can
    // judge tokens without parsing the reply again.
    let lit = ck.check(&format!("{head}\"do")).literal.expect("inside a label");
    assert!(lit.may_continue("g") && lit.may_continue("gs\")") && lit.may_continue("g\", min_score: 0.5)"));
    assert!(!lit.may_continue("x") && !lit.may_continue("\"") && !lit.may_continue("gz\"") && !lit.may_continue("G"));
    let lit = ck.check(&format!("{head}\"dining")).literal.expect("inside a label");
    assert!(lit.may_continue(" table\"") && !lit.may_continue("_t") && !lit.may_continue("  t") && !lit.may_continue("room"));
    assert!(ck.check(&format!("{head}\"dog\"")).literal.is_none());
    // Other text parameters take any text.
    assert!(ck.check("answer ask_llm(\"whatever\")").viable);
}

#[test]
fn complete_and_viable() {
    let ck = checker();
    let v = ck.check("x = sample(video, fps: 1)\nanswer count(x)");
    assert!(v.viable && v.complete && v.statements == 2, "{v:?}");
    for t in ["x = sample(video, fps: 1)\nanswer count(x", "x = sample(video, fps: 1)\nanswer count(x) +"] {
        let v = ck.check(t);
        assert!(v.viable && !v.complete && v.statements == 1, "{t}: {v:?}");
    }
}

/// A ~400-byte program and the time `check` takes on it (run with
/// `--release --nocapture` for the figure worth quoting).
#[test]
fn a_check_of_a_400_byte_prefix_is_fast() {
    let ck = checker();
    let text = "# When does the speaker first talk about luck, and how many people are on screen then?\n\
                subs = subtitles(video)\n\
                about_luck = [cue for cue in subs if contains(cue, \"luck\") or contains(cue, \"fortune\")]\n\
                clip = trim_around(video, about_luck, pad: 2s)\n\
                frames = sample(clip, fps: 2)\n\
                people = track(detect(frames, \"person\", min_score: 0.4), min_travel: 1)\n\
                cues = retrieve_subtitles(video, question, k: 4)\n\
                answer choose(question, options, evidence: [cues, about_luck, count(people)])\n";
    assert!(text.len() >= 400, "{}", text.len());
    let prefix = &text[..400];
    // The first check after a statement is finished types its bindings with
    // the real parser and checker; later ones find the types memoized.
    let t0 = Instant::now();
    assert!(ck.check(prefix).viable);
    let cold = t0.elapsed();
    assert!(ck.check(text).complete);
    let rounds = if cfg!(debug_assertions) { 200 } else { 20_000 };
    let t0 = Instant::now();
    let mut viable = 0;
    for _ in 0..rounds {
        viable += usize::from(ck.check(std::hint::black_box(prefix)).viable);
    }
    let per_call = t0.elapsed() / rounds;
    assert_eq!(viable, rounds as usize);
    // Every prefix, as a decoder extending the text one character at a time sees them.
    let t0 = Instant::now();
    for i in char_boundaries(text) {
        std::hint::black_box(ck.check(&text[..i]));
    }
    let per_prefix = t0.elapsed() / text.len() as u32;
    let t0 = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(ck.check(std::hint::black_box(text)));
    }
    let complete = t0.elapsed() / rounds;
    eprintln!(
        "prefix check: {per_call:?} per call on a 400-byte prefix ({cold:?} the first time), {per_prefix:?} per prefix over all {} prefixes, {complete:?} on the complete {}-byte program{}",
        text.len(),
        text.len(),
        if cfg!(debug_assertions) { " [debug build]" } else { "" }
    );
    if !cfg!(debug_assertions) {
        assert!(per_call.as_micros() < 50, "{per_call:?} per check");
    }
}

#[test]
fn call_results_and_operators_must_suit_their_types() {
    let ck = checker();
    // `sample` returns Frames, not the Clip `sample` takes: rejected in its
    // name, where no module returning a Clip (or a generic) fits any more.
    let t = "frames = sample(clip: sample(video, count: 2))";
    let reason = rejected_at(&ck, t, at(t, "ample(video"));
    assert!(reason.contains("sample"), "{reason}");
    // A list is not a number.
    let t = "x = [1, 2] - [3]";
    let reason = rejected_at(&ck, t, at(t, "- [3]"));
    assert!(reason.contains("`-`"), "{reason}");
    // Text does not add.
    let t = "x = \"a\" + \"b\"";
    rejected_at(&ck, t, at(t, "+ \"b\""));
    // ... nor is it added to anything.
    let t = "x = 1 + \"b\"";
    rejected_at(&ck, t, at(t, "\"b\""));
    // ... but compares.
    assert!(ck.check("x = \"a\" == question\nanswer x").complete);
}
