//! `vprog trace show`: the steps of a run as a table.

use std::process::ExitCode;

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use vprog_planner::record::{self, PlannerRecord};
use vprog_runtime::trace::{read_trace, TraceStep};

use crate::cli::TraceCommand;

pub fn run(command: TraceCommand) -> anyhow::Result<ExitCode> {
    let TraceCommand::Show { dir, all, json, step } = command;
    let trace = read_trace(&dir)?;
    if let Some(id) = step {
        let Some(s) = trace.all_steps().into_iter().find(|s| s.id == id) else {
            let ids: Vec<&str> = trace.all_steps().iter().map(|s| s.id.as_str()).collect();
            anyhow::bail!("no step `{id}` in {}; steps: {}", dir.display(), ids.join(", "));
        };
        show_step(s);
        return Ok(ExitCode::SUCCESS);
    }
    if json {
        crate::output::print_json(&trace)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec!["step", "module", "params", "output", "ms", "cache", "status"]);
    let steps: Vec<&TraceStep> = if all { trace.all_steps() } else { trace.steps.iter().collect() };
    for s in steps {
        let mut module = s.op.clone();
        if !s.bindings.is_empty() {
            module = format!("{} → {}", module, s.bindings.join(", "));
        }
        if !s.merged.is_empty() {
            let lines: Vec<String> = s.merged.iter().map(|p| p.line.to_string()).collect();
            module.push_str(&format!("\n(merged with line {})", lines.join(", ")));
        }
        let params: Vec<String> = s.params.iter().map(|(k, v)| format!("{k}: {}", brief(v))).collect();
        let mut output = s.output.as_ref().map(|o| o.summary.clone()).or_else(|| s.error.clone()).unwrap_or_default();
        if let Some((n, kept)) = s.elements {
            output.push_str(&format!("\n({n} elements, {kept} kept)"));
        }
        let supports = trace.answer.as_ref().is_some_and(|a| a.supporting_steps.contains(&s.id));
        let id = if supports { format!("{} *", s.id) } else { s.id.clone() };
        // A step served from memory shows the time its value took when it
        // was first computed (an `ask` trace re-runs the chosen program).
        let ms = match s.computed_ms {
            Some(first) => format!("{:.1}\n({first:.1} when computed)", s.duration_ms),
            None => format!("{:.1}", s.duration_ms),
        };
        table.add_row(vec![id, module, params.join("\n"), output, ms, s.cache.clone(), s.status.clone()]);
    }
    outln!("{table}");
    match (&trace.answer, &trace.error) {
        (Some(a), _) => outln!("answer ({}): {}   [* = supports the answer]", a.ty, a.summary),
        (None, Some(e)) => outln!("failed{}: {}", e.step.as_ref().map(|s| format!(" at {s}")).unwrap_or_default(), e.message),
        (None, None) => {}
    }
    let planner = trace.extensions.get(record::KEY).map(PlannerRecord::from_json);
    match planner.as_ref().and_then(|p| p.as_ref().ok()?.reasoning_seconds()) {
        // `ask`: the final run reuses what the reasoning computed.
        Some(secs) => outln!(
            "run {}: answered in {secs:.1} s of reasoning; this final run of the chosen program took {:.0} ms from the step cache",
            trace.run_id,
            trace.wall_ms
        ),
        None => outln!("run {} in {:.0} ms", trace.run_id, trace.wall_ms),
    }
    match planner {
        Some(Ok(p)) => show_planner(&p),
        Some(Err(e)) => errln!("\nplanner: {e}"),
        None => {}
    }
    for (key, record) in trace.extensions.iter().filter(|(k, _)| k.as_str() != record::KEY) {
        let schema = record.get("schema").and_then(serde_json::Value::as_str).unwrap_or("no schema");
        outln!("\n{key}: a record ({schema}) this vprog does not show");
    }
    Ok(ExitCode::SUCCESS)
}

/// The planner's part of a trace (`vprog ask`): the reasoning, then the
/// search tree with each node's visits and mean reward, each rollout's
/// program and outcome, and the vote.
fn show_planner(p: &PlannerRecord) {
    let reasoning = p.reasoning_lines();
    if !reasoning.is_empty() {
        outln!("\nreasoning:");
        for l in reasoning {
            outln!("  {l}");
        }
    }
    if p.search().is_none() {
        return;
    }
    outln!("\nplanner: {}", p.summary());
    outln!("search tree (node: visits, mean reward; rollouts below their node):");
    for l in p.tree_lines() {
        outln!("{l}");
    }
    let votes = p.vote_lines();
    if !votes.is_empty() {
        outln!("votes: {}", votes.join("; "));
    }
}

/// Everything the trace holds about one step.
fn show_step(s: &TraceStep) {
    outln!("step {}: {} {}", s.id, s.op, s.version.as_deref().map(|v| format!("v{v}")).unwrap_or_default());
    if !s.text.is_empty() {
        outln!("  source:   {}", s.text);
    }
    if let Some(p) = &s.position {
        outln!("  at:       line {}, column {}", p.line, p.column);
    }
    outln!("  type:     {}", s.ty);
    for (k, v) in &s.params {
        outln!("  param:    {k} = {}", brief(v));
    }
    for i in &s.inputs {
        outln!("  input:    {} <- {}", i.slot, i.step);
    }
    outln!("  status:   {} (cache: {}), started +{:.1} ms, took {:.1} ms", s.status, s.cache, s.started_ms, s.duration_ms);
    if let (Some(ms), Some(at)) = (s.computed_ms, s.computed_unix_ms) {
        outln!("  computed: earlier in this process, in {ms:.1} ms (finished at Unix ms {at})");
    }
    if let Some(o) = &s.output {
        outln!("  output:   {} (full value in {})", o.summary, o.file);
    }
    if let Some(e) = &s.error {
        outln!("  error:    {e}");
    }
    for a in &s.artifacts {
        outln!("  evidence: {a}");
    }
    for n in &s.notes {
        match &n.value {
            serde_json::Value::String(t) if t.contains('\n') => outln!("  note {}:\n{}", n.key, indent(t)),
            serde_json::Value::String(t) => outln!("  note {}: {t}", n.key),
            v => outln!("  note {}:\n{}", n.key, indent(&serde_json::to_string_pretty(v).unwrap_or_default())),
        }
    }
}

fn indent(t: &str) -> String {
    t.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}

/// A short rendering of a value's JSON form.
fn brief(v: &serde_json::Value) -> String {
    match v.get("value").or_else(|| v.get("clock")).or_else(|| v.get("seconds")) {
        Some(serde_json::Value::String(s)) => format!("{s:?}"),
        Some(inner) if v.get("type").and_then(|t| t.as_str()) == Some("Duration") => format!("{inner}s"),
        Some(inner) => inner.to_string(),
        None => match v.get("items").and_then(|i| i.as_array()) {
            Some(items) => format!("[{}]", items.iter().map(brief).collect::<Vec<_>>().join(", ")),
            None => v.to_string(),
        },
    }
}
