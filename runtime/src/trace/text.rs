//! A trace as plain text, for `vprog trace show`: one row per step for a
//! table, every field of one step, and parameters as the program writes
//! them. The caller prints (and escapes for the terminal).

use serde_json::Value as Json;

use super::{Trace, TraceStep};

/// The columns of [`step_row`].
pub const STEP_COLUMNS: [&str; 7] = ["step", "module", "params", "output", "ms", "cache", "status"];

/// One step as a table row ([`STEP_COLUMNS`]): its id (`*` when it supports
/// the answer), module and bindings, parameters, output summary, time,
/// cache status and status.
pub fn step_row(trace: &Trace, s: &TraceStep) -> [String; 7] {
    let mut module = s.op.clone();
    if !s.bindings.is_empty() {
        module = format!("{} → {}", module, s.bindings.join(", "));
    }
    if !s.merged.is_empty() {
        let lines: Vec<String> = s.merged.iter().map(|p| p.line.to_string()).collect();
        module.push_str(&format!("\n(merged with line {})", lines.join(", ")));
    }
    let params: Vec<String> = s.params.iter().map(|(k, v)| format!("{k}: {}", param_text(v))).collect();
    let mut output = s.output.as_ref().map(|o| o.summary.clone()).or_else(|| s.error.clone()).unwrap_or_default();
    if let Some((n, kept)) = s.elements {
        output.push_str(&format!("\n({n} elements, {kept} kept)"));
    }
    let supports = trace.answer.as_ref().is_some_and(|a| a.supporting_steps.contains(&s.id));
    let id = if supports { format!("{} *", s.id) } else { s.id.clone() };
    // A step served from memory shows the time its value took when it was
    // first computed (an `ask` trace re-runs the chosen program).
    let ms = match s.computed_ms {
        Some(first) => format!("{:.1}\n({first:.1} when computed)", s.duration_ms),
        None => format!("{:.1}", s.duration_ms),
    };
    [id, module, params.join("\n"), output, ms, s.cache.clone(), s.status.clone()]
}

/// Everything the trace holds about one step, a line per field.
pub fn step_lines(s: &TraceStep) -> Vec<String> {
    let mut out = vec![format!("step {}: {} {}", s.id, s.op, s.version.as_deref().map(|v| format!("v{v}")).unwrap_or_default())];
    if !s.text.is_empty() {
        out.push(format!("  source:   {}", s.text));
    }
    if let Some(p) = &s.position {
        out.push(format!("  at:       line {}, column {}", p.line, p.column));
    }
    out.push(format!("  type:     {}", s.ty));
    out.extend(s.params.iter().map(|(k, v)| format!("  param:    {k} = {}", param_text(v))));
    out.extend(s.inputs.iter().map(|i| format!("  input:    {} <- {}", i.slot, i.step)));
    out.push(format!("  status:   {} (cache: {}), started +{:.1} ms, took {:.1} ms", s.status, s.cache, s.started_ms, s.duration_ms));
    if let (Some(ms), Some(at)) = (s.computed_ms, s.computed_unix_ms) {
        out.push(format!("  computed: earlier in this process, in {ms:.1} ms (finished at Unix ms {at})"));
    }
    if let Some(o) = &s.output {
        out.push(format!("  output:   {} (full value in {})", o.summary, o.file));
    }
    if let Some(e) = &s.error {
        out.push(format!("  error:    {e}"));
    }
    out.extend(s.artifacts.iter().map(|a| format!("  evidence: {a}")));
    let indent = |t: &str| t.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n");
    for n in &s.notes {
        out.push(match &n.value {
            Json::String(t) if t.contains('\n') => format!("  note {}:\n{}", n.key, indent(t)),
            Json::String(t) => format!("  note {}: {t}", n.key),
            v => format!("  note {}:\n{}", n.key, indent(&serde_json::to_string_pretty(v).unwrap_or_default())),
        });
    }
    out
}

/// A parameter as the program would write it (`4`, `0.5`, `"person"`, `2s`,
/// `01:05.0`, `[1, 2]`), from its JSON form in the trace; a value of another
/// type as compact JSON.
pub fn param_text(v: &Json) -> String {
    let field = |k: &str| v.get(k);
    match v.get("type").and_then(Json::as_str) {
        Some("Int" | "Bool") if field("value").is_some() => field("value").map(Json::to_string).unwrap_or_default(),
        Some("Number") => match field("value").and_then(Json::as_f64) {
            Some(x) => vprog_grammar::format_float(x),
            None => v.to_string(),
        },
        Some("Text") => match field("value").and_then(Json::as_str) {
            Some(t) => format!("{t:?}"),
            None => v.to_string(),
        },
        Some("Duration") => match field("seconds").and_then(Json::as_f64) {
            Some(x) if x != 0.0 && x.abs() < 1.0 => format!("{}ms", (x * 1000.0).round()),
            Some(x) => format!("{}s", vprog_grammar::format_float(x).trim_end_matches(".0")),
            None => v.to_string(),
        },
        Some("Timestamp") => match field("clock").and_then(Json::as_str) {
            Some(c) => c.to_string(),
            None => v.to_string(),
        },
        _ => match field("items").and_then(Json::as_array) {
            Some(items) => format!("[{}]", items.iter().map(param_text).collect::<Vec<_>>().join(", ")),
            None => v.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::param_text;
    use crate::value::Value;

    #[test]
    fn parameters_read_as_the_program_writes_them() {
        let cases = [
            (Value::Int(4), "4"),
            (Value::Number(0.5), "0.5"),
            (Value::Number(60.0), "60.0"),
            (Value::Bool(true), "true"),
            (Value::Text("per\"son".into()), "\"per\\\"son\""),
            (Value::Duration(2.0), "2s"),
            (Value::Duration(0.25), "250ms"),
            (Value::Timestamp(65.0), "01:05.0"),
            (Value::List(std::sync::Arc::new(vec![Value::Int(1), Value::Int(2)])), "[1, 2]"),
        ];
        for (v, want) in cases {
            assert_eq!(param_text(&v.to_json()), want, "{v:?}");
        }
    }
}
