//! The planner's validation and repair loop with replayed replies: what the
//! checker finds is fed back, repairs are bounded, garbage is rejected with
//! its findings, and the prompt is built from the registry and the examples.

use std::sync::{Arc, Mutex};

use vprog_planner::backend::{LlmBackend, Request, Role};
use vprog_planner::prompt::{is_operator_module, parse_example, system_prompt, Question, EXAMPLES, KIND_EXAMPLES};
use vprog_planner::scripted::ScriptedBackend;
use vprog_planner::usefulness::{judge, question_kind};
use vprog_planner::validate::check_program;
use vprog_planner::{Planner, PlannerConfig};
use vprog_runtime::Registry;

fn registry() -> Arc<Registry> {
    Arc::new(vprog_modules::registry())
}

fn planner(backend: Arc<dyn LlmBackend>, rounds: usize) -> Planner {
    Planner::new(backend, registry(), PlannerConfig { repair_rounds: rounds, ..PlannerConfig::default() })
}

fn question() -> Question {
    Question::new("What does the speaker say luck is?").with_options(vec!["hard work".into(), "chance".into(), "a gift".into()])
}

#[test]
fn every_example_in_the_prompt_checks_and_the_catalog_lists_every_runnable_module() {
    let registry = registry();
    for (name, text) in EXAMPLES {
        let ex = parse_example(text).unwrap_or_else(|| panic!("{name} has no `# Q:` line"));
        let checked = check_program(&ex.program, &registry, !ex.options.is_empty());
        assert!(checked.is_valid(), "{name}: {:?}", checked.findings);
    }
    // Every module but the operators, and but those whose model is not
    // installed (the model could not run them), is in the catalog.
    let system = system_prompt(&registry);
    for name in registry.names() {
        let listed = system.contains(&format!("\n{name}("));
        let installed = registry.get(name).is_some_and(|m| m.missing_model().is_none());
        assert_eq!(listed, !is_operator_module(name) && installed, "module `{name}` listed: {listed}");
    }
}

#[test]
fn each_kind_example_is_a_valid_useful_program_of_its_kind_shown_just_before_the_question() {
    let registry = registry();
    for (kind, with_options, name, text) in KIND_EXAMPLES {
        let ex = parse_example(text).unwrap_or_else(|| panic!("{name} has no `# Q:` line"));
        assert_eq!(question_kind(&ex.question), kind, "{name}");
        assert_eq!(!ex.options.is_empty(), with_options, "{name}");
        let checked = check_program(&ex.program, &registry, with_options);
        assert!(checked.findings.is_empty(), "{name}: {:?}", checked.findings);
        let plan = checked.plan.unwrap_or_else(|| panic!("{name} has no plan"));
        assert!(judge(&ex.question, &plan, &registry).useful, "{name} is not useful");
    }
    let options = vec!["cry".to_string(), "stand up".into(), "run".into()];
    let temporal = Question::new("what did the boy do after he fell").with_options(options.clone());
    let counting = Question::new("how many dogs are there");
    let backend: Arc<dyn LlmBackend> = Arc::new(ScriptedBackend::replay(Vec::new()));
    let p = planner(backend.clone(), 0);
    let conv = p.conversation(&temporal);
    let roles: Vec<Role> = conv.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::System, Role::User, Role::Assistant, Role::User]);
    assert!(
        conv[1].content.contains("after she picked up the cat") && conv[1].content.contains("Options: put it down"),
        "{}",
        conv[1].content
    );
    assert!(conv[2].content.contains("trim_after(") && conv[3].content.contains("after he fell"), "{conv:?}");
    let open = p.conversation(&counting);
    assert!(open[1].content.contains("how many birds") && !open[1].content.contains("Options:"), "{}", open[1].content);
    // Turned off: the system message and the question only.
    let off = Planner::new(backend.clone(), registry.clone(), PlannerConfig { kind_example: false, ..PlannerConfig::default() });
    assert_eq!(off.conversation(&temporal).len(), 2);
    // An example calling a module the registry lacks is left out.
    let mut no_trim = vprog_runtime::Registry::new();
    for m in registry.iter().filter(|m| m.signature().name != "trim_after") {
        no_trim.register(m.clone()).expect("distinct names");
    }
    let p = Planner::new(backend, Arc::new(no_trim), PlannerConfig::default());
    assert!(p.kind_example(&temporal).is_none());
    assert!(p.kind_example(&Question::new("how many dogs are there").with_options(options)).is_some());
}

#[tokio::test]
async fn findings_are_fed_back_and_the_repair_is_taken() {
    let seen: Arc<Mutex<Vec<Request>>> = Arc::default();
    let log = seen.clone();
    let backend = ScriptedBackend::new("repair", move |req, n| {
        log.lock().expect("log").push(req.clone());
        Ok(match n {
            // Unknown module, misspelt parameter, and an answer that is not a choice.
            0 => "```\ncues = retrieve_subtitle(video, question, kk: 4)\nanswer count(cues)\n```".to_string(),
            _ => "cues = retrieve_subtitles(video, question, k: 4)\nanswer choose(question, options, evidence: cues)".to_string(),
        })
    });
    let backend = Arc::new(backend);
    let planned = planner(backend.clone(), 2).plan(&question()).await.expect("the scripted backend answers");
    assert_eq!(planned.llm_calls(), 2);
    assert!(!planned.valid_first());
    let program = planned.program.expect("the repair is valid");
    assert!(program.source.contains("retrieve_subtitles(video, question, k: 4)"));

    let first = &planned.attempts[0];
    assert!(!first.valid);
    assert!(
        first.findings.iter().any(|f| f.code == "vprog::unknown_module" && f.message.contains("retrieve_subtitle")),
        "{:?}",
        first.findings
    );
    // The second request carries the bad program and the findings.
    let requests = seen.lock().expect("log");
    let second = &requests[1];
    let n = second.messages.len();
    assert_eq!(second.messages[n - 2].role, Role::Assistant);
    assert!(second.messages[n - 2].content.contains("retrieve_subtitle(video"));
    assert_eq!(second.messages[n - 1].role, Role::User);
    assert!(second.messages[n - 1].content.contains("retrieve_subtitle"), "{}", second.messages[n - 1].content);
    assert!(second.messages[n - 1].content.contains("line 1"));
    assert_eq!(second.temperature, 0.0, "repairs are greedy");
}

#[tokio::test]
async fn a_program_still_invalid_after_the_last_round_is_rejected_with_its_findings() {
    let backend = Arc::new(ScriptedBackend::new("stubborn", |_, _| Ok("frames = smaple(video)\nanswer count(frames)".to_string())));
    let planned = planner(backend.clone(), 3).plan(&question()).await.expect("answers");
    assert!(planned.program.is_none());
    assert_eq!(planned.llm_calls(), 4, "one attempt and three repairs");
    assert_eq!(backend.calls(), 4);
    for a in &planned.attempts {
        assert!(!a.valid);
        assert!(a.findings.iter().any(|f| f.help.as_deref().is_some_and(|h| h.contains("sample"))), "did-you-mean help: {:?}", a.findings);
    }
}

#[tokio::test]
async fn a_repair_stuck_on_the_rejected_program_restarts_from_the_question() {
    // Anchored on its mistake (the conversation holds it), the model writes
    // it again; asked afresh after the first request, it writes a valid program.
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let backend = Arc::new(ScriptedBackend::new("anchored", move |req, n| {
        log.lock().expect("lock").push((req.messages.len(), req.temperature));
        Ok(if n > 0 && !req.messages.iter().any(|m| m.content.contains("has errors")) {
            "answer choose(question, options, evidence: subtitles(video))"
        } else {
            "frames = smaple(video)\nanswer count(frames)"
        }
        .to_string())
    }));
    let planner = planner(backend.clone(), 3);
    let asked = planner.conversation(&question()).len();
    let planned = planner.plan(&question()).await.expect("answers");
    let rounds: Vec<(bool, bool)> = planned.attempts.iter().map(|a| (a.valid, a.restarted)).collect();
    assert_eq!(rounds, vec![(false, false), (false, false), (true, true)], "the round after a repeated program restarts");
    let seen = seen.lock().expect("lock").clone();
    // The question; the greedy repair holding the mistake; the restart: the question alone, sampled.
    assert_eq!(seen.iter().map(|(m, _)| *m).collect::<Vec<_>>(), vec![asked, asked + 2, asked]);
    assert_eq!(seen[1].1, 0.0);
    assert!(seen[2].1 >= vprog_planner::plan::REPAIR_TEMPERATURE);
}

#[tokio::test]
async fn garbage_replies_are_rejected_not_run() {
    let garbage = [
        String::new(),
        "I cannot answer that.".to_string(),
        "\u{0}\u{1}\u{fffd}\u{202e}((((".to_string(),
        "answer ".repeat(10_000),
        "x = [".repeat(5_000),
        "```\n".to_string(),
    ];
    for g in garbage {
        let backend = Arc::new(ScriptedBackend::replay(vec![g.clone()]));
        let planned = planner(backend, 0).plan(&Question::new("How many people are there?")).await.expect("answers");
        assert!(planned.program.is_none(), "garbage {:?} accepted", &g[..g.len().min(40)]);
        assert!(!planned.attempts[0].findings.is_empty());
    }
}

#[tokio::test]
async fn backend_errors_reach_the_caller() {
    let backend = Arc::new(ScriptedBackend::replay(Vec::new()));
    let err = planner(backend, 2).plan(&question()).await.err().expect("an empty replay fails");
    assert!(err.to_string().contains("replay"), "{err}");
}

/// A valid program that ignores the video is sent back once with what it
/// lacks (the usefulness judge's findings): a valid, useful revision is
/// kept; an invalid revision, a weak one or a backend error leaves the
/// first program standing; `revision_rounds: 0` asks nothing more.
#[tokio::test]
async fn a_valid_program_without_evidence_is_revised_and_the_revision_kept_only_when_useful() {
    let weak = "answer choose(question, options)";
    let useful =
        "speech = transcribe(video)\ncues = retrieve_subtitles(speech, question, k: 4)\nanswer choose(question, options, evidence: cues)";
    let run = |second: Option<&'static str>, revision_rounds: usize| async move {
        let seen: Arc<Mutex<Vec<Request>>> = Arc::default();
        let log = seen.clone();
        let backend = ScriptedBackend::new("revise", move |req, n| {
            log.lock().expect("log").push(req.clone());
            match (n, second) {
                (0, _) => Ok(weak.to_string()),
                (_, Some(reply)) => Ok(reply.to_string()),
                (_, None) => Err(vprog_planner::LlmError::Unreachable { url: "scripted".into(), reason: "gone".into() }),
            }
        });
        let config = PlannerConfig { revision_rounds, ..PlannerConfig::default() };
        let planned = Planner::new(Arc::new(backend), registry(), config).plan(&question()).await.expect("a program");
        let requests = seen.lock().expect("log").clone();
        (planned, requests)
    };

    let (planned, requests) = run(Some(useful), 1).await;
    assert_eq!(planned.program.as_ref().map(|c| c.source.trim()), Some(useful));
    assert!(planned.revised() && planned.valid_first() && planned.repairs() == 0);
    assert_eq!(planned.attempts[0].useful, Some(false));
    assert!(planned.attempts[1].revision && planned.attempts[1].useful == Some(true));
    let ask = &requests[1].messages;
    assert_eq!(ask[ask.len() - 2].content, weak, "the weak program is shown back");
    let lacks = &ask[ask.len() - 1].content;
    assert!(lacks.contains("valid but weak") && lacks.contains("does not look at the video"), "{lacks}");
    assert!(lacks.contains("what is said") && lacks.contains("transcribe"), "{lacks}");

    for second in [Some("answer count(((("), Some(weak), None] {
        let (planned, requests) = run(second, 1).await;
        assert_eq!(planned.program.as_ref().map(|c| c.source.trim()), Some(weak), "{second:?}");
        assert!(!planned.revised());
        assert_eq!(requests.len(), 2, "{second:?}");
    }
    let (planned, requests) = run(Some(useful), 0).await;
    assert_eq!(planned.program.as_ref().map(|c| c.source.trim()), Some(weak));
    assert_eq!((requests.len(), planned.llm_calls()), (1, 1));
}
