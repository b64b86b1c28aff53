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
//! continuing the expression onto new lines.

use vprog_runtime::check::prefix::PrefixChecker;
use vprog_runtime::Registry;

use crate::backend::TextConstraint;

/// Longest run of spaces allowed outside strings.
pub const MAX_SPACES: usize = 1;

/// Longest line, in characters (a program line is a call or two; longer
/// lines were a small model repeating itself).
pub const MAX_LINE: usize = 200;

/// Longest run of newlines allowed (one blank line).
pub const MAX_NEWLINES: usize = 2;

/// Allows only replies that can still become a valid program.
pub struct ProgramConstraint {
    checker: PrefixChecker,
}

impl ProgramConstraint {
    /// The constraint for programs calling the modules of `registry`.
    pub fn new(registry: &Registry) -> ProgramConstraint {
        ProgramConstraint { checker: PrefixChecker::new(registry) }
    }

    /// The prefix checker underneath.
    pub fn checker(&self) -> &PrefixChecker {
        &self.checker
    }
}

/// Whether `text` keeps the layout rules outside its string literals.
pub fn tidy(text: &str) -> bool {
    let (mut in_string, mut escaped) = (false, false);
    let (mut spaces, mut newlines) = (0, 0);
    let (mut line_start, mut answered, mut after_answer) = (true, false, false);
    let mut line_len = 0;
    for (i, c) in text.char_indices() {
        if after_answer && !c.is_whitespace() {
            return false;
        }
        if !in_string
            && line_start
            && text[i..].starts_with("answer")
            && !text[i + 6..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        {
            answered = true;
        }
        line_start = c == '\n';
        line_len = if line_start { 0 } else { line_len + 1 };
        if line_len > MAX_LINE {
            return false;
        }
        if line_start && answered && !in_string {
            after_answer = true;
        }
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '#' | '\t' => return false,
            _ => {}
        }
        spaces = if c == ' ' { spaces + 1 } else { 0 };
        newlines = match c {
            '\n' => newlines + 1,
            ' ' | '\r' => newlines,
            _ => 0,
        };
        if spaces > MAX_SPACES || newlines > MAX_NEWLINES {
            return false;
        }
    }
    true
}

impl TextConstraint for ProgramConstraint {
    fn viable(&self, text: &str) -> bool {
        tidy(text) && self.checker.check(text).viable
    }

    fn complete(&self, text: &str) -> bool {
        self.checker.check(text).complete
    }
}

#[cfg(test)]
mod tests {
    use super::tidy;

    #[test]
    fn layout_rules_apply_outside_strings_only() {
        assert!(tidy("x = count(y)\n\nanswer x\n"));
        assert!(!tidy("x = count(y,  z)"));
        assert!(!tidy(&format!("x = [{}]", "a, ".repeat(100))));
        assert!(!tidy("x = count(y)\n\n\nanswer x"));
        assert!(!tidy("# a comment\nanswer 1"));
        assert!(!tidy("x =\tcount(y)"));
        assert!(tidy("x = contains(y, \"#1   \\\" \t\")"));
        assert!(!tidy("x = contains(y, \"a\") # trailing"));
        // Nothing but whitespace after the answer line.
        assert!(tidy("x = count(y)\nanswer x + 1\n\n"));
        assert!(!tidy("answer x\n- 1"));
        assert!(tidy("answer contains(x, \"a\\nb\")\n"));
        assert!(tidy("answering = 1\nanswer answering\n"));
    }
}
