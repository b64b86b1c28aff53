//! From a model's reply to a checked program: the program text is pulled out
//! of the reply (code fences and chatter removed), parsed, type-checked
//! against the registry, and held to the planner's own rule that a question
//! with options is answered by a `Choice`.

use serde::Serialize;
use vprog_grammar::{parse, Diagnostic, Program, Span};
use vprog_runtime::check::check;
use vprog_runtime::dataflow::Dataflow;
use vprog_runtime::{Registry, Type};

/// One problem found in a candidate program, located for the model and the trace.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Finding {
    /// Stable code (`vprog::unknown_module`, `vprog::parse`, ...).
    pub code: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
}

impl Finding {
    fn from_diagnostic(d: &Diagnostic, source: &str) -> Finding {
        let j = d.to_json("program.vp", source);
        Finding { code: j.code.to_string(), line: j.line, column: j.column, message: j.message, help: j.help }
    }
}

/// Renders findings as the model reads them: one line each, with the source
/// line it points into.
pub fn render_findings(findings: &[Finding], source: &str) -> String {
    let lines: Vec<&str> = source.lines().collect();
    let mut out = String::new();
    for f in findings {
        out.push_str(&format!("- line {}, column {}: {}", f.line, f.column, f.message));
        if let Some(h) = &f.help {
            out.push_str(&format!(" (help: {h})"));
        }
        out.push('\n');
        if let Some(l) = lines.get(f.line.saturating_sub(1)) {
            out.push_str(&format!("    {}\n", l.trim_end()));
        }
    }
    out
}

/// A candidate program and what checking found.
#[derive(Clone)]
pub struct Checked {
    /// The program text (as extracted from the reply).
    pub source: String,
    /// Errors; empty when the program is valid. Warnings are dropped.
    pub findings: Vec<Finding>,
    /// The parsed program, when it parsed.
    pub program: Option<Program>,
    /// The lowered plan, when valid.
    pub plan: Option<Dataflow>,
    /// The answer's static type, when valid.
    pub answer_type: Option<Type>,
}

impl Checked {
    /// Whether the program parsed, type-checked and keeps the planner's rules.
    pub fn is_valid(&self) -> bool {
        self.findings.is_empty() && self.plan.is_some()
    }
}

/// The program in a model's reply: the first fenced code block if there is
/// one, else the reply with leading chatter lines dropped (lines before the
/// first that looks like a binding, an `answer` or a comment).
pub fn extract_program(reply: &str) -> String {
    if let Some(start) = reply.find("```") {
        let after = &reply[start + 3..];
        // Skip the info string (```vprog).
        let body = after.split_once('\n').map_or("", |(_, b)| b);
        let end = body.find("```").unwrap_or(body.len());
        return normalise(&body[..end]);
    }
    let lines: Vec<&str> = reply.lines().collect();
    let first_code = lines.iter().position(|l| looks_like_code(l)).unwrap_or(0);
    normalise(&lines[first_code..].join("\n"))
}

fn looks_like_code(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with('#')
        || t.starts_with("answer ")
        || t.split_once('=').is_some_and(|(lhs, rhs)| is_ident(lhs.trim()) && !rhs.starts_with('='))
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn normalise(text: &str) -> String {
    let mut s: String = text.lines().map(str::trim_end).collect::<Vec<_>>().join("\n").trim().to_string();
    s.push('\n');
    s
}

/// Parses and checks `source`; `options` says whether the question has
/// answer options (then the answer must be a `Choice`).
pub fn check_program(source: &str, registry: &Registry, options: bool) -> Checked {
    let source = source.to_string();
    let program = match parse(&source) {
        Ok(p) => p,
        Err(d) => {
            let findings = vec![Finding::from_diagnostic(&d, &source)];
            return Checked { source, findings, program: None, plan: None, answer_type: None };
        }
    };
    let out = check(&program, registry);
    let mut findings: Vec<Finding> =
        out.diagnostics.iter().filter(|d| d.is_error()).map(|d| Finding::from_diagnostic(d, &source)).collect();
    let answer_type = out.plan.as_ref().map(|p| p.graph[p.output].ty.clone());
    if let (true, Some(ty)) = (options, &answer_type) {
        if *ty != Type::Choice {
            let span = program.answer().map_or(Span::new(0, 0), |e| e.span);
            let d = Diagnostic::error(
                "planner::answer_not_choice",
                format!("the question has options, but the answer is a {ty}"),
                span,
                "not a Choice",
            )
            .with_help("end with `answer choose(question, options, evidence: ...)`");
            findings.push(Finding::from_diagnostic(&d, &source));
        }
    }
    let plan = if findings.is_empty() { out.plan } else { None };
    Checked { source, findings, program: Some(program), plan, answer_type }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenced_code_is_extracted() {
        let reply = "Here you go:\n```vprog\nx = subtitles(video)\nanswer count(x)\n```\nThis counts cues.";
        assert_eq!(extract_program(reply), "x = subtitles(video)\nanswer count(x)\n");
    }

    #[test]
    fn leading_chatter_is_dropped() {
        let reply = "Sure! The program is:\nx = subtitles(video)\nanswer count(x)";
        assert_eq!(extract_program(reply), "x = subtitles(video)\nanswer count(x)\n");
        assert_eq!(extract_program("answer 1 == 1"), "answer 1 == 1\n");
    }
}
