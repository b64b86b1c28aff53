//! Text made safe to print on a terminal or in a log.
//!
//! Answers, subtitles, OCR reads, language-model output and program string
//! literals are untrusted: an escape sequence in any of them could clear the
//! screen, set the window title or rewrite what was printed before. Every
//! piece of such text goes through [`escape_controls`] before it reaches a
//! terminal. The escaped form is the one string literals use (`\u{1b}`).

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must not reach a terminal raw: control characters other than
/// newline and tab (C0, DEL and C1, which hold the escape-sequence
/// introducers), and the bidirectional overrides and isolates, which can make
/// text display in an order other than the one it has.
pub fn is_unsafe_for_terminal(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every character [`is_unsafe_for_terminal`] written as `\u{..}`;
/// borrowed when there is none.
///
/// ```
/// use vprog_grammar::escape_controls;
/// assert_eq!(escape_controls("plain\ttext\n"), "plain\ttext\n");
/// assert_eq!(escape_controls("\x1b[2Jgone\x07"), "\\u{1b}[2Jgone\\u{7}");
/// ```
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe_for_terminal) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        push_escaped(&mut out, c);
    }
    Cow::Owned(out)
}

/// Serialised JSON made terminal-safe and still valid JSON: every character
/// [`is_unsafe_for_terminal`] becomes a `\uXXXX` escape. Serialisers escape
/// C0 controls themselves; DEL, C1 controls and bidirectional overrides can
/// only occur inside strings, where the escape means the same character.
pub fn escape_json_for_terminal(json: &str) -> Cow<'_, str> {
    if !json.chars().any(is_unsafe_for_terminal) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if is_unsafe_for_terminal(c) {
            // All are in the Basic Multilingual Plane: one escape each.
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Appends `c` to `out`, as `\u{..}` when it [`is_unsafe_for_terminal`].
pub fn push_escaped(out: &mut String, c: char) {
    if is_unsafe_for_terminal(c) {
        let _ = write!(out, "\\u{{{:x}}}", c as u32);
    } else {
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_a_terminal_would_interpret() {
        assert_eq!(escape_controls("a\x1b]0;title\x07b"), "a\\u{1b}]0;title\\u{7}b");
        assert_eq!(escape_controls("nul\0 cr\r del\x7f c1\u{9b}"), "nul\\u{0} cr\\u{d} del\\u{7f} c1\\u{9b}");
        assert_eq!(escape_controls("abc\u{202E}cba"), "abc\\u{202e}cba");
        assert!(matches!(escape_controls("héllo\twörld\n"), Cow::Borrowed(_)));
    }

    #[test]
    fn json_stays_json_and_terminal_safe() {
        let json = "{\"answer\": \"a\u{9b}b\u{202e}c\u{7f}\"}";
        assert_eq!(escape_json_for_terminal(json), "{\"answer\": \"a\\u009bb\\u202ec\\u007f\"}");
        assert!(matches!(escape_json_for_terminal("{\"a\": \"\\u001b\"}"), Cow::Borrowed(_)));
    }
}
