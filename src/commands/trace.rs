//! `vprog trace show`: the steps of a run as a table.

use std::process::ExitCode;

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use vprog_planner::record::{self, PlannerRecord};
use vprog_runtime::trace::{read_trace, text, TraceStep};

use crate::cli::TraceCommand;

pub fn run(command: TraceCommand) -> anyhow::Result<ExitCode> {
    let TraceCommand::Show { dir, all, json, step } = command;
    let trace = read_trace(&dir)?;
    if let Some(id) = step {
        let Some(s) = trace.all_steps().into_iter().find(|s| s.id == id) else {
            let ids: Vec<&str> = trace.all_steps().iter().map(|s| s.id.as_str()).collect();
            anyhow::bail!("no step `{id}` in {}; steps: {}", dir.display(), ids.join(", "));
        };
        for l in text::step_lines(s) {
            outln!("{l}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if json {
        crate::output::print_json(&trace)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic).set_header(text::STEP_COLUMNS);
    let steps: Vec<&TraceStep> = if all { trace.all_steps() } else { trace.steps.iter().collect() };
    for s in steps {
        table.add_row(text::step_row(&trace, s));
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
        Some(Ok(p)) => p.show_lines().iter().for_each(|l| outln!("{l}")),
        Some(Err(e)) => errln!("\nplanner: {e}"),
        None => {}
    }
    for (key, record) in trace.extensions.iter().filter(|(k, _)| k.as_str() != record::KEY) {
        let schema = record.get("schema").and_then(serde_json::Value::as_str).unwrap_or("no schema");
        outln!("\n{key}: a record ({schema}) this vprog does not show");
    }
    Ok(ExitCode::SUCCESS)
}
