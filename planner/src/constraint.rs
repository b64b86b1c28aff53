//! The program constraint of constrained decoding: the reply must stay a
//! viable prefix of a program that parses and names only registered modules
//! and parameters (see [`vprog_runtime::check::prefix`]).
//!
//! On top of the language, the constraint keeps the layout a program needs
//! and nothing more, because a small model left free spends its token
//! budget on layout: comments are not allowed (they copied the module
//! catalog into the program), nor runs of more than [`MAX_SPACES`] space or
//! [`MAX_NEWLINES`] newlines, nor tabs, nor lines over [`MAX_LINE`] characters. Inside string literals anything goes.
//! The `answer` line is the last: once it ends with a newline only
//! whitespace may follow, so the model ends its turn there instead of
//! continuing the expression onto new lines. For a question with options,
//! the `answer` line must call a module returning a `Choice`. And one
//! statement per line, at most [`MAX_ARITHMETIC`] arithmetic operators in
//! a statement, and no piece of text three times in a row, numbers counted
//! alike (the loops of greedy decoding).

use std::sync::Arc;

use vprog_runtime::check::prefix::PrefixChecker;
use vprog_runtime::{Registry, Returns, Type};

use crate::backend::{TextConstraint, TokenTest};

/// Longest run of spaces allowed outside strings.
pub const MAX_SPACES: usize = 1;

/// A piece of text this long (or longer, up to [`MAX_PERIOD`]) may not
/// appear three times in a row: the loops greedy decoding falls into
/// (`concat(concat(concat(`, `and play and play and play`).
pub const MIN_PERIOD: usize = 4;

/// Longest repeated piece looked for.
pub const MAX_PERIOD: usize = 48;

/// Whether `text` ends with some piece of [`MIN_PERIOD`] to [`MAX_PERIOD`]
/// characters three times in a row, either as written or with every
/// number literal read as one digit: a chain of operators on numbers that
/// differ (`- 150000000000 - 150000000000 - 150000000001`) is the same
/// loop.
pub fn looping(text: &str) -> bool {
    ends_periodic(text.as_bytes()) || ends_periodic(&numbers_as_one_digit(text))
}

/// Whether `b` ends with a piece of [`MIN_PERIOD`] to [`MAX_PERIOD`] bytes
/// three times in a row.
fn ends_periodic(b: &[u8]) -> bool {
    (MIN_PERIOD..=MAX_PERIOD).any(|p| {
        b.len() >= 3 * p && {
            let end = b.len();
            b[end - p..] == b[end - 2 * p..end - p] && b[end - p..] == b[end - 3 * p..end - 2 * p]
        }
    })
}

/// `text` with each number literal (a run of digits and dots that does not
/// continue a name, so `x2` stays as it is) replaced by `0`.
fn numbers_as_one_digit(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut prev: Option<u8> = None;
    let mut in_number = false;
    for &c in text.as_bytes() {
        let after_name = prev.is_some_and(|p| p.is_ascii_alphanumeric() || p == b'_');
        in_number = if in_number { c.is_ascii_digit() || c == b'.' } else { c.is_ascii_digit() && !after_name };
        let first_digit = in_number && !prev.is_some_and(|p| p.is_ascii_digit() || p == b'.');
        if !in_number || first_digit {
            out.push(if in_number { b'0' } else { c });
        }
        prev = Some(c);
    }
    out
}

/// Longest name, in characters.
pub const MAX_NAME: usize = 32;

/// Longest line, in characters (a program line is a call or two; longer
/// lines were a small model repeating itself).
pub const MAX_LINE: usize = 400;

/// Longest run of newlines allowed (one blank line).
pub const MAX_NEWLINES: usize = 2;

/// Most arithmetic operators (`+ - * /`) in one statement. A program's
/// arithmetic is a difference of two times or a count plus one; a longer
/// chain was a small model looping on numbers that differ
/// (`count(s) - 100000000000 - (-100000000000 - 100000000000 - (...`).
pub const MAX_ARITHMETIC: usize = 4;

/// Allows only replies that can still become a valid program.
pub struct ProgramConstraint {
    checker: Arc<PrefixChecker>,
    /// When the question has options: the modules returning a `Choice`,
    /// one of which the `answer` line must call.
    choice: Option<Vec<&'static str>>,
}

impl ProgramConstraint {
    /// The constraint for programs calling the modules of `registry`.
    pub fn new(registry: &Registry) -> ProgramConstraint {
        ProgramConstraint { checker: Arc::new(PrefixChecker::new(registry)), choice: None }
    }

    /// The same constraint for a question with options: the `answer` line
    /// must call a module that returns a `Choice` (`choose`, ...).
    pub fn answering_with_choice(&self, registry: &Registry) -> ProgramConstraint {
        let modules =
            registry.iter().map(|m| m.signature()).filter(|s| matches!(s.returns, Returns::Is(Type::Choice))).map(|s| s.name).collect();
        ProgramConstraint { checker: self.checker.clone(), choice: Some(modules) }
    }

    /// Whether the `answer` line, as far as written, calls a `Choice` module.
    fn answer_is_choice(&self, text: &str) -> bool {
        let Some(modules) = &self.choice else { return true };
        let answer = text.lines().find_map(|l| l.strip_prefix("answer "));
        match answer {
            None => true,
            Some(rest) => modules.iter().any(|m| {
                let call = format!("{m}(");
                call.starts_with(rest) || rest.starts_with(&call)
            }),
        }
    }

    /// The prefix checker underneath.
    pub fn checker(&self) -> &PrefixChecker {
        &self.checker
    }
}

/// Where [`tidy`] is in a line.
#[derive(Clone, Copy, PartialEq)]
enum Line {
    /// Nothing yet: a name or a blank line.
    Start,
    /// In the first word.
    Name,
    /// After a binding's name, before its `=`.
    BeforeEq,
    /// Just after the `=`.
    Eq,
    /// In the expression.
    Body,
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Whether `text` keeps the layout rules: one statement per line (a line is
/// `name = expression` or `answer expression`, starting at its first
/// column), nothing after the `answer` line but whitespace, no comments or
/// tabs, no runs of spaces or newlines, no overlong lines. String literals
/// are skipped.
pub fn tidy(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    let (mut in_string, mut escaped) = (false, false);
    let (mut spaces, mut newlines, mut line_len, mut arithmetic) = (0, 0, 0, 0);
    let mut line = Line::Start;
    let mut word = String::new();
    let (mut answer_line, mut answered) = (false, false);
    let mut depth = 0usize;
    for (i, &c) in chars.iter().enumerate() {
        line_len = if c == '\n' { 0 } else { line_len + 1 };
        if line_len > MAX_LINE || word.len() > MAX_NAME {
            return false;
        }
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                (false, '\n') => return false,
                _ => {}
            }
            continue;
        }
        if answered && !matches!(c, ' ' | '\n') {
            return false;
        }
        if c.is_whitespace() && !matches!(c, ' ' | '\n') || c == '#' {
            return false;
        }
        spaces = if c == ' ' { spaces + 1 } else { 0 };
        newlines = match c {
            '\n' => newlines + 1,
            ' ' => newlines,
            _ => 0,
        };
        if spaces > MAX_SPACES || newlines > MAX_NEWLINES {
            return false;
        }
        if c == '\n' {
            match line {
                Line::Start => {}
                // A line ends only where its statement can: brackets closed,
                // not after an operator, a comma, a colon or a keyword.
                Line::Body if depth == 0 && !dangling(&chars[..i]) => {}
                _ => return false,
            }
            if line == Line::Body && answer_line {
                answered = true;
            }
            arithmetic = 0;
            line = Line::Start;
            word.clear();
            continue;
        }
        line = match line {
            Line::Start if c.is_ascii_alphabetic() || c == '_' => {
                word.push(c);
                Line::Name
            }
            Line::Start => return false,
            Line::Name if is_ident(c) => {
                word.push(c);
                Line::Name
            }
            Line::Name if word == "answer" && c == ' ' => {
                answer_line = true;
                word.clear();
                Line::Body
            }
            Line::Name if c == ' ' => Line::BeforeEq,
            Line::Name | Line::BeforeEq if c == '=' => Line::Eq,
            Line::Name | Line::BeforeEq => return false,
            Line::Eq if c == '=' => return false,
            Line::Eq => {
                word.clear();
                if !body_char(&chars, i, &mut word, &mut in_string) {
                    return false;
                }
                if matches!(c, '(' | '[') {
                    depth += 1;
                }
                Line::Body
            }
            Line::Body => {
                if !body_char(&chars, i, &mut word, &mut in_string) {
                    return false;
                }
                if is_arithmetic(&chars, i) {
                    arithmetic += 1;
                    if arithmetic > MAX_ARITHMETIC {
                        return false;
                    }
                }
                match c {
                    '(' | '[' => depth += 1,
                    ')' | ']' => depth = depth.saturating_sub(1),
                    _ => {}
                }
                Line::Body
            }
        };
    }
    true
}

/// Whether the text before a newline leaves its statement unfinished: it
/// ends with an operator, a comma, a colon, an `=` or a keyword that needs
/// more.
fn dangling(before: &[char]) -> bool {
    let text: String = before.iter().collect();
    let t = text.trim_end();
    if t.ends_with(['+', '-', '*', '/', '=', '<', '>', '!', ',', ':', '(', '[']) {
        return true;
    }
    let last = t.rsplit(|c: char| !is_ident(c)).next().unwrap_or("");
    ["and", "or", "not", "if", "in", "for", "answer"].contains(&last)
}

/// Whether the character at `i` (outside strings) is a binary arithmetic
/// operator: `+`, `*`, `/`, or a `-` after an operand (not the sign of a
/// number).
fn is_arithmetic(chars: &[char], i: usize) -> bool {
    match chars[i] {
        '+' | '*' | '/' => true,
        '-' => chars[..i].iter().rev().find(|c| **c != ' ').is_some_and(|c| is_ident(*c) || matches!(c, ')' | ']' | '"')),
        _ => false,
    }
}

/// One character of a statement's expression: a second assignment or an
/// `answer` in the middle of a line is not allowed (`false`).
fn body_char(chars: &[char], i: usize, word: &mut String, in_string: &mut bool) -> bool {
    let c = chars[i];
    if is_ident(c) {
        word.push(c);
        return true;
    }
    if word == "answer" {
        return false;
    }
    word.clear();
    match c {
        '"' => *in_string = true,
        '=' => {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let comparison = matches!(prev, Some('=' | '!' | '<' | '>'));
            let next = chars.get(i + 1);
            if !comparison && next.is_some_and(|n| *n != '=') {
                return false;
            }
        }
        _ => {}
    }
    true
}

impl TextConstraint for ProgramConstraint {
    fn viable(&self, text: &str) -> bool {
        if !tidy(text) || looping(text) || !self.answer_is_choice(text) {
            return false;
        }
        let v = self.checker.check(text);
        // One statement per line: a statement starting after another on the
        // same line (`x = f(y) z = ...`) is caught where it starts.
        let started = if v.complete { v.statements } else { v.statements + 1 };
        let lines = text.lines().filter(|l| !l.trim().is_empty()).count().max(1);
        v.viable && started <= lines
    }

    fn complete(&self, text: &str) -> bool {
        self.checker.check(text).complete
    }

    /// Inside a string literal with declared values (`detect`'s label),
    /// few of the vocabulary's tokens can follow, and the decoder would
    /// parse the reply once per token to find them: the literal's values
    /// judge a token in a binary search instead.
    fn shortcut(&self, text: &str) -> Option<TokenTest<'_>> {
        let literal = self.checker.check(text).literal?;
        Some(Box::new(move |token| literal.may_continue(token)))
    }
}

#[cfg(test)]
mod tests {
    use super::{looping, tidy};

    #[test]
    fn loops_are_caught_at_their_third_turn() {
        assert!(looping("x = concat(concat(concat("));
        assert!(!looping("x = concat(concat("));
        assert!(looping("a and play and play and play"));
        assert!(!looping("frames = sample(video, fps: 2)\nanswer count(frames)"));
        assert!(!looping("x = 111"));
        // Numbers that differ do not hide a loop of operators...
        assert!(looping("answer choose(question, options, evidence: [count(s) - 150000000000 - 150000000000 - 150000000001 -"));
        assert!(looping("x = y - 1.5 - 2.25 - 3.125 - 4.0625 -"));
        // ...but numbered names stay apart, and short lists are fine.
        let three = "n1 = count(detect(frames, \"dog\"))\nn2 = count(detect(frames, \"dog\"))\nn3 = count(detect(frames, \"dog\"))\n";
        assert!(!looping(three));
        assert!(!looping("x = clip(video, 10s, 20s)\nanswer x"));
        assert!(!looping("x = [1, 2, 3]"));
    }

    #[test]
    fn layout_rules_apply_outside_strings_only() {
        assert!(tidy("x = count(y)\n\nanswer x\n"));
        assert!(!tidy("x = count(y,  z)"));
        assert!(!tidy(&format!("x = [{}]", "a, ".repeat(200))));
        assert!(!tidy("x = count(y)\n\n\nanswer x"));
        assert!(!tidy("# a comment\nanswer 1"));
        assert!(!tidy("x =\tcount(y)"));
        assert!(tidy("x = contains(y, \"#1   \\\" \t\")"));
        assert!(!tidy("x = contains(y, \"a\") # trailing"));
        // Nothing but whitespace after the answer line.
        assert!(tidy("x = count(y)\nanswer x + 1\n\n"));
        assert!(!tidy("answer x\n- 1"));
        assert!(tidy("answer contains(x, \"a\\nb\")\n"));
        // One statement per line, each at the start of its line.
        assert!(tidy("frames = sample(video, fps: 2)\nanswer count(frames) == 3\n"));
        assert!(tidy("frames = sam"));
        assert!(tidy("frames ="));
        assert!(!tidy("frames = sample(video) other = 1"));
        assert!(!tidy("frames = sample(video) answer 1"));
        assert!(!tidy(" frames = 1"));
        assert!(!tidy("frames\n = 1"));
        assert!(!tidy("x = 1\n = 2"));
        assert!(!tidy("x = count(y)\r"));
        assert!(!tidy("count(x)"));
        assert!(!tidy(&format!("{} = 1", "a".repeat(40))));
        // A line ends only where its statement can.
        assert!(!tidy("x = count(y,\n"));
        assert!(!tidy("x = f(y) and\n"));
        assert!(!tidy("x = [c for c in y if\n"));
        assert!(tidy("x = f(y)\n"));
        // A chain of arithmetic ends at its fifth operator; signs do not count.
        assert!(tidy("x = a - 1 + (b - -2) / 4\ny = 1 - 1"));
        assert!(!tidy("x = a - 1 + (b - -2) / 4 -"));
        assert!(tidy("x = contains(y, \"a-b-c-d-e-f\")"));
        assert!(!tidy("answer f(e: [count(s) - 1 - 1 - (-1 - 1 - (-1"));
        assert!(tidy("answering = 1\nanswer answering\n"));
    }
}
