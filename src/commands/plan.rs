//! `vprog plan` (programs for a question, nothing run) and `vprog plan-eval`
//! (validity of the planner's programs on NExT-QA questions).

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context as _};
use serde::Serialize;
use vprog_planner::plan::Planned;
use vprog_planner::prompt::Question;
use vprog_planner::validate::render_findings;

use crate::cli::{PlanArgs, PlanEvalArgs};

fn tokio() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

/// Everything about one planned program, as `--json` prints it.
#[derive(Serialize)]
struct PlannedJson<'a> {
    valid: bool,
    program: Option<&'a str>,
    llm_calls: usize,
    attempts: &'a [vprog_planner::plan::Attempt],
}

fn to_json(p: &Planned) -> PlannedJson<'_> {
    PlannedJson {
        valid: p.program.is_some(),
        program: p.program.as_ref().map(|c| c.source.as_str()),
        llm_calls: p.llm_calls(),
        attempts: &p.attempts,
    }
}

pub fn run(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let video = vprog_modules::video::open_video(&args.question.video, args.question.subtitles.as_deref()).map_err(anyhow::Error::from)?;
    let question = super::llm::question(&args.question, &video)?;
    let registry = super::plugin::registry(&args.plugins)?;
    let rt = tokio()?;
    let backend = rt.block_on(super::llm::backend(&args.llm))?;
    let planner = super::llm::planner(backend, registry, &args.llm);
    let mut all = Vec::new();
    for i in 0..args.candidates {
        let temperature = if i == 0 { 0.0 } else { args.temperature };
        let planned = rt.block_on(planner.plan_seeded(&question, args.llm.seed.wrapping_add(i), temperature))?;
        if !args.json {
            print_planned(i as usize + 1, &planned);
        }
        all.push(planned);
    }
    if args.json {
        let json: Vec<PlannedJson<'_>> = all.iter().map(to_json).collect();
        crate::output::print_json(&json)?;
    }
    Ok(if all.iter().any(|p| p.program.is_some()) { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn print_planned(n: usize, p: &Planned) {
    let repairs = p.attempts.len().saturating_sub(1);
    match &p.program {
        Some(c) => {
            let how = if repairs == 0 {
                "valid as written".to_string()
            } else {
                format!("valid after {repairs} repair{}", if repairs == 1 { "" } else { "s" })
            };
            outln!("# program {n}: {how}");
            out!("{}", c.source);
        }
        None => {
            errln!("program {n}: still invalid after {repairs} repair rounds; the last attempt:");
            if let Some(a) = p.attempts.last() {
                err!("{}", a.source);
                err!("{}", render_findings(&a.findings, &a.source));
            }
        }
    }
}

/// One NExT-QA row.
#[derive(Debug, serde::Deserialize)]
struct Row {
    video: String,
    question: String,
    qid: String,
    #[serde(rename = "type")]
    kind: String,
    a0: String,
    a1: String,
    a2: String,
    a3: String,
    a4: String,
}

fn read_rows(path: &Path, offset: usize, limit: usize) -> anyhow::Result<Vec<Row>> {
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut rows = Vec::new();
    for (i, r) in reader.deserialize::<Row>().enumerate().skip(offset).take(limit) {
        rows.push(r.with_context(|| {
            format!(
                "{}: row {} is not a NExT-QA row (video,frame_count,width,height,question,answer,qid,type,a0..a4)",
                path.display(),
                i + 2
            )
        })?);
    }
    if rows.is_empty() {
        bail!("{}: no questions after skipping {offset}", path.display());
    }
    Ok(rows)
}

/// One line of `--out`.
#[derive(Serialize)]
struct EvalLine<'a> {
    video: &'a str,
    qid: &'a str,
    kind: &'a str,
    question: &'a str,
    valid_first: bool,
    valid: bool,
    llm_calls: usize,
    ms: f64,
    program: Option<&'a str>,
    attempts: &'a [vprog_planner::plan::Attempt],
    error: Option<String>,
}

/// The summary of `plan-eval`.
#[derive(Serialize)]
struct EvalSummary {
    backend: String,
    constrained: bool,
    repair_rounds: usize,
    questions: usize,
    valid_before_repair: usize,
    valid_after_repair: usize,
    share_valid_before_repair: f64,
    share_valid_after_repair: f64,
    mean_llm_calls: f64,
    mean_seconds_per_question: f64,
    backend_errors: usize,
    /// Finding codes of the attempts that were invalid, with counts.
    findings: std::collections::BTreeMap<String, usize>,
}

pub fn eval(args: PlanEvalArgs) -> anyhow::Result<ExitCode> {
    let rows = read_rows(&args.csv, args.offset, args.limit)?;
    let registry = super::plugin::registry(&args.plugins)?;
    let rt = tokio()?;
    let backend = rt.block_on(super::llm::backend(&args.llm))?;
    let planner = super::llm::planner(backend, registry, &args.llm);
    let mut out = match &args.out {
        Some(p) => Some(std::io::BufWriter::new(std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?)),
        None => None,
    };
    let mut s = EvalSummary {
        backend: planner.backend().describe(),
        constrained: planner.constrained(),
        repair_rounds: planner.config().repair_rounds,
        questions: rows.len(),
        valid_before_repair: 0,
        valid_after_repair: 0,
        share_valid_before_repair: 0.0,
        share_valid_after_repair: 0.0,
        mean_llm_calls: 0.0,
        mean_seconds_per_question: 0.0,
        backend_errors: 0,
        findings: Default::default(),
    };
    let (mut calls, mut secs) = (0usize, 0f64);
    for (i, row) in rows.iter().enumerate() {
        let question =
            Question::new(&row.question).with_options(vec![row.a0.clone(), row.a1.clone(), row.a2.clone(), row.a3.clone(), row.a4.clone()]);
        let t0 = Instant::now();
        let result = rt.block_on(planner.plan(&question));
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        secs += ms / 1000.0;
        let (planned, error) = match result {
            Ok(p) => (Some(p), None),
            Err(e) => {
                s.backend_errors += 1;
                (None, Some(e.to_string()))
            }
        };
        let valid_first = planned.as_ref().is_some_and(Planned::valid_first);
        let valid = planned.as_ref().is_some_and(|p| p.program.is_some());
        let llm_calls = planned.as_ref().map_or(0, Planned::llm_calls);
        s.valid_before_repair += usize::from(valid_first);
        s.valid_after_repair += usize::from(valid);
        calls += llm_calls;
        for a in planned.iter().flat_map(|p| &p.attempts) {
            for f in &a.findings {
                *s.findings.entry(f.code.clone()).or_default() += 1;
            }
        }
        if !args.json {
            errln!(
                "[{}/{}] {} {:>5.1}s  {}{}",
                i + 1,
                rows.len(),
                if valid_first {
                    "valid         "
                } else if valid {
                    "valid repaired"
                } else {
                    "INVALID       "
                },
                ms / 1000.0,
                row.question,
                error.as_ref().map(|e| format!("  ({e})")).unwrap_or_default()
            );
        }
        if let Some(w) = out.as_mut() {
            let line = EvalLine {
                video: &row.video,
                qid: &row.qid,
                kind: &row.kind,
                question: &row.question,
                valid_first,
                valid,
                llm_calls,
                ms,
                program: planned.as_ref().and_then(|p| p.program.as_ref()).map(|c| c.source.as_str()),
                attempts: planned.as_ref().map_or(&[], |p| p.attempts.as_slice()),
                error,
            };
            serde_json::to_writer(&mut *w, &line)?;
            writeln!(w)?;
        }
    }
    if let Some(mut w) = out {
        w.flush()?;
    }
    let n = rows.len() as f64;
    s.share_valid_before_repair = s.valid_before_repair as f64 / n;
    s.share_valid_after_repair = s.valid_after_repair as f64 / n;
    s.mean_llm_calls = calls as f64 / n;
    s.mean_seconds_per_question = secs / n;
    if args.json {
        crate::output::print_json(&s)?;
    } else {
        outln!("backend:               {} ({})", s.backend, if s.constrained { "constrained decoding" } else { "unconstrained" });
        outln!("questions:             {}", s.questions);
        outln!("valid before repair:   {} ({:.1}%)", s.valid_before_repair, 100.0 * s.share_valid_before_repair);
        outln!(
            "valid after repair:    {} ({:.1}%, up to {} rounds)",
            s.valid_after_repair,
            100.0 * s.share_valid_after_repair,
            s.repair_rounds
        );
        outln!("mean LLM calls:        {:.2}", s.mean_llm_calls);
        outln!("mean time per question: {:.1} s", s.mean_seconds_per_question);
        if s.backend_errors > 0 {
            outln!("backend errors:        {}", s.backend_errors);
        }
        if !s.findings.is_empty() {
            let list: Vec<String> = s.findings.iter().map(|(k, v)| format!("{k} x{v}")).collect();
            outln!("findings:              {}", list.join(", "));
        }
    }
    Ok(if s.backend_errors == rows.len() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
