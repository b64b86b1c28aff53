//! Diagnostics shared by the parser, the checker and the runtime.
//!
//! A [`Diagnostic`] is plain data (code, message, labelled spans, help). Pair
//! it with the program source in a [`SourceDiagnostic`] to render it rustc
//! style through miette, or turn it into [`JsonDiagnostic`] for `--json`.

use std::fmt;

use serde::Serialize;

use crate::span::{LineIndex, Span};
use crate::text::{escape_controls, push_escaped};

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
    ///
    /// What is rendered is safe for a terminal: control characters in the
    /// source, the file name and the texts are escaped, and a source line
    /// longer than [`MAX_SHOWN_LINE`] bytes is cut to windows around the
    /// labels (a 1 MB one-line program is not echoed whole).
    pub fn with_source(self, name: &str, source: &str) -> SourceDiagnostic {
        let spans: Vec<Span> = self.labels.iter().map(|l| l.span).collect();
        let (shown, moved) = shown_source(source, &spans);
        let diag = Diagnostic {
            message: escape_controls(&self.message).into_owned(),
            labels: self
                .labels
                .iter()
                .zip(moved)
                .map(|(l, span)| Label { span, message: escape_controls(&l.message).into_owned() })
                .collect(),
            help: self.help.as_deref().map(|h| escape_controls(h).into_owned()),
            ..self
        };
        SourceDiagnostic { diag, source: miette::NamedSource::new(escape_controls(name), shown) }
    }

    /// The JSON form, with 1-based lines and columns.
    ///
    /// Indexes the source; for many diagnostics of one source use
    /// [`Diagnostic::to_json_indexed`].
    pub fn to_json(&self, file: &str, source: &str) -> JsonDiagnostic {
        self.to_json_indexed(file, &LineIndex::new(source))
    }

    /// [`Diagnostic::to_json`] with the source's line index built once.
    pub fn to_json_indexed(&self, file: &str, index: &LineIndex<'_>) -> JsonDiagnostic {
        let line_col = |offset| index.line_col(offset);
        let span = self.span();
        let start = line_col(span.start);
        let end = line_col(span.end);
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
                    let lc = line_col(l.span.start);
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

/// Longest source line a rendered diagnostic shows whole, in bytes.
pub const MAX_SHOWN_LINE: usize = 240;

/// Bytes a cut line keeps on each side of a label's start and end, and at the
/// start of a cut line without labels.
const SHOWN_WINDOW: usize = 80;

/// Lines shown around a label; miette shows one, the rest are blanked.
const SHOWN_CONTEXT_LINES: usize = 2;

/// Lines a label may span; a longer one is cut to its first line.
const MAX_LABEL_LINES: usize = 8;

/// The source as a rendered diagnostic shows it, and `spans` moved to match.
///
/// Only the lines around the labels are kept (the others become empty lines,
/// so line numbers stay right); in them, characters unsafe for a terminal are
/// escaped (a `\r` ending a line stays) and a line over [`MAX_SHOWN_LINE`]
/// bytes is cut to windows around the span ends, with `…` for each cut. A
/// label spanning more than [`MAX_LABEL_LINES`] lines is cut to its first.
/// Linear in the source, whatever it holds.
fn shown_source(source: &str, spans: &[Span]) -> (String, Vec<Span>) {
    let len = source.len();
    let index = LineIndex::new(source);
    let line_of = |at: usize| index.line_col(at).line - 1;
    let spans: Vec<Span> = spans
        .iter()
        .map(|s| {
            let (start, end) = (s.start.min(len), s.end.min(len).max(s.start.min(len)));
            if line_of(end) - line_of(start) > MAX_LABEL_LINES {
                let first_end = source[start..].find('\n').map_or(len, |j| start + j);
                Span::new(start, first_end)
            } else {
                Span::new(start, end)
            }
        })
        .collect();
    // Span ends in source order, each with the slot its new offset goes to.
    let mut marks: Vec<(usize, usize)> = spans.iter().flat_map(|s| [s.start, s.end]).enumerate().map(|(slot, at)| (at, slot)).collect();
    marks.sort_unstable();
    let shown_lines: Vec<usize> = marks.iter().map(|&(at, _)| line_of(at)).collect();
    let is_shown = |line: usize| {
        let k = shown_lines.partition_point(|&l| l + SHOWN_CONTEXT_LINES < line);
        k < shown_lines.len() && shown_lines[k] <= line + SHOWN_CONTEXT_LINES
    };
    let near_mark = |i: usize| {
        let k = marks.partition_point(|&(at, _)| at + SHOWN_WINDOW <= i);
        k < marks.len() && marks[k].0 < i + SHOWN_WINDOW
    };
    let mut moved = vec![0; marks.len()];
    let mut out = String::new();
    let mut next = 0;
    for (n, line) in source.split_inclusive('\n').enumerate() {
        let line_start = line.as_ptr() as usize - source.as_ptr() as usize;
        if !is_shown(n) {
            if line.ends_with('\n') {
                out.push('\n');
            }
            continue;
        }
        let cut = line.trim_end_matches(['\n', '\r']).len() > MAX_SHOWN_LINE;
        let mut cutting = false;
        let mut chars = line.char_indices().peekable();
        while let Some((j, c)) = chars.next() {
            let i = line_start + j;
            while next < marks.len() && marks[next].0 <= i {
                moved[marks[next].1] = out.len();
                next += 1;
            }
            if cut && c != '\n' && j >= SHOWN_WINDOW && !near_mark(i) {
                if !cutting {
                    out.push('…');
                    cutting = true;
                }
                continue;
            }
            cutting = false;
            if c == '\r' && chars.peek().is_some_and(|&(_, n)| n == '\n') {
                out.push(c);
            } else {
                push_escaped(&mut out, c);
            }
        }
    }
    for &(_, slot) in &marks[next..] {
        moved[slot] = out.len();
    }
    let spans = (0..spans.len()).map(|k| Span::new(moved[2 * k], moved[2 * k + 1].max(moved[2 * k]))).collect();
    (out, spans)
}

/// What follows a file's diagnostics when only the first `shown` of them
/// were printed: how many more there are (and how to list them all), then
/// the count of errors and warnings when there is any error. One line each.
pub fn diagnostics_footer(file: &str, diagnostics: &[Diagnostic], shown: usize) -> Vec<String> {
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    let mut lines = Vec::new();
    if let Some(hidden) = diagnostics.len().checked_sub(shown).filter(|&n| n > 0) {
        lines.push(format!(
            "{file}: {hidden} more diagnostic{} not shown ({errors} error{}, {warnings} warning{} in all; `vprog check --json {file}` lists every one)",
            plural(hidden),
            plural(errors),
            plural(warnings)
        ));
    }
    if errors > 0 {
        let warnings = if warnings > 0 { format!(", {warnings} warning{}", plural(warnings)) } else { String::new() };
        lines.push(format!("{file}: {errors} error{}{warnings}", plural(errors)));
    }
    lines
}

/// "Did you mean" helper: the closest candidate within a small edit distance.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let chars = name.chars().count();
    let limit = (chars / 3).max(1) + 1;
    candidates
        .into_iter()
        // The distance is at least the difference in length: skip the
        // allocation and the dynamic programme for names that cannot match.
        .filter(|c| c.chars().count().abs_diff(chars) <= limit)
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
    fn shown_source_escapes_and_cuts_long_lines_keeping_spans_on_their_text() {
        let src = "a = \"\x1b[2J\"\nanswer a\r\n";
        let (shown, spans) = shown_source(src, &[Span::new(11, 19)]);
        assert_eq!(shown, "a = \"\\u{1b}[2J\"\nanswer a\r\n");
        assert_eq!(&shown[spans[0].start..spans[0].end], "answer a");

        let long = format!("x = [{}]\nanswer y\n", "1, ".repeat(100_000));
        let at = long.find("answer").unwrap_or_default() + 7;
        let (shown, spans) = shown_source(&long, &[Span::new(at, at + 1), Span::new(40_000, 40_003)]);
        assert!(shown.len() < 1_000, "{} bytes shown", shown.len());
        assert_eq!(&shown[spans[0].start..spans[0].end], "y");
        assert_eq!(&shown[spans[1].start..spans[1].end], &long[40_000..40_003]);
        assert_eq!(shown.matches('…').count(), 2, "{shown}");

        // Lines away from the labels are blanked, not echoed; numbering stays.
        let many = format!("{}answer z\n{}", "w = 1\n".repeat(1000), "v = 2\n".repeat(1000));
        let at = many.find("answer").unwrap_or_default();
        let (shown, spans) = shown_source(&many, &[Span::new(at, at + 8)]);
        assert_eq!(shown.lines().count(), many.lines().count());
        assert_eq!(shown.matches("w = 1").count() + shown.matches("v = 2").count(), 4, "{shown}");
        assert_eq!(&shown[spans[0].start..spans[0].end], "answer z");

        // A label over thousands of lines is cut to its first line.
        let (shown, spans) = shown_source(&many, &[Span::new(0, many.len())]);
        assert_eq!(&shown[spans[0].start..spans[0].end], "w = 1");
    }

    #[test]
    fn closest_suggests_near_names_only() {
        let names = ["sample", "detect", "count", "trim_around"];
        assert_eq!(closest("smaple", names), Some("sample"));
        assert_eq!(closest("cont", names), Some("count"));
        assert_eq!(closest("trim_arond", names), Some("trim_around"));
        assert_eq!(closest("zzzzzz", names), None);
    }
}
