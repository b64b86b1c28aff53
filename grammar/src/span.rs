//! Byte spans into program source and their line/column form.

use serde::Serialize;

/// A half-open byte range `start..end` into the program source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub struct Span {
    /// Byte offset of the first character.
    pub start: usize,
    /// Byte offset one past the last character.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end` (byte offsets).
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The smallest span covering both `self` and `other`.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    /// Whether the span covers no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<Span> for miette::SourceSpan {
    fn from(s: Span) -> Self {
        miette::SourceSpan::new(s.start.into(), s.len())
    }
}

impl From<pest::Span<'_>> for Span {
    fn from(s: pest::Span<'_>) -> Self {
        Span::new(s.start(), s.end())
    }
}

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LineCol {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
}

/// The line and column of byte `offset` in `source` (clamped to the source).
///
/// Scans the source once; to place many offsets, build a [`LineIndex`].
pub fn line_col(source: &str, offset: usize) -> LineCol {
    let offset = floor_char_boundary(source, offset);
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = source[line_start..offset].chars().count() + 1;
    LineCol { line, col }
}

/// The start of every line of a source, for placing many offsets in
/// logarithmic time each (one diagnostic per line of a 1 MB program must not
/// rescan the program per diagnostic).
#[derive(Debug, Clone)]
pub struct LineIndex<'a> {
    source: &'a str,
    /// Byte offset where each line starts; the first is 0.
    starts: Vec<usize>,
    /// Whether each line is pure ASCII, so its columns are byte distances.
    ascii: Vec<bool>,
}

impl<'a> LineIndex<'a> {
    /// Indexes `source` (one pass).
    pub fn new(source: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(source.match_indices('\n').map(|(i, _)| i + 1));
        let ascii = (0..starts.len())
            .map(|n| {
                let end = starts.get(n + 1).copied().unwrap_or(source.len());
                source.as_bytes()[starts[n]..end].is_ascii()
            })
            .collect();
        LineIndex { source, starts, ascii }
    }

    /// The line and column of byte `offset`, as [`line_col`] gives it.
    pub fn line_col(&self, offset: usize) -> LineCol {
        let offset = floor_char_boundary(self.source, offset);
        let line = self.starts.partition_point(|&s| s <= offset).max(1) - 1;
        let start = self.starts[line];
        let col = if self.ascii[line] { offset - start } else { self.source[start..offset].chars().count() };
        LineCol { line: line + 1, col: col + 1 }
    }
}

/// `offset` clamped to `source` and moved back to a character boundary.
fn floor_char_boundary(source: &str, offset: usize) -> usize {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_lines_and_chars() {
        let src = "ab\ncdé f\n";
        assert_eq!(line_col(src, 0), LineCol { line: 1, col: 1 });
        assert_eq!(line_col(src, 3), LineCol { line: 2, col: 1 });
        // 'é' is two bytes: the space after it is the 4th character.
        assert_eq!(line_col(src, 7), LineCol { line: 2, col: 4 });
        assert_eq!(line_col(src, 999), LineCol { line: 3, col: 1 });
        let index = LineIndex::new(src);
        for offset in 0..=12 {
            assert_eq!(index.line_col(offset), line_col(src, offset), "offset {offset}");
        }
    }
}
