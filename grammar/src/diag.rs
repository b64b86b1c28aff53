//! Diagnostics shared by the parser, the checker and the runtime.
//!
//! A [`Diagnostic`] is plain data (code, message, labelled spans, help). Pair
//! it with the program source in a [`SourceDiagnostic`] to render it rustc
//! style through miette, or turn it into [`JsonDiagnostic`] for `--json`.

use std::fmt;

use serde::Serialize;

use crate::span::{line_col, Span};

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The program cannot run.
    Error,
    /// The program runs, but something looks wrong.
    Warning,
}

/// A labelled span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// What the label points at.
    pub span: Span,
    /// Text shown beside the caret.
    pub message: String,
}

/// One finding about a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Stable machine-readable code, e.g. `vprog::unknown_module`.
    pub code: &'static str,
    /// One-line summary.
    pub message: String,
    /// The first label is the primary location.
    pub labels: Vec<Label>,
    /// How to fix it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(code: &'static str, message: impl Into<String>, span: Span, label: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            labels: vec![Label { span, message: label.into() }],
            help: None,
        }
    }

    /// A warning at `span`.
    pub fn warning(code: &'static str, message: impl Into<String>, span: Span, label: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(code, message, span, label) }
    }

    /// Adds help text.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a secondary label.
    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label { span, message: message.into() });
        self
    }

    /// The primary span (or an empty span at 0 when there is none).
    pub fn span(&self) -> Span {
        self.labels.first().map(|l| l.span).unwrap_or_default()
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Attaches the source so miette can render carets.
    pub fn with_source(self, name: &str, source: &str) -> SourceDiagnostic {
        SourceDiagnostic { diag: self, source: miette::NamedSource::new(name, source.to_string()) }
    }

    /// The JSON form, with 1-based lines and columns.
    pub fn to_json(&self, file: &str, source: &str) -> JsonDiagnostic {
        let span = self.span();
        let start = line_col(source, span.start);
        let end = line_col(source, span.end);
        JsonDiagnostic {
            severity: self.severity,
            code: self.code,
            message: self.message.clone(),
            file: file.to_string(),
            line: start.line,
            column: start.col,
            end_line: end.line,
            end_column: end.col,
            labels: self
                .labels
                .iter()
                .map(|l| {
                    let lc = line_col(source, l.span.start);
                    JsonLabel { message: l.message.clone(), line: lc.line, column: lc.col, start: l.span.start, end: l.span.end }
                })
                .collect(),
            help: self.help.clone(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A diagnostic bundled with its source, ready for miette to render.
#[derive(Debug)]
pub struct SourceDiagnostic {
    diag: Diagnostic,
    source: miette::NamedSource<String>,
}

impl fmt::Display for SourceDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl std::error::Error for SourceDiagnostic {}

impl miette::Diagnostic for SourceDiagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.diag.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diag.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        Some(Box::new(self.diag.labels.iter().enumerate().map(|(i, l)| {
            let text = (!l.message.is_empty()).then(|| l.message.clone());
            if i == 0 {
                miette::LabeledSpan::new_primary_with_span(text, l.span)
            } else {
                miette::LabeledSpan::new_with_span(text, l.span)
            }
        })))
    }
}

/// Machine-readable diagnostic (the `--json` output).
#[derive(Debug, Clone, Serialize)]
pub struct JsonDiagnostic {
    /// `error` or `warning`.
    pub severity: Severity,
    /// Stable code.
    pub code: &'static str,
    /// One-line summary.
    pub message: String,
    /// The program file.
    pub file: String,
    /// 1-based line of the primary span.
    pub line: usize,
    /// 1-based column of the primary span.
    pub column: usize,
    /// 1-based line where the primary span ends.
    pub end_line: usize,
    /// 1-based column where the primary span ends.
    pub end_column: usize,
    /// Every label, primary first.
    pub labels: Vec<JsonLabel>,
    /// How to fix it.
    pub help: Option<String>,
}

/// A label in [`JsonDiagnostic`].
#[derive(Debug, Clone, Serialize)]
pub struct JsonLabel {
    /// Label text.
    pub message: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Start byte offset.
    pub start: usize,
    /// End byte offset.
    pub end: usize,
}

/// "Did you mean" helper: the closest candidate within a small edit distance.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1) + 1;
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, c)| *d <= limit && *c != name)
        .min_by_key(|(d, c)| (*d, c.len()))
        .map(|(_, c)| c)
}

/// Edit distance, ignoring case.
fn edit_distance(a: &str, b: &str) -> usize {
    strsim::levenshtein(&a.to_lowercase(), &b.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_suggests_near_names_only() {
        let names = ["sample", "detect", "count", "trim_around"];
        assert_eq!(closest("smaple", names), Some("sample"));
        assert_eq!(closest("cont", names), Some("count"));
        assert_eq!(closest("trim_arond", names), Some("trim_around"));
        assert_eq!(closest("zzzzzz", names), None);
    }
}
